import { BACKENDS, STRATEGIES } from '../api/index.ts';
import {
  checkBackpressure,
  checkCommand,
  checkSourceConsumer,
  checkDraining,
  checkInteger,
  checkKeyField,
  checkMoving,
  checkName,
  checkNonEmpty,
  checkOneOf,
  checkSeconds,
  QUEUE_NAME,
  STREAM_NAME,
} from './checks.ts';
import { CONFIG_FILE_NAME } from './defaults.ts';
import { ConfigKeyError } from './errors.ts';
import { checkFailure } from './failure.ts';
import { NATS_FILE_KEYS } from './nats-files.ts';
import { fail, LIMITS, place, type Locate, type Where } from './problem.ts';
import type { DistributorConfig } from './types.ts';
import { checkPools } from './validate-pools.ts';
import { serversWithoutSecret } from './server-url.ts';

/**
 * The line a key was read from (or, without a key, the section's header line), so errors
 * found after parsing still point at it.
 */
export type LineOf = (section: string, key?: string) => number | undefined;

/**
 * The rules of a config beyond its types: ranges, names, and how keys fit together. Run by
 * `parseIni` on what it read and by `renderIni` before writing, so an invalid config is
 * never written out for a distributor to trip on.
 */
export function validateConfig(
  config: DistributorConfig,
  file: string = CONFIG_FILE_NAME,
  lineOf: LineOf = () => undefined,
): void {
  const d = config.dispatcher;
  const w = config.worker;
  const at = (section: string, key: string): Where => {
    const line = lineOf(section, key);
    return line === undefined ? { file, section, key } : { file, section, key, line };
  };
  const locate: Locate = {
    at,
    section: (section) => {
      const line = lineOf(section);
      return line === undefined ? { file, section } : { file, section, line };
    },
  };

  checkNonEmpty(at('dispatcher', 'base_path'), d.basePath);
  checkName(at('dispatcher', 'main_queue_name'), d.mainQueueName, QUEUE_NAME, 'queue name');
  checkInteger(at('dispatcher', 'min_workers'), d.minWorkers, LIMITS.min_workers);
  checkDraining(at('dispatcher', 'draining_shards'), d.drainingShards, d.minWorkers);
  if (d.movingShards !== undefined)
    checkMoving(at('dispatcher', 'moving_shards'), d.movingShards, d.drainingShards);
  checkName(at('dispatcher', 'consumer_name'), d.consumerName, QUEUE_NAME, 'consumer name');
  checkOneOf(at('dispatcher', 'backend'), d.backend, BACKENDS, 'backend');
  checkOneOf(at('dispatcher', 'strategy'), d.strategy, STRATEGIES, 'strategy');
  checkKeyField(at('dispatcher', 'key_field'), d.keyField, d.strategy);
  checkInteger(at('dispatcher', 'batch_size'), d.batchSize, LIMITS.batch_size);
  checkInteger(at('dispatcher', 'metrics_port'), d.metricsPort, LIMITS.metrics_port);
  checkSeconds(at('dispatcher', 'stuck_after_sec'), d.stuckAfterSec, LIMITS.stuck_after_sec);
  if (config.backpressure !== undefined)
    checkBackpressure((key) => at('dispatcher', key), config.backpressure);
  if (config.failure !== undefined) checkFailure((key) => at('dispatcher', key), config.failure);

  checkNonEmpty(at('worker', 'worker_base_path'), w.workerBasePath);
  checkName(at('worker', 'sub_queue_prefix'), w.subQueuePrefix, QUEUE_NAME, 'queue name prefix');
  checkSeconds(at('worker', 'sleep_empty_sec'), w.sleepEmptySec, LIMITS.sleep_empty_sec);
  checkCommand(at('worker', 'worker_module'), w.workerModule, true);
  checkCommand(at('worker', 'worker_args_template'), w.workerArgsTemplate, false);
  checkSourceConsumer(at('worker', 'worker_args_template'), w.workerArgsTemplate, d.consumerName);

  checkNats(config, at);
  checkPools(config, locate);
}

function checkNats(config: DistributorConfig, at: (section: string, key: string) => Where): void {
  const nats = config.nats;
  if (config.dispatcher.backend !== 'nats') {
    if (nats !== undefined) {
      const where = at('dispatcher', 'backend');
      throw new ConfigKeyError(
        `${place(where)}: [nats] is set but [dispatcher] backend = ${config.dispatcher.backend}; set backend = nats or remove the [nats] section`,
        where,
      );
    }
    return;
  }
  if (nats === undefined || nats.url.trim() === '') {
    const where = at('nats', 'url');
    throw new ConfigKeyError(
      `${place(where)}: [nats] url is missing; backend = nats needs it, e.g. [nats] url = nats://nats:4222`,
      where,
    );
  }
  for (const server of nats.url.split(',')) {
    if (server.trim() === '' || /\s/.test(server.trim())) {
      fail(
        at('nats', 'url'),
        // Named without a password it may hold: the message goes to logs.
        serversWithoutSecret(nats.url),
        'is not a server URL or a comma-separated list of them; e.g. nats://nats:4222',
      );
    }
  }
  checkName(at('nats', 'main_stream'), nats.mainStream, STREAM_NAME, 'JetStream stream name');
  checkName(at('nats', 'shard_stream'), nats.shardStream, STREAM_NAME, 'JetStream stream name');
  if (nats.shardStream === nats.mainStream) {
    fail(
      at('nats', 'shard_stream'),
      nats.shardStream,
      'is the same stream as main_stream; give the shards their own stream',
    );
  }
  for (const { field, key } of NATS_FILE_KEYS) {
    const path = nats[field];
    if (path !== undefined) checkNonEmpty(at('nats', key), path);
  }
  // A client certificate is nothing without its key, and the other way round.
  if ((nats.tlsCertFile === undefined) !== (nats.tlsKeyFile === undefined)) {
    const [given, missing] =
      nats.tlsCertFile === undefined
        ? (['tls_key_file', 'tls_cert_file'] as const)
        : (['tls_cert_file', 'tls_key_file'] as const);
    fail(
      at('nats', given),
      nats.tlsCertFile ?? nats.tlsKeyFile ?? '',
      `is set without ${missing}; a client certificate needs both (or neither, for TLS without a client certificate)`,
    );
  }
}
