import { describe, expect, it } from 'vitest';
import { createStrategy } from '../../../src/distributor/strategies/index.ts';
import { messages, shards } from './helpers.ts';

describe('RoundRobin', () => {
  it('takes each shard in turn by index, whatever the backlog, carrying on across batches', () => {
    const strategy = createStrategy('RoundRobin');
    expect(strategy.assign(messages(4), shards(0, 100, 5))).toEqual([0, 1, 2, 0]);
    expect(strategy.assign(messages(2), shards(0, 100, 5))).toEqual([1, 2]);
  });

  it('follows shard indices, not the order the shards are listed in', () => {
    const strategy = createStrategy('RoundRobin');
    const live = [2, 0, 1].map((index) => ({ index, backlog: 0, stuck: false }));
    expect(strategy.assign(messages(3), live)).toEqual([0, 1, 2]);
  });

  it('starts sending to a new shard and stops sending to a removed one', () => {
    const strategy = createStrategy('RoundRobin');
    expect(strategy.assign(messages(2), shards(0, 0, 0))).toEqual([0, 1]);
    // Shard 2 is draining (left out of the live set) and shard 3 has just joined.
    const live = [0, 1, 3].map((index) => ({ index, backlog: 0, stuck: false }));
    expect(strategy.assign(messages(4), live)).toEqual([3, 0, 1, 3]);
  });

  it('skips a stuck shard', () => {
    const strategy = createStrategy('RoundRobin');
    const live = [
      { index: 0, backlog: 0, stuck: false },
      { index: 1, backlog: 6, stuck: true },
      { index: 2, backlog: 0, stuck: false },
    ];
    expect(strategy.assign(messages(4), live)).toEqual([0, 2, 0, 2]);
  });
});
