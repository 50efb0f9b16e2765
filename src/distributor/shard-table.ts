import type { QueueBackend, QueueWriter } from '../queue/index.ts';
import type { PoolShards } from './pool-shards.ts';
import type { ShardView } from './strategies/index.ts';

export type ShardState = 'live' | 'draining' | 'drained';

export interface Shard {
  /** The worker pool it belongs to; `index` counts within the pool. */
  readonly pool: string;
  readonly index: number;
  readonly queue: string;
  state: ShardState;
  /** Listed in moving_shards: its worker is stopped, the distributor moves its backlog. */
  moving: boolean;
  writer?: QueueWriter;
  /** Last measured backlog plus what was dispatched since the measurement. */
  backlog: number;
  /**
   * Draining shards only: what its worker's retry queue (`<queue>-retry`, failure policies
   * DeadLetter and Drop) still holds. Those messages are the shard's too: it is drained only
   * once both are empty, so its worker is not removed with rejects still waiting for a retry.
   */
  retryBacklog: number;
  /** Estimated messages popped by the worker since start (from backlog movements). */
  popped: number;
  dispatched: number;
  stuck: boolean;
}

/**
 * The shards of one worker pool: live ones receive messages; draining ones receive
 * nothing and turn drained when emptied, by their worker or, for moving ones, by the
 * distributor moving their backlog to live shards. Owns the shard writers.
 */
export class ShardTable {
  readonly pool: string;
  private readonly shards = new Map<number, Shard>();
  private readonly backend: QueueBackend;
  private spec: PoolShards;

  constructor(backend: QueueBackend, spec: PoolShards) {
    this.backend = backend;
    this.pool = spec.pool;
    this.spec = spec;
  }

  /** Applies the pool's (new) shard set: opens writers for new live shards. */
  async apply(
    spec: PoolShards,
  ): Promise<{ added: number[]; draining: number[]; removed: number[] }> {
    this.spec = spec;
    const { live, draining } = spec;
    const added: number[] = [];
    const nowDraining: number[] = [];
    for (const index of live) {
      const shard = this.shards.get(index);
      if (!shard) {
        this.shards.set(index, await this.open(index, 'live'));
        added.push(index);
      } else if (shard.state !== 'live') {
        shard.state = 'live';
        added.push(index);
      }
    }
    const wanted = new Set([...live, ...draining]);
    for (const index of draining) {
      const shard = this.shards.get(index) ?? (await this.open(index, 'draining'));
      this.shards.set(index, shard);
      if (shard.state === 'live') {
        shard.state = 'draining';
        nowDraining.push(index);
      }
    }
    const moving = new Set(spec.moving);
    for (const shard of this.shards.values()) shard.moving = moving.has(shard.index);
    const removed: number[] = [];
    for (const shard of [...this.shards.values()]) {
      if (wanted.has(shard.index)) continue;
      // Dropped from the config without a drain: keep it draining while it holds messages.
      if (shard.state === 'live') {
        shard.state = 'draining';
        nowDraining.push(shard.index);
      } else if (shard.state === 'drained') {
        await shard.writer?.close();
        this.shards.delete(shard.index);
        removed.push(shard.index);
      }
    }
    return { added, draining: nowDraining, removed };
  }

  private async open(index: number, state: ShardState): Promise<Shard> {
    const queue = `${this.spec.prefix}-${index}`;
    return {
      pool: this.pool,
      index,
      queue,
      state,
      moving: false,
      writer: await this.backend.openWriter(queue),
      backlog: 0,
      retryBacklog: 0,
      popped: 0,
      dispatched: 0,
      stuck: false,
    };
  }

  get(index: number): Shard | undefined {
    return this.shards.get(index);
  }

  /** Shard i's queue is `<prefix>-<i>`. */
  get prefix(): string {
    return this.spec.prefix;
  }

  all(): Shard[] {
    return [...this.shards.values()].sort((a, b) => a.index - b.index);
  }

  live(): Shard[] {
    return this.all().filter((s) => s.state === 'live');
  }

  /** Draining shards whose backlog the distributor moves (drained ones have nothing left). */
  moving(): Shard[] {
    return this.all().filter((s) => s.state === 'draining' && s.moving);
  }

  /** What a strategy sees: live shards only. */
  views(): ShardView[] {
    return this.live().map((s) => ({ index: s.index, backlog: s.backlog, stuck: s.stuck }));
  }

  /**
   * Bytes the pool's shard queues use on disk, from their writers; undefined when the
   * backend does not say (nats keeps its own limits per stream).
   */
  diskBytes(): number | undefined {
    let total = 0;
    for (const shard of this.shards.values()) {
      const bytes = shard.writer?.diskBytes?.();
      if (bytes === undefined) return undefined;
      total += bytes;
    }
    return total;
  }

  /** A writer for a shard queue, opening one for a shard not in the table (journal recovery). */
  async writerFor(index: number, queue: string): Promise<QueueWriter> {
    const shard = this.shards.get(index);
    if (shard?.queue === queue) {
      shard.writer ??= await this.backend.openWriter(queue);
      return shard.writer;
    }
    const writer = await this.backend.openWriter(queue);
    this.shards.set(index, {
      pool: this.pool,
      index,
      queue,
      state: 'draining',
      moving: false,
      writer,
      backlog: 0,
      retryBacklog: 0,
      popped: 0,
      dispatched: 0,
      stuck: false,
    });
    return writer;
  }

  /** Replaces a shard's writer after a failure (the old one may be in an unknown state). */
  async reopenWriter(index: number): Promise<QueueWriter> {
    const shard = this.shards.get(index);
    if (!shard) throw new Error(`shard ${index} is not in the table`);
    await shard.writer?.close().catch(() => undefined);
    shard.writer = await this.backend.openWriter(shard.queue);
    return shard.writer;
  }

  /** Closes the writers; the table keeps its counts so a final report can still be read. */
  async close(): Promise<void> {
    for (const shard of this.shards.values()) {
      await shard.writer?.close();
      shard.writer = undefined;
    }
  }
}
