import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bodies, harness, readAll, texts, type Harness } from './helpers.ts';

describe('veda retention', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness({ maxPartBytes: 10 });
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const parts = async () => (await readdir(h.dir)).filter((f) => /^q-\d+$/.test(f)).sort();

  /** Writes `batches` batches of two, one flush each; returns the disk gauge before the close. */
  async function fill(retention: boolean, batches: number, from = 0): Promise<number> {
    const writer = await h.backendWith({ retention }).openWriter('q');
    for (let b = from; b < from + batches; b++) {
      await writer.append(texts(`p${b}`, 2));
      await writer.flush();
    }
    // The writer's own count, kept up to date through its appends and its part deletions (a
    // closed writer takes the series away).
    const diskBytes = await h.metric('disk_bytes', { queue: 'q' });
    await writer.close();
    return diskBytes;
  }

  it('keeps every part when retention is off, even those all consumers passed', async () => {
    await fill(false, 3);
    const consumer = await h.backend.openConsumer('q', 'worker');
    await consumer.commit((await consumer.read(100)).next);
    await fill(false, 2, 3);
    expect(await parts()).toEqual(['q-0', 'q-1', 'q-2', 'q-3', 'q-4']);
  });

  it('keeps every part while no consumer is registered', async () => {
    await fill(true, 4);
    expect(await parts()).toEqual(['q-0', 'q-1', 'q-2', 'q-3']);
  });

  it('deletes the parts every registered consumer has passed, oldest first, and tracks disk use', async () => {
    await fill(true, 3);
    const fast = await h.backend.openConsumer('q', 'fast');
    const slow = await h.backend.openConsumer('q', 'slow');
    await fast.commit((await fast.read(100)).next);
    await slow.commit((await slow.read(3)).next);
    expect(slow.committed()).toMatchObject({ part: 1 });

    const gauge = await fill(true, 1, 3);
    expect(await parts()).toEqual(['q-1', 'q-2', 'q-3']);
    expect(await h.metric('parts_deleted_total', { queue: 'q' })).toBe(1);
    let onDisk = 0;
    for (const p of await parts()) onDisk += (await stat(join(h.dir, p, 'q_queue'))).size;
    expect(onDisk).toBeGreaterThan(0);
    expect(gauge).toBe(onDisk);
    expect(bodies(await readAll(slow))).toEqual(['p1-2', 'p2-1', 'p2-2', 'p3-1', 'p3-2']);
  });
});
