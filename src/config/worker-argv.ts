import { splitArgv } from './argv.ts';
import { CONFIG_FILE_NAME } from './defaults.ts';
import { ConfigKeyError } from './errors.ts';
import { fillPlaceholders, type PlaceholderValues } from './placeholders.ts';
import { POOL_SECTION_PREFIX } from './pools.ts';
import { poolSubQueueName, subQueueName } from './shards.ts';
import type { DistributorConfig, PoolConfig } from './types.ts';

/** What `{worker_base_path}` `{sub_queue_name}` `{sleep_empty_sec}` `{src}` stand for in shard i. */
export function placeholderValues(
  config: DistributorConfig,
  shardIndex: number,
): PlaceholderValues {
  return {
    worker_base_path: config.worker.workerBasePath,
    sub_queue_name: subQueueName(config, shardIndex),
    sleep_empty_sec: String(config.worker.sleepEmptySec),
    src: config.dispatcher.consumerName,
  };
}

/**
 * The placeholders of shard i of `[pool.NAME]`: as `placeholderValues`, but `{sub_queue_name}`
 * is the pool's shard queue and `{sleep_empty_sec}` its own when it has one. The pool shares
 * `[worker]`'s base path and the distributor's consumer name: its queues sit beside the
 * default pool's.
 */
export function poolPlaceholderValues(
  config: DistributorConfig,
  pool: PoolConfig,
  shardIndex: number,
): PlaceholderValues {
  return {
    ...placeholderValues(config, shardIndex),
    sub_queue_name: poolSubQueueName(pool, shardIndex),
    ...(pool.sleepEmptySec === undefined ? {} : { sleep_empty_sec: String(pool.sleepEmptySec) }),
  };
}

/**
 * The argv of shard i's worker: `worker_module` then `worker_args_template`, each split into
 * words first (quotes honoured) and only then filled in, so a value with a space stays one
 * argument. For execFile/spawn without a shell, or a container's command.
 */
export function renderWorkerArgv(config: DistributorConfig, shardIndex: number): string[] {
  checkShardIndex(shardIndex);
  return renderArgv(
    'worker',
    config.worker.workerModule,
    config.worker.workerArgsTemplate,
    placeholderValues(config, shardIndex),
  );
}

/**
 * The argv of shard i's worker of `[pool.NAME]`: the pool's `worker_module` and
 * `worker_args_template`, rendered as `renderWorkerArgv` does; errors name `[pool.NAME]`.
 */
export function renderPoolWorkerArgv(
  config: DistributorConfig,
  pool: PoolConfig,
  shardIndex: number,
): string[] {
  checkShardIndex(shardIndex);
  return renderArgv(
    `${POOL_SECTION_PREFIX}${pool.name}`,
    pool.workerModule,
    pool.workerArgsTemplate,
    poolPlaceholderValues(config, pool, shardIndex),
  );
}

function checkShardIndex(shardIndex: number): void {
  if (!Number.isSafeInteger(shardIndex) || shardIndex < 0) {
    throw new RangeError(`shard index must be a non-negative integer, got ${shardIndex}`);
  }
}

function renderArgv(
  section: string,
  workerModule: string,
  workerArgsTemplate: string,
  values: PlaceholderValues,
): string[] {
  const words = (key: 'worker_module' | 'worker_args_template', text: string): string[] => {
    const split = splitArgv(text);
    if (!split.ok) {
      throw new ConfigKeyError(
        `${CONFIG_FILE_NAME}: [${section}] ${key} = ${JSON.stringify(text)} ${split.reason}`,
        { file: CONFIG_FILE_NAME, section, key },
      );
    }
    return split.args.map((word) => fillPlaceholders(word, values));
  };
  return [
    ...words('worker_module', workerModule),
    ...words('worker_args_template', workerArgsTemplate),
  ];
}
