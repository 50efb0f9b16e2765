import { DEFAULT_POOL_NAME } from '../config/index.ts';

/** Which worker: shard `shard` of pool `pool` (`default` for the top-level pool). Indices count per pool. */
export interface WorkerRef {
  readonly pool: string;
  readonly shard: number;
}

/**
 * A worker's identity as a map key: `default/3`, `large/0`. Pool names are DNS labels and
 * never contain `/`, so the key is unambiguous.
 */
export type WorkerKey = `${string}/${number}`;

export function workerKey(ref: WorkerRef): WorkerKey {
  return `${ref.pool}/${ref.shard}`;
}

/** Default pool first, then the named pools by name; shards in order within a pool. */
export function compareRefs(a: WorkerRef, b: WorkerRef): number {
  if (a.pool !== b.pool) {
    if (a.pool === DEFAULT_POOL_NAME) return -1;
    if (b.pool === DEFAULT_POOL_NAME) return 1;
    return a.pool < b.pool ? -1 : 1;
  }
  return a.shard - b.shard;
}
