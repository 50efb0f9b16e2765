/** One load reading of a shard; `atMs` is the reader's clock, so time stays injected. */
export interface ShardSample {
  readonly index: number;
  readonly backlog: number;
  /** Messages the shard's worker has popped so far (monotonic while the worker lives). */
  readonly popped: number;
  readonly atMs: number;
}

export interface StuckDetectorOptions {
  /** How long a shard may hold a backlog without popping anything before it counts as stuck (> 0). */
  readonly stuckAfterMs: number;
}

interface ShardState {
  popped: number;
  lastAtMs: number;
  /** Since when the shard has had a backlog with `popped` unchanged; undefined while it is idle. */
  waitingSinceMs: number | undefined;
}

/**
 * Pure stale-shard detection: a shard is stuck when its backlog is non-zero and its popped
 * count has not moved for `stuckAfterMs`. It recovers on the first sample in which popped
 * moved or the backlog is zero.
 */
export class StuckDetector {
  readonly #stuckAfterMs: number;
  readonly #shards = new Map<number, ShardState>();

  constructor(options: StuckDetectorOptions) {
    this.#stuckAfterMs = options.stuckAfterMs;
  }

  /** Feeds one sample and returns whether that shard is stuck now. */
  observe(sample: ShardSample): boolean {
    const state = this.#shards.get(sample.index);
    // A late reading must not roll time back; the newer one already said more.
    if (state !== undefined && sample.atMs < state.lastAtMs) return this.isStuck(sample.index);
    let waitingSinceMs: number | undefined;
    if (sample.backlog <= 0) {
      waitingSinceMs = undefined;
    } else if (state === undefined || state.popped !== sample.popped) {
      waitingSinceMs = sample.atMs;
    } else {
      waitingSinceMs = state.waitingSinceMs ?? sample.atMs;
    }
    this.#shards.set(sample.index, {
      popped: sample.popped,
      lastAtMs: sample.atMs,
      waitingSinceMs,
    });
    return this.isStuck(sample.index);
  }

  isStuck(index: number): boolean {
    const state = this.#shards.get(index);
    if (state?.waitingSinceMs === undefined) return false;
    return state.lastAtMs - state.waitingSinceMs >= this.#stuckAfterMs;
  }

  /** The stuck shards, ascending. */
  stuckShards(): number[] {
    return [...this.#shards.keys()].filter((index) => this.isStuck(index)).sort((a, b) => a - b);
  }

  /** Drops a removed shard, so a shard later re-added under the same index starts fresh. */
  forget(index: number): void {
    this.#shards.delete(index);
  }
}
