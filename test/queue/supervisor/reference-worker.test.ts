import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Supervisor } from '../../../src/supervisor/index.ts';
import { decodeOutputLine } from '../../../src/worker/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { harness, texts, type Harness } from '../helpers.ts';
import { FIXTURES, capture, sleeperConfig } from './helpers.ts';

// The original template, plus --out so the test can see what each worker handled.
const TEMPLATE =
  '--base {worker_base_path} --sub {sub_queue_name} --src {src} --sleep-empty {sleep_empty_sec} --out {worker_base_path}/{sub_queue_name}.out';

describe('supervisor running the reference worker', () => {
  let h: Harness;
  let supervisor: Supervisor | undefined;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await supervisor?.stop(5_000);
    await h.cleanup();
  });

  async function handled(queue: string): Promise<string[]> {
    const text = await readFile(join(h.dir, `${queue}.out`), 'utf8').catch(() => '');
    return text
      .split('\n')
      .slice(0, -1)
      .map((line) => decodeOutputLine(line).toString());
  }

  it('keeps one reference worker per shard consuming, across a kill -9, and stops them with SIGTERM', async () => {
    const base = sleeperConfig(2, TEMPLATE, {}, join(FIXTURES, 'reference-worker.ts'));
    const config = {
      ...base,
      worker: { ...base.worker, workerBasePath: h.dir, sleepEmptySec: 0.05 },
    };
    const writers = [await h.backend.openWriter('q-0'), await h.backend.openWriter('q-1')];
    for (const [i, writer] of writers.entries()) {
      await writer.append(texts(`s${i}`, 5));
      await writer.flush();
    }
    const c = capture();
    supervisor = new Supervisor({
      config,
      log: c.log,
      backoff: { initialMs: 50, jitter: 0 },
      env: { ...process.env, LOG_LEVEL: 'info' },
    });
    supervisor.start();
    for (const i of [0, 1]) {
      await eventually(async () =>
        expect(await handled(`q-${i}`)).toEqual(texts(`s${i}`, 5).map(String)),
      );
    }

    const first = supervisor.workers()[0]?.pid as number;
    process.kill(first, 'SIGKILL');
    await writers[0]?.append(texts('s0', 5, 6));
    await writers[0]?.flush();
    await eventually(async () => expect(new Set(await handled('q-0')).size).toBe(10));
    expect(c.find('worker exited', { pid: first, signal: 'SIGKILL' })).toHaveLength(1);
    expect(await handled('q-0')).toEqual(expect.arrayContaining(texts('s0', 10).map(String)));
    for (const writer of writers) await writer.close();

    const pids = supervisor.workers().map((w) => w.pid);
    await supervisor.stop(30_000);
    for (const pid of pids) {
      expect(c.find('worker exited', { pid })).toEqual([
        expect.objectContaining({ code: 0, signal: null }),
      ]);
    }
    const stopped = c
      .find('worker output', { stream: 'stdout' })
      .filter((l) => String(l['line']).startsWith('stopped '));
    expect(stopped.map((l) => l['shard']).sort()).toEqual([0, 1]);
    supervisor = undefined;
  });
});
