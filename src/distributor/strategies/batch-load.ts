import { DuplicateShardError, NoLiveShardError } from './errors.ts';
import type { ShardView } from './types.ts';

/**
 * One batch's picture of the live shards, ascending by index. `load` is the effective backlog:
 * last measured plus what this batch already assigned, so one batch does not flood an idle shard.
 * Positions below are positions in `indices`/`load`, not shard indices.
 */
export class BatchLoad {
  readonly indices: readonly number[];
  readonly load: number[];
  /** Positions load-aware strategies may pick: shards not stuck, or all of them if all are stuck (never drop). */
  readonly candidates: readonly number[];

  constructor(shards: readonly ShardView[]) {
    if (shards.length === 0) throw new NoLiveShardError();
    const sorted = [...shards].sort((a, b) => a.index - b.index);
    const indices: number[] = [];
    const load: number[] = [];
    const healthy: number[] = [];
    for (const [position, shard] of sorted.entries()) {
      if (indices.at(-1) === shard.index) throw new DuplicateShardError(shard.index);
      indices.push(shard.index);
      // pushed − popped read non-atomically can dip below zero for a moment; that shard is idle.
      load.push(Number.isFinite(shard.backlog) && shard.backlog > 0 ? shard.backlog : 0);
      if (!shard.stuck) healthy.push(position);
    }
    this.indices = indices;
    this.load = load;
    this.candidates = healthy.length > 0 ? healthy : sorted.map((_, position) => position);
  }

  /** Records one message for the shard at `position` and returns that shard's index. */
  assign(position: number): number {
    this.load[position] = this.loadAt(position) + 1;
    return this.shardAt(position);
  }

  loadAt(position: number): number {
    return this.load[position] ?? 0;
  }

  shardAt(position: number): number {
    const index = this.indices[position];
    if (index === undefined) throw new RangeError(`no live shard at position ${position}`);
    return index;
  }

  /** The i-th candidate position, counting cyclically. */
  candidateAt(i: number): number {
    const n = this.candidates.length;
    return this.candidates[((i % n) + n) % n] ?? 0;
  }

  /**
   * Where a rotation resumes: the offset in `candidates` of the first shard whose index is
   * greater than `last`. Keyed on the shard index rather than a position so the rotation
   * carries on sensibly when shards join or leave between batches.
   */
  rotationStart(last: number | undefined): number {
    if (last === undefined) return 0;
    const offset = this.candidates.findIndex((position) => this.shardAt(position) > last);
    return offset === -1 ? 0 : offset;
  }
}

/** The candidate after `last` in index order, wrapping around. */
export function nextInRotation(batch: BatchLoad, last: number | undefined): number {
  return batch.candidateAt(batch.rotationStart(last));
}

/** The candidate with the lowest effective backlog; ties go to the first one after `last`. */
export function leastLoaded(batch: BatchLoad, last: number | undefined): number {
  const start = batch.rotationStart(last);
  let best = batch.candidateAt(start);
  for (let i = 1; i < batch.candidates.length; i++) {
    const position = batch.candidateAt(start + i);
    if (batch.loadAt(position) < batch.loadAt(best)) best = position;
  }
  return best;
}
