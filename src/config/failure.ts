import { checkInteger, checkOneOf, checkSeconds } from './checks.ts';
import { FailureEnvError } from './errors.ts';
import { fail, LIMITS, type Where } from './problem.ts';
import type { SectionReader } from './section-reader.ts';
import type { DistributorConfig, FailureConfig, FailurePolicy, PoolConfig } from './types.ts';

// What a worker does with a message its handler rejects. Only the workers read these keys
// (through the environment their launcher gives them); the distributor ignores them.

export const FAILURE_POLICIES = [
  'DeadLetter',
  'Drop',
  'Block',
] as const satisfies readonly FailurePolicy[];

export const FAILURE_KEYS = [
  'failure_policy',
  'max_attempts',
  'retry_backoff_sec',
  'retry_backoff_max_sec',
] as const;

export const DEFAULT_FAILURE: FailureConfig = {
  policy: 'DeadLetter',
  maxAttempts: 5,
  retryBackoffSec: 1,
  retryBackoffMaxSec: 300,
};

/** The environment variables a worker reads its failure policy from (`failureEnv`). */
export const FAILURE_ENV = {
  policy: 'SD_FAILURE_POLICY',
  maxAttempts: 'SD_MAX_ATTEMPTS',
  retryBackoffSec: 'SD_RETRY_BACKOFF_SEC',
  retryBackoffMaxSec: 'SD_RETRY_BACKOFF_MAX_SEC',
} as const satisfies Record<keyof FailureConfig, string>;

/**
 * The failure keys of `[dispatcher]` or a `[pool.NAME]`; undefined when none is set (so a file
 * without them parses as before the keys existed). A missing one of the four takes its value
 * from `fallback` (a pool: the `[dispatcher]` ones; `[dispatcher]`: the built-in defaults).
 */
export function readFailure(
  section: SectionReader,
  fallback: FailureConfig = DEFAULT_FAILURE,
): FailureConfig | undefined {
  const policy = section.raw('failure_policy');
  const maxAttempts = section.raw('max_attempts');
  const backoff = section.raw('retry_backoff_sec');
  const backoffMax = section.raw('retry_backoff_max_sec');
  if (
    policy === undefined &&
    maxAttempts === undefined &&
    backoff === undefined &&
    backoffMax === undefined
  ) {
    return undefined;
  }
  return {
    policy: section.oneOf('failure_policy', FAILURE_POLICIES, fallback.policy, 'failure policy'),
    maxAttempts: section.integer('max_attempts', fallback.maxAttempts, LIMITS.max_attempts),
    retryBackoffSec: section.seconds(
      'retry_backoff_sec',
      fallback.retryBackoffSec,
      LIMITS.retry_backoff_sec,
    ),
    retryBackoffMaxSec: section.seconds(
      'retry_backoff_max_sec',
      fallback.retryBackoffMaxSec,
      LIMITS.retry_backoff_max_sec,
    ),
  };
}

/** The rules of the four keys, for `[dispatcher]` and every pool alike. */
export function checkFailure(at: (key: string) => Where, failure: FailureConfig): void {
  checkOneOf(at('failure_policy'), failure.policy, FAILURE_POLICIES, 'failure policy');
  checkInteger(at('max_attempts'), failure.maxAttempts, LIMITS.max_attempts);
  checkSeconds(at('retry_backoff_sec'), failure.retryBackoffSec, LIMITS.retry_backoff_sec);
  checkSeconds(
    at('retry_backoff_max_sec'),
    failure.retryBackoffMaxSec,
    LIMITS.retry_backoff_max_sec,
  );
  if (failure.retryBackoffMaxSec < failure.retryBackoffSec) {
    fail(
      at('retry_backoff_max_sec'),
      failure.retryBackoffMaxSec,
      `is below retry_backoff_sec = ${failure.retryBackoffSec}, so no retry could wait that long; ` +
        `set it to at least ${failure.retryBackoffSec} or lower retry_backoff_sec`,
    );
  }
}

/** The failure policy a pool's workers get: its own keys, else `[dispatcher]`'s, else the defaults. */
export function failureFor(config: DistributorConfig, pool?: PoolConfig | string): FailureConfig {
  const found =
    typeof pool === 'string' ? config.pools.find((p) => p.name === pool) : (pool ?? undefined);
  return found?.failure ?? config.failure ?? DEFAULT_FAILURE;
}

/**
 * Milliseconds before retry number `attempt` (1 = after the first reject):
 * `retry_backoff_sec * 2^(attempt-1)`, at most `retry_backoff_max_sec`. No jitter: one worker
 * retries its own messages, so there is no herd to spread.
 */
export function retryDelayMs(attempt: number, failure: FailureConfig): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // 2^exponent overflows to Infinity long after the cap is reached; Math.min handles it.
  const seconds = Math.min(failure.retryBackoffSec * 2 ** exponent, failure.retryBackoffMaxSec);
  return Math.round(seconds * 1000);
}

/** Names the worker's pool in its envelopes (`default` when unset). */
export const POOL_ENV = 'SD_POOL';

/**
 * The environment a worker of this policy is started with (read back by `failureFromEnv`),
 * with `SD_POOL` when `pool` is given.
 */
export function failureEnv(failure: FailureConfig, pool?: string): Record<string, string> {
  return {
    ...(pool === undefined ? {} : { [POOL_ENV]: pool }),
    [FAILURE_ENV.policy]: failure.policy,
    [FAILURE_ENV.maxAttempts]: String(failure.maxAttempts),
    [FAILURE_ENV.retryBackoffSec]: String(failure.retryBackoffSec),
    [FAILURE_ENV.retryBackoffMaxSec]: String(failure.retryBackoffMaxSec),
  };
}

/**
 * The failure policy from `SD_FAILURE_POLICY` and the other `SD_*` variables; undefined when
 * none of them is set. A missing number takes its default; a bad one, or one set without
 * `SD_FAILURE_POLICY`, throws FailureEnvError naming the variable, the value and the fix.
 */
export function failureFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): FailureConfig | undefined {
  const policyText = env[FAILURE_ENV.policy]?.trim();
  if (policyText === undefined || policyText === '') {
    // A number set without a policy would be ignored, and the worker would not retry at all.
    const orphan = Object.values(FAILURE_ENV).find((name) => env[name]?.trim());
    if (orphan !== undefined) {
      throw envError(
        orphan,
        env[orphan]?.trim() ?? '',
        `is set but ${FAILURE_ENV.policy} is not, so it would be ignored and rejects only ` +
          `counted; set ${FAILURE_ENV.policy} to ${FAILURE_POLICIES.join(', ')} or unset ${orphan}`,
      );
    }
    return undefined;
  }
  const policy = FAILURE_POLICIES.find((p) => p.toLowerCase() === policyText.toLowerCase());
  if (policy === undefined) {
    throw envError(
      FAILURE_ENV.policy,
      policyText,
      `is not a known failure policy; use one of ${FAILURE_POLICIES.join(', ')}`,
    );
  }
  const number = (name: string, fallback: number, valid: (n: number) => boolean, fix: string) => {
    const text = env[name]?.trim();
    if (text === undefined || text === '') return fallback;
    const n = Number(text);
    if (!valid(n)) throw envError(name, text, fix);
    return n;
  };
  const attempts = LIMITS.max_attempts;
  const failure: FailureConfig = {
    policy,
    maxAttempts: number(
      FAILURE_ENV.maxAttempts,
      DEFAULT_FAILURE.maxAttempts,
      (n) => Number.isInteger(n) && n >= attempts.min && n <= attempts.max,
      `is not a whole number from ${attempts.min} to ${attempts.max}; set it to one`,
    ),
    retryBackoffSec: number(
      FAILURE_ENV.retryBackoffSec,
      DEFAULT_FAILURE.retryBackoffSec,
      (n) => Number.isFinite(n) && n > 0 && n <= LIMITS.retry_backoff_sec.max,
      `is not a number of seconds above 0 and at most ${LIMITS.retry_backoff_sec.max}; set it to one`,
    ),
    retryBackoffMaxSec: number(
      FAILURE_ENV.retryBackoffMaxSec,
      DEFAULT_FAILURE.retryBackoffMaxSec,
      (n) => Number.isFinite(n) && n > 0 && n <= LIMITS.retry_backoff_max_sec.max,
      `is not a number of seconds above 0 and at most ${LIMITS.retry_backoff_max_sec.max}; set it to one`,
    ),
  };
  if (failure.retryBackoffMaxSec < failure.retryBackoffSec) {
    throw envError(
      FAILURE_ENV.retryBackoffMaxSec,
      String(failure.retryBackoffMaxSec),
      `is below ${FAILURE_ENV.retryBackoffSec} = ${failure.retryBackoffSec}; set it to at least that`,
    );
  }
  return failure;
}

function envError(name: string, value: string, problem: string): FailureEnvError {
  return new FailureEnvError(`environment variable ${name} = ${JSON.stringify(value)} ${problem}`, {
    file: 'environment',
    key: name,
  });
}
