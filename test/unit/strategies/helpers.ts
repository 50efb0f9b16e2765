import type { Message, ShardView } from '../../../src/distributor/strategies/index.ts';

/** A small seeded PRNG (mulberry32) so property tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Live shards 0..n-1 with the given backlogs. */
export function shards(...backlogs: number[]): ShardView[] {
  return backlogs.map((backlog, index) => ({ index, backlog, stuck: false }));
}

export function messages(count: number): Message[] {
  return Array.from({ length: count }, (_, i) => ({ data: new Uint8Array([i & 0xff]) }));
}

export function keyed(key: string): Message {
  return { data: new Uint8Array(), headers: { key } };
}

/** How many messages each shard index received. */
export function counts(assigned: readonly number[]): Map<number, number> {
  const result = new Map<number, number>();
  for (const index of assigned) result.set(index, (result.get(index) ?? 0) + 1);
  return result;
}
