import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QueueClosedError, QueueNotFoundError, QueuePositionError } from '../../src/queue/index.ts';
import { bodies, harness, readAll, type Harness } from './helpers.ts';

describe('veda consumer', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  async function write(queue: string, batches: string[][], maxPartBytes = 1 << 20): Promise<void> {
    const writer = await h.backendWith({ maxPartBytes }).openWriter(queue);
    for (const batch of batches) {
      await writer.append(batch.map((b) => Buffer.from(b)));
      await writer.flush();
    }
    await writer.close();
  }

  it('fails with QueueNotFoundError on a queue nobody created yet', async () => {
    await expect(h.backend.openConsumer('nothing', 'worker')).rejects.toBeInstanceOf(
      QueueNotFoundError,
    );
    await expect(h.backend.openConsumer('nothing', 'worker')).rejects.toMatchObject({
      retryable: true,
    });
  });

  it('registers a new consumer with a pop file at its start, under the exact queue and consumer names', async () => {
    await write('shard-1', [['a']]);
    await h.backend.openConsumer('shard-1', 'worker-1');
    expect(await readFile(join(h.dir, 'shard-1_info_pop_worker-1'), 'latin1')).toBe(
      'shard-1;worker-1;0;0;0\n',
    );
    expect(
      (await readdir(h.dir)).filter((f) => f.includes('individuals-flow') || f.includes('.tmp-')),
    ).toEqual([]);
  });

  it('resumes after a restart from the committed position', async () => {
    await write('q', [['a', 'b', 'c', 'd']]);
    const first = await h.backend.openConsumer('q', 'worker');
    const batch = await first.read(2);
    await first.commit(batch.next);
    await first.read(2);
    await first.close();
    const again = await h.backend.openConsumer('q', 'worker');
    expect(again.committed()).toEqual(batch.next);
    expect(bodies(await readAll(again))).toEqual(['c', 'd']);
  });

  it('takes a committed position back from JSON, and refuses one of another queue', async () => {
    await write('q', [['a', 'b']]);
    const consumer = await h.backend.openConsumer('q', 'worker');
    const batch = await consumer.read(1);
    await consumer.commit(JSON.parse(JSON.stringify(batch.next)));
    expect(await readFile(join(h.dir, 'q_info_pop_worker'), 'latin1')).toBe('q;worker;26;1;0\n');
    await expect(consumer.commit({ ...batch.next, queue: 'other' })).rejects.toBeInstanceOf(
      QueuePositionError,
    );
  });

  it('moves on to a committed position that is ahead of what it read, as after a restart from a journal', async () => {
    await write('q', [['a', 'b'], ['c']], 10);
    const before = await h.backend.openConsumer('q', 'worker');
    const journalled = (await before.read(2)).next;
    await before.close();
    const after = await h.backend.openConsumer('q', 'worker');
    await after.commit(journalled);
    expect(bodies(await readAll(after))).toEqual(['c']);
  });

  it('rewinds to the committed position to read again what was not committed', async () => {
    await write('q', [['a', 'b', 'c']], 10);
    await write('q', [['d']], 10);
    const consumer = await h.backend.openConsumer('q', 'worker');
    const first = await consumer.read(1);
    await consumer.commit(first.next);
    expect(bodies((await consumer.read(10)).messages)).toEqual(['b', 'c', 'd']);
    await consumer.rewind();
    expect(bodies((await consumer.read(10)).messages)).toEqual(['b', 'c', 'd']);
  });

  it('says cheaply whether anything new is there, including a new part', async () => {
    await write('q', [['a']], 10);
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(await consumer.hasNew()).toBe(true);
    await readAll(consumer);
    expect(await consumer.hasNew()).toBe(false);
    await write('q', [['b']], 10);
    expect(await consumer.hasNew()).toBe(true);
    expect(bodies(await readAll(consumer))).toEqual(['b']);
  });

  it('counts its backlog as pushed minus popped over every part it has not finished', async () => {
    await write(
      'q',
      [
        ['a', 'b', 'c'],
        ['d', 'e'],
      ],
      10,
    );
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(await consumer.backlog()).toBe(5);
    const batch = await consumer.read(2);
    expect(await consumer.backlog()).toBe(5);
    await consumer.commit(batch.next);
    expect(await consumer.backlog()).toBe(3);
    expect(await h.backend.backlog('q', 'worker')).toBe(3);
  });

  it('reads parts written before a new consumer started, where Veda would skip them', async () => {
    await write('q', [['a'], ['b'], ['c']], 10);
    const oldest = await h.backend.openConsumer('q', 'ours');
    const current = await h.backend.openConsumer('q', 'veda-like', { startAt: 'current' });
    expect(bodies(await readAll(oldest))).toEqual(['a', 'b', 'c']);
    expect(bodies(await readAll(current))).toEqual(['c']);
  });

  it('passes an empty part on its way to the next one', async () => {
    await write('q', [['a'], ['b']], 10);
    await rename(join(h.dir, 'q-1'), join(h.dir, 'q-2'));
    await mkdir(join(h.dir, 'q-1'));
    await writeFile(join(h.dir, 'q-1', 'q_info_push'), 'q;0;0;0\n');
    await writeFile(join(h.dir, 'q-1', 'q_queue'), '');
    await writeFile(join(h.dir, 'q_info_queue'), 'q;2;0\n');
    const consumer = await h.backend.openConsumer('q', 'worker');
    const messages = await readAll(consumer);
    expect(bodies(messages)).toEqual(['a', 'b']);
    expect(messages[1]?.position).toMatchObject({ part: 2, popped: 1 });
  });

  it('refuses use after close', async () => {
    await write('q', [['a']]);
    const consumer = await h.backend.openConsumer('q', 'worker');
    await consumer.close();
    await expect(consumer.read(1)).rejects.toBeInstanceOf(QueueClosedError);
  });

  it('reads 200k records with batch 100, each message holding only its own bytes', async () => {
    const total = 200_000;
    const writer = await h.backend.openWriter('big');
    for (let start = 0; start < total; start += 50_000) {
      await writer.append(
        Array.from({ length: 50_000 }, (_, i) =>
          Buffer.from((start + i).toString(16).padStart(8, '0')),
        ),
      );
      await writer.flush();
    }
    await writer.close();
    const consumer = await h.backend.openConsumer('big', 'worker');
    let seen = 0;
    let largestBatch = 0;
    let largestBacking = 0;
    for (;;) {
      const { messages, next } = await consumer.read(100);
      if (messages.length === 0) break;
      largestBatch = Math.max(largestBatch, messages.length);
      // A message that were a view into a file-sized buffer would keep that buffer alive.
      for (const m of messages) largestBacking = Math.max(largestBacking, m.data.buffer.byteLength);
      for (const m of messages) {
        if (m.data.toString() !== seen.toString(16).padStart(8, '0'))
          throw new Error(`record ${seen} out of order`);
        seen++;
      }
      await consumer.commit(next);
    }
    expect(seen).toBe(total);
    expect(largestBatch).toBe(100);
    expect(largestBacking).toBeLessThanOrEqual(Buffer.poolSize);
    expect(await consumer.backlog()).toBe(0);
  });
});
