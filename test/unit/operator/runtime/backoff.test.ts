import { describe, expect, it } from 'vitest';
import {
  exponentialDelay,
  ItemExponentialBackoff,
  withJitter,
} from '../../../../src/operator/runtime/backoff.ts';

describe('exponentialDelay', () => {
  it('doubles from the base delay', () => {
    expect([0, 1, 2, 3, 10].map((n) => exponentialDelay(n, 5, 1_000_000))).toEqual([
      5, 10, 20, 40, 5120,
    ]);
  });

  it('stops at the cap, also for absurd attempt counts', () => {
    expect(exponentialDelay(17, 5, 1_000_000)).toBe(655_360);
    expect(exponentialDelay(18, 5, 1_000_000)).toBe(1_000_000);
    expect(exponentialDelay(5_000, 5, 1_000_000)).toBe(1_000_000);
    expect(exponentialDelay(5_000, 200, 30_000)).toBe(30_000);
  });
});

describe('withJitter', () => {
  it('spreads a delay over ±ratio/2 around it', () => {
    expect(withJitter(1000, 0.5, () => 0)).toBe(750);
    expect(withJitter(1000, 0.5, () => 0.5)).toBe(1000);
    expect(withJitter(1000, 0.5, () => 1)).toBe(1250);
  });
});

describe('ItemExponentialBackoff', () => {
  it('counts failures per key, controller-runtime style (5 ms → 1000 s)', () => {
    const backoff = new ItemExponentialBackoff();
    expect([1, 2, 3].map(() => backoff.when('a'))).toEqual([5, 10, 20]);
    expect(backoff.when('b')).toBe(5);
    expect(backoff.numRequeues('a')).toBe(3);
    for (let i = 0; i < 40; i++) backoff.when('a');
    expect(backoff.when('a')).toBe(1_000_000);
  });

  it('forgets a key on success', () => {
    const backoff = new ItemExponentialBackoff();
    backoff.when('a');
    backoff.when('a');
    backoff.forget('a');
    expect(backoff.numRequeues('a')).toBe(0);
    expect(backoff.when('a')).toBe(5);
  });
});
