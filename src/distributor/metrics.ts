import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const PREFIX = 'shard_distributor_';

/** The distributor's load metrics; KEDA and HPAs read the per-shard backlog series. */
export interface DistributorMetrics {
  readonly shardBacklog: Gauge<'pool' | 'shard' | 'queue'>;
  readonly backlogTotal: Gauge;
  readonly dispatched: Counter<'pool' | 'shard' | 'queue'>;
  readonly moved: Counter<'pool' | 'shard' | 'queue'>;
  readonly mainLag: Gauge;
  readonly batchSize: Histogram;
  readonly commitLatency: Histogram;
  readonly writeFailures: Counter<'queue' | 'code'>;
  readonly liveShards: Gauge;
  readonly drainingShards: Gauge;
  readonly shardStuck: Gauge<'pool' | 'shard' | 'queue'>;
  readonly backpressure: Gauge<'pool'>;
  readonly expired: Counter<'pool'>;
  readonly recoveredBatches: Counter;
}

export function distributorMetrics(registry: Registry): DistributorMetrics {
  const registers = [registry];
  return {
    shardBacklog: new Gauge({
      name: `${PREFIX}shard_backlog`,
      help: 'Messages waiting in a shard queue (pushed minus popped by its worker).',
      labelNames: ['pool', 'shard', 'queue'],
      registers,
    }),
    backlogTotal: new Gauge({
      name: `${PREFIX}backlog`,
      help: 'Messages waiting in all shard queues.',
      registers,
    }),
    dispatched: new Counter({
      name: `${PREFIX}dispatched_total`,
      help: 'Messages durably written to a shard queue, from the main queue or moved from a removed shard.',
      labelNames: ['pool', 'shard', 'queue'],
      registers,
    }),
    moved: new Counter({
      name: `${PREFIX}moved_total`,
      help: 'Messages moved out of a removed shard (moving_shards) to live shards, by source shard.',
      labelNames: ['pool', 'shard', 'queue'],
      registers,
    }),
    mainLag: new Gauge({
      name: `${PREFIX}main_queue_lag`,
      help: 'Messages in the main queue not yet moved to a shard.',
      registers,
    }),
    batchSize: new Histogram({
      name: `${PREFIX}batch_size`,
      help: 'Messages per moved batch.',
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000],
      registers,
    }),
    commitLatency: new Histogram({
      name: `${PREFIX}commit_latency_seconds`,
      help: 'Time from reading a batch to committing the main queue position.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    writeFailures: new Counter({
      name: `${PREFIX}write_failures_total`,
      help: 'Failed appends or flushes to a shard queue (each is retried; nothing is skipped).',
      labelNames: ['queue', 'code'],
      registers,
    }),
    liveShards: new Gauge({
      name: `${PREFIX}live_shards`,
      help: 'Shards receiving messages.',
      registers,
    }),
    drainingShards: new Gauge({
      name: `${PREFIX}draining_shards`,
      help: 'Shards being removed that still hold a backlog.',
      registers,
    }),
    shardStuck: new Gauge({
      name: `${PREFIX}shard_stuck`,
      help: '1 when a shard has a backlog and its worker has popped nothing for stuck_after_sec.',
      labelNames: ['pool', 'shard', 'queue'],
      registers,
    }),
    backpressure: new Gauge({
      name: `${PREFIX}backpressure`,
      help: '1 while every live shard of a pool is at its limit (max_backlog_per_shard, max_disk_bytes) and the main queue is not read.',
      labelNames: ['pool'],
      registers,
    }),
    expired: new Counter({
      name: `${PREFIX}expired_total`,
      help: "Messages past their deadline, written to the pool's dead-letter queue instead of a shard.",
      labelNames: ['pool'],
      registers,
    }),
    recoveredBatches: new Counter({
      name: `${PREFIX}recovered_batches_total`,
      help: 'Batches interrupted by a crash and finished from the journal at start-up.',
      registers,
    }),
  };
}
