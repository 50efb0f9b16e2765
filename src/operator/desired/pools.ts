import {
  DEFAULT_POOL,
  poolSubQueuePrefixOf,
  subQueuePrefixOf,
  type BackpressureSpec,
  type FailureSpec,
  type MatchSpec,
  type ShardDistributor,
  type Strategy,
  type WorkerSpec,
} from '../../api/index.ts';
import type { FailureConfig } from '../../config/index.ts';

/**
 * One worker pool of a ShardDistributor, resolved from its spec: the default pool (the
 * top-level fields) or a spec.pools entry with its defaults filled in. Everything that
 * works per pool — shard plan, autoscaling, drain, worker Deployments, status — takes one,
 * so the default pool and the named ones go through the same code.
 */
export interface WorkerPool {
  /** DEFAULT_POOL for the top-level fields, else the spec.pools entry's name. */
  readonly name: string;
  /** Whether this is the top-level fields' pool, whose objects keep their pre-pools names and labels. */
  readonly isDefault: boolean;
  readonly minWorkers: number;
  readonly maxWorkers?: number;
  readonly targetBacklogPerWorker: number;
  readonly strategy: Strategy;
  /** Shard i's queue is `${subQueuePrefix}-${i}`. */
  readonly subQueuePrefix: string;
  readonly worker: WorkerSpec;
  readonly backpressure?: BackpressureSpec;
  /** Named pools only. */
  readonly match?: MatchSpec;
  /**
   * The failure policy its workers get: its own, else spec.failure. Absent when neither is
   * set: its workers then get no `SD_*` variables, and their Deployments stay as they were.
   */
  readonly failure?: FailureConfig;
  /** Its own policy only (spec.failure for the default pool): what its INI section carries. */
  readonly ownFailure?: FailureConfig;
}

/** A spec's failure policy in the INI's terms. */
export function failureConfigOf(failure: FailureSpec): FailureConfig {
  return {
    policy: failure.policy,
    maxAttempts: failure.maxAttempts,
    retryBackoffSec: failure.retryBackoffSeconds,
    retryBackoffMaxSec: failure.retryBackoffMaxSeconds,
  };
}

function failureKeys(own: FailureSpec | undefined, inherited: FailureSpec | undefined) {
  const effective = own ?? inherited;
  return {
    ...(effective === undefined ? {} : { failure: failureConfigOf(effective) }),
    ...(own === undefined ? {} : { ownFailure: failureConfigOf(own) }),
  };
}

/** The default pool, then spec.pools in their declared order (the order rules are tried in). */
export function poolsOf(sd: ShardDistributor): WorkerPool[] {
  const { spec } = sd;
  const defaultPool: WorkerPool = {
    name: DEFAULT_POOL,
    isDefault: true,
    minWorkers: spec.minWorkers,
    ...(spec.maxWorkers === undefined ? {} : { maxWorkers: spec.maxWorkers }),
    targetBacklogPerWorker: spec.targetBacklogPerWorker,
    strategy: spec.strategy,
    subQueuePrefix: subQueuePrefixOf(spec),
    worker: spec.worker,
    ...(spec.backpressure === undefined ? {} : { backpressure: spec.backpressure }),
    ...failureKeys(spec.failure, undefined),
  };
  return [
    defaultPool,
    ...(spec.pools ?? []).map((pool): WorkerPool => ({
      name: pool.name,
      isDefault: false,
      minWorkers: pool.minWorkers,
      ...(pool.maxWorkers === undefined ? {} : { maxWorkers: pool.maxWorkers }),
      targetBacklogPerWorker: pool.targetBacklogPerWorker,
      strategy: pool.strategy ?? spec.strategy,
      subQueuePrefix: poolSubQueuePrefixOf(spec, pool),
      worker: pool.worker ?? spec.worker,
      ...(pool.backpressure === undefined ? {} : { backpressure: pool.backpressure }),
      match: pool.match,
      ...failureKeys(pool.failure, spec.failure),
    })),
  ];
}

/** The default pool of `sd` (the top-level fields). */
export function defaultPoolOf(sd: ShardDistributor): WorkerPool {
  return poolsOf(sd)[0]!;
}

/** `pool`'s name as the /load report and a worker's labels carry it: absent for the default pool. */
export function poolLabelValue(pool: Pick<WorkerPool, 'name' | 'isDefault'>): string | undefined {
  return pool.isDefault ? undefined : pool.name;
}
