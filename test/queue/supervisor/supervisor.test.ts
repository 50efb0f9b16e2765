import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  renderPoolWorkerArgv,
  renderWorkerArgv,
  type DistributorConfig,
} from '../../../src/config/index.ts';
import { Supervisor, type SupervisorOptions } from '../../../src/supervisor/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { alive, capture, reaped, sleeperConfig, sleeperPool, type Captured } from './helpers.ts';

const fast = { initialMs: 50, maxMs: 400, factor: 2, jitter: 0, resetAfterMs: 60_000 };

describe('supervisor', () => {
  const started: Supervisor[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop(1_000)));
  });

  function supervise(
    c: Captured,
    options: Omit<SupervisorOptions, 'log' | 'registry'>,
  ): Supervisor {
    const supervisor = new Supervisor({
      backoff: fast,
      log: c.log,
      registry: c.registry,
      ...options,
    });
    started.push(supervisor);
    supervisor.start();
    return supervisor;
  }

  function pids(supervisor: Supervisor): number[] {
    return supervisor.workers().map((w) => {
      if (w.state !== 'running' || w.pid === undefined)
        throw new Error(`shard ${w.shard} is ${w.state}`);
      return w.pid;
    });
  }

  async function ready(c: Captured, shard: number, pid: number): Promise<void> {
    await eventually(
      () => expect(c.find('worker output', { shard, pid, line: 'ready' })).toHaveLength(1),
      { description: `shard ${shard} (pid ${pid}) ready` },
    );
  }

  /** The running workers as `pool/shard` → pid. */
  function byKey(supervisor: Supervisor): Map<string, number> {
    return new Map(
      supervisor.workers().map((w) => {
        if (w.state !== 'running' || w.pid === undefined)
          throw new Error(`${w.pool}/${w.shard} is ${w.state}`);
        return [`${w.pool}/${w.shard}`, w.pid];
      }),
    );
  }

  /** Default pool with `defaults` shards, plus `[pool.large]` with `large` shards. */
  function twoPools(
    defaults: number,
    large: number,
    largeExtra: Parameters<typeof sleeperPool>[3] = {},
  ): DistributorConfig {
    return {
      ...sleeperConfig(defaults, '--sub {sub_queue_name}'),
      pools: [sleeperPool('large', large, '--sub {sub_queue_name} --pool large', largeExtra)],
    };
  }

  it('starts one worker per live shard with exactly the rendered argv, a quoted space kept in one argument', async () => {
    const c = capture();
    const config = sleeperConfig(3, `--sub {sub_queue_name} --label 'two words' --src {src}`);
    const supervisor = supervise(c, { config });
    await eventually(() =>
      expect(c.find('worker output', { stream: 'stdout' }).length).toBeGreaterThanOrEqual(6),
    );
    const running = supervisor.workers();
    expect(running.map((w) => w.shard)).toEqual([0, 1, 2]);
    for (const worker of running) {
      const argv = renderWorkerArgv(config, worker.shard);
      expect(worker.argv).toEqual(argv);
      expect(argv.slice(2)).toEqual([
        '--sub',
        `q-${worker.shard}`,
        '--label',
        'two words',
        '--src',
        'queue-shard-distributor',
      ]);
      const printed = c.find('worker output', { shard: worker.shard, stream: 'stdout' })[0];
      expect(printed?.line).toBe(`argv ${JSON.stringify(argv.slice(2))}`);
    }
    expect(await c.metric('shard_distributor_workers_running')).toBe(3);
  });

  it('logs each line of stdout and stderr with the shard and the stream', async () => {
    const c = capture();
    const supervisor = supervise(c, { config: sleeperConfig(2, '--sub {sub_queue_name}') });
    await eventually(() => expect(pids(supervisor)).toHaveLength(2));
    for (const [shard, pid] of pids(supervisor).entries()) {
      await eventually(() =>
        expect(c.find('worker output', { shard, pid, stream: 'stderr' })).toEqual([
          expect.objectContaining({ level: 'info', line: `pid ${pid} on stderr` }),
        ]),
      );
    }
  });

  it("starts each pool's workers with that pool's failure policy in SD_* variables", async () => {
    const c = capture();
    const base = sleeperConfig(1, '--print-env');
    const config = {
      ...base,
      failure: {
        policy: 'DeadLetter' as const,
        maxAttempts: 3,
        retryBackoffSec: 2,
        retryBackoffMaxSec: 60,
      },
      pools: [
        sleeperPool('large', 1, '--print-env', {
          failure: { policy: 'Drop', maxAttempts: 7, retryBackoffSec: 1, retryBackoffMaxSec: 10 },
        }),
      ],
    };
    supervise(c, { config, env: { PATH: process.env.PATH, SD_POOL: 'inherited' } });
    const envOf = async (pool: string) =>
      eventually(() => {
        const line = c.logs.find(
          (l) => l.msg === 'worker output' && l.pool === pool && String(l.line).startsWith('env '),
        );
        expect(line).toBeDefined();
        return JSON.parse(String(line!.line).slice(4)) as Record<string, string>;
      });
    // Who supervises it, over which queues: the next run finds a worker this one left.
    const supervised = {
      SD_SUPERVISOR: expect.stringMatching(new RegExp(`^${process.pid}:\\d+$`)),
      SD_SUPERVISED_BASE: resolve(config.worker.workerBasePath),
    };
    expect(await envOf('default')).toEqual({
      SD_POOL: 'default',
      SD_FAILURE_POLICY: 'DeadLetter',
      SD_MAX_ATTEMPTS: '3',
      SD_RETRY_BACKOFF_SEC: '2',
      SD_RETRY_BACKOFF_MAX_SEC: '60',
      ...supervised,
    });
    expect(await envOf('large')).toEqual({
      SD_POOL: 'large',
      SD_FAILURE_POLICY: 'Drop',
      SD_MAX_ATTEMPTS: '7',
      SD_RETRY_BACKOFF_SEC: '1',
      SD_RETRY_BACKOFF_MAX_SEC: '10',
      ...supervised,
    });
  });

  it('starts the workers of a nats config with the connection in SD_NATS_* variables', async () => {
    const c = capture();
    const base = sleeperConfig(1, '--print-env');
    const config = {
      ...base,
      dispatcher: { ...base.dispatcher, backend: 'nats' as const, mainQueueName: 'orders' },
      nats: {
        url: 'nats://a:4222,nats://b:4222',
        mainStream: 'MAIN',
        shardStream: 'SHARDS',
        credentialsFile: '/etc/nats/w.creds',
      },
    };
    supervise(c, { config, env: { PATH: process.env.PATH } });
    const env = await eventually(() => {
      const line = c.logs.find(
        (l) => l.msg === 'worker output' && String(l.line).startsWith('env '),
      );
      expect(line).toBeDefined();
      return JSON.parse(String(line!.line).slice(4)) as Record<string, string>;
    });
    expect(env).toMatchObject({
      SD_NATS_URL: 'nats://a:4222,nats://b:4222',
      SD_NATS_MAIN_STREAM: 'MAIN',
      SD_NATS_SHARD_STREAM: 'SHARDS',
      SD_NATS_CREDENTIALS_FILE: '/etc/nats/w.creds',
      SD_MAIN_QUEUE: 'orders',
      SD_POOL: 'default',
    });
  });

  it('reaps a worker killed with SIGKILL and starts it again, waiting longer after each failure', async () => {
    const c = capture();
    const supervisor = supervise(c, { config: sleeperConfig(1, '--sub {sub_queue_name}') });
    const seen: number[] = [];
    for (let kill = 0; kill < 3; kill++) {
      const [pid] = await eventually(() => {
        const [p] = pids(supervisor);
        expect(seen).not.toContain(p);
        return [p as number];
      });
      seen.push(pid);
      process.kill(pid, 'SIGKILL');
      await eventually(() =>
        expect(c.find('worker exited', { shard: 0, pid, signal: 'SIGKILL' })).toHaveLength(1),
      );
      expect(await reaped(pid)).toBe(true);
    }
    await eventually(() => expect(supervisor.workers()[0]?.state).toBe('running'));
    expect(c.find('worker restart scheduled', { shard: 0 }).map((l) => l.delayMs)).toEqual([
      50, 100, 200,
    ]);
    expect(supervisor.workers()[0]?.restarts).toBe(3);
    expect(await c.metric('shard_distributor_worker_restarts_total', { shard: '0' })).toBe(3);
  });

  it('restarts a worker that exits on its own', async () => {
    const c = capture();
    supervise(c, { config: sleeperConfig(1, '--exit-after 50') });
    await eventually(() =>
      expect(c.find('worker exited', { shard: 0, code: 3 }).length).toBeGreaterThanOrEqual(2),
    );
    for (const exit of c.find('worker exited', { shard: 0, code: 3 })) {
      expect(await reaped(exit['pid'] as number)).toBe(true);
      // Its stderr comes with the warning: a traceback shows where info lines are hidden.
      expect(exit['level']).toBe('warn');
      expect(exit['stderr']).toEqual([`pid ${String(exit['pid'])} on stderr`]);
    }
  });

  it('sends SIGTERM on stop and resolves once every worker has exited', async () => {
    const c = capture();
    const supervisor = new Supervisor({ config: sleeperConfig(2, ''), log: c.log, backoff: fast });
    supervisor.start();
    const workers = await eventually(() => pids(supervisor));
    for (const [shard, pid] of workers.entries()) await ready(c, shard, pid);
    await supervisor.stop(30_000);
    expect(supervisor.workers()).toEqual([]);
    for (const pid of workers) {
      expect(c.find('worker exited', { pid })).toEqual([
        expect.objectContaining({ code: 0, signal: null }),
      ]);
      expect(await reaped(pid)).toBe(true);
    }
    await eventually(() =>
      expect(c.find('worker output', { line: 'got SIGTERM' })).toHaveLength(2),
    );
    expect(c.find('worker restart scheduled')).toEqual([]);
  });

  it('starts no worker again once restarts are held for a stop: one the service manager ended stays down', async () => {
    const c = capture();
    const supervisor = supervise(c, { config: sleeperConfig(2, '') });
    const workers = await eventually(() => pids(supervisor));
    for (const [shard, pid] of workers.entries()) await ready(c, shard, pid);
    supervisor.holdRestarts();
    // systemd's stop signals the whole group: a worker ends before the supervisor stops it.
    process.kill(workers[0]!, 'SIGTERM');
    await eventually(() => expect(c.find('worker exited', { pid: workers[0] })).toHaveLength(1));
    expect(await reaped(workers[0]!)).toBe(true);
    expect(supervisor.workers().map((w) => w.shard)).toEqual([1]);
    await supervisor.stop(30_000);
    expect(c.find('worker restart scheduled')).toEqual([]);
    expect(supervisor.workers()).toEqual([]);
  });

  it('kills a worker that ignores SIGTERM once the grace period is over', async () => {
    const c = capture();
    const supervisor = new Supervisor({
      config: sleeperConfig(1, '--ignore-term'),
      log: c.log,
      backoff: fast,
    });
    supervisor.start();
    const [pid] = await eventually(() => pids(supervisor));
    await ready(c, 0, pid as number);
    await supervisor.stop(300);
    expect(c.find('worker exited', { pid })).toEqual([
      expect.objectContaining({ code: null, signal: 'SIGKILL' }),
    ]);
    await eventually(() =>
      expect(c.find('worker output', { pid, line: 'ignoring SIGTERM' })).toHaveLength(1),
    );
    expect(c.find('worker ignored SIGTERM, killing', { pid })).toHaveLength(1);
    expect(await reaped(pid as number)).toBe(true);
  });

  it('logs a worker command that does not exist with its argv and retries it with backoff, without crashing', async () => {
    const c = capture();
    const config = { ...sleeperConfig(1, '--sub {sub_queue_name}') };
    const missing = {
      ...config,
      worker: { ...config.worker, workerModule: '/nonexistent/worker' },
    };
    const supervisor = supervise(c, { config: missing });
    await eventually(() =>
      expect(c.find('worker failed to start', { shard: 0 }).length).toBeGreaterThanOrEqual(4),
    );
    const failure = c.find('worker failed to start', { shard: 0 })[0];
    expect(failure?.['argv']).toEqual(['/nonexistent/worker', '--sub', 'q-0']);
    expect(failure?.['err']).toMatchObject({ code: 'ENOENT' });
    expect(
      c
        .find('worker restart scheduled', { shard: 0 })
        .slice(0, 4)
        .map((l) => l.delayMs),
    ).toEqual([50, 100, 200, 400]);
    expect(supervisor.workers()).toEqual([expect.objectContaining({ shard: 0, pid: undefined })]);
    await supervisor.stop(1_000);
  });

  it('follows a changed shard set: new shards start, a draining shard keeps its worker until retired', async () => {
    const c = capture();
    const supervisor = supervise(c, { config: sleeperConfig(1, '--sub {sub_queue_name}') });
    await eventually(() => expect(pids(supervisor)).toHaveLength(1));

    supervisor.reconcile(sleeperConfig(3, '--sub {sub_queue_name}'));
    const [p0, p1, p2] = await eventually(() => {
      const all = pids(supervisor);
      expect(all).toHaveLength(3);
      return all as [number, number, number];
    });
    await ready(c, 2, p2);

    supervisor.reconcile(sleeperConfig(1, '--sub {sub_queue_name}', { drainingShards: [1, 2] }));
    expect(pids(supervisor)).toEqual([p0, p1, p2]);

    await supervisor.retire(2);
    expect(c.find('worker exited', { pid: p2 })).toEqual([
      expect.objectContaining({ code: 0, signal: null }),
    ]);
    expect(c.find('stopping worker', { shard: 2 })).toEqual([
      expect.objectContaining({ reason: 'retired' }),
    ]);
    expect(supervisor.workers().map((w) => w.shard)).toEqual([0, 1]);

    // Retiring a live shard is refused; a retired shard stays retired while it is draining.
    await supervisor.retire(0);
    supervisor.reconcile(sleeperConfig(1, '--sub {sub_queue_name}', { drainingShards: [1, 2] }));
    expect(pids(supervisor)).toEqual([p0, p1]);

    // Gone from the config altogether: stopped without waiting for a retire.
    supervisor.reconcile(sleeperConfig(1, '--sub {sub_queue_name}'));
    await eventually(() => expect(supervisor.workers().map((w) => w.shard)).toEqual([0]));
    expect(await alive(p0)).toBe(true);
    expect(await reaped(p1)).toBe(true);
  });

  it('replaces workers gracefully when the worker command changes', async () => {
    const c = capture();
    const supervisor = supervise(c, { config: sleeperConfig(1, '--sub {sub_queue_name}') });
    const [old] = await eventually(() => pids(supervisor));
    await ready(c, 0, old as number);
    supervisor.reconcile(sleeperConfig(1, '--sub {sub_queue_name} --new'));
    const [next] = await eventually(() => {
      const [p] = pids(supervisor);
      expect(p).not.toBe(old);
      return [p as number];
    });
    expect(supervisor.workers()[0]?.argv.at(-1)).toBe('--new');
    expect(c.find('worker exited', { pid: old })).toEqual([
      expect.objectContaining({ code: 0, signal: null }),
    ]);
    expect(await alive(next)).toBe(true);
  });

  it('refuses a config whose worker command cannot be rendered, keeping the workers it has', async () => {
    const c = capture();
    const supervisor = supervise(c, { config: sleeperConfig(1, '') });
    const [pid] = await eventually(() => pids(supervisor));
    const bad = sleeperConfig(2, '');
    expect(() =>
      supervisor.reconcile({
        ...bad,
        worker: { ...bad.worker, workerModule: '', workerArgsTemplate: '' },
      }),
    ).toThrow(expect.objectContaining({ code: 'SD_ERR_WORKER_COMMAND' }));
    expect(pids(supervisor)).toEqual([pid]);
  });

  it("starts every pool's workers with the pool's argv, tells the same index in two pools apart, and counts restarts by pool", async () => {
    const c = capture();
    const config = twoPools(2, 2);
    const supervisor = supervise(c, { config });
    const pids = await eventually(() => {
      const all = byKey(supervisor);
      expect([...all.keys()]).toEqual(['default/0', 'default/1', 'large/0', 'large/1']);
      return all;
    });
    for (const w of supervisor.workers()) {
      const pool = config.pools[0];
      if (pool === undefined) throw new Error('no pool');
      const argv =
        w.pool === 'large'
          ? renderPoolWorkerArgv(config, pool, w.shard)
          : renderWorkerArgv(config, w.shard);
      expect(w.argv).toEqual(argv);
      await eventually(() =>
        expect(
          c.find('worker output', { pool: w.pool, shard: w.shard, stream: 'stdout' })[0]?.line,
        ).toBe(`argv ${JSON.stringify(argv.slice(2))}`),
      );
    }
    expect(
      supervisor
        .workers()
        .find((w) => w.pool === 'large' && w.shard === 1)
        ?.argv.slice(2),
    ).toEqual(['--sub', 'q-large-1', '--pool', 'large']);
    expect(await c.metric('shard_distributor_workers_running')).toBe(4);

    // Killing large/0 restarts large/0 only; default/0 keeps its process.
    const victim = pids.get('large/0') as number;
    process.kill(victim, 'SIGKILL');
    await eventually(() => {
      const now = byKey(supervisor);
      expect(now.get('large/0')).not.toBe(victim);
      expect(now.get('default/0')).toBe(pids.get('default/0'));
    });
    expect(c.find('worker exited', { pool: 'large', shard: 0, pid: victim })).toHaveLength(1);
    expect(
      await c.metric('shard_distributor_worker_restarts_total', { pool: 'large', shard: '0' }),
    ).toBe(1);
    expect(
      await c.metric('shard_distributor_worker_restarts_total', { pool: 'default', shard: '0' }),
    ).toBe(0);
  });

  it("drains and retires a pool's removed shard only, and keeps the pools it started with", async () => {
    const c = capture();
    const supervisor = supervise(c, { config: twoPools(2, 2) });
    const before = await eventually(() => {
      const all = byKey(supervisor);
      expect(all.size).toBe(4);
      return all;
    });
    await ready(c, 1, before.get('large/1') as number);

    // large shrinks to 1: its shard 1 drains and keeps its worker until retired.
    supervisor.reconcile(twoPools(2, 1, { drainingShards: [1] }));
    expect(byKey(supervisor)).toEqual(before);
    // default/1 is live: not retired, whatever pool the caller meant.
    await supervisor.retire(1);
    expect(byKey(supervisor)).toEqual(before);

    await supervisor.retire(1, 'large');
    expect(c.find('stopping worker', { pool: 'large', shard: 1 })).toEqual([
      expect.objectContaining({ reason: 'retired' }),
    ]);
    expect(c.find('worker exited', { pid: before.get('large/1') })).toEqual([
      expect.objectContaining({ pool: 'large', code: 0, signal: null }),
    ]);
    expect([...byKey(supervisor)]).toEqual([...before].filter(([key]) => key !== 'large/1'));
    expect(c.find('stopping worker', { pool: 'default' })).toEqual([]);

    // Still draining in the INI: stays retired.
    supervisor.reconcile(twoPools(2, 1, { drainingShards: [1] }));
    expect(byKey(supervisor).has('large/1')).toBe(false);

    // A pool dropped from the INI keeps its workers until the restart (the distributor
    // still feeds it); an unknown pool's shard is not retired.
    supervisor.reconcile(sleeperConfig(2, '--sub {sub_queue_name}'));
    expect(
      c.find(
        'pools added or removed in the config wait for a restart; supervising the running ones',
      ),
    ).toHaveLength(1);
    await supervisor.retire(0, 'nope');
    expect(c.find('shard of an unknown pool not retired', { pool: 'nope' })).toHaveLength(1);
    expect([...byKey(supervisor).keys()]).toEqual(['default/0', 'default/1', 'large/0']);

    // Growing the pool again starts large/1 anew.
    supervisor.reconcile(twoPools(2, 2));
    await eventually(() =>
      expect([...byKey(supervisor).keys()]).toEqual([
        'default/0',
        'default/1',
        'large/0',
        'large/1',
      ]),
    );
    expect(byKey(supervisor).get('large/0')).toBe(before.get('large/0'));
    expect(byKey(supervisor).get('default/1')).toBe(before.get('default/1'));
  });
});
