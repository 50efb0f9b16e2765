import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderIni } from '../../src/config/index.ts';
import { PROTOCOL_STEPS } from '../../src/distributor/index.ts';
import { eventually } from '../harness/eventually.ts';
import { bench, countDeliveries, ids, type Bench } from './helpers.ts';
import { distributorProcess, loggedPort } from './process-helpers.ts';

let b: Bench;
afterEach(async () => b?.cleanup());

async function writeConfig(bench: Bench): Promise<string> {
  const file = join(bench.dir, 'veda-queue-shard-distributor.ini');
  await writeFile(
    file,
    renderIni({ ...bench.config, dispatcher: { ...bench.config.dispatcher, durable: true } }),
  );
  return file;
}

describe('the distributor process', () => {
  it.each(PROTOCOL_STEPS)('loses and duplicates nothing when killed -9 %s', async (step) => {
    b = await bench();
    const messages = ids(73);
    await b.produce(messages);
    const file = await writeConfig(b);
    const crashing = distributorProcess(file, { SD_FAILPOINT: `${step}:3` });
    const crash = await crashing.exited;
    expect(crash.signal).toBe('SIGKILL');
    const survivor = distributorProcess(file);
    await eventually(async () => expect(await b.committedMain()).toBe(0), { timeoutMs: 30_000 });
    survivor.child.kill('SIGTERM');
    const exit = await survivor.exited;
    expect(exit.code).toBe(0);
    expect(countDeliveries(await b.shardContents(), messages)).toEqual({
      delivered: 73,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
    if (step !== 'after-clear')
      expect(exit.output).toMatch(
        /finished a batch interrupted by a crash|already committed; journal cleared/,
      );
  });

  it('stops on SIGTERM after committing, exits 0 and says so', async () => {
    b = await bench();
    await b.produce(ids(30));
    const file = await writeConfig(b);
    const p = distributorProcess(file);
    await eventually(async () => expect(await b.committedMain()).toBe(0), { timeoutMs: 30_000 });
    p.child.kill('SIGTERM');
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.output).toContain('distributor stopped');
  });

  it('serves /metrics, /load, /healthz and /readyz', async () => {
    b = await bench();
    await b.produce(ids(12));
    const file = await writeConfig(b);
    const p = distributorProcess(file);
    try {
      const port = await loggedPort(p.output);
      const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
      await eventually(async () => {
        const load = (await (await get('/load')).json()) as {
          shards: { dispatched: number }[];
          mainLag: number;
        };
        expect(load.shards.reduce((sum, s) => sum + s.dispatched, 0)).toBe(12);
        expect(load.mainLag).toBe(0);
      });
      const metrics = await (await get('/metrics')).text();
      expect(metrics).toMatch(/# HELP shard_distributor_shard_backlog /);
      expect(metrics).toMatch(
        /shard_distributor_dispatched_total\{pool="default",shard="0",queue="individuals-flow-shard-0"\} \d+/,
      );
      expect(metrics).toMatch(/shard_distributor_live_shards 4/);
      expect(metrics).toMatch(/shard_distributor_commit_latency_seconds_bucket/);
      expect((await get('/healthz')).status).toBe(200);
      expect((await get('/readyz')).status).toBe(200);
      expect((await get('/nope')).status).toBe(404);
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });

  it('applies a changed shard set from its INI file while running', async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 2 });
    await b.produce(['first']);
    const file = await writeConfig(b);
    const p = distributorProcess(file);
    try {
      await eventually(() => expect(p.output()).toContain('distributor started'));
      await writeFile(
        file,
        renderIni({ ...b.config, dispatcher: { ...b.config.dispatcher, minWorkers: 3 } }),
      );
      await eventually(() => expect(p.output()).toContain('shard set applied'), {
        timeoutMs: 10_000,
      });
      await b.produce(ids(9));
      await eventually(async () => expect(await b.committedMain()).toBe(0), { timeoutMs: 30_000 });
      expect((await b.shardContents(3)).get(2)?.filter((m) => m.startsWith('m-'))).toHaveLength(3);
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });

  it('waits for a main queue that does not exist yet instead of exiting, not ready and with no /load report meanwhile', async () => {
    b = await bench();
    const file = await writeConfig(b);
    const p = distributorProcess(file);
    try {
      const port = await loggedPort(p.output);
      await eventually(() => expect(p.output()).toContain('waiting for the main queue to appear'));
      const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(readyz.status).toBe(503);
      expect(await readyz.text()).toContain('waiting for the main queue individuals-flow');
      // No report before it is open: an empty shard list would read as "nothing to drain".
      const early = await fetch(`http://127.0.0.1:${port}/load`);
      expect(early.status).toBe(503);
      expect(await early.text()).toContain('not open yet (opening the main queue individuals-flow');
      const messages = ids(15);
      await b.produce(messages);
      await eventually(async () => expect(await b.committedMain()).toBe(0), { timeoutMs: 30_000 });
      const load = await fetch(`http://127.0.0.1:${port}/load`);
      expect(load.status).toBe(200);
      expect(((await load.json()) as { shards: unknown[] }).shards.length).toBeGreaterThan(0);
      expect(countDeliveries(await b.shardContents(), messages)).toMatchObject({
        lost: [],
        duplicated: [],
      });
    } finally {
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
    }
  });

  it('refuses a bad INI at start-up with the file, key and reason', async () => {
    b = await bench();
    const file = join(b.dir, 'bad.ini');
    await writeFile(file, '[dispatcher]\nmin_workers = four\n');
    const exit = await distributorProcess(file).exited;
    expect(exit.code).toBe(1);
    expect(exit.output).toContain('bad.ini');
    expect(exit.output).toContain('min_workers');
    expect(exit.output).toMatch(/SD_ERR_CONFIG_KEY/);
  });
});
