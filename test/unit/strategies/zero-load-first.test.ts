import { describe, expect, it } from 'vitest';
import { createStrategy } from '../../../src/distributor/strategies/index.ts';
import { counts, messages, shards } from './helpers.ts';

describe('ZeroLoadFirst', () => {
  it('sends a message to an idle shard when there is one', () => {
    const strategy = createStrategy('ZeroLoadFirst');
    expect(strategy.assign(messages(1), shards(5, 3, 0, 7))).toEqual([2]);
  });

  it('lets several idle shards share the work instead of the lowest index taking it all', () => {
    const strategy = createStrategy('ZeroLoadFirst');
    const live = shards(0, 7, 0, 4);
    // The measured backlog has not caught up between these one-message batches.
    const picks = [1, 2, 3, 4].map(() => strategy.assign(messages(1), live)[0]);
    expect(picks).toEqual([0, 2, 0, 2]);
  });

  it('falls back to round-robin when no shard is idle, carrying on across batches', () => {
    const strategy = createStrategy('ZeroLoadFirst');
    expect(strategy.assign(messages(4), shards(3, 4, 5))).toEqual([0, 1, 2, 0]);
    expect(strategy.assign(messages(2), shards(3, 4, 5))).toEqual([1, 2]);
  });

  it('passes over a shard far above the mean backlog until it catches up', () => {
    const strategy = createStrategy('ZeroLoadFirst');
    // Shard 1's worker is slow: 500 behind, far above the mean plus its share of the batch.
    expect(strategy.assign(messages(4), shards(3, 500, 5))).toEqual([0, 2, 0, 2]);
    // Back within its share of the mean it takes its turn again.
    expect(strategy.assign(messages(3), shards(3, 6, 5))).toEqual([0, 1, 2]);
  });

  it('does not flood the one idle shard with a whole batch', () => {
    const strategy = createStrategy('ZeroLoadFirst');
    const perShard = counts(strategy.assign(messages(100), shards(10, 10, 0, 10)));
    expect([...perShard.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const count of perShard.values()) {
      expect(count).toBeGreaterThanOrEqual(24);
      expect(count).toBeLessThanOrEqual(26);
    }
  });

  it('passes over a stuck shard even when it looks idle', () => {
    const strategy = createStrategy('ZeroLoadFirst');
    const live = [
      { index: 0, backlog: 0, stuck: true },
      { index: 1, backlog: 4, stuck: false },
      { index: 2, backlog: 4, stuck: false },
    ];
    expect(strategy.assign(messages(4), live)).toEqual([1, 2, 1, 2]);
  });
});
