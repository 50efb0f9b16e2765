// The config room's public surface: what the operator, the distributor, the supervisor and
// the CLI may use. Everything else in src/config is internal.
export { parseIni } from './parse.ts';
export type { ParseOptions } from './parse.ts';
export { renderIni } from './render.ts';
export { validateConfig } from './validate.ts';
export { loadConfigFile } from './load.ts';
export type { LoadOptions } from './load.ts';
export {
  defaultConfig,
  defaultNatsConfig,
  defaultSubQueuePrefix,
  defaultPoolSubQueuePrefix,
  CONFIG_FILE_NAME,
  DEFAULT_POOL_NAME,
} from './defaults.ts';
export {
  renderWorkerArgv,
  placeholderValues,
  renderPoolWorkerArgv,
  poolPlaceholderValues,
} from './worker-argv.ts';
export { splitArgv, quoteArgv } from './argv.ts';
export type { ArgvSplit } from './argv.ts';
export {
  subQueueName,
  shardSet,
  movingShards,
  poolSubQueueName,
  poolShardSet,
  poolMovingShards,
} from './shards.ts';
export type { ShardSet } from './shards.ts';
export {
  deadLetterQueueOf,
  poolDeadLetterQueueOf,
  replayQueueOf,
  retryQueueOf,
  shardQueueOfRetry,
} from './queue-names.ts';
export {
  ConfigError,
  ConfigKeyError,
  ConfigEnvError,
  ConfigFileError,
  FailureEnvError,
  NatsEnvError,
} from './errors.ts';
export {
  DEFAULT_FAILURE,
  FAILURE_ENV,
  FAILURE_KEYS,
  FAILURE_POLICIES,
  POOL_ENV,
  failureEnv,
  failureFor,
  failureFromEnv,
  retryDelayMs,
} from './failure.ts';
export { NATS_ENV, natsEnv, natsFromEnv, type NatsWorkerConnection } from './nats-env.ts';
export { NATS_FILE_KEYS, type NatsFileField, type NatsFileKey } from './nats-files.ts';
export type { ConfigLocation } from './errors.ts';
export type {
  Backend,
  DispatcherConfig,
  DistributorConfig,
  Env,
  NatsConfig,
  PoolConfig,
  MatchRule,
  BackpressureConfig,
  FailureConfig,
  FailurePolicy,
  Strategy,
  WorkerConfig,
} from './types.ts';
export {
  LIVE_DISPATCHER_KEYS,
  WORKER_LAUNCH_KEYS,
  LIVE_POOL_KEYS,
  POOL_LAUNCH_KEYS,
  CONFIG_LAUNCH_KEYS,
  restartKeys,
  withLaunchKeys,
  withLiveKeys,
} from './live-keys.ts';
export { serversWithoutSecret, withoutSecret } from './server-url.ts';
export { portOf } from './port.ts';
