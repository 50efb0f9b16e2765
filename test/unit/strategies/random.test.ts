import { describe, expect, it } from 'vitest';
import { createStrategy } from '../../../src/distributor/strategies/index.ts';
import { counts, messages, seededRandom, shards } from './helpers.ts';

describe('Random', () => {
  it('spreads messages uniformly over the live shards', () => {
    const strategy = createStrategy('Random', { random: seededRandom(42) });
    const perShard = counts(strategy.assign(messages(9000), shards(0, 50, 3)));
    for (const index of [0, 1, 2]) {
      expect(perShard.get(index)).toBeGreaterThan(2700);
      expect(perShard.get(index)).toBeLessThan(3300);
    }
  });

  it('repeats the same choices for the same seed', () => {
    const pick = () =>
      createStrategy('Random', { random: seededRandom(7) }).assign(
        messages(50),
        shards(0, 0, 0, 0),
      );
    expect(pick()).toEqual(pick());
  });

  it('never picks a stuck shard while another is live', () => {
    const strategy = createStrategy('Random', { random: seededRandom(1) });
    const live = [
      { index: 0, backlog: 3, stuck: true },
      { index: 1, backlog: 3, stuck: false },
      { index: 2, backlog: 3, stuck: true },
      { index: 3, backlog: 3, stuck: false },
    ];
    expect(new Set(strategy.assign(messages(200), live))).toEqual(new Set([1, 3]));
  });

  it('stays inside the live set even when random() returns 1 or NaN', () => {
    for (const value of [1, Number.NaN, -0.5]) {
      const strategy = createStrategy('Random', { random: () => value });
      for (const index of strategy.assign(messages(3), shards(0, 0, 0))) {
        expect([0, 1, 2]).toContain(index);
      }
    }
  });
});
