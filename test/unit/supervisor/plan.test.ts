import { describe, expect, it } from 'vitest';
import {
  defaultConfig,
  renderPoolWorkerArgv,
  type DistributorConfig,
  type PoolConfig,
} from '../../../src/config/index.ts';
import {
  WorkerCommandError,
  desiredWorkers,
  planWorkers,
  withRunningPools,
  workerKey,
  type CurrentWorker,
} from '../../../src/supervisor/index.ts';

function config(
  minWorkers: number,
  drainingShards: number[] = [],
  worker: Partial<DistributorConfig['worker']> = {},
): DistributorConfig {
  const base = defaultConfig();
  return {
    ...base,
    dispatcher: { ...base.dispatcher, minWorkers, drainingShards },
    worker: {
      ...base.worker,
      workerModule: 'worker',
      workerArgsTemplate: '--sub {sub_queue_name}',
      subQueuePrefix: 'q',
      ...worker,
    },
  };
}

const running = (shard: number, stopping = false): CurrentWorker => ({
  pool: 'default',
  shard,
  argv: ['worker', '--sub', `q-${shard}`],
  stopping,
});

describe('desiredWorkers', () => {
  it('wants one worker per live shard with its rendered argv', () => {
    expect(desiredWorkers(config(2), new Set())).toEqual([
      { pool: 'default', shard: 0, argv: ['worker', '--sub', 'q-0'] },
      { pool: 'default', shard: 1, argv: ['worker', '--sub', 'q-1'] },
    ]);
  });

  it('keeps a quoted argument with a space as one argument', () => {
    const [first] = desiredWorkers(
      config(1, [], { workerModule: "'/opt/my worker/run'", workerArgsTemplate: '--x "a b"' }),
      new Set(),
    );
    expect(first?.argv).toEqual(['/opt/my worker/run', '--x', 'a b']);
  });

  it('keeps the worker of a draining shard until it is retired', () => {
    expect(desiredWorkers(config(1, [3, 2]), new Set()).map((w) => w.shard)).toEqual([0, 2, 3]);
    expect(
      desiredWorkers(config(1, [3, 2]), new Set([workerKey({ pool: 'default', shard: 3 })])).map(
        (w) => w.shard,
      ),
    ).toEqual([0, 2]);
  });

  it('never drops a live shard, even one retired earlier', () => {
    expect(
      desiredWorkers(config(2), new Set([workerKey({ pool: 'default', shard: 1 })])).map(
        (w) => w.shard,
      ),
    ).toEqual([0, 1]);
  });

  it('refuses an empty worker command with SD_ERR_WORKER_COMMAND', () => {
    const empty = config(1, [], { workerModule: '', workerArgsTemplate: '' });
    expect(() => desiredWorkers(empty, new Set())).toThrow(WorkerCommandError);
    expect(() => desiredWorkers(empty, new Set())).toThrow(
      expect.objectContaining({ code: 'SD_ERR_WORKER_COMMAND' }),
    );
  });
});

describe('planWorkers', () => {
  const desired = (...shards: number[]) =>
    desiredWorkers(config(0, shards), new Set()).filter((w) => shards.includes(w.shard));

  it('starts every desired worker when none runs', () => {
    expect(planWorkers(desired(0, 1), [])).toEqual({
      start: desired(0, 1),
      stop: [],
    });
  });

  it('does nothing when what runs is what is desired', () => {
    expect(planWorkers(desired(0, 1), [running(1), running(0)])).toEqual({ start: [], stop: [] });
  });

  it('starts the new shards and stops the ones no longer desired', () => {
    expect(planWorkers(desired(0, 2), [running(0), running(1)])).toEqual({
      start: desired(2),
      stop: [{ pool: 'default', shard: 1, reason: 'not-desired' }],
    });
  });

  it('replaces a worker started with another argv', () => {
    const old: CurrentWorker = {
      pool: 'default',
      shard: 0,
      argv: ['worker', '--sub', 'old-0'],
      stopping: false,
    };
    expect(planWorkers(desired(0), [old])).toEqual({
      start: [],
      stop: [{ pool: 'default', shard: 0, reason: 'argv-changed' }],
    });
  });

  it('leaves a stopping worker alone and starts its shard again only after it is gone', () => {
    expect(planWorkers(desired(0), [running(0, true), running(1, true)])).toEqual({
      start: [],
      stop: [],
    });
    expect(planWorkers(desired(0), [running(1, true)])).toEqual({ start: desired(0), stop: [] });
  });
});

function pool(name: string, extra: Partial<PoolConfig> = {}): PoolConfig {
  return {
    name,
    match: { minBytes: 1024 },
    minWorkers: 1,
    drainingShards: [],
    strategy: 'RoundRobin',
    subQueuePrefix: `q-${name}`,
    workerModule: `${name}-worker`,
    workerArgsTemplate: '--sub {sub_queue_name} --src {src}',
    backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
    ...extra,
  };
}

function withPools(base: DistributorConfig, ...pools: PoolConfig[]): DistributorConfig {
  return { ...base, pools };
}

describe('desiredWorkers with pools', () => {
  it("wants the default pool's workers, then each pool's, with the pool's own command and queues", () => {
    const c = withPools(config(2), pool('large', { minWorkers: 2 }), pool('images'));
    expect(desiredWorkers(c, new Set())).toEqual([
      { pool: 'default', shard: 0, argv: ['worker', '--sub', 'q-0'] },
      { pool: 'default', shard: 1, argv: ['worker', '--sub', 'q-1'] },
      {
        pool: 'large',
        shard: 0,
        argv: ['large-worker', '--sub', 'q-large-0', '--src', 'queue-shard-distributor'],
      },
      {
        pool: 'large',
        shard: 1,
        argv: ['large-worker', '--sub', 'q-large-1', '--src', 'queue-shard-distributor'],
      },
      {
        pool: 'images',
        shard: 0,
        argv: ['images-worker', '--sub', 'q-images-0', '--src', 'queue-shard-distributor'],
      },
    ]);
  });

  it("retires a pool's drained shard only in that pool", () => {
    const c = withPools(config(1, [2]), pool('large', { minWorkers: 1, drainingShards: [2] }));
    const keys = (retired: string[]) =>
      desiredWorkers(c, new Set(retired as `${string}/${number}`[])).map(workerKey);
    expect(keys([])).toEqual(['default/0', 'default/2', 'large/0', 'large/2']);
    expect(keys(['large/2'])).toEqual(['default/0', 'default/2', 'large/0']);
    expect(keys(['large/0', 'default/2'])).toEqual(['default/0', 'large/0', 'large/2']);
  });

  it('names the pool section when its worker command is empty', () => {
    const c = withPools(config(1), pool('large', { workerModule: '', workerArgsTemplate: '' }));
    expect(() => desiredWorkers(c, new Set())).toThrow(
      expect.objectContaining({
        code: 'SD_ERR_WORKER_COMMAND',
        message: expect.stringContaining('[pool.large] worker_module') as unknown,
      }),
    );
  });
});

describe('renderPoolWorkerArgv', () => {
  it("renders the pool's command with its own shard queue, and names [pool.NAME] when it cannot be split", () => {
    const large = pool('large', {
      workerArgsTemplate: "--sub {sub_queue_name} --base '{worker_base_path}'",
    });
    const c = withPools(config(1), large);
    expect(renderPoolWorkerArgv(c, large, 3)).toEqual([
      'large-worker',
      '--sub',
      'q-large-3',
      '--base',
      c.worker.workerBasePath,
    ]);
    expect(() => renderPoolWorkerArgv(c, { ...large, workerArgsTemplate: "--x 'open" }, 0)).toThrow(
      expect.objectContaining({
        message: expect.stringContaining('[pool.large] worker_args_template') as unknown,
        section: 'pool.large',
        key: 'worker_args_template',
      }),
    );
  });
});

describe('planWorkers with pools', () => {
  it('tells apart the same shard index in different pools', () => {
    const c = withPools(config(1), pool('large'));
    const desired = desiredWorkers(c, new Set());
    const current: CurrentWorker[] = [
      { ...running(0) },
      { pool: 'large', shard: 1, argv: ['large-worker'], stopping: false },
    ];
    expect(planWorkers(desired, current)).toEqual({
      start: [desired[1]],
      stop: [{ pool: 'large', shard: 1, reason: 'not-desired' }],
    });
  });
});

describe('withRunningPools', () => {
  it("takes a running pool's shard set and command from the new config, and ignores pools added or removed", () => {
    const current = withPools(config(1), pool('large'), pool('images'));
    const next = withPools(
      config(3),
      pool('large', { minWorkers: 4, workerArgsTemplate: '--new', subQueuePrefix: 'moved' }),
      pool('added'),
    );
    const merged = withRunningPools(current, next);
    expect(merged.dispatcher.minWorkers).toBe(3);
    expect(merged.pools.map((p) => p.name)).toEqual(['large', 'images']);
    expect(merged.pools[0]).toMatchObject({
      minWorkers: 4,
      workerArgsTemplate: '--new',
      // Its queues need a restart, as in the distributor.
      subQueuePrefix: 'q-large',
    });
    expect(merged.pools[1]).toEqual(pool('images'));
  });
});
