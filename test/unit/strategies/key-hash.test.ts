import { describe, expect, it } from 'vitest';
import {
  createStrategy,
  keyFromHeader,
  type Message,
  type ShardView,
} from '../../../src/distributor/strategies/index.ts';
import { counts, keyed, messages, shards } from './helpers.ts';

const byHeader = { keyOf: keyFromHeader('key') };
const keys = Array.from({ length: 10_000 }, (_, i) => `d:individual_${i}`);

function live(...indices: number[]): ShardView[] {
  return indices.map((index) => ({ index, backlog: 0, stuck: false }));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function place(keyList: readonly string[], liveShards: readonly ShardView[]): number[] {
  return createStrategy('KeyHash', byHeader).assign(keyList.map(keyed), liveShards);
}

/** A Veda individual `[uri, {}]` as msgpack, with a fixstr URI. */
function individual(uri: string, body: number): Message {
  const bytes = new TextEncoder().encode(uri);
  return { data: new Uint8Array([0x92, 0xa0 | bytes.length, ...bytes, 0x81, 0xa1, 0x76, body]) };
}

describe('KeyHash', () => {
  it('sends the same key to the same shard across calls and across fresh instances', () => {
    const strategy = createStrategy('KeyHash', byHeader);
    const sample = keys.slice(0, 200).map(keyed);
    const first = strategy.assign(sample, shards(...range(8).map(() => 0)));
    const again = strategy.assign(sample, shards(...range(8).map((i) => i * 100)));
    const fresh = createStrategy('KeyHash', byHeader).assign(sample, live(...range(8)));
    expect(again).toEqual(first);
    expect(fresh).toEqual(first);
  });

  it('keeps its hash stable across releases (a change would move nearly every key)', () => {
    const sample = ['d:a', 'd:b', 'td:RomanKarpov', 'cfg:OntoVsn', 'v-s:Person', 'd:x_1'];
    // Pinned from this implementation; change only with a plan for keys already queued.
    expect(place(sample, live(...range(8)))).toEqual([1, 3, 3, 4, 7, 7]);
  });

  it('spreads keys evenly over the shards', () => {
    const perShard = counts(place(keys, live(...range(8))));
    for (const index of range(8)) {
      expect(perShard.get(index)).toBeGreaterThan(1250 * 0.85);
      expect(perShard.get(index)).toBeLessThan(1250 * 1.15);
    }
  });

  it('moves about 1/9 of the keys when a ninth shard joins, and only to that shard', () => {
    const before = place(keys, live(...range(8)));
    const after = place(keys, live(...range(9)));
    let moved = 0;
    for (const [i, shard] of after.entries()) {
      if (shard === before[i]) continue;
      moved++;
      expect(shard).toBe(8);
    }
    expect(moved / keys.length).toBeGreaterThan(0.07);
    expect(moved / keys.length).toBeLessThan(0.16);
  });

  it('moves only the keys of a removed shard, spreading them over the rest', () => {
    const before = place(keys, live(...range(8)));
    const after = place(keys, live(0, 1, 2, 4, 5, 6, 7));
    const receivers = new Set<number>();
    for (const [i, shard] of after.entries()) {
      if (before[i] === 3) receivers.add(shard);
      else expect(shard).toBe(before[i]);
    }
    expect(receivers).toEqual(new Set([0, 1, 2, 4, 5, 6, 7]));
  });

  it('keeps sending a key to its shard even when that shard is stuck', () => {
    const sample = keys.slice(0, 50).map(keyed);
    const healthy = place(keys.slice(0, 50), live(...range(4)));
    const oneStuck = range(4).map((index) => ({ index, backlog: 9, stuck: index === 1 }));
    expect(createStrategy('KeyHash', byHeader).assign(sample, oneStuck)).toEqual(healthy);
    expect(healthy).toContain(1);
  });

  it('places messages without a key on the least loaded shard, counting keyed ones', () => {
    // A key on shard 0, so a keyless message that ignored the keyed ones would tie-break to 0 too.
    const key = keys.find((k) => place([k], live(0, 1))[0] === 0) ?? '';
    const strategy = createStrategy('KeyHash', byHeader);
    const assigned = strategy.assign([keyed(key), keyed(key), ...messages(1)], shards(1, 1));
    expect(assigned).toEqual([0, 0, 1]);
  });

  it('keys Veda individuals by their URI by default', () => {
    const strategy = createStrategy('KeyHash');
    const uris = keys.slice(0, 40);
    const byUri = strategy.assign(
      uris.map((uri) => individual(uri, 1)),
      live(...range(6)),
    );
    const sameUrisOtherBodies = strategy.assign(
      uris.map((uri) => individual(uri, 2)),
      live(...range(6)),
    );
    expect(sameUrisOtherBodies).toEqual(byUri);
    expect(place(uris, live(...range(6)))).toEqual(byUri);
  });
});
