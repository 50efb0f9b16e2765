import type { DistributorConfig } from '../config/index.ts';

/** The name the top-level sections' pool goes by in reports, metrics and logs. */
export const DEFAULT_POOL = 'default';

/** One worker pool's shard set, as the distributor applies it. */
export interface PoolShards {
  readonly pool: string;
  /** Shard i's queue is `${prefix}-${i}`. */
  readonly prefix: string;
  readonly live: readonly number[];
  readonly draining: readonly number[];
  /** Draining shards whose workers are stopped: the distributor moves their backlog. */
  readonly moving: readonly number[];
}

/** The default pool first, then the `[pool.NAME]` sections in file order. */
export function poolShardsOf(config: DistributorConfig): PoolShards[] {
  const d = config.dispatcher;
  return [
    {
      pool: DEFAULT_POOL,
      prefix: config.worker.subQueuePrefix,
      live: range(d.minWorkers),
      draining: [...d.drainingShards],
      moving: [...(d.movingShards ?? [])],
    },
    ...config.pools.map((p) => ({
      pool: p.name,
      prefix: p.subQueuePrefix,
      live: range(p.minWorkers),
      draining: [...p.drainingShards],
      moving: [...(p.movingShards ?? [])],
    })),
  ];
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}
