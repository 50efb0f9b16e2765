import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  quoteArgv,
  renderIni,
  type DistributorConfig,
  type PoolConfig,
} from '../../src/config/index.ts';
import { createNatsBackend, createVedaBackend } from '../../src/queue/index.ts';
import { decodeOutputLine } from '../../src/worker/index.ts';
import { eventually } from '../harness/eventually.ts';
import { linesRepeatingKeys } from '../harness/log-lines.ts';
import { NatsServer } from '../harness/nats-server.ts';
import { REPO_ROOT } from '../harness/tools.ts';
import { countDeliveries, ids } from './helpers.ts';
import { alive } from '../queue/supervisor/helpers.ts';
import { loggedPort } from './process-helpers.ts';

const CLI = join(REPO_ROOT, 'src', 'cli.ts');
// Workers that consume nothing: the shard queues keep their backlog, so a removed shard has
// one to move.
const IDLE_WORKER = join(REPO_ROOT, 'test', 'fixtures', 'workers', 'sleeper.mjs');

let dir: string;
afterEach(async () => rm(dir, { recursive: true, force: true }));

function runConfig(minWorkers: number): DistributorConfig {
  const base = defaultConfig();
  return {
    ...base,
    dispatcher: {
      ...base.dispatcher,
      basePath: join(dir, 'main'),
      minWorkers,
      strategy: 'RoundRobin',
      batchSize: 10,
      metricsPort: 0,
    },
    worker: {
      ...base.worker,
      workerBasePath: join(dir, 'shards'),
      workerModule: quoteArgv([process.execPath, IDLE_WORKER]),
      sleepEmptySec: 0.05,
    },
  };
}

async function shardContents(shards: number): Promise<Map<number, string[]>> {
  const backend = createVedaBackend({ basePath: join(dir, 'shards') });
  const result = new Map<number, string[]>();
  for (let i = 0; i < shards; i++)
    result.set(i, (await backend.peek(`individuals-flow-shard-${i}`, 100_000)).map(String));
  await backend.close();
  return result;
}

/** The reference worker, `shard-distributor worker`, writing what it handled to `<queue>.out`. */
const REFERENCE_WORKER = quoteArgv([process.execPath, CLI, 'worker']);
const REFERENCE_ARGS =
  '--base {worker_base_path} --sub {sub_queue_name} --src {src} --sleep-empty {sleep_empty_sec} --out {worker_base_path}/{sub_queue_name}.out';
/** Messages of at least this many bytes go to `[pool.large]`. */
const LARGE_BYTES = 1000;

/** `[pool.large]`: payloads of LARGE_BYTES or more, shard queues `large-shard-<i>`. */
function largePool(minWorkers: number, extra: Partial<PoolConfig> = {}): PoolConfig {
  return {
    name: 'large',
    match: { minBytes: LARGE_BYTES },
    minWorkers,
    drainingShards: [],
    strategy: 'RoundRobin',
    subQueuePrefix: 'large-shard',
    workerModule: REFERENCE_WORKER,
    workerArgsTemplate: `${REFERENCE_ARGS} --batch-size 3`,
    backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
    ...extra,
  };
}

/** The default pool (`minWorkers` shards) and `[pool.large]`, all run by the reference worker. */
function twoPoolConfig(minWorkers: number, large: PoolConfig): DistributorConfig {
  const base = runConfig(minWorkers);
  return {
    ...base,
    worker: { ...base.worker, workerModule: REFERENCE_WORKER, workerArgsTemplate: REFERENCE_ARGS },
    pools: [large],
  };
}

/** `n` payloads of LARGE_BYTES or more, each starting with its own id. */
function largeMessages(n: number, prefix = 'L'): string[] {
  return ids(n, prefix).map((id) => `${id}.${'x'.repeat(LARGE_BYTES)}`);
}

/** A message's id: a large payload without its padding. */
function idOf(message: string): string {
  return message.split('.')[0] ?? message;
}

async function produce(messages: readonly string[]): Promise<void> {
  const main = createVedaBackend({ basePath: join(dir, 'main') });
  const writer = await main.openWriter('individuals-flow');
  await writer.append(messages.map((m) => Buffer.from(m)));
  await writer.flush();
  await writer.close();
  await main.close();
}

/** What each reference worker of `<prefix>-0 … <prefix>-(shards-1)` wrote to its `.out` file. */
async function handled(prefix: string, shards: number): Promise<Map<number, string[]>> {
  const result = new Map<number, string[]>();
  for (let i = 0; i < shards; i++) {
    const text = await readFile(join(dir, 'shards', `${prefix}-${i}.out`), 'utf8').catch(() => '');
    result.set(
      i,
      text
        .split('\n')
        .slice(0, -1)
        .map((line) => idOf(decodeOutputLine(line).toString())),
    );
  }
  return result;
}

interface RunProcess {
  output(): string;
  /** The JSON log lines with this `msg`. */
  logs(msg: string): Record<string, unknown>[];
  load(): Promise<LoadShards>;
  /** Its /metrics, as Prometheus text. */
  metrics(): Promise<string>;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
}

type LoadShards = {
  shards: { pool?: string; index: number; backlog: number; state: string; moving: boolean }[];
};

/** The pids of the `count` workers `run` started, once each has said it is ready. */
async function readyWorkers(run: RunProcess, count: number): Promise<number[]> {
  await eventually(() => expect(run.logs('worker started')).toHaveLength(count), {
    timeoutMs: 30_000,
  });
  await eventually(() =>
    expect(run.logs('worker output').filter((l) => l['line'] === 'ready')).toHaveLength(count),
  );
  return run.logs('worker started').map((l) => Number(l['pid']));
}

async function startRun(file: string): Promise<RunProcess> {
  const child = spawn(process.execPath, [CLI, 'run', '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const logs = (msg: string) =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return {};
        }
      })
      .filter((line) => line['msg'] === msg);
  try {
    const port = await loggedPort(() => output);
    return {
      output: () => output,
      logs,
      load: async () => (await (await fetch(`http://127.0.0.1:${port}/load`)).json()) as LoadShards,
      metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
      signal: (signal) => child.kill(signal),
      stop: async () => {
        child.kill('SIGTERM');
        const code = await exited;
        expect(linesRepeatingKeys(output)).toEqual([]);
        return code;
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`run did not start:\n${output.slice(-3000)}`, { cause: error });
  }
}

describe('run mode', () => {
  it('runs the reference workers on nats: they find their shard streams from the SD_NATS_* variables it sets', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-run-nats-'));
    const server = await NatsServer.start();
    try {
      const base = runConfig(2);
      const config: DistributorConfig = {
        ...base,
        dispatcher: { ...base.dispatcher, backend: 'nats' },
        worker: {
          ...base.worker,
          workerModule: REFERENCE_WORKER,
          // The template written for veda, --base included: the worker goes nats by itself.
          workerArgsTemplate: REFERENCE_ARGS,
        },
        nats: { url: server.url, mainStream: 'RUN_MAIN', shardStream: 'RUN_SHARDS' },
      };
      const file = join(dir, 'veda-queue-shard-distributor.ini');
      await writeFile(file, renderIni(config));
      const messages = ids(60, 'N');
      const main = await createNatsBackend({ ...config.nats!, mainQueue: 'individuals-flow' });
      const writer = await main.openWriter('individuals-flow');
      await writer.append(messages.map((m) => Buffer.from(m)));
      await writer.flush();
      await writer.close();
      await main.close();

      const run = await startRun(file);
      try {
        await eventually(
          async () =>
            expect(countDeliveries(await handled('individuals-flow-shard', 2), messages)).toEqual({
              delivered: messages.length,
              lost: [],
              duplicated: [],
              unexpected: [],
            }),
          { timeoutMs: 30_000 },
        );
        for (const list of (await handled('individuals-flow-shard', 2)).values())
          expect(list.length).toBeGreaterThan(0);
        // The supervisor's metrics are served beside the distributor's.
        const metrics = await run.metrics();
        expect(metrics).toMatch(/^shard_distributor_workers_running 2$/m);
        expect(metrics).toMatch(/^shard_distributor_shard_backlog\{/m);
      } finally {
        expect(await run.stop()).toBe(0);
      }
    } finally {
      await server.dispose();
    }
  });

  it('stops the worker of a shard removed from the INI and moves its backlog to the live shards', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-run-'));
    const file = join(dir, 'veda-queue-shard-distributor.ini');
    await writeFile(file, renderIni(runConfig(3)));
    const main = createVedaBackend({ basePath: join(dir, 'main') });
    const writer = await main.openWriter('individuals-flow');
    const messages = ids(90);
    await writer.append(messages.map((m) => Buffer.from(m)));
    await writer.flush();
    await writer.close();
    await main.close();

    const child = spawn(process.execPath, [CLI, 'run', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'info' },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    try {
      const port = await loggedPort(() => output);
      const load = async () =>
        (await (await fetch(`http://127.0.0.1:${port}/load`)).json()) as {
          shards: { index: number; backlog: number; state: string }[];
        };
      await eventually(
        async () => expect((await load()).shards.map((s) => s.backlog)).toEqual([30, 30, 30]),
        { timeoutMs: 30_000 },
      );

      await writeFile(file, renderIni(runConfig(2)));
      await eventually(
        async () => {
          const shards = (await load()).shards;
          expect(shards.find((s) => s.index === 2)?.state ?? 'gone').toMatch(/drained|gone/);
          expect(shards.filter((s) => s.index < 2).map((s) => s.backlog)).toEqual([45, 45]);
        },
        { timeoutMs: 30_000 },
      );
      expect(output).toContain('moving their backlog to live shards');
      // Everything in shards 0 and 1, once; shard 2's records were moved, not copied twice.
      const contents = await shardContents(3);
      const live = new Map([...contents].filter(([shard]) => shard < 2));
      expect(countDeliveries(live, messages)).toEqual({
        delivered: 90,
        lost: [],
        duplicated: [],
        unexpected: [],
      });
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('starts workers by what the distributor applied: a key it keeps until a restart does not move them', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-run-keys-'));
    const file = join(dir, 'veda-queue-shard-distributor.ini');
    await writeFile(file, renderIni(runConfig(2)));
    await produce(ids(4));
    const run = await startRun(file);
    try {
      await eventually(() => expect(run.logs('worker started')).toHaveLength(2), {
        timeoutMs: 30_000,
      });
      // A third shard (live), a new sleep (the workers' own key) and another shard directory
      // (which the distributor keeps until a restart).
      const base = runConfig(3);
      await writeFile(
        file,
        renderIni({
          ...base,
          worker: { ...base.worker, workerBasePath: join(dir, 'elsewhere'), sleepEmptySec: 0.2 },
        }),
      );
      await eventually(
        () => expect(run.logs('worker started').map((l) => String(l['shard']))).toContain('2'),
        { timeoutMs: 30_000 },
      );
      expect(
        run.logs('config change needs a restart to apply; keeping the running values'),
      ).toEqual([expect.objectContaining({ keys: ['[worker] worker_base_path'] })]);
      const third = run.logs('worker started').find((l) => l['shard'] === 2)!;
      const argv = (third['argv'] as string[]).join(' ');
      expect(argv).toContain(`--base ${join(dir, 'shards')} `);
      expect(argv).toContain('--sleep-empty 0.2');
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });

  it('stops cleanly (exit 0) when told to while it waits for the main queue to appear', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-run-wait-'));
    const file = join(dir, 'veda-queue-shard-distributor.ini');
    await writeFile(file, renderIni(runConfig(2)));
    const run = await startRun(file);
    await eventually(() => expect(run.output()).toContain('waiting for the main queue to appear'));
    // Before, the stop surfaced as the open's failure: exit 1, which a service manager
    // records as a failed stop.
    expect(await run.stop()).toBe(0);
  });

  it('exits at once on a second signal and takes its workers with it, even those that ignore SIGTERM', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-run-exit-'));
    const file = join(dir, 'veda-queue-shard-distributor.ini');
    const base = runConfig(2);
    await writeFile(
      file,
      renderIni({
        ...base,
        worker: {
          ...base.worker,
          workerArgsTemplate: `${base.worker.workerArgsTemplate} --ignore-term`,
        },
      }),
    );
    await produce(ids(4));
    const run = await startRun(file);
    let pids: number[] = [];
    try {
      // Their SIGTERM handlers are in place once they say so.
      pids = await readyWorkers(run, 2);
      expect(await Promise.all(pids.map(alive))).toEqual([true, true]);
      run.signal('SIGTERM');
      // The graceful stop has asked the workers to stop, and they have not (signals of one
      // kind sent back to back would merge into one).
      await eventually(() => expect(run.logs('stopping worker')).toHaveLength(2));
      expect(await run.stop()).toBe(143);
      // Workers run in process groups of their own: before, nothing ended them here.
      const stillAlive = async () => {
        const living = await Promise.all(pids.map(alive));
        return pids.filter((_, i) => living[i]);
      };
      await eventually(async () => expect(await stillAlive()).toEqual([]), { timeoutMs: 10_000 });
    } finally {
      for (const pid of pids) if (await alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('stops the workers a run killed with SIGKILL left behind before it starts its own: no shard gets two readers', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-run-orphans-'));
    const file = join(dir, 'veda-queue-shard-distributor.ini');
    await writeFile(file, renderIni(runConfig(2)));
    await produce(ids(4));
    const first = await startRun(file);
    let orphans: number[] = [];
    try {
      // Done writing to their stdout (a write to the pipe of a dead run would end them).
      orphans = await readyWorkers(first, 2);
      // No handler runs: the workers, in process groups of their own, outlive it.
      first.signal('SIGKILL');
      await first.stop();
      expect(await Promise.all(orphans.map(alive))).toEqual([true, true]);

      const second = await startRun(file);
      await eventually(() => expect(second.logs('worker started')).toHaveLength(2), {
        timeoutMs: 30_000,
      });
      const stopped = second.logs(
        'a worker left by an earlier run (killed without stopping its workers) still reads its shard; stopping it before starting ours',
      );
      expect(stopped.map((l) => Number(l['pid'])).sort()).toEqual([...orphans].sort());
      expect(await Promise.all(orphans.map(alive))).toEqual([false, false]);
      const ours = second.logs('worker started').map((l) => Number(l['pid']));
      expect(ours.some((pid) => orphans.includes(pid))).toBe(false);
      expect(await second.stop()).toBe(0);
    } finally {
      for (const pid of orphans) if (await alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it("runs every pool's workers with the pool's argv, each pool's messages reach its own workers once, and shrinking a pool retires only its removed worker", async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-run-pools-'));
    const file = join(dir, 'veda-queue-shard-distributor.ini');
    await writeFile(file, renderIni(twoPoolConfig(2, largePool(2))));
    const small = ids(40, 'S');
    const large = largeMessages(30, 'L');
    // Interleaved, so one batch spans both pools.
    await produce(small.flatMap((m, i) => [m, ...(large[i] === undefined ? [] : [large[i]])]));

    const run = await startRun(file);
    try {
      await eventually(
        () => {
          const started = run.logs('worker started');
          expect(started.map((l) => `${String(l['pool'])}/${String(l['shard'])}`).sort()).toEqual([
            'default/0',
            'default/1',
            'large/0',
            'large/1',
          ]);
        },
        { timeoutMs: 30_000 },
      );
      for (const line of run.logs('worker started')) {
        const queue =
          line['pool'] === 'large'
            ? `large-shard-${String(line['shard'])}`
            : `individuals-flow-shard-${String(line['shard'])}`;
        const base = join(dir, 'shards');
        expect((line['argv'] as string[]).slice(2)).toEqual([
          'worker',
          ...['--base', base, '--sub', queue, '--src', 'queue-shard-distributor'],
          ...['--sleep-empty', '0.05', '--out', `${base}/${queue}.out`],
          ...(line['pool'] === 'large' ? ['--batch-size', '3'] : []),
        ]);
      }

      // Counted by id (a large payload's id is what precedes its padding), per pool.
      const all = async (smallIds: string[], largeIds: string[]) => ({
        small: countDeliveries(await handled('individuals-flow-shard', 2), smallIds),
        large: countDeliveries(await handled('large-shard', 2), largeIds.map(idOf)),
      });
      const complete = (smallIds: string[], largeIds: string[]) => ({
        small: { delivered: smallIds.length, lost: [], duplicated: [], unexpected: [] },
        large: { delivered: largeIds.length, lost: [], duplicated: [], unexpected: [] },
      });
      await eventually(
        async () => expect(await all(small, large)).toEqual(complete(small, large)),
        {
          timeoutMs: 30_000,
        },
      );
      // Both shards of each pool took part.
      for (const shards of [
        await handled('individuals-flow-shard', 2),
        await handled('large-shard', 2),
      ])
        for (const list of shards.values()) expect(list.length).toBeGreaterThan(0);

      const pids = new Map(
        run
          .logs('worker started')
          .map((l) => [`${String(l['pool'])}/${String(l['shard'])}`, l['pid']]),
      );
      // large shrinks to one worker; its shard 1 drains (it is empty) and its worker is retired.
      await writeFile(file, renderIni(twoPoolConfig(2, largePool(1, { drainingShards: [1] }))));
      await eventually(
        () =>
          expect(run.logs('stopping worker')).toEqual([
            expect.objectContaining({ pool: 'large', shard: 1, reason: 'retired' }),
          ]),
        { timeoutMs: 30_000 },
      );
      await eventually(() =>
        expect(run.logs('worker exited')).toEqual([
          expect.objectContaining({ pool: 'large', shard: 1, pid: pids.get('large/1'), code: 0 }),
        ]),
      );
      await eventually(async () =>
        expect(
          (await run.load()).shards.find((s) => s.pool === 'large' && s.index === 1)?.state,
        ).toBe('drained'),
      );

      // New messages: the large ones all go to large/0 now; nothing else stopped or started.
      const small2 = ids(10, 'S2');
      const large2 = largeMessages(10, 'L2');
      await produce([...small2, ...large2]);
      await eventually(
        async () =>
          expect(await all([...small, ...small2], [...large, ...large2])).toEqual(
            complete([...small, ...small2], [...large, ...large2]),
          ),
        { timeoutMs: 30_000 },
      );
      const largeShards = await handled('large-shard', 2);
      expect(largeShards.get(1)?.filter((m) => m.startsWith('L2-'))).toEqual([]);
      expect(run.logs('worker started')).toHaveLength(4);
      expect(run.logs('stopping worker')).toHaveLength(1);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });

  it("stops the worker of a shard removed from a pool and moves that pool's backlog to its live shards, leaving the default pool alone", async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-run-pools-'));
    const file = join(dir, 'veda-queue-shard-distributor.ini');
    // Idle workers everywhere: the shard queues keep their backlog.
    const idle = (minWorkers: number) =>
      twoPoolConfig(
        2,
        largePool(minWorkers, { workerModule: quoteArgv([process.execPath, IDLE_WORKER]) }),
      );
    const config = (minWorkers: number): DistributorConfig => {
      const c = idle(minWorkers);
      return {
        ...c,
        worker: { ...c.worker, workerModule: quoteArgv([process.execPath, IDLE_WORKER]) },
      };
    };
    await writeFile(file, renderIni(config(3)));
    const small = ids(20, 'S');
    const large = largeMessages(90, 'L');
    await produce([...small, ...large]);

    const run = await startRun(file);
    try {
      const backlogs = async (pool: string | undefined) =>
        (await run.load()).shards.filter((s) => s.pool === pool).map((s) => s.backlog);
      await eventually(
        async () => {
          expect(await backlogs('large')).toEqual([30, 30, 30]);
          expect(await backlogs(undefined)).toEqual([10, 10]);
        },
        { timeoutMs: 30_000 },
      );

      await writeFile(file, renderIni(config(2)));
      await eventually(
        async () => {
          const shards = (await run.load()).shards.filter((s) => s.pool === 'large');
          expect(shards.find((s) => s.index === 2)?.state ?? 'gone').toMatch(/drained|gone/);
          expect(shards.filter((s) => s.index < 2).map((s) => s.backlog)).toEqual([45, 45]);
        },
        { timeoutMs: 30_000 },
      );
      expect(await backlogs(undefined)).toEqual([10, 10]);
      expect(
        run.logs('workers of removed shards stopped; moving their backlog to live shards'),
      ).toEqual([expect.objectContaining({ pool: 'large', shards: [2] })]);
      expect(run.logs('stopping worker')).toEqual([
        expect.objectContaining({ pool: 'large', shard: 2, reason: 'not-desired' }),
      ]);
      const backend = createVedaBackend({ basePath: join(dir, 'shards') });
      const contents = new Map<number, string[]>();
      for (let i = 0; i < 2; i++)
        contents.set(
          i,
          (await backend.peek(`large-shard-${i}`, 100_000)).map((m) => idOf(String(m))),
        );
      await backend.close();
      expect(countDeliveries(contents, large.map(idOf))).toEqual({
        delivered: 90,
        lost: [],
        duplicated: [],
        unexpected: [],
      });
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });
});
