import { open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { hasStagedFlush, type StagedFlush } from '../../src/queue/batch-files.ts';
import type { QueueWriter } from '../../src/queue/index.ts';
import { bodies, harness, readAll, texts, type Harness } from './helpers.ts';

// The distributor prepares a shard's batch (records and the info line synced, nothing
// visible) while its journal is written, and publishes only after the journal is durable.
// These are the writer's half of that promise.
describe('veda writer, flush in two halves', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness({ durable: true });
  });
  afterEach(async () => {
    await h.cleanup();
  });

  async function stagedWriter(queue: string): Promise<QueueWriter & StagedFlush> {
    const writer = await h.backend.openWriter(queue);
    if (!hasStagedFlush(writer)) throw new Error('the veda writer has no staged flush');
    return writer;
  }

  const infoPush = (queue: string) =>
    readFile(join(h.dir, `${queue}-0`, `${queue}_info_push`), 'latin1');

  it('shows readers nothing after prepare, and the whole batch after publish', async () => {
    const writer = await stagedWriter('shard-0');
    const consumer = await h.backend.openConsumer('shard-0', 'worker');
    await writer.append(texts('m', 3));
    await writer.prepare();
    expect(await infoPush('shard-0')).toMatch(/^shard-0;0;0;\d+\n$/);
    expect(await consumer.hasNew()).toBe(false);
    expect((await consumer.read(10)).messages).toEqual([]);
    const mark = await writer.publish();
    expect(await infoPush('shard-0')).toMatch(/^shard-0;\d+;3;\d+\n$/);
    expect(bodies(await readAll(consumer))).toEqual(['m-1', 'm-2', 'm-3']);
    expect(mark).toEqual(writer.mark());
  });

  it('keeps a batch whose publish failed after its line was written: readers see it, so closing does not cut it', async () => {
    const writer = await stagedWriter('shard-0');
    await writer.append(texts('a', 1));
    await writer.flush();
    const before = writer.mark();
    await writer.append(texts('m', 2));
    await writer.prepare();
    // The fdatasync of info_push after its line is written fails (EIO): the only sync a
    // publish makes.
    const probe = await open(join(h.dir, 'probe'), 'w');
    const fileHandle = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const sync = vi
      .spyOn(fileHandle, 'datasync')
      .mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    try {
      await expect(writer.publish()).rejects.toMatchObject({ code: 'EIO' });
    } finally {
      sync.mockRestore();
    }
    await writer.close();

    const consumer = await h.backend.openConsumer('shard-0', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['a-1', 'm-1', 'm-2']);
    // Stored, as a retry of the batch asks: it does not write them again.
    const again = await h.backend.openWriter('shard-0');
    expect(await again.countSince(before)).toBe(2);
    await again.close();
  });

  it('publishes in one write: nothing after it can fail with the batch already shown', async () => {
    const writer = await stagedWriter('shard-0');
    const probe = await open(join(h.dir, 'probe'), 'w');
    const fileHandle = Object.getPrototypeOf(probe) as { truncate: () => Promise<void> };
    await probe.close();
    // Cutting a file fails (EIO) throughout: before, a publish whose line came out shorter
    // (its CRC has fewer digits) cut the old line's tail after showing the new one, failed,
    // and the close that followed cut the shown records.
    const truncate = vi
      .spyOn(fileHandle, 'truncate')
      .mockRejectedValue(Object.assign(new Error('EIO: i/o error, ftruncate'), { code: 'EIO' }));
    try {
      for (let i = 1; i <= 30; i++) {
        await writer.append(texts('m', 1, i));
        await writer.prepare();
        await writer.publish();
      }
    } finally {
      truncate.mockRestore();
    }
    await writer.close();
    const consumer = await h.backend.openConsumer('shard-0', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(texts('m', 30).map(String));
  });

  it('never publishes what was discarded, even when it was prepared', async () => {
    const writer = await stagedWriter('shard-0');
    await writer.append(texts('a', 1));
    await writer.flush();
    await writer.append(texts('stale', 4));
    await writer.prepare();
    writer.discard();
    await writer.append(texts('b', 2));
    await writer.prepare();
    await writer.publish();
    const consumer = await h.backend.openConsumer('shard-0', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['a-1', 'b-1', 'b-2']);
    expect(await writer.countSince(writer.mark())).toBe(0);
  });

  it('flushes whole when publish is not preceded by a prepare of what is appended', async () => {
    const writer = await stagedWriter('shard-0');
    await writer.append(texts('a', 1));
    await writer.prepare();
    await writer.append(texts('b', 1));
    await writer.publish();
    const consumer = await h.backend.openConsumer('shard-0', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['a-1', 'b-1']);
  });

  it('loses a prepared, unpublished batch at a restart, as a crash before the journal would', async () => {
    const first = await stagedWriter('shard-0');
    const before = first.mark();
    await first.append(texts('m', 2));
    await first.prepare();
    // A kill -9 here: the writer is gone without publishing (close cuts what is unpublished,
    // as reopening after a crash does).
    await first.close();
    const again = await h.backend.openWriter('shard-0');
    expect(await again.countSince(before)).toBe(0);
    const consumer = await h.backend.openConsumer('shard-0', 'worker');
    expect((await consumer.read(10)).messages).toEqual([]);
    await again.close();
  });

  it('leaves no temp file of info_push behind a publish', async () => {
    const writer = await stagedWriter('shard-0');
    for (let i = 0; i < 3; i++) {
      await writer.append(texts(`m${i}`, 1));
      await writer.flush();
    }
    expect((await readdir(join(h.dir, 'shard-0-0'))).sort()).toEqual([
      'shard-0_info_push',
      'shard-0_queue',
    ]);
  });
});
