import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKOFF,
  backoffDelay,
  nextRestart,
  type BackoffPolicy,
} from '../../../src/supervisor/index.ts';

const noJitter: BackoffPolicy = { ...DEFAULT_BACKOFF, jitter: 0 };

describe('backoffDelay', () => {
  it('doubles from 1 s and stops growing at 60 s', () => {
    const delays = Array.from({ length: 9 }, (_, failures) =>
      backoffDelay(noJitter, failures, 0.5),
    );
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('stays at the cap however many failures there were', () => {
    expect(backoffDelay(noJitter, 10_000, 0)).toBe(60_000);
  });

  it('takes at most the jitter share off, chosen by the random number', () => {
    expect(backoffDelay(DEFAULT_BACKOFF, 2, 0)).toBe(4_000);
    expect(backoffDelay(DEFAULT_BACKOFF, 2, 0.5)).toBe(3_600);
    expect(backoffDelay(DEFAULT_BACKOFF, 2, 0.999_999)).toBe(3_200);
  });

  it('still grows from one failure to the next with the default jitter, whatever the random numbers', () => {
    for (let failures = 0; failures < 5; failures++) {
      expect(backoffDelay(DEFAULT_BACKOFF, failures + 1, 0.999)).toBeGreaterThan(
        backoffDelay(DEFAULT_BACKOFF, failures, 0),
      );
    }
  });

  it('clamps out-of-range inputs instead of returning a negative or endless delay', () => {
    expect(backoffDelay(noJitter, -3, 0)).toBe(1_000);
    expect(backoffDelay({ ...DEFAULT_BACKOFF, jitter: 5 }, 0, 2)).toBe(0);
    expect(backoffDelay(DEFAULT_BACKOFF, 0, -1)).toBe(1_000);
  });
});

describe('nextRestart', () => {
  it('continues the schedule for a worker that failed soon after it started', () => {
    let failures = 0;
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const decision = nextRestart(noJitter, failures, 500, 0);
      delays.push(decision.delayMs);
      failures = decision.failures;
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(failures).toBe(4);
  });

  it('starts over for a worker that stayed up past resetAfterMs', () => {
    expect(nextRestart(noJitter, 6, 60_000, 0)).toEqual({ delayMs: 1_000, failures: 1 });
    expect(nextRestart(noJitter, 6, 59_999, 0)).toEqual({ delayMs: 60_000, failures: 7 });
  });
});
