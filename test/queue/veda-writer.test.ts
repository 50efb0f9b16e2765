import { appendFile, open, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QueueClosedError, QueuePositionError } from '../../src/queue/index.ts';
import { bodies, harness, readAll, texts, type Harness } from './helpers.ts';

describe('veda writer', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('keeps a batch invisible to readers until flush, then shows all of it', async () => {
    const writer = await h.backend.openWriter('shard-0');
    const consumer = await h.backend.openConsumer('shard-0', 'worker');
    await writer.append(texts('m', 3));
    expect(await consumer.hasNew()).toBe(false);
    expect((await consumer.read(10)).messages).toEqual([]);
    expect(await readFile(join(h.dir, 'shard-0-0', 'shard-0_info_push'), 'latin1')).toMatch(
      /^shard-0;0;0;\d+\n$/,
    );
    await writer.flush();
    expect(await consumer.hasNew()).toBe(true);
    expect(bodies(await readAll(consumer))).toEqual(['m-1', 'm-2', 'm-3']);
  });

  it('writes one file per part as v_queue lays it out, with msg_type O by default', async () => {
    const writer = await h.backend.openWriter('q');
    await writer.append([Buffer.from('abc')]);
    await writer.flush();
    const file = await readFile(join(h.dir, 'q-0', 'q_queue'));
    expect(file.length).toBe(28);
    expect(file.readBigUInt64LE(0)).toBe(0n);
    expect(file.readUInt32LE(8)).toBe(3);
    expect([...file.subarray(12, 16)]).toEqual([0xee, 0xfe, 0xef, 0xee]);
    expect(file.readUInt32LE(16)).toBe(1);
    expect(file[20]).toBe(0x4f);
    expect((await readdir(h.dir)).sort()).toEqual(['q-0', 'q_info_queue', 'q_queue.sd-lock']);
  });

  it('reports its durable mark and counts what was pushed since an earlier mark, across restarts', async () => {
    let writer = await h.backend.openWriter('q');
    const empty = writer.mark();
    expect(empty).toEqual({ backend: 'veda', queue: 'q', part: 0, pushed: 0, bytes: 0 });
    await writer.append(texts('a', 5));
    expect(writer.mark()).toEqual(empty);
    const first = await writer.flush();
    expect(first).toMatchObject({ part: 0, pushed: 5 });
    await writer.close();

    writer = await h.backend.openWriter('q');
    expect(writer.mark()).toEqual(first);
    await writer.append(texts('b', 2));
    await writer.flush();
    expect(await writer.countSince(empty)).toBe(7);
    expect(await writer.countSince(JSON.parse(JSON.stringify(first)))).toBe(2);
    expect(await readdir(h.dir)).not.toContain('q-1');
  });

  it('starts a new part once a part is full, and consumers follow every part in order', async () => {
    const backend = h.backendWith({ maxPartBytes: 50 });
    const writer = await backend.openWriter('q');
    const start = writer.mark();
    for (let i = 0; i < 4; i++) {
      await writer.append(texts(`b${i}`, 3));
      await writer.flush();
    }
    expect((await readdir(h.dir)).filter((f) => f.startsWith('q-')).sort()).toEqual([
      'q-0',
      'q-1',
      'q-2',
      'q-3',
    ]);
    expect(await readFile(join(h.dir, 'q_info_queue'), 'latin1')).toMatch(/^q;3;\d+\n$/);
    expect(await writer.countSince(start)).toBe(12);
    const consumer = await backend.openConsumer('q', 'worker');
    const messages = await readAll(consumer, 5);
    expect(bodies(messages)).toEqual(
      [0, 1, 2, 3].flatMap((i) => [1, 2, 3].map((n) => `b${i}-${n}`)),
    );
    expect(messages.at(-1)?.position).toMatchObject({ part: 3, popped: 3 });
  });

  it('fsyncs records, info files and pop files when durable, and rotates the same way', async () => {
    const backend = h.backendWith({ durable: true, maxPartBytes: 10 });
    const writer = await backend.openWriter('q');
    await writer.append(texts('d', 2));
    await writer.flush();
    await writer.append(texts('e', 1));
    expect(await writer.flush()).toMatchObject({ part: 1, pushed: 1 });
    const consumer = await backend.openConsumer('q', 'worker');
    const batch = await consumer.read(10);
    await consumer.commit(batch.next);
    expect(bodies(batch.messages)).toEqual(['d-1', 'd-2', 'e-1']);
    expect(await readFile(join(h.dir, 'q_info_pop_worker'), 'latin1')).toBe('q;worker;28;1;1\n');
  });

  it('rewrites info_push and info_queue in place, so a reader holding them open sees every flush', async () => {
    const writer = await h.backend.openWriter('q');
    const infoPush = join(h.dir, 'q-0', 'q_info_push');
    const infoQueue = join(h.dir, 'q_info_queue');
    const pushInode = (await stat(infoPush)).ino;
    const queueInode = (await stat(infoQueue)).ino;
    // The crate's Consumer opens its part's info_push once and re-reads it from offset 0
    // through that handle to learn of new records (get_info_of_part(id, false)): a file
    // replaced by rename would leave it on the old inode, seeing nothing new in its part.
    const held = await open(infoPush, 'r');
    const heldLine = async () => {
      const buf = Buffer.alloc(256);
      const { bytesRead } = await held.read(buf, 0, buf.length, 0);
      return buf.toString('latin1', 0, bytesRead).split('\n')[0];
    };
    try {
      expect(await heldLine()).toMatch(/^q;0;0;\d+$/);
      for (let i = 1; i <= 3; i++) {
        await writer.append(texts(`b${i}`, 1));
        await writer.flush();
        expect((await heldLine())?.split(';').slice(0, 3)).toEqual([
          'q',
          String(i * (25 + 4)),
          String(i),
        ]);
      }
    } finally {
      await held.close();
    }
    expect((await stat(infoPush)).ino).toBe(pushInode);
    expect((await stat(infoQueue)).ino).toBe(queueInode);
    expect((await readdir(join(h.dir, 'q-0'))).sort()).toEqual(['q_info_push', 'q_queue']);
    await writer.close();
  });

  it('removes the temp info_push a crash left behind when it reopens the part', async () => {
    let writer = await h.backend.openWriter('q');
    await writer.append(texts('m', 1));
    await writer.flush();
    await writer.close();
    const stale = join(h.dir, 'q-0', 'q_info_push.tmp-12345-deadbeef');
    await writeFile(stale, 'q;9');

    writer = await h.backend.openWriter('q');
    expect((await readdir(join(h.dir, 'q-0'))).sort()).toEqual(['q_info_push', 'q_queue']);
    await writer.append(texts('m', 1, 2));
    await writer.flush();
    await writer.close();
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['m-1', 'm-2']);
  });

  it('drops what was appended but not flushed when closed', async () => {
    const writer = await h.backend.openWriter('q');
    await writer.append(texts('kept', 1));
    await writer.flush();
    await writer.append(texts('dropped', 2));
    await writer.close();
    expect((await stat(join(h.dir, 'q-0', 'q_queue'))).size).toBe(25 + 6);
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['kept-1']);
    expect(await h.metric('corrupt_records_total')).toBe(0);
  });

  it('sets aside and cuts a torn tail past the right edge when it opens, then appends over it', async () => {
    let writer = await h.backend.openWriter('q');
    await writer.append(texts('m', 2));
    await writer.flush();
    await writer.close();
    const file = join(h.dir, 'q-0', 'q_queue');
    const edge = (await stat(file)).size;
    const torn = Buffer.alloc(25, 7);
    await appendFile(file, torn);

    writer = await h.backend.openWriter('q');
    expect((await stat(file)).size).toBe(edge);
    expect(await readFile(join(h.dir, 'q_corrupt', `part-0-at-${edge}-torn_tail.bin`))).toEqual(
      torn,
    );
    expect(await h.metric('corrupt_records_total', { queue: 'q', reason: 'torn_tail' })).toBe(1);
    await writer.append(texts('m', 1, 3));
    await writer.flush();
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['m-1', 'm-2', 'm-3']);
  });

  it('refuses marks of another queue and use after close', async () => {
    const writer = await h.backend.openWriter('q');
    await expect(
      writer.countSince({ backend: 'veda', queue: 'other', part: 0, pushed: 0, bytes: 0 }),
    ).rejects.toBeInstanceOf(QueuePositionError);
    await expect(writer.countSince({ backend: 'nats', queue: 'q', seq: 1 })).rejects.toMatchObject({
      code: 'SD_ERR_QUEUE_POSITION',
    });
    await expect(
      writer.countSince({ backend: 'veda', queue: 'q', part: 0, pushed: 9, bytes: 0 }),
    ).rejects.toBeInstanceOf(QueuePositionError);
    await writer.close();
    await expect(writer.append(texts('x', 1))).rejects.toBeInstanceOf(QueueClosedError);
    await expect(writer.flush()).rejects.toMatchObject({ code: 'SD_ERR_QUEUE_CLOSED' });
  });

  it('updates the disk gauge as it writes', async () => {
    const writer = await h.backend.openWriter('q');
    await writer.append(texts('m', 4));
    await writer.flush();
    expect(await h.metric('disk_bytes', { queue: 'q' })).toBe(
      (await stat(join(h.dir, 'q-0', 'q_queue'))).size,
    );
  });

  it('takes its disk gauge series away when closed: a removed shard leaves no stale series', async () => {
    const writer = await h.backend.openWriter('q');
    await writer.append(texts('m', 4));
    await writer.flush();
    const series = async () =>
      (await h.registry.getSingleMetric('shard_distributor_queue_disk_bytes')!.get()).values.map(
        (v) => v.labels['queue'],
      );
    expect(await series()).toEqual(['q']);
    await writer.close();
    expect(await series()).toEqual([]);
  });
});
