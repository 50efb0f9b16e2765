import { ARGS_PLACEHOLDERS, MAX_WORKERS_LIMIT } from '../api/index.ts';
import { splitArgv } from './argv.ts';
import { unclosedPlaceholders, unknownPlaceholders } from './placeholders.ts';
import { fail, integerFix, LIMITS, secondsFix, type Where } from './problem.ts';
import type { BackpressureConfig, Strategy } from './types.ts';

// The value rules `validateConfig` applies to [dispatcher], [worker], [nats] and every
// [pool.NAME] alike; each throws through `fail`, naming the key, the value and the fix.

// Same rules as the CRD, so whatever the operator renders, the distributor accepts.
export const QUEUE_NAME = {
  pattern: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
  hint: 'letters, digits, ".", "_" and "-", starting with a letter or digit',
};
export const STREAM_NAME = { pattern: /^[A-Za-z0-9_-]+$/, hint: 'letters, digits, "_" and "-"' };
const MAX_NAME_LENGTH = 200;

export function checkInteger(
  where: Where,
  value: number,
  limits: { min: number; max: number },
): void {
  const fix = integerFix(limits);
  if (!Number.isInteger(value)) fail(where, value, `is not a whole number; ${fix}`);
  if (value < 0) fail(where, value, `is negative; ${fix}`);
  if (value < limits.min) fail(where, value, `is too small; ${fix}`);
  if (value > limits.max) fail(where, value, `is too large; ${fix}`);
}

export function checkSeconds(
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

export function checkNonEmpty(where: Where, value: string): void {
  if (value.trim() === '')
    fail(where, value, 'is empty; set it or remove the key to get the default');
}

export function checkName(
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

export function checkOneOf(
  where: Where,
  value: string,
  allowed: readonly string[],
  what: string,
): void {
  if (!allowed.includes(value))
    fail(where, value, `is not a known ${what}; use one of ${allowed.join(', ')}`);
}

export function checkCommand(where: Where, value: string, needsWord: boolean): void {
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
  const [unclosed] = unclosedPlaceholders(value);
  if (unclosed !== undefined)
    fail(
      where,
      value,
      `opens placeholder {${unclosed} without its closing brace; write {${unclosed}}`,
    );
}

/**
 * A template that passes the workers a literal `--src` other than consumer_name: the
 * distributor measures each shard's backlog, and moves a removed shard, as consumer_name, so a
 * worker reading as another consumer leaves a backlog that never drains (and a move re-sends
 * what it already read). The default template's literal equals the default consumer_name.
 */
export function checkSourceConsumer(where: Where, template: string, consumerName: string): void {
  const split = splitArgv(template);
  if (!split.ok) return; // checkCommand says why
  const args = split.args;
  for (const [i, arg] of args.entries()) {
    const given =
      arg === '--src' ? args[i + 1] : arg.startsWith('--src=') ? arg.slice(6) : undefined;
    if (given === undefined || given.includes('{src}') || given === consumerName) continue;
    fail(
      where,
      template,
      `passes --src ${given}, but [dispatcher] consumer_name is ${consumerName}: the distributor measures and moves each shard as consumer_name, so the workers must read as it; write --src {src}, or set consumer_name = ${given}`,
    );
  }
}

export function checkKeyField(
  where: Where,
  keyField: string | undefined,
  strategy: Strategy,
): void {
  if (keyField === undefined) return;
  checkNonEmpty(where, keyField);
  if (strategy !== 'KeyHash') {
    fail(
      where,
      keyField,
      `is used only by strategy KeyHash, but strategy = ${strategy}; remove key_field or set strategy = KeyHash`,
    );
  }
}

/** `max_backlog_per_shard` and `max_disk_bytes` of [dispatcher] or a pool. */
export function checkBackpressure(
  at: (key: string) => Where,
  backpressure: BackpressureConfig,
): void {
  checkInteger(
    at('max_backlog_per_shard'),
    backpressure.maxBacklogPerShard,
    LIMITS.max_backlog_per_shard,
  );
  checkInteger(at('max_disk_bytes'), backpressure.maxDiskBytes, LIMITS.max_disk_bytes);
}

export function checkDraining(where: Where, draining: readonly number[], minWorkers: number): void {
  checkShardList(where, draining, (shard) =>
    shard < minWorkers
      ? `includes shard ${shard}, which is live (min_workers = ${minWorkers}); list only shards >= ${minWorkers}`
      : undefined,
  );
}

// Moving reads a shard as its worker's consumer, so it is only safe for a shard that already
// receives nothing new and whose worker is stopped: a subset of the draining shards.
export function checkMoving(
  where: Where,
  moving: readonly number[],
  draining: readonly number[],
): void {
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
