import { describe, expect, it } from 'vitest';
import { createStrategy } from '../../../src/distributor/strategies/index.ts';
import { counts, messages, shards } from './helpers.ts';

describe('LeastLoaded', () => {
  it('sends a message to the shard with the lowest backlog', () => {
    const strategy = createStrategy('LeastLoaded');
    expect(strategy.assign(messages(1), shards(5, 2, 9, 3))).toEqual([1]);
  });

  it('breaks ties round-robin rather than always taking the lowest index', () => {
    const strategy = createStrategy('LeastLoaded');
    const live = shards(3, 3, 3);
    const picks = [1, 2, 3, 4].map(() => strategy.assign(messages(1), live)[0]);
    expect(picks).toEqual([0, 1, 2, 0]);
  });

  it('counts what the batch already assigned, so an idle shard is filled only up to the others', () => {
    const strategy = createStrategy('LeastLoaded');
    const live = shards(10, 10, 0, 10);
    const assigned = strategy.assign(messages(100), live);
    const perShard = counts(assigned);
    // 10 to level shard 2 with the others, then 90 spread evenly: 32 or 33 against 22 or 23.
    expect(perShard.get(2)).toBeLessThanOrEqual(33);
    const finalBacklogs = live.map((s) => s.backlog + (perShard.get(s.index) ?? 0));
    expect(Math.max(...finalBacklogs) - Math.min(...finalBacklogs)).toBeLessThanOrEqual(1);
  });

  it('passes over a stuck shard even when it has the lowest backlog', () => {
    const strategy = createStrategy('LeastLoaded');
    const live = [
      { index: 0, backlog: 1, stuck: true },
      { index: 1, backlog: 8, stuck: false },
      { index: 2, backlog: 9, stuck: false },
    ];
    expect(strategy.assign(messages(3), live)).toEqual([1, 2, 1]);
  });
});
