import { describe, expect, it } from 'vitest';
import {
  ConfigKeyError,
  defaultConfig,
  DEFAULT_FAILURE,
  failureEnv,
  failureFor,
  failureFromEnv,
  FailureEnvError,
  parseIni,
  renderIni,
  restartKeys,
  retryDelayMs,
  withLiveKeys,
  type DistributorConfig,
  type FailureConfig,
} from '../../../src/config/index.ts';

const env = {};
const file = 'sd.ini';

function parseError(text: string): ConfigKeyError {
  try {
    parseIni(text, { env, file });
  } catch (err) {
    if (err instanceof ConfigKeyError) return err;
    throw err;
  }
  throw new Error('parsed');
}

describe('retry schedule', () => {
  const failure: FailureConfig = { ...DEFAULT_FAILURE, retryBackoffSec: 1, retryBackoffMaxSec: 10 };

  it('doubles from retry_backoff_sec and stops at retry_backoff_max_sec', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, failure))).toEqual([
      1_000, 2_000, 4_000, 8_000, 10_000, 10_000,
    ]);
  });

  it('stays finite and capped for huge attempt numbers, and treats attempt 0 as the first', () => {
    expect(retryDelayMs(10_000, failure)).toBe(10_000);
    expect(retryDelayMs(0, failure)).toBe(1_000);
  });

  it('keeps fractions of a second', () => {
    expect(retryDelayMs(2, { ...failure, retryBackoffSec: 0.25 })).toBe(500);
  });

  it('is the default schedule 1, 2, 4, 8 s up to 300 s', () => {
    expect([1, 2, 4, 9, 10].map((n) => retryDelayMs(n, DEFAULT_FAILURE))).toEqual([
      1_000, 2_000, 8_000, 256_000, 300_000,
    ]);
  });
});

describe('failure keys in the INI', () => {
  it('leaves failure unset when no key is given, so old configs parse as before', () => {
    const config = parseIni('[dispatcher]\nmin_workers = 2\n[pool.big]\nmatch_min_bytes = 10\n', {
      env,
    });
    expect(config).not.toHaveProperty('failure');
    expect(config.pools[0]).not.toHaveProperty('failure');
    expect(failureFor(config)).toEqual(DEFAULT_FAILURE);
    expect(failureFor(config, 'big')).toEqual(DEFAULT_FAILURE);
  });

  it('reads [dispatcher] keys, defaulting the ones not given', () => {
    const config = parseIni('[dispatcher]\nfailure_policy = drop\nmax_attempts = 3\n', { env });
    expect(config.failure).toStrictEqual({
      policy: 'Drop',
      maxAttempts: 3,
      retryBackoffSec: 1,
      retryBackoffMaxSec: 300,
    });
  });

  it("gives a pool's missing keys the [dispatcher] values, and a pool without keys inherits", () => {
    const config = parseIni(
      [
        '[dispatcher]',
        'failure_policy = Block',
        'retry_backoff_sec = 2',
        '[pool.big]',
        'match_min_bytes = 10',
        'max_attempts = 9',
        '[pool.small]',
        'match_below_bytes = 10',
      ].join('\n'),
      { env },
    );
    expect(config.pools[0]?.failure).toStrictEqual({
      policy: 'Block',
      maxAttempts: 9,
      retryBackoffSec: 2,
      retryBackoffMaxSec: 300,
    });
    expect(config.pools[1]).not.toHaveProperty('failure');
    expect(failureFor(config, 'small')).toBe(config.failure);
  });

  it('round-trips through renderIni, and renders the keys only when set', () => {
    const base = defaultConfig();
    expect(renderIni(base)).not.toContain('failure_policy');
    const config: DistributorConfig = {
      ...base,
      failure: { policy: 'Drop', maxAttempts: 1, retryBackoffSec: 0.5, retryBackoffMaxSec: 0.5 },
      pools: [
        {
          name: 'big',
          match: { minBytes: 100 },
          minWorkers: 1,
          drainingShards: [],
          strategy: 'RoundRobin',
          subQueuePrefix: 'big',
          workerModule: 'w',
          workerArgsTemplate: '',
          backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
          failure: {
            policy: 'Block',
            maxAttempts: 100,
            retryBackoffSec: 3,
            retryBackoffMaxSec: 60,
          },
        },
      ],
    };
    const text = renderIni(config);
    expect(text).toContain('failure_policy = Drop');
    expect(text).toContain('failure_policy = Block');
    expect(parseIni(text, { env })).toStrictEqual(config);
  });

  it.each([
    [
      'failure_policy = Retry',
      2,
      'failure_policy = "Retry" is not a known failure policy; use one of DeadLetter, Drop, Block',
    ],
    ['max_attempts = 0', 2, 'max_attempts = 0 is too small; set it to an integer from 1 to 100'],
    [
      'max_attempts = 101',
      2,
      'max_attempts = 101 is too large; set it to an integer from 1 to 100',
    ],
    [
      'max_attempts = three',
      2,
      'max_attempts = "three" is not a whole number; set it to an integer from 1 to 100',
    ],
    [
      'retry_backoff_sec = 0',
      2,
      'retry_backoff_sec = 0 is too small; set it to a number of seconds above 0',
    ],
    ['retry_backoff_sec = soon', 2, 'retry_backoff_sec = "soon" is not a number'],
    [
      'retry_backoff_sec = 10\nretry_backoff_max_sec = 5',
      3,
      'retry_backoff_max_sec = 5 is below retry_backoff_sec = 10, so no retry could wait that long; set it to at least 10 or lower retry_backoff_sec',
    ],
  ])('refuses [dispatcher] %s naming file:line, key, value and fix', (lines, line, message) => {
    const error = parseError(`[dispatcher]\n${lines}\n`);
    expect(error.message).toContain(`${file}:${line}: [dispatcher] ${message}`);
  });

  it('refuses a bad pool key naming the pool section', () => {
    const error = parseError('[pool.big]\nmatch_min_bytes = 1\nmax_attempts = 1000\n');
    expect(error.message).toContain(`${file}:3: [pool.big] max_attempts = 1000 is too large`);
  });

  it('refuses a bad config built in code when rendering it', () => {
    expect(() =>
      renderIni({ ...defaultConfig(), failure: { ...DEFAULT_FAILURE, maxAttempts: 0 } }),
    ).toThrow('[dispatcher] max_attempts = 0 is too small');
  });

  it('is a launch key: a running distributor neither restarts for it nor takes it', () => {
    const current = parseIni('[pool.big]\nmatch_min_bytes = 1\n', { env });
    const next = parseIni(
      '[dispatcher]\nfailure_policy = Drop\n[pool.big]\nmatch_min_bytes = 1\nmax_attempts = 2\n',
      { env },
    );
    expect(restartKeys(current, next)).toEqual([]);
    const merged = withLiveKeys(current, next);
    expect(merged).not.toHaveProperty('failure');
    expect(merged.pools[0]).not.toHaveProperty('failure');
  });
});

describe('failure policy through the environment', () => {
  it('round-trips failureEnv and failureFromEnv, with SD_POOL when given', () => {
    const failure: FailureConfig = {
      policy: 'Block',
      maxAttempts: 7,
      retryBackoffSec: 0.5,
      retryBackoffMaxSec: 30,
    };
    expect(failureEnv(failure, 'big')).toEqual({
      SD_POOL: 'big',
      SD_FAILURE_POLICY: 'Block',
      SD_MAX_ATTEMPTS: '7',
      SD_RETRY_BACKOFF_SEC: '0.5',
      SD_RETRY_BACKOFF_MAX_SEC: '30',
    });
    expect(failureFromEnv(failureEnv(failure))).toStrictEqual(failure);
  });

  it('is off without SD_FAILURE_POLICY, and defaults the numbers not given', () => {
    expect(failureFromEnv({})).toBeUndefined();
    expect(failureFromEnv({ SD_FAILURE_POLICY: ' ', SD_POOL: 'big' })).toBeUndefined();
    expect(failureFromEnv({ SD_FAILURE_POLICY: 'deadletter' })).toStrictEqual(DEFAULT_FAILURE);
  });

  it.each([
    [{ SD_FAILURE_POLICY: 'Retry' }, 'SD_FAILURE_POLICY = "Retry" is not a known failure policy'],
    [
      { SD_FAILURE_POLICY: '', SD_MAX_ATTEMPTS: '3' },
      'SD_MAX_ATTEMPTS = "3" is set but SD_FAILURE_POLICY is not, so it would be ignored',
    ],
    [
      { SD_RETRY_BACKOFF_MAX_SEC: '60' },
      'SD_RETRY_BACKOFF_MAX_SEC = "60" is set but SD_FAILURE_POLICY is not',
    ],
    [
      { SD_FAILURE_POLICY: 'Drop', SD_MAX_ATTEMPTS: '0' },
      'SD_MAX_ATTEMPTS = "0" is not a whole number from 1 to 100',
    ],
    [
      { SD_FAILURE_POLICY: 'Drop', SD_RETRY_BACKOFF_SEC: '-1' },
      'SD_RETRY_BACKOFF_SEC = "-1" is not a number of seconds above 0',
    ],
    [
      { SD_FAILURE_POLICY: 'Drop', SD_RETRY_BACKOFF_MAX_SEC: 'abc' },
      'SD_RETRY_BACKOFF_MAX_SEC = "abc" is not a number of seconds',
    ],
    [
      { SD_FAILURE_POLICY: 'Drop', SD_RETRY_BACKOFF_SEC: '5', SD_RETRY_BACKOFF_MAX_SEC: '1' },
      'SD_RETRY_BACKOFF_MAX_SEC = "1" is below SD_RETRY_BACKOFF_SEC = 5',
    ],
  ])('names the variable, the value and the fix: %j', (vars, message) => {
    expect(() => failureFromEnv(vars)).toThrow(FailureEnvError);
    expect(() => failureFromEnv(vars)).toThrow(`environment variable ${message}`);
  });
});
