import { open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bodies, harness, readAll, texts, type Harness } from './helpers.ts';

/** Byte offsets of the records of a part file, walked by hand. */
async function offsets(file: string): Promise<number[]> {
  const buf = await readFile(file);
  const out: number[] = [];
  for (let at = 0; at < buf.length; at += 25 + buf.readUInt32LE(at + 8)) out.push(at);
  return out;
}

async function patch(file: string, at: number, bytes: Buffer): Promise<void> {
  const handle = await open(file, 'r+');
  await handle.write(bytes, 0, bytes.length, at);
  await handle.close();
}

describe('veda queue with bad data', () => {
  let h: Harness;
  const partFile = (part: number) => join(h.dir, `q-${part}`, 'q_queue');
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  async function writeParts(
    batches: number,
    perBatch: number,
    maxPartBytes = 1 << 20,
  ): Promise<void> {
    const writer = await h.backendWith({ maxPartBytes }).openWriter('q');
    for (let b = 0; b < batches; b++) {
      await writer.append(texts(`p${b}`, perBatch));
      await writer.flush();
    }
    await writer.close();
  }

  it('sets aside a record with a bad CRC and reads every good record around it', async () => {
    await writeParts(1, 5);
    const at = (await offsets(partFile(0)))[2] ?? -1;
    const original = await readFile(partFile(0));
    await patch(partFile(0), at + 26, Buffer.from('X'));
    const consumer = await h.backend.openConsumer('q', 'worker');
    const messages = await readAll(consumer);
    expect(bodies(messages)).toEqual(['p0-1', 'p0-2', 'p0-4', 'p0-5']);
    expect(messages[2]?.position).toMatchObject({ popped: 4 });
    const kept = await readFile(join(h.dir, 'q_corrupt', `part-0-at-${at}-crc.bin`));
    expect(kept.length).toBe(25 + 4);
    expect(kept.subarray(0, 26)).toEqual(original.subarray(at, at + 26));
    expect(await h.metric('corrupt_records_total', { queue: 'q', reason: 'crc' })).toBe(1);
    expect(h.logs.find((l) => l.msg === 'corrupt record set aside')).toMatchObject({
      level: 'warn',
      queue: 'q',
      part: 0,
      offset: at,
      reason: 'crc',
    });
    // Readers never rewrite a part: the damaged record is still there for a person to look at.
    expect((await readFile(partFile(0))).length).toBe(original.length);
  });

  it('moves the position past corrupt data even when a batch brings no message', async () => {
    await writeParts(1, 1);
    await patch(partFile(0), 26, Buffer.from('X'));
    const consumer = await h.backend.openConsumer('q', 'worker');
    const batch = await consumer.read(10);
    expect(batch.messages).toEqual([]);
    expect(batch.next).toMatchObject({ part: 0, offset: 29, popped: 1 });
    await consumer.commit(batch.next);
    expect(await consumer.backlog()).toBe(0);
  });

  it('reads records larger than the read window, and sets one aside whose length field lies', async () => {
    const big = (fill: string) => Buffer.alloc(5000, fill);
    const writer = await h.backend.openWriter('q');
    await writer.append([big('a'), big('b'), big('c')]);
    await writer.flush();
    await writer.close();
    const at = (await offsets(partFile(0)))[1] ?? -1;
    const lie = Buffer.alloc(4);
    lie.writeUInt32LE(9000);
    await patch(partFile(0), at + 8, lie);
    const consumer = await h.backendWith({ chunkSize: 1024 }).openConsumer('q', 'worker');
    const messages = await readAll(consumer);
    expect(messages.map((m) => m.data)).toEqual([big('a'), big('c')]);
    expect((await readFile(join(h.dir, 'q_corrupt', `part-0-at-${at}-crc.bin`))).length).toBe(5025);
  });

  it('resyncs after a damaged header at the next valid record, and keeps one copy per corrupt record', async () => {
    await writeParts(1, 5);
    const at = (await offsets(partFile(0)))[1] ?? -1;
    await patch(partFile(0), at + 12, Buffer.from([0, 0, 0, 0]));
    const first = await h.backend.openConsumer('q', 'a');
    expect(bodies(await readAll(first))).toEqual(['p0-1', 'p0-3', 'p0-4', 'p0-5']);
    const second = await h.backend.openConsumer('q', 'b');
    expect(bodies(await readAll(second))).toEqual(['p0-1', 'p0-3', 'p0-4', 'p0-5']);
    expect(await readdir(join(h.dir, 'q_corrupt'))).toEqual([`part-0-at-${at}-bad_header.bin`]);
    expect(await h.metric('corrupt_records_total', { queue: 'q', reason: 'bad_header' })).toBe(2);
  });

  it('passes a torn tail (a header without its body) in an older part and reads on in the next', async () => {
    await writeParts(2, 3, 10);
    const last = (await offsets(partFile(0)))[2] ?? -1;
    await truncate(partFile(0), last + 25);
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['p0-1', 'p0-2', 'p1-1', 'p1-2', 'p1-3']);
    expect(
      (await readFile(join(h.dir, 'q_corrupt', `part-0-at-${last}-torn_tail.bin`))).length,
    ).toBe(25);
    expect(await h.metric('corrupt_records_total', { queue: 'q', reason: 'torn_tail' })).toBe(1);
  });

  it('waits at a torn tail in the newest part without looping, until a writer starts a new part', async () => {
    await writeParts(1, 3);
    const last = (await offsets(partFile(0)))[2] ?? -1;
    await truncate(partFile(0), last + 25);
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['p0-1', 'p0-2']);
    expect((await consumer.read(10)).messages).toEqual([]);
    expect(await h.metric('corrupt_records_total', { queue: 'q', reason: 'torn_tail' })).toBe(1);

    const writer = await h.backend.openWriter('q');
    expect(writer.mark()).toMatchObject({ part: 1, pushed: 0 });
    await writer.append(texts('new', 1));
    await writer.flush();
    expect(bodies(await readAll(consumer))).toEqual(['new-1']);
    expect(await readdir(join(h.dir, 'q_corrupt'))).toEqual([`part-0-at-${last}-torn_tail.bin`]);
  });

  it('skips a missing part directory with a report', async () => {
    await writeParts(3, 2, 10);
    await rm(join(h.dir, 'q-1'), { recursive: true });
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['p0-1', 'p0-2', 'p2-1', 'p2-2']);
    expect(await h.metric('corrupt_records_total', { queue: 'q', reason: 'missing_part' })).toBe(1);
    expect(h.logs.find((l) => l.msg === 'missing part skipped')).toMatchObject({
      queue: 'q',
      part: 1,
      next: 2,
    });
  });

  it('moves a consumer whose part was deleted to the oldest part there is', async () => {
    await writeParts(3, 2, 10);
    await writeFile(join(h.dir, 'q_info_pop_worker'), 'q;worker;0;0;0\n');
    await rm(join(h.dir, 'q-0'), { recursive: true });
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(consumer.committed()).toMatchObject({ part: 1, offset: 0, popped: 0 });
    expect(bodies(await readAll(consumer))).toEqual(['p1-1', 'p1-2', 'p2-1', 'p2-2']);
  });

  it('reads the valid records of a part whose info_push is garbage, keeping the garbage aside', async () => {
    await writeParts(1, 3);
    const info = join(h.dir, 'q-0', 'q_info_push');
    await writeFile(info, 'q;12x;zz\n');
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['p0-1', 'p0-2', 'p0-3']);
    expect(await h.metric('corrupt_records_total', { queue: 'q', reason: 'info_garbage' })).toBe(1);
    const kept = await readdir(join(h.dir, 'q_corrupt'));
    expect(kept).toHaveLength(1);
    expect(await readFile(join(h.dir, 'q_corrupt', kept[0] ?? ''), 'latin1')).toBe('q;12x;zz\n');

    const writer = await h.backend.openWriter('q');
    expect(writer.mark()).toMatchObject({
      part: 0,
      pushed: 3,
      bytes: (await stat(partFile(0))).size,
    });
    expect(await readFile(info, 'latin1')).toMatch(/^q;\d+;3;\d+\n$/);
    await writer.close();
  });

  it('rebuilds an empty info_push beside records from the records when a writer opens, not setting the part aside', async () => {
    await writeParts(2, 2);
    // A power cut in the middle of replacing it, with nothing synced (durable = false).
    const info = join(h.dir, 'q-0', 'q_info_push');
    await writeFile(info, '');
    const writer = await h.backend.openWriter('q');
    expect(writer.mark()).toMatchObject({ part: 0, pushed: 4 });
    await writer.close();
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['p0-1', 'p0-2', 'p1-1', 'p1-2']);
    expect(await h.metric('corrupt_records_total', { queue: 'q', reason: 'torn_tail' })).toBe(0);
  });

  it('finds the newest part from the directories when info_queue is garbage', async () => {
    await writeParts(2, 2, 10);
    await writeFile(join(h.dir, 'q_info_queue'), '\u0000\u0001garbage');
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['p0-1', 'p0-2', 'p1-1', 'p1-2']);
    expect(await h.metric('corrupt_records_total', { queue: 'q', reason: 'info_garbage' })).toBe(1);
    const writer = await h.backend.openWriter('q');
    expect(writer.mark()).toMatchObject({ part: 1, pushed: 2 });
    expect(await readFile(join(h.dir, 'q_info_queue'), 'latin1')).toMatch(/^q;1;\d+\n$/);
    await writer.close();
  });

  it('restarts a consumer with a garbage pop file from the oldest part: a redelivery, not a skip', async () => {
    await writeParts(2, 2, 10);
    await writeFile(join(h.dir, 'q_info_pop_worker'), 'q;someone-else;5;1;1\n');
    const consumer = await h.backend.openConsumer('q', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(['p0-1', 'p0-2', 'p1-1', 'p1-2']);
    expect(await h.metric('corrupt_records_total', { queue: 'q', reason: 'pop_garbage' })).toBe(1);
    expect(h.logs.find((l) => l.msg === 'corrupt info file set aside')).toMatchObject({
      reason: 'pop_garbage',
    });
  });
});
