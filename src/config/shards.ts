import type { DistributorConfig, PoolConfig } from './types.ts';

/** Shard i's queue (veda) or subject suffix (nats): `${sub_queue_prefix}-${i}`. */
export function subQueueName(config: DistributorConfig, shardIndex: number): string {
  return `${config.worker.subQueuePrefix}-${shardIndex}`;
}

export interface ShardSet {
  /** 0 … min_workers-1: receive messages. */
  readonly live: readonly number[];
  /** draining_shards: receive nothing new; emptied by their workers or moved (moving_shards), then they go. */
  readonly draining: readonly number[];
}

export function shardSet(config: DistributorConfig): ShardSet {
  return {
    live: Array.from({ length: config.dispatcher.minWorkers }, (_, i) => i),
    draining: [...config.dispatcher.drainingShards],
  };
}

/**
 * moving_shards: draining shards whose workers are stopped, so the distributor may read their
 * queues as the workers' consumer and move the backlog to live shards.
 */
export function movingShards(config: DistributorConfig): readonly number[] {
  return [...(config.dispatcher.movingShards ?? [])];
}

/** Shard i's queue of a `[pool.NAME]`: `${pool sub_queue_prefix}-${i}`. */
export function poolSubQueueName(pool: PoolConfig, shardIndex: number): string {
  return `${pool.subQueuePrefix}-${shardIndex}`;
}

/** A pool's live shards (0 … its min_workers-1) and its draining ones. */
export function poolShardSet(pool: PoolConfig): ShardSet {
  return {
    live: Array.from({ length: pool.minWorkers }, (_, i) => i),
    draining: [...pool.drainingShards],
  };
}

/** A pool's moving_shards, as `movingShards` for the default pool. */
export function poolMovingShards(pool: PoolConfig): readonly number[] {
  return [...(pool.movingShards ?? [])];
}
