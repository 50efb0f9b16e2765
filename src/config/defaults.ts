import type { DistributorConfig, NatsConfig } from './types.ts';

/** The name the original binary read from `./config/`; also the file name errors print by default. */
export const CONFIG_FILE_NAME = 'veda-queue-shard-distributor.ini';

// The original's defaults (its README and the file it wrote when none existed).
export const DEFAULT_BASE_PATH = './data/queue-main';
export const DEFAULT_MAIN_QUEUE_NAME = 'individuals-flow';
export const DEFAULT_MIN_WORKERS = 4;
export const DEFAULT_WORKER_BASE_PATH = './data/queue-workers';
export const DEFAULT_SLEEP_EMPTY_SEC = 0.5;
export const DEFAULT_WORKER_MODULE = 'python3 -m worker.queue_worker';
export const DEFAULT_WORKER_ARGS_TEMPLATE =
  '--base {worker_base_path} --sub {sub_queue_name} --src queue-shard-distributor --sleep-empty {sleep_empty_sec}';

// Ours.
export const DEFAULT_CONSUMER_NAME = 'queue-shard-distributor';
export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_METRICS_PORT = 9464;
export const DEFAULT_STUCK_AFTER_SEC = 60;
export const DEFAULT_NATS_MAIN_STREAM = 'SD_MAIN';
export const DEFAULT_NATS_SHARD_STREAM = 'SD_SHARDS';

/** What the top-level sections' pool is called; no `[pool.NAME]` may take the name. */
export const DEFAULT_POOL_NAME = 'default';
// A pool is an addition, so it starts small; the default pool keeps the original's 4.
export const DEFAULT_POOL_MIN_WORKERS = 1;

/** `individuals-flow` → `individuals-flow-shard`, the original's default prefix. */
export function defaultSubQueuePrefix(mainQueueName: string): string {
  return `${mainQueueName}-shard`;
}

/** `individuals-flow-shard` + pool `large` → `individuals-flow-shard-large`. */
export function defaultPoolSubQueuePrefix(workerSubQueuePrefix: string, poolName: string): string {
  return `${workerSubQueuePrefix}-${poolName}`;
}

/** A fresh copy each call, so callers may build on it. */
export function defaultConfig(): DistributorConfig {
  return {
    dispatcher: {
      basePath: DEFAULT_BASE_PATH,
      mainQueueName: DEFAULT_MAIN_QUEUE_NAME,
      minWorkers: DEFAULT_MIN_WORKERS,
      drainingShards: [],
      consumerName: DEFAULT_CONSUMER_NAME,
      backend: 'veda',
      strategy: 'ZeroLoadFirst',
      batchSize: DEFAULT_BATCH_SIZE,
      metricsPort: DEFAULT_METRICS_PORT,
      durable: true,
      stuckAfterSec: DEFAULT_STUCK_AFTER_SEC,
    },
    worker: {
      workerBasePath: DEFAULT_WORKER_BASE_PATH,
      subQueuePrefix: defaultSubQueuePrefix(DEFAULT_MAIN_QUEUE_NAME),
      sleepEmptySec: DEFAULT_SLEEP_EMPTY_SEC,
      workerModule: DEFAULT_WORKER_MODULE,
      workerArgsTemplate: DEFAULT_WORKER_ARGS_TEMPLATE,
    },
    pools: [],
  };
}

/** `[nats]` defaults for a given server URL (the URL has no default). */
export function defaultNatsConfig(url: string): NatsConfig {
  return { url, mainStream: DEFAULT_NATS_MAIN_STREAM, shardStream: DEFAULT_NATS_SHARD_STREAM };
}
