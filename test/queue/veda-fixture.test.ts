import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURE, harness, readAll, type Harness } from './helpers.ts';

/** The records of one part file, walked independently of the code under test. */
async function fixtureRecords(part: number): Promise<{ body: Buffer; type: number }[]> {
  const file = await readFile(join(FIXTURE, `test-${part}`, 'test_queue'));
  const out: { body: Buffer; type: number }[] = [];
  for (let at = 0; at < file.length;) {
    const length = file.readUInt32LE(at + 8);
    out.push({ body: file.subarray(at + 25, at + 25 + length), type: file[at + 20] ?? 0 });
    at += 25 + length;
  }
  return out;
}

describe('the real Veda queue (veda-queue-small)', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness({ fixture: true });
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('reads all 39 records of the real Veda queue in order, with their exact bytes and lengths', async () => {
    const expected = [...(await fixtureRecords(0)), ...(await fixtureRecords(1))];
    expect(expected).toHaveLength(39);
    const consumer = await h.backend.openConsumer('test', 'reader');
    const messages = await readAll(consumer, 7);
    expect(messages).toHaveLength(39);
    messages.forEach((m, i) => {
      expect(m.data.length).toBe(expected[i]?.body.length);
      expect(m.data.equals(expected[i]?.body ?? Buffer.alloc(0))).toBe(true);
    });
    const partBytes = (part: number) =>
      messages
        .filter((m) => m.position['part'] === part)
        .reduce((n, m) => n + 25 + m.data.length, 0);
    expect([partBytes(0), partBytes(1)]).toEqual([9772, 8039]);
    expect(messages[22]?.position).toEqual({
      backend: 'veda',
      queue: 'test',
      part: 0,
      offset: 9772,
      popped: 23,
    });
    expect(messages[38]?.position).toEqual({
      backend: 'veda',
      queue: 'test',
      part: 1,
      offset: 8039,
      popped: 16,
    });
    expect(await h.metric('corrupt_records_total')).toBe(0);
  });

  it('commits a position as the exact pop line Veda writes', async () => {
    const consumer = await h.backend.openConsumer('test', 'reader');
    const { next } = await consumer.read(100);
    await consumer.commit(next);
    expect(await readFile(join(h.dir, 'test_info_pop_reader'), 'latin1')).toBe(
      'test;reader;8039;16;1\n',
    );
    expect(
      (await readdir(h.dir)).filter((f) => f.includes('individuals-flow') || f.includes('.tmp-')),
    ).toEqual([]);
  });

  it('parses the consumer positions from the real pop files', async () => {
    for (const name of ['test1', 'test2', 'test3']) {
      const consumer = await h.backend.openConsumer('test', name);
      expect(consumer.committed()).toEqual({
        backend: 'veda',
        queue: 'test',
        part: 1,
        offset: 8039,
        popped: 16,
      });
      expect(await consumer.backlog()).toBe(0);
      expect((await consumer.read(10)).messages).toEqual([]);
      expect(await h.backend.backlog('test', name)).toBe(0);
    }
  });

  it('reads the backlog of an unregistered consumer without creating its pop file', async () => {
    expect(await h.backend.backlog('test', 'nobody')).toBe(39);
    expect(await h.backend.backlog('test', 'nobody', { startAt: 'current' })).toBe(16);
    await expect(stat(join(h.dir, 'test_info_pop_nobody'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('starts a new consumer at the newest part when asked to, as Veda does', async () => {
    const consumer = await h.backend.openConsumer('test', 'late', { startAt: 'current' });
    const messages = await readAll(consumer);
    const part1 = await fixtureRecords(1);
    expect(messages.map((m) => m.data)).toEqual(part1.map((r) => r.body));
  });

  it('writes a part byte-identical to the one Veda wrote from the same bodies', async () => {
    const records = await fixtureRecords(0);
    expect(records.every((r) => r.type === 0x53)).toBe(true);
    const out = await harness({ messageType: 'S' });
    try {
      const writer = await out.backend.openWriter('test');
      await writer.append(records.map((r) => r.body));
      expect(await writer.flush()).toEqual({
        backend: 'veda',
        queue: 'test',
        part: 0,
        pushed: 23,
        bytes: 9772,
      });
      await writer.close();
      const ours = await readFile(join(out.dir, 'test-0', 'test_queue'));
      expect(ours.equals(await readFile(join(FIXTURE, 'test-0', 'test_queue')))).toBe(true);
      expect(await readFile(join(out.dir, 'test-0', 'test_info_push'), 'latin1')).toBe(
        `test;9772;23;${crc32('test;9772;23;')}\n`,
      );
      expect(await readFile(join(out.dir, 'test_info_queue'), 'latin1')).toBe(
        `test;0;${crc32('test;0;')}\n`,
      );
    } finally {
      await out.cleanup();
    }
  });

  it("continues the newest part of Veda's queue and leaves Veda's lock file alone", async () => {
    const lock = join(h.dir, 'test_queue.lock');
    const before = await stat(lock);
    const writer = await h.backend.openWriter('test');
    expect(writer.mark()).toEqual({
      backend: 'veda',
      queue: 'test',
      part: 1,
      pushed: 16,
      bytes: 8039,
    });
    await writer.append([Buffer.from('forty')]);
    await writer.flush();
    await writer.close();
    const after = await stat(lock);
    expect([after.size, after.mtimeMs]).toEqual([0, before.mtimeMs]);
    const consumer = await h.backend.openConsumer('test', 'test1');
    const messages = await readAll(consumer);
    expect(messages.map((m) => m.data.toString())).toEqual(['forty']);
    expect(messages[0]?.position).toEqual({
      backend: 'veda',
      queue: 'test',
      part: 1,
      offset: 8039 + 25 + 5,
      popped: 17,
    });
  });
});
