import { BatchLoad, leastLoaded } from './batch-load.ts';
import type { KeyOf, Strategy } from './types.ts';

const utf8 = new TextEncoder();

// FNV-1a over the key's UTF-8 bytes, then murmur3's finaliser per shard: stable across
// processes, restarts and languages. Changing either moves nearly every key on upgrade.
function fnv1a32(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Rendezvous (highest-random-weight) hashing: the key goes to the shard with the highest
 * score(key, shard). Adding a shard moves only the keys it now wins (~1/n); removing one moves
 * only its own keys. Returns the position in `indices` (ties go to the lower index).
 */
export function rendezvousPosition(key: string, indices: readonly number[]): number {
  const keyHash = fnv1a32(utf8.encode(key));
  let best = 0;
  let bestScore = -1;
  for (const [position, index] of indices.entries()) {
    const score = fmix32(keyHash ^ fmix32(index + 0x9e3779b9));
    if (score > bestScore) {
      best = position;
      bestScore = score;
    }
  }
  return best;
}

/**
 * The same key always goes to the same live shard. Stuck shards are deliberately NOT avoided
 * for keyed messages: moving a key off a slow shard would let its later messages overtake the
 * earlier ones still queued there, and per-key order is why one picks KeyHash. Messages
 * without a key go where LeastLoaded would put them (avoiding stuck shards).
 */
export function keyHash(keyOf: KeyOf): Strategy {
  let last: number | undefined;
  return {
    name: 'KeyHash',
    assign(messages, shards) {
      const batch = new BatchLoad(shards);
      return messages.map((message) => {
        const key = keyOf(message);
        if (key !== undefined) return batch.assign(rendezvousPosition(key, batch.indices));
        last = batch.assign(leastLoaded(batch, last));
        return last;
      });
    },
  };
}
