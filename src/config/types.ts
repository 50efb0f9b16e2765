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
  /** Shards being removed: nothing new; emptied by their workers, or moved (movingShards). All >= minWorkers. */
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
  /** PEM CA bundle the server's certificate is checked against (TLS with a private CA). */
  readonly tlsCaFile?: string;
  /** PEM client certificate for a server that verifies clients (mutual TLS); with `tlsKeyFile`. */
  readonly tlsCertFile?: string;
  /** PEM private key of `tlsCertFile`. */
  readonly tlsKeyFile?: string;
}

/**
 * What a message must have to go to a pool: every condition given holds (AND); at least one
 * is given. Pools are tried in their declared order; the first that matches wins, and a
 * message no pool matches goes to the default pool (the top-level sections).
 */
export interface MatchRule {
  /** Payload of at least this many bytes. */
  readonly minBytes?: number;
  /** Payload of fewer than this many bytes (so tiers meet without overlap: 0–1Mi, 1Mi–16Mi, …). */
  readonly belowBytes?: number;
  /**
   * The message type: the `type` header (nats), else a JSON object payload's top-level `type`
   * field, else a Veda individual's `rdf:type` (any of its values).
   */
  readonly messageType?: string;
  /** A header (nats) or a JSON payload's top-level field equals this value. */
  readonly header?: { readonly name: string; readonly value: string };
  /** A Veda individual has this predicate with this value among its values (e.g. `v-s:hasClassifier`). */
  readonly predicate?: { readonly name: string; readonly value: string };
}

/**
 * When the distributor stops reading the main queue (which keeps every message) instead of
 * filling the shard queues: once every live shard of a pool is at or over a limit. 0 = off.
 */
export interface BackpressureConfig {
  /** Messages waiting in one shard queue. */
  readonly maxBacklogPerShard: number;
  /** veda: bytes the pool's shard queues use on disk, all shards together. */
  readonly maxDiskBytes: number;
}

/** What a worker does with a message its handler rejects (after `maxAttempts` rejects, for DeadLetter and Drop). */
export type FailurePolicy = 'DeadLetter' | 'Drop' | 'Block';

/**
 * `failure_policy`, `max_attempts`, `retry_backoff_sec`, `retry_backoff_max_sec` of
 * `[dispatcher]` or a pool. Read by the workers only (through `SD_*` environment variables).
 */
export interface FailureConfig {
  /** DeadLetter: to `<shard queue>-dlq`; Drop: counted and dropped; Block: retried in place, the shard waits. */
  readonly policy: FailurePolicy;
  /** Rejects before a message is dead-lettered or dropped (1 = no retry). */
  readonly maxAttempts: number;
  /** Wait before the first retry; doubled for each further one. */
  readonly retryBackoffSec: number;
  /** The longest wait between retries. */
  readonly retryBackoffMaxSec: number;
}

/**
 * `[pool.NAME]`: a worker pool besides the default one, with its own shard queues
 * (`<subQueuePrefix>-<i>`), shard set, strategy, worker command and limits.
 */
export interface PoolConfig {
  /** A DNS label, not `default` (the name of the top-level pool). */
  readonly name: string;
  readonly match: MatchRule;
  readonly minWorkers: number;
  readonly drainingShards: readonly number[];
  readonly movingShards?: readonly number[];
  readonly strategy: Strategy;
  readonly keyField?: string;
  /** Default `<[worker] sub_queue_prefix>-<name>`. */
  readonly subQueuePrefix: string;
  /** Default: the `[worker]` ones. */
  readonly workerModule: string;
  readonly workerArgsTemplate: string;
  /** `{sleep_empty_sec}` for this pool's workers; absent = `[worker]`'s. */
  readonly sleepEmptySec?: number;
  readonly backpressure: BackpressureConfig;
  /** The pool's failure keys; absent = the `[dispatcher]` ones (see `failureFor`). */
  readonly failure?: FailureConfig;
}

/** Everything `veda-queue-shard-distributor.ini` says, typed, defaulted and validated. */
export interface DistributorConfig {
  readonly dispatcher: DispatcherConfig;
  readonly worker: WorkerConfig;
  readonly nats?: NatsConfig;
  /** The default pool's limits (`[dispatcher] max_backlog_per_shard`, `max_disk_bytes`); absent = off. */
  readonly backpressure?: BackpressureConfig;
  /** The default pool's failure keys (`[dispatcher] failure_policy` …); absent = the defaults. */
  readonly failure?: FailureConfig;
  /** `[pool.NAME]` sections, in file order (the order rules are tried in). */
  readonly pools: readonly PoolConfig[];
}
