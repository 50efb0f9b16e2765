import {
  DEFAULT_POOL_NAME,
  LIVE_POOL_KEYS,
  POOL_LAUNCH_KEYS,
  poolShardSet,
  renderPoolWorkerArgv,
  renderWorkerArgv,
  shardSet,
  type DistributorConfig,
  type PoolConfig,
  type ShardSet,
} from '../config/index.ts';
import { WorkerCommandError } from './errors.ts';
import { compareRefs, workerKey, type WorkerKey, type WorkerRef } from './worker-key.ts';

/** A worker that should be running: its pool and shard and the exact argv to start it with. */
export interface DesiredWorker extends WorkerRef {
  readonly argv: readonly string[];
}

/** A worker the supervisor has (running, waiting to restart, or being stopped). */
export interface CurrentWorker extends WorkerRef {
  readonly argv: readonly string[];
  readonly stopping: boolean;
}

export type StopReason = 'not-desired' | 'argv-changed';

export interface WorkerPlan {
  readonly start: readonly DesiredWorker[];
  readonly stop: readonly (WorkerRef & { readonly reason: StopReason })[];
}

/** One pool as the supervisor sees it: its shard set and how to render a shard's argv. */
export interface SupervisedPool {
  readonly name: string;
  readonly shards: ShardSet;
  /** The INI section holding its worker command, for error messages. */
  readonly commandSection: string;
  argv(shard: number): string[];
}

/** The default pool (`[dispatcher]`/`[worker]`), then every `[pool.NAME]` in file order. */
export function supervisedPools(config: DistributorConfig): SupervisedPool[] {
  return [
    {
      name: DEFAULT_POOL_NAME,
      shards: shardSet(config),
      commandSection: '[worker]',
      argv: (shard) => renderWorkerArgv(config, shard),
    },
    ...config.pools.map((pool): SupervisedPool => ({
      name: pool.name,
      shards: poolShardSet(pool),
      commandSection: `[pool.${pool.name}]`,
      argv: (shard) => renderPoolWorkerArgv(config, pool, shard),
    })),
  ];
}

/**
 * In every pool, one worker per live shard and per draining shard the distributor has not
 * yet reported drained (`retired`): a draining shard's backlog still needs its worker.
 * Default pool first, then the pools in file order; shards in order within a pool.
 */
export function desiredWorkers(
  config: DistributorConfig,
  retired: ReadonlySet<WorkerKey>,
): DesiredWorker[] {
  return supervisedPools(config).flatMap((pool) => {
    const shards = new Set(pool.shards.live);
    for (const shard of pool.shards.draining) {
      if (!retired.has(workerKey({ pool: pool.name, shard }))) shards.add(shard);
    }
    return [...shards]
      .sort((a, b) => a - b)
      .map((shard) => {
        const argv = pool.argv(shard);
        if (argv.length === 0) {
          throw new WorkerCommandError(
            `the worker command of shard ${shard}${pool.name === DEFAULT_POOL_NAME ? '' : ` of pool ${pool.name}`} is empty; ` +
              `set ${pool.commandSection} worker_module to the worker executable`,
          );
        }
        return { pool: pool.name, shard, argv };
      });
  });
}

/**
 * `next` with its pools restricted to those of `current`: the pool set of a running process
 * is fixed, like the distributor's (pools added or removed wait for the restart; a removed
 * pool's shard queues are still fed until then, so its workers stay). A kept pool takes
 * from `next` what a running process applies: its shard set, strategy and worker command.
 */
export function withRunningPools(
  current: DistributorConfig,
  next: DistributorConfig,
): DistributorConfig {
  const applied: readonly string[] = [...LIVE_POOL_KEYS, ...POOL_LAUNCH_KEYS];
  const pools = current.pools.map((pool) => {
    const nextPool = next.pools.find((p) => p.name === pool.name);
    if (nextPool === undefined) return pool;
    const merged: Record<string, unknown> = { ...pool };
    const from = nextPool as unknown as Record<string, unknown>;
    for (const key of applied) {
      if (from[key] === undefined) delete merged[key];
      else merged[key] = from[key];
    }
    return merged as unknown as PoolConfig;
  });
  return { ...next, pools };
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((word, i) => word === b[i]);
}

/**
 * Desired against current: start what is missing; stop what is no longer wanted or was
 * started with another argv (its replacement starts once it has exited). A worker already
 * stopping is left to finish and blocks a new one for its (pool, shard) until then.
 */
export function planWorkers(
  desired: readonly DesiredWorker[],
  current: readonly CurrentWorker[],
): WorkerPlan {
  const wanted = new Map(desired.map((w) => [workerKey(w), w]));
  const have = new Map(current.map((w) => [workerKey(w), w]));
  const start = desired.filter((w) => !have.has(workerKey(w)));
  const stop: (WorkerRef & { reason: StopReason })[] = [];
  for (const w of [...current].sort(compareRefs)) {
    if (w.stopping) continue;
    const want = wanted.get(workerKey(w));
    if (!want) stop.push({ pool: w.pool, shard: w.shard, reason: 'not-desired' });
    else if (!sameArgv(want.argv, w.argv))
      stop.push({ pool: w.pool, shard: w.shard, reason: 'argv-changed' });
  }
  return { start, stop };
}
