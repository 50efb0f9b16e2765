import { STRATEGIES } from '../api/index.ts';
import {
  checkBackpressure,
  checkCommand,
  checkSourceConsumer,
  checkSeconds,
  checkDraining,
  checkInteger,
  checkKeyField,
  checkMoving,
  checkName,
  checkNonEmpty,
  checkOneOf,
  QUEUE_NAME,
} from './checks.ts';
import { DEFAULT_POOL_NAME } from './defaults.ts';
import { ConfigKeyError, type ConfigLocation } from './errors.ts';
import { checkFailure } from './failure.ts';
import { MATCH_KEYS, POOL_SECTION_PREFIX } from './pools.ts';
import { fail, LIMITS, place, type Locate, type Where } from './problem.ts';
import type { DistributorConfig, MatchRule, PoolConfig } from './types.ts';

// A DNS label, and short: the operator builds Kubernetes object names and labels from it,
// which must stay within 63 characters with the distributor's name and a shard index added.
const POOL_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_POOL_NAME_LENGTH = 40;

/**
 * The rules of the `[pool.NAME]` sections: each pool's keys as in [dispatcher]/[worker], its
 * name, its match rule, and that no two pools (the default one included) share shard queues.
 */
export function checkPools(config: DistributorConfig, locate: Locate): void {
  const names = new Set<string>();
  // Whose shard queues each prefix names, for the message when a second pool claims it.
  const prefixOwners = new Map([[config.worker.subQueuePrefix, '[worker] sub_queue_prefix']]);
  for (const pool of config.pools) {
    const section = `${POOL_SECTION_PREFIX}${pool.name}`;
    checkPoolName(locate.section(section), pool.name, names);
    // A default (derived) key has no line of its own: point at the section instead.
    const at = (key: string): Where => {
      const where = locate.at(section, key);
      const line = where.line ?? locate.section(section).line;
      return line === undefined ? where : { ...where, line };
    };
    checkMatch(locate.section(section), at, pool.match);
    checkInteger(at('min_workers'), pool.minWorkers, LIMITS.min_workers);
    checkDraining(at('draining_shards'), pool.drainingShards, pool.minWorkers);
    if (pool.movingShards !== undefined)
      checkMoving(at('moving_shards'), pool.movingShards, pool.drainingShards);
    checkOneOf(at('strategy'), pool.strategy, STRATEGIES, 'strategy');
    checkKeyField(at('key_field'), pool.keyField, pool.strategy);
    checkName(at('sub_queue_prefix'), pool.subQueuePrefix, QUEUE_NAME, 'queue name prefix');
    checkOwnPrefix(at('sub_queue_prefix'), pool, prefixOwners);
    checkCommand(at('worker_module'), pool.workerModule, true);
    checkCommand(at('worker_args_template'), pool.workerArgsTemplate, false);
    checkSourceConsumer(
      at('worker_args_template'),
      pool.workerArgsTemplate,
      config.dispatcher.consumerName,
    );
    if (pool.sleepEmptySec !== undefined)
      checkSeconds(at('sleep_empty_sec'), pool.sleepEmptySec, LIMITS.sleep_empty_sec);
    checkBackpressure(at, pool.backpressure);
    if (pool.failure !== undefined) checkFailure(at, pool.failure);
  }
}

/** Throws `file:line: [section] problem` for what is wrong with a section as a whole. */
function sectionFail(where: ConfigLocation & { readonly section: string }, problem: string): never {
  throw new ConfigKeyError(`${place(where)}: [${where.section}] ${problem}`, where);
}

function checkPoolName(
  where: ConfigLocation & { readonly section: string },
  name: string,
  names: Set<string>,
): void {
  if (!POOL_NAME.test(name) || name.length > MAX_POOL_NAME_LENGTH) {
    sectionFail(
      where,
      `has the pool name ${JSON.stringify(name)}, which is not a DNS label; name the pool with ` +
        `lower-case letters, digits and "-", starting and ending with a letter or digit, ` +
        `at most ${MAX_POOL_NAME_LENGTH} characters, e.g. [pool.large]`,
    );
  }
  if (name === DEFAULT_POOL_NAME) {
    sectionFail(
      where,
      `uses the name "${DEFAULT_POOL_NAME}", which is the pool of [dispatcher] and [worker]; ` +
        'give this pool another name',
    );
  }
  if (names.has(name))
    sectionFail(where, 'is declared twice; give each pool its own name or merge the two');
  names.add(name);
}

/**
 * Shard queue i of a pool is `<prefix>-<i>`, i digits only. Two different prefixes can never
 * name the same queue: that would need one to be the other plus `-<digits>`, and then the
 * longer one's queues end in a second `-<i>` that digits alone cannot spell. So the rule is
 * simply: no pool's prefix equals another's, the default pool's included.
 */
function checkOwnPrefix(where: Where, pool: PoolConfig, owners: Map<string, string>): void {
  const owner = owners.get(pool.subQueuePrefix);
  if (owner !== undefined) {
    fail(
      where,
      pool.subQueuePrefix,
      `is also ${owner}, so both pools would use the same shard queues (<prefix>-<i>); ` +
        `set another sub_queue_prefix here or there (without the key a pool gets ` +
        `<[worker] sub_queue_prefix>-<NAME>)`,
    );
  }
  owners.set(pool.subQueuePrefix, `the sub_queue_prefix of [${POOL_SECTION_PREFIX}${pool.name}]`);
}

function checkMatch(
  sectionWhere: ConfigLocation & { readonly section: string },
  at: (key: string) => Where,
  match: MatchRule,
): void {
  const { minBytes, belowBytes, messageType, header, predicate } = match;
  if (
    minBytes === undefined &&
    belowBytes === undefined &&
    messageType === undefined &&
    header === undefined &&
    predicate === undefined
  ) {
    sectionFail(
      sectionWhere,
      'has no match rule, so it would take every message from the default pool; ' +
        `add at least one of ${MATCH_KEYS.join(', ')}, e.g. match_min_bytes = 1048576`,
    );
  }
  if (minBytes !== undefined) checkInteger(at('match_min_bytes'), minBytes, LIMITS.match_min_bytes);
  if (belowBytes !== undefined) {
    checkInteger(at('match_below_bytes'), belowBytes, LIMITS.match_below_bytes);
    if (minBytes !== undefined && belowBytes <= minBytes) {
      fail(
        at('match_below_bytes'),
        belowBytes,
        `is not above match_min_bytes = ${minBytes}, so no message size matches ` +
          '(the pool takes sizes from match_min_bytes up to, not including, match_below_bytes); ' +
          `set match_below_bytes above ${minBytes} or lower match_min_bytes`,
      );
    }
  }
  if (messageType !== undefined) checkNonEmpty(at('match_type'), messageType);
  if (header !== undefined) checkPair(at('match_header'), header, 'tenant=acme');
  if (predicate !== undefined)
    checkPair(at('match_predicate'), predicate, 'v-s:hasClassifier=d:classifier_1');
}

/** `NAME=VALUE` as the INI spells it: split at the first `=`, both sides trimmed and non-empty. */
function checkPair(
  where: Where,
  pair: { readonly name: string; readonly value: string },
  example: string,
): void {
  const text = `${pair.name}=${pair.value}`;
  const fix = `write NAME=VALUE, e.g. ${where.key} = ${example}`;
  if (pair.name.trim() === '') fail(where, text, `has an empty NAME; ${fix}`);
  if (pair.value.trim() === '') fail(where, text, `has an empty VALUE; ${fix}`);
  // Neither could be read back from the INI, which splits at the first "=" and trims.
  if (pair.name.includes('='))
    fail(where, text, `has "=" in its NAME, which cannot be written as NAME=VALUE; ${fix}`);
  if (pair.name !== pair.name.trim() || pair.value !== pair.value.trim()) {
    fail(
      where,
      text,
      'has spaces around its NAME or VALUE, which the INI does not keep; remove them',
    );
  }
}
