import type { MatchSpec, ShardDistributor } from '../../api/index.ts';
import {
  defaultConfig,
  quoteArgv,
  renderIni,
  type DistributorConfig,
  type MatchRule,
  type PoolConfig,
} from '../../config/index.ts';
import { poolsOf, type WorkerPool } from './pools.ts';
import { natsCredentialsFile, natsTlsPaths, vedaOf } from './volumes.ts';

/** The shard set the INI announces: shards 0 … liveShards-1 receive, the draining ones are emptied. */
export interface ShardPlan {
  readonly liveShards: number;
  readonly drainingShards: readonly number[];
  /** Draining shards whose worker is scaled to zero (scale-down: their backlog gets moved). */
  readonly stoppedShards?: readonly number[];
  /** Stopped shards whose pods are gone: the distributor moves their backlog (moving_shards). */
  readonly movingShards?: readonly number[];
}

/** The named pools' shard plans, by pool name. */
export type PoolPlans = Readonly<Record<string, ShardPlan>>;

export interface PlanOptions {
  /** Shard plans of spec.pools entries; a pool without one starts at its minWorkers, none draining. */
  pools?: PoolPlans;
  /**
   * Pools no longer in the spec whose shards still drain, as the last rendered INI had them
   * (with min_workers 0 and every shard draining): the distributor keeps reporting them until
   * they are drained and their workers gone.
   */
  retiringPools?: readonly PoolConfig[];
}

/** A pool's plan before it has one: its minWorkers live, nothing draining. */
export function initialPlan(pool: Pick<WorkerPool, 'minWorkers'>): ShardPlan {
  return { liveShards: pool.minWorkers, drainingShards: [] };
}

/** The plan of `pool` in `plans` (the default pool's is `plan`). */
export function planOf(pool: WorkerPool, plan: ShardPlan, options: PlanOptions = {}): ShardPlan {
  if (pool.isDefault) return plan;
  return options.pools?.[pool.name] ?? initialPlan(pool);
}

function sorted(shards: readonly number[]): number[] {
  return [...shards].sort((a, b) => a - b);
}

/** min_workers, draining_shards and moving_shards of one pool's section. */
function shardSetKeys(plan: ShardPlan) {
  return {
    minWorkers: plan.liveShards,
    drainingShards: sorted(plan.drainingShards),
    ...(plan.movingShards && plan.movingShards.length > 0
      ? { movingShards: sorted(plan.movingShards) }
      : {}),
  };
}

function matchRule(match: MatchSpec): MatchRule {
  return {
    ...(match.minBytes === undefined ? {} : { minBytes: match.minBytes }),
    ...(match.belowBytes === undefined ? {} : { belowBytes: match.belowBytes }),
    ...(match.messageType === undefined ? {} : { messageType: match.messageType }),
    ...(match.header === undefined ? {} : { header: { ...match.header } }),
    ...(match.predicate === undefined ? {} : { predicate: { ...match.predicate } }),
  };
}

/** One spec.pools entry as its `[pool.NAME]` section. */
export function poolConfigFor(pool: WorkerPool, plan: ShardPlan): PoolConfig {
  return {
    name: pool.name,
    match: matchRule(pool.match ?? {}),
    ...shardSetKeys(plan),
    strategy: pool.strategy,
    subQueuePrefix: pool.subQueuePrefix,
    workerModule: quoteArgv(pool.worker.command),
    workerArgsTemplate: quoteArgv(pool.worker.argsTemplate),
    backpressure: {
      maxBacklogPerShard: pool.backpressure?.maxBacklogPerShard ?? 0,
      maxDiskBytes: pool.backpressure?.maxDiskBytes ?? 0,
    },
    // Only its own: without one the pool takes [dispatcher]'s, as failureFor reads it.
    ...(pool.ownFailure === undefined ? {} : { failure: pool.ownFailure }),
  };
}

/**
 * The INI's typed form for this ShardDistributor: what the distributor reads, key for key.
 * Paths are the ones inside our containers (see volumes.ts). `plan` is the default pool's
 * shard set; `options.pools` the named pools'.
 */
export function configFor(
  sd: ShardDistributor,
  plan: ShardPlan,
  options: PlanOptions = {},
): DistributorConfig {
  const spec = sd.spec;
  const defaults = defaultConfig();
  const veda = vedaOf(spec);
  const nats = spec.queue.backend === 'nats' ? spec.queue.nats : undefined;
  const [defaultPool, ...named] = poolsOf(sd);
  return {
    dispatcher: {
      ...defaults.dispatcher,
      basePath: veda.basePath,
      mainQueueName: spec.queue.mainQueue,
      ...shardSetKeys(plan),
      consumerName: spec.queue.consumerName,
      backend: spec.queue.backend,
      strategy: spec.strategy,
      batchSize: spec.distributor.batchSize,
      metricsPort: spec.distributor.metricsPort,
    },
    worker: {
      workerBasePath: veda.workerBasePath,
      subQueuePrefix: defaultPool!.subQueuePrefix,
      sleepEmptySec: spec.worker.sleepEmptySeconds,
      workerModule: quoteArgv(spec.worker.command),
      workerArgsTemplate: quoteArgv(spec.worker.argsTemplate),
    },
    ...(nats === undefined
      ? {}
      : {
          nats: {
            url: nats.url,
            mainStream: nats.mainStream,
            shardStream: nats.shardStream,
            ...(nats.credentialsSecret === undefined
              ? {}
              : { credentialsFile: natsCredentialsFile(nats.credentialsSecret.key) }),
            // The keys queue.nats.tls names, where natsTlsVolume mounts them.
            ...natsTlsPaths(sd),
          },
        }),
    ...(spec.backpressure === undefined
      ? {}
      : {
          backpressure: {
            maxBacklogPerShard: spec.backpressure.maxBacklogPerShard,
            maxDiskBytes: spec.backpressure.maxDiskBytes,
          },
        }),
    // Only the workers read the failure keys (as SD_* variables); absent, the INI is as before.
    ...(defaultPool!.ownFailure === undefined ? {} : { failure: defaultPool!.ownFailure }),
    pools: [
      ...named.map((pool) => poolConfigFor(pool, planOf(pool, plan, options))),
      ...(options.retiringPools ?? []),
    ],
  };
}

/** The text of veda-queue-shard-distributor.ini, exactly as the distributor will read it. */
export function renderedIni(
  sd: ShardDistributor,
  plan: ShardPlan,
  options: PlanOptions = {},
): string {
  return renderIni(configFor(sd, plan, options));
}
