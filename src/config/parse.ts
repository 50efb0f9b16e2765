import { BACKENDS, STRATEGIES } from '../api/index.ts';
import {
  CONFIG_FILE_NAME,
  DEFAULT_BASE_PATH,
  DEFAULT_BATCH_SIZE,
  DEFAULT_CONSUMER_NAME,
  DEFAULT_MAIN_QUEUE_NAME,
  DEFAULT_METRICS_PORT,
  DEFAULT_MIN_WORKERS,
  DEFAULT_NATS_MAIN_STREAM,
  DEFAULT_NATS_SHARD_STREAM,
  DEFAULT_SLEEP_EMPTY_SEC,
  DEFAULT_STUCK_AFTER_SEC,
  DEFAULT_WORKER_ARGS_TEMPLATE,
  DEFAULT_WORKER_BASE_PATH,
  DEFAULT_WORKER_MODULE,
  defaultSubQueuePrefix,
} from './defaults.ts';
import { ConfigKeyError } from './errors.ts';
import { FAILURE_KEYS, readFailure } from './failure.ts';
import { readIniText, type IniSection } from './ini-text.ts';
import {
  BACKPRESSURE_KEYS,
  isPoolSection,
  POOL_SECTION_PREFIX,
  readBackpressure,
  readPool,
} from './pools.ts';
import { NATS_FILE_KEYS, type NatsFileField } from './nats-files.ts';
import { LIMITS } from './problem.ts';
import { closest, SectionReader } from './section-reader.ts';
import type { DistributorConfig, Env, NatsConfig } from './types.ts';
import { validateConfig } from './validate.ts';

const DISPATCHER_KEYS = [
  'base_path',
  'main_queue_name',
  'min_workers',
  'draining_shards',
  'moving_shards',
  'consumer_name',
  'backend',
  'strategy',
  'key_field',
  'batch_size',
  'metrics_port',
  'durable',
  'stuck_after_sec',
  ...BACKPRESSURE_KEYS,
  ...FAILURE_KEYS,
] as const;
const WORKER_KEYS = [
  'worker_base_path',
  'sub_queue_prefix',
  'sleep_empty_sec',
  'worker_module',
  'worker_args_template',
] as const;
const NATS_KEYS = [
  'url',
  'main_stream',
  'shard_stream',
  ...NATS_FILE_KEYS.map((f) => f.key),
] as const;

const SECTIONS = ['dispatcher', 'worker', 'nats'];
const POOL_SECTION_HINT = `[${POOL_SECTION_PREFIX}NAME]`;

export interface ParseOptions {
  /** Names the file in error messages; the text itself is given. */
  readonly file?: string;
  /** Where `${VAR}` comes from; pass `process.env` at the edge. */
  readonly env: Env;
}

/**
 * Reads veda-queue-shard-distributor.ini: every key the original had keeps its meaning and
 * default; a missing key takes its default, a bad one throws a ConfigError naming file,
 * section and key. Pure: the text and the environment are passed in.
 */
export function parseIni(text: string, options: ParseOptions): DistributorConfig {
  const file = options.file ?? CONFIG_FILE_NAME;
  const sections = readIniText(text, file);
  for (const section of sections.values()) checkSectionName(file, section);

  const dispatcher = new SectionReader(
    file,
    'dispatcher',
    sections.get('dispatcher'),
    options.env,
    DISPATCHER_KEYS,
  );
  const worker = new SectionReader(
    file,
    'worker',
    sections.get('worker'),
    options.env,
    WORKER_KEYS,
  );
  const natsSection = sections.get('nats');

  const mainQueueName = dispatcher.string('main_queue_name', DEFAULT_MAIN_QUEUE_NAME);
  const keyField = dispatcher.optionalString('key_field');
  const movingShards = dispatcher.integerList('moving_shards');
  const dispatcherConfig: DistributorConfig['dispatcher'] = {
    basePath: dispatcher.string('base_path', DEFAULT_BASE_PATH),
    mainQueueName,
    minWorkers: dispatcher.integer('min_workers', DEFAULT_MIN_WORKERS, LIMITS.min_workers),
    drainingShards: dispatcher.integerList('draining_shards'),
    ...(movingShards.length === 0 ? {} : { movingShards }),
    consumerName: dispatcher.string('consumer_name', DEFAULT_CONSUMER_NAME),
    backend: dispatcher.oneOf('backend', BACKENDS, 'veda', 'backend'),
    strategy: dispatcher.oneOf('strategy', STRATEGIES, 'ZeroLoadFirst', 'strategy'),
    ...(keyField === undefined ? {} : { keyField }),
    batchSize: dispatcher.integer('batch_size', DEFAULT_BATCH_SIZE, LIMITS.batch_size),
    metricsPort: dispatcher.integer('metrics_port', DEFAULT_METRICS_PORT, LIMITS.metrics_port),
    durable: dispatcher.boolean('durable', true),
    stuckAfterSec: dispatcher.seconds(
      'stuck_after_sec',
      DEFAULT_STUCK_AFTER_SEC,
      LIMITS.stuck_after_sec,
    ),
  };
  const backpressure = readBackpressure(dispatcher);
  const failure = readFailure(dispatcher);
  const workerConfig: DistributorConfig['worker'] = {
    workerBasePath: worker.string('worker_base_path', DEFAULT_WORKER_BASE_PATH),
    subQueuePrefix: worker.string('sub_queue_prefix', defaultSubQueuePrefix(mainQueueName)),
    sleepEmptySec: worker.seconds(
      'sleep_empty_sec',
      DEFAULT_SLEEP_EMPTY_SEC,
      LIMITS.sleep_empty_sec,
    ),
    workerModule: worker.string('worker_module', DEFAULT_WORKER_MODULE),
    workerArgsTemplate: worker.string('worker_args_template', DEFAULT_WORKER_ARGS_TEMPLATE),
  };
  const poolDefaults = {
    ...workerConfig,
    strategy: dispatcherConfig.strategy,
    ...(failure === undefined ? {} : { failure }),
  };
  const config: DistributorConfig = {
    dispatcher: dispatcherConfig,
    worker: workerConfig,
    ...(natsSection === undefined ? {} : { nats: readNats(file, natsSection, options.env) }),
    ...(backpressure === undefined ? {} : { backpressure }),
    ...(failure === undefined ? {} : { failure }),
    // Map order is the order the sections first appear in: the order rules are tried in.
    pools: [...sections.values()]
      .filter((section) => isPoolSection(section.name))
      .map((section) => readPool(file, section, options.env, poolDefaults)),
  };
  validateConfig(config, file, (section, key) => {
    const found = sections.get(section);
    return key === undefined ? found?.line : found?.entries.get(key)?.line;
  });
  return config;
}

function readNats(file: string, section: IniSection, env: Env): NatsConfig {
  const nats = new SectionReader(file, 'nats', section, env, NATS_KEYS);
  const files: Partial<Record<NatsFileField, string>> = {};
  for (const { key, field } of NATS_FILE_KEYS) {
    const path = nats.optionalString(key);
    if (path !== undefined) files[field] = path;
  }
  return {
    url: nats.string('url', ''),
    mainStream: nats.string('main_stream', DEFAULT_NATS_MAIN_STREAM),
    shardStream: nats.string('shard_stream', DEFAULT_NATS_SHARD_STREAM),
    ...files,
  };
}

function checkSectionName(file: string, section: IniSection): void {
  const { name, line } = section;
  // The pool's name is checked by validateConfig, which also sees configs built in code.
  if (SECTIONS.includes(name) || isPoolSection(name)) return;
  if (name === 'pool') {
    throw new ConfigKeyError(
      `${file}:${line}: [pool] has no pool name; write it as ${POOL_SECTION_HINT}, e.g. [pool.large]`,
      { file, section: name, line },
    );
  }
  const hint = closest(name, SECTIONS);
  throw new ConfigKeyError(
    `${file}:${line}: unknown section [${name}]${hint ? ` (did you mean [${hint}]?)` : ''}` +
      `; the sections are ${[...SECTIONS.map((s) => `[${s}]`), POOL_SECTION_HINT].join(', ')}`,
    { file, section: name, line },
  );
}
