import type { Backend, Strategy } from '../api/index.ts';

export type { Backend, Strategy };

/** The environment `${VAR}` substitution reads; pass `process.env` at the edge, a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

/** `[dispatcher]`: the main queue, the shard set and how messages are moved. */
export interface DispatcherConfig {
  /** Directory of the main queue (veda backend). */
  readonly basePath: string;
  readonly mainQueueName: string;
  /** Live shards are 0 … minWorkers-1. */
  readonly minWorkers: number;
  /** Shards being removed: they receive nothing new and their backlog is finished. All >= minWorkers. */
  readonly drainingShards: readonly number[];
  /**
   * Draining shards whose workers are stopped: the distributor reads their backlog as the
   * workers' consumer and moves it to live shards. Absent means none (kept optional so INIs
   * and configs written before the key existed stay unchanged).
   */
  readonly movingShards?: readonly number[];
  /** Consumer the distributor reads the main queue as; also the workers' `{src}`. */
  readonly consumerName: string;
  readonly backend: Backend;
  readonly strategy: Strategy;
  /** KeyHash only: header holding the routing key; absent means the Veda individual's URI. */
  readonly keyField?: string;
  readonly batchSize: number;
  /** Port of /metrics, /load, /healthz, /readyz; 0 lets the OS choose. */
  readonly metricsPort: number;
  /** fsync (veda) or wait for the publish ack (nats) before committing the main queue. */
  readonly durable: boolean;
  /** A shard with a backlog that pops nothing for this long counts as stuck. */
  readonly stuckAfterSec: number;
}

/** `[worker]`: the shard queues and how a worker process is started. */
export interface WorkerConfig {
  readonly workerBasePath: string;
  /** Shard i's queue is `${subQueuePrefix}-${i}`. */
  readonly subQueuePrefix: string;
  readonly sleepEmptySec: number;
  /** Executable and fixed arguments, split like a shell word list (quotes honoured), never run by a shell. */
  readonly workerModule: string;
  /** Arguments per shard, with `{placeholder}`s; split like `workerModule`. */
  readonly workerArgsTemplate: string;
}

/** `[nats]`: present exactly when `backend` is `nats`. */
export interface NatsConfig {
  /** Server URL(s), comma-separated. */
  readonly url: string;
  readonly mainStream: string;
  readonly shardStream: string;
  readonly credentialsFile?: string;
}

/**
 * Reserved for the pools feature (`[pool.NAME]` sections): extra worker pools with their own
 * count, strategy and template. Not parsed yet; the top-level sections are the default pool.
 */
export interface PoolConfig {
  readonly name: string;
}

/** Everything `veda-queue-shard-distributor.ini` says, typed, defaulted and validated. */
export interface DistributorConfig {
  readonly dispatcher: DispatcherConfig;
  readonly worker: WorkerConfig;
  readonly nats?: NatsConfig;
  /** Always empty until pools are supported. */
  readonly pools: readonly PoolConfig[];
}
