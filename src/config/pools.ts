import { STRATEGIES } from '../api/index.ts';
import { DEFAULT_POOL_MIN_WORKERS, defaultPoolSubQueuePrefix } from './defaults.ts';
import { DEFAULT_FAILURE, FAILURE_KEYS, readFailure } from './failure.ts';
import type { IniSection } from './ini-text.ts';
import { LIMITS } from './problem.ts';
import { SectionReader } from './section-reader.ts';
import type {
  BackpressureConfig,
  Env,
  FailureConfig,
  MatchRule,
  PoolConfig,
  Strategy,
} from './types.ts';

/** `[pool.NAME]`: the section name is this prefix and the pool's name. */
export const POOL_SECTION_PREFIX = 'pool.';

export const MATCH_KEYS = [
  'match_min_bytes',
  'match_below_bytes',
  'match_type',
  'match_header',
  'match_predicate',
] as const;

export const BACKPRESSURE_KEYS = ['max_backlog_per_shard', 'max_disk_bytes'] as const;

const POOL_KEYS = [
  ...MATCH_KEYS,
  'min_workers',
  'draining_shards',
  'moving_shards',
  'strategy',
  'key_field',
  'sub_queue_prefix',
  'worker_module',
  'worker_args_template',
  'sleep_empty_sec',
  ...BACKPRESSURE_KEYS,
  ...FAILURE_KEYS,
] as const;

export function isPoolSection(name: string): boolean {
  return name.startsWith(POOL_SECTION_PREFIX);
}

/** What a pool section takes from the default pool when it does not say. */
export interface PoolDefaults {
  /** `[dispatcher] strategy`. */
  readonly strategy: Strategy;
  /** `[worker] sub_queue_prefix`; the pool's default is `<it>-<NAME>`. */
  readonly subQueuePrefix: string;
  readonly workerModule: string;
  readonly workerArgsTemplate: string;
  /** `[dispatcher]`'s failure keys, if set: what a pool's missing failure keys default to. */
  readonly failure?: FailureConfig;
}

/**
 * Reads one `[pool.NAME]` section. Types only, like the rest of parsing: the name, the rule
 * and how pools fit together are `validateConfig`'s, so configs built in code get the same
 * checks.
 */
export function readPool(
  file: string,
  section: IniSection,
  env: Env,
  defaults: PoolDefaults,
): PoolConfig {
  const name = section.name.slice(POOL_SECTION_PREFIX.length);
  const pool = new SectionReader(file, section.name, section, env, POOL_KEYS);
  const movingShards = pool.integerList('moving_shards');
  const keyField = pool.optionalString('key_field');
  const sleepEmptySec =
    pool.raw('sleep_empty_sec') === undefined
      ? undefined
      : pool.seconds('sleep_empty_sec', 0, LIMITS.sleep_empty_sec);
  const failure = readFailure(pool, defaults.failure ?? DEFAULT_FAILURE);
  return {
    name,
    match: readMatch(pool),
    minWorkers: pool.integer('min_workers', DEFAULT_POOL_MIN_WORKERS, LIMITS.min_workers),
    drainingShards: pool.integerList('draining_shards'),
    ...(movingShards.length === 0 ? {} : { movingShards }),
    strategy: pool.oneOf('strategy', STRATEGIES, defaults.strategy, 'strategy'),
    ...(keyField === undefined ? {} : { keyField }),
    subQueuePrefix: pool.string(
      'sub_queue_prefix',
      defaultPoolSubQueuePrefix(defaults.subQueuePrefix, name),
    ),
    workerModule: pool.string('worker_module', defaults.workerModule),
    workerArgsTemplate: pool.string('worker_args_template', defaults.workerArgsTemplate),
    ...(sleepEmptySec === undefined ? {} : { sleepEmptySec }),
    backpressure: readBackpressure(pool) ?? { maxBacklogPerShard: 0, maxDiskBytes: 0 },
    ...(failure === undefined ? {} : { failure }),
  };
}

/** Only the conditions given, so a rule read back from rendered text deep-equals the original. */
function readMatch(pool: SectionReader): MatchRule {
  const minBytes = pool.optionalInteger('match_min_bytes', LIMITS.match_min_bytes);
  const belowBytes = pool.optionalInteger('match_below_bytes', LIMITS.match_below_bytes);
  const messageType = pool.optionalString('match_type');
  const header = pool.pair('match_header', 'tenant=acme');
  const predicate = pool.pair('match_predicate', 'v-s:hasClassifier=d:classifier_1');
  return {
    ...(minBytes === undefined ? {} : { minBytes }),
    ...(belowBytes === undefined ? {} : { belowBytes }),
    ...(messageType === undefined ? {} : { messageType }),
    ...(header === undefined ? {} : { header }),
    ...(predicate === undefined ? {} : { predicate }),
  };
}

/**
 * `max_backlog_per_shard` and `max_disk_bytes` of `[dispatcher]` or a pool; undefined when
 * neither is set (so `[dispatcher]` without them parses as before the keys existed), and a
 * missing one of the two is 0 (off).
 */
export function readBackpressure(section: SectionReader): BackpressureConfig | undefined {
  const maxBacklogPerShard = section.optionalInteger(
    'max_backlog_per_shard',
    LIMITS.max_backlog_per_shard,
  );
  const maxDiskBytes = section.optionalInteger('max_disk_bytes', LIMITS.max_disk_bytes);
  if (maxBacklogPerShard === undefined && maxDiskBytes === undefined) return undefined;
  return { maxBacklogPerShard: maxBacklogPerShard ?? 0, maxDiskBytes: maxDiskBytes ?? 0 };
}
