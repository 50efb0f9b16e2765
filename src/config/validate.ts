import { ARGS_PLACEHOLDERS, BACKENDS, MAX_WORKERS_LIMIT, STRATEGIES } from '../api/index.ts';
import { splitArgv } from './argv.ts';
import { CONFIG_FILE_NAME } from './defaults.ts';
import { ConfigKeyError } from './errors.ts';
import { unknownPlaceholders } from './placeholders.ts';
import { fail, integerFix, LIMITS, place, secondsFix, type Where } from './problem.ts';
import type { DistributorConfig } from './types.ts';

/** The line a key was read from, so errors found after parsing still point at it. */
export type LineOf = (section: string, key: string) => number | undefined;

// Same rules as the CRD, so whatever the operator renders, the distributor accepts.
const QUEUE_NAME = {
  pattern: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
  hint: 'letters, digits, ".", "_" and "-", starting with a letter or digit',
};
const STREAM_NAME = { pattern: /^[A-Za-z0-9_-]+$/, hint: 'letters, digits, "_" and "-"' };
const MAX_NAME_LENGTH = 200;

function checkInteger(where: Where, value: number, limits: { min: number; max: number }): void {
  const fix = integerFix(limits);
  if (!Number.isInteger(value)) fail(where, value, `is not a whole number; ${fix}`);
  if (value < 0) fail(where, value, `is negative; ${fix}`);
  if (value < limits.min) fail(where, value, `is too small; ${fix}`);
  if (value > limits.max) fail(where, value, `is too large; ${fix}`);
}

function checkSeconds(
  where: Where,
  value: number,
  limits: { max: number; zeroAllowed: boolean },
): void {
  const fix = secondsFix(limits);
  if (!Number.isFinite(value)) fail(where, value, `is not a number; ${fix}`);
  if (value < 0) fail(where, value, `is negative; ${fix}`);
  if (value === 0 && !limits.zeroAllowed) fail(where, value, `is too small; ${fix}`);
  if (value > limits.max) fail(where, value, `is too large; ${fix}`);
}

function checkNonEmpty(where: Where, value: string): void {
  if (value.trim() === '')
    fail(where, value, 'is empty; set it or remove the key to get the default');
}

function checkName(
  where: Where,
  value: string,
  rule: { pattern: RegExp; hint: string },
  what: string,
): void {
  checkNonEmpty(where, value);
  if (!rule.pattern.test(value) || value.length > MAX_NAME_LENGTH) {
    fail(
      where,
      value,
      `is not a valid ${what}; use ${rule.hint} (at most ${MAX_NAME_LENGTH} characters)`,
    );
  }
}

function checkOneOf(where: Where, value: string, allowed: readonly string[], what: string): void {
  if (!allowed.includes(value))
    fail(where, value, `is not a known ${what}; use one of ${allowed.join(', ')}`);
}

function checkCommand(where: Where, value: string, needsWord: boolean): void {
  const split = splitArgv(value);
  if (!split.ok)
    fail(where, value, `${split.reason}; close the quote or escape it with a backslash`);
  if (needsWord && split.args.length === 0)
    fail(where, value, 'is empty; set it to the worker executable');
  const [unknown] = unknownPlaceholders(value);
  if (unknown !== undefined) {
    const known = ARGS_PLACEHOLDERS.map((p) => `{${p}}`).join(', ');
    fail(
      where,
      value,
      `uses unknown placeholder {${unknown}}; use only ${known}, or write {{${unknown}}} for a literal`,
    );
  }
}

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

  checkNonEmpty(at('dispatcher', 'base_path'), d.basePath);
  checkName(at('dispatcher', 'main_queue_name'), d.mainQueueName, QUEUE_NAME, 'queue name');
  checkInteger(at('dispatcher', 'min_workers'), d.minWorkers, LIMITS.min_workers);
  checkDraining(at('dispatcher', 'draining_shards'), d.drainingShards, d.minWorkers);
  if (d.movingShards !== undefined)
    checkMoving(at('dispatcher', 'moving_shards'), d.movingShards, d.drainingShards);
  checkName(at('dispatcher', 'consumer_name'), d.consumerName, QUEUE_NAME, 'consumer name');
  checkOneOf(at('dispatcher', 'backend'), d.backend, BACKENDS, 'backend');
  checkOneOf(at('dispatcher', 'strategy'), d.strategy, STRATEGIES, 'strategy');
  if (d.keyField !== undefined) {
    checkNonEmpty(at('dispatcher', 'key_field'), d.keyField);
    if (d.strategy !== 'KeyHash') {
      fail(
        at('dispatcher', 'key_field'),
        d.keyField,
        `is used only by strategy KeyHash, but strategy = ${d.strategy}; remove key_field or set strategy = KeyHash`,
      );
    }
  }
  checkInteger(at('dispatcher', 'batch_size'), d.batchSize, LIMITS.batch_size);
  checkInteger(at('dispatcher', 'metrics_port'), d.metricsPort, LIMITS.metrics_port);
  checkSeconds(at('dispatcher', 'stuck_after_sec'), d.stuckAfterSec, LIMITS.stuck_after_sec);

  checkNonEmpty(at('worker', 'worker_base_path'), w.workerBasePath);
  checkName(at('worker', 'sub_queue_prefix'), w.subQueuePrefix, QUEUE_NAME, 'queue name prefix');
  checkSeconds(at('worker', 'sleep_empty_sec'), w.sleepEmptySec, LIMITS.sleep_empty_sec);
  checkCommand(at('worker', 'worker_module'), w.workerModule, true);
  checkCommand(at('worker', 'worker_args_template'), w.workerArgsTemplate, false);

  checkNats(config, at);

  const [pool] = config.pools;
  if (pool !== undefined) {
    throw new ConfigKeyError(
      `${file}: [pool.${pool.name}]: worker pools are not supported yet; remove the section`,
      { file, section: `pool.${pool.name}` },
    );
  }
}

function checkDraining(where: Where, draining: readonly number[], minWorkers: number): void {
  checkShardList(where, draining, (shard) =>
    shard < minWorkers
      ? `includes shard ${shard}, which is live (min_workers = ${minWorkers}); list only shards >= ${minWorkers}`
      : undefined,
  );
}

// Moving reads a shard as its worker's consumer, so it is only safe for a shard that already
// receives nothing new and whose worker is stopped: a subset of the draining shards.
function checkMoving(where: Where, moving: readonly number[], draining: readonly number[]): void {
  checkShardList(where, moving, (shard) =>
    draining.includes(shard)
      ? undefined
      : `includes shard ${shard}, which is not in draining_shards (${draining.join(',') || 'none'}); ` +
        'a backlog is moved only from a draining shard whose worker is stopped: add it to draining_shards or remove it here',
  );
}

/** Shard indices, each once, each passing `rule` (which returns the problem, if any). */
function checkShardList(
  where: Where,
  shards: readonly number[],
  rule: (shard: number) => string | undefined,
): void {
  const seen = new Set<number>();
  for (const shard of shards) {
    if (!Number.isInteger(shard) || shard < 0) {
      fail(
        where,
        shards,
        `includes ${shard}, which is not a shard index; list non-negative whole numbers, e.g. 4,5`,
      );
    }
    if (shard >= MAX_WORKERS_LIMIT) {
      fail(where, shards, `includes ${shard}; shard indices stay below ${MAX_WORKERS_LIMIT}`);
    }
    const problem = rule(shard);
    if (problem !== undefined) fail(where, shards, problem);
    if (seen.has(shard)) fail(where, shards, `lists shard ${shard} twice; list each shard once`);
    seen.add(shard);
  }
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
        nats.url,
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
  if (nats.credentialsFile !== undefined)
    checkNonEmpty(at('nats', 'credentials_file'), nats.credentialsFile);
}
