import { splitArgv } from './argv.ts';
import { CONFIG_FILE_NAME } from './defaults.ts';
import { ConfigKeyError } from './errors.ts';
import { fillPlaceholders, type PlaceholderValues } from './placeholders.ts';
import { subQueueName } from './shards.ts';
import type { DistributorConfig } from './types.ts';

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
 * The argv of shard i's worker: `worker_module` then `worker_args_template`, each split into
 * words first (quotes honoured) and only then filled in, so a value with a space stays one
 * argument. For execFile/spawn without a shell, or a container's command.
 */
export function renderWorkerArgv(config: DistributorConfig, shardIndex: number): string[] {
  if (!Number.isSafeInteger(shardIndex) || shardIndex < 0) {
    throw new RangeError(`shard index must be a non-negative integer, got ${shardIndex}`);
  }
  const values = placeholderValues(config, shardIndex);
  const words = (key: 'worker_module' | 'worker_args_template', text: string): string[] => {
    const split = splitArgv(text);
    if (!split.ok) {
      throw new ConfigKeyError(
        `${CONFIG_FILE_NAME}: [worker] ${key} = ${JSON.stringify(text)} ${split.reason}`,
        {
          file: CONFIG_FILE_NAME,
          section: 'worker',
          key,
        },
      );
    }
    return split.args.map((word) => fillPlaceholders(word, values));
  };
  return [
    ...words('worker_module', config.worker.workerModule),
    ...words('worker_args_template', config.worker.workerArgsTemplate),
  ];
}
