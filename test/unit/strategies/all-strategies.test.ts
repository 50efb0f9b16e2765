import { describe, expect, it } from 'vitest';
import { ShardDistributorError } from '../../../src/errors.ts';
import {
  createStrategy,
  DuplicateShardError,
  keyFromHeader,
  NoLiveShardError,
  STRATEGY_NAMES,
  StrategyOptionError,
  type Message,
  type ShardView,
  type Strategy,
  type StrategyName,
} from '../../../src/distributor/strategies/index.ts';
import { messages, seededRandom, shards } from './helpers.ts';

function make(name: StrategyName, seed = 3): Strategy {
  return createStrategy(name, { random: seededRandom(seed), keyOf: keyFromHeader('key') });
}

describe('every strategy', () => {
  it.each(STRATEGY_NAMES)('%s reports its name', (name) => {
    expect(make(name).name).toBe(name);
  });

  it.each(STRATEGY_NAMES)('%s throws SD_ERR_NO_LIVE_SHARD when no shard is live', (name) => {
    const attempt = () => make(name).assign(messages(1), []);
    expect(attempt).toThrow(NoLiveShardError);
    expect(attempt).toThrow(ShardDistributorError);
    expect(attempt).toThrow(expect.objectContaining({ code: 'SD_ERR_NO_LIVE_SHARD' }));
  });

  it.each(STRATEGY_NAMES)('%s rejects a shard listed twice', (name) => {
    const live = [...shards(0, 0), { index: 1, backlog: 0, stuck: false }];
    expect(() => make(name).assign(messages(1), live)).toThrow(DuplicateShardError);
  });

  it.each(STRATEGY_NAMES)('%s never assigns outside the live set as it changes', (name) => {
    const random = seededRandom(2024);
    const strategy = make(name);
    for (let round = 0; round < 300; round++) {
      const live: ShardView[] = [];
      for (let index = 0; index < 12; index++) {
        if (random() < 0.5) {
          live.push({ index, backlog: Math.floor(random() * 4), stuck: random() < 0.2 });
        }
      }
      if (live.length === 0) continue;
      const batch: Message[] = Array.from({ length: Math.floor(random() * 12) }, () =>
        random() < 0.7
          ? { data: new Uint8Array(), headers: { key: `k${Math.floor(random() * 50)}` } }
          : { data: new Uint8Array() },
      );
      const assigned = strategy.assign(batch, live);
      expect(assigned).toHaveLength(batch.length);
      const liveIndices = new Set(live.map((s) => s.index));
      for (const index of assigned) expect(liveIndices.has(index)).toBe(true);
    }
  });
});

describe.each(['ZeroLoadFirst', 'LeastLoaded', 'RoundRobin', 'Random'] as const)(
  '%s and stuck shards',
  (name) => {
    it('avoids stuck shards while another shard is live', () => {
      const live = [0, 1, 2, 3].map((index) => ({ index, backlog: index, stuck: index % 2 === 0 }));
      const assigned = make(name).assign(messages(40), live);
      expect(new Set(assigned)).toEqual(new Set([1, 3]));
    });

    it('still assigns every message when every live shard is stuck', () => {
      const live = [0, 1, 2].map((index) => ({ index, backlog: 5, stuck: true }));
      const assigned = make(name).assign(messages(30), live);
      expect(assigned).toHaveLength(30);
      expect(new Set(assigned)).toEqual(new Set([0, 1, 2]));
    });
  },
);

describe('createStrategy', () => {
  it('refuses Random without a random() source', () => {
    expect(() => createStrategy('Random')).toThrow(StrategyOptionError);
    expect(() => createStrategy('Random')).toThrow(
      expect.objectContaining({ code: 'SD_ERR_STRATEGY_OPTION' }),
    );
  });

  it('refuses an unknown name that slipped past the types', () => {
    expect(() => createStrategy('Sticky' as StrategyName)).toThrow(StrategyOptionError);
  });
});
