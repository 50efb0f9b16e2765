import type { Logger } from '../observability/index.ts';
import { QueueNotFoundError, type QueueBackend, type QueueConsumer } from '../queue/index.ts';
import type { ShardTable } from './shard-table.ts';

export interface MoveSource {
  readonly index: number;
  readonly queue: string;
  readonly consumer: QueueConsumer;
  /** The last read found nothing: not read again until a load measurement says otherwise. */
  empty: boolean;
}

export interface ShardMovesOptions {
  shards: ShardTable;
  /** Where the shard queues are. */
  backend: QueueBackend;
  /** The workers' consumer name (`{src}`): a move continues exactly where the worker stopped. */
  workerConsumer: string;
  log: Logger;
}

/**
 * The consumers the distributor reads moving shards with: one per draining shard listed in
 * moving_shards, as the shard's worker would read it (its worker is stopped, so nobody
 * else reads that consumer). Only the distributor loop calls `sync`, between batches, so a
 * consumer is never closed under a batch in flight.
 */
export class ShardMoves {
  private readonly options: ShardMovesOptions;
  private readonly sources = new Map<number, MoveSource>();

  constructor(options: ShardMovesOptions) {
    this.options = options;
  }

  /** Opens a consumer for each shard to move now; closes those drained or no longer moving. */
  async sync(): Promise<void> {
    const { shards, log } = this.options;
    const wanted = new Map(shards.moving().map((s) => [s.index, s]));
    for (const [index, source] of this.sources) {
      const shard = wanted.get(index);
      if (shard?.queue === source.queue) continue;
      await source.consumer.close();
      this.sources.delete(index);
      log.info(
        { shard: index, queue: source.queue, state: shards.get(index)?.state ?? 'removed' },
        'stopped moving a shard',
      );
    }
    for (const shard of wanted.values()) {
      if (this.sources.has(shard.index)) continue;
      const consumer = await this.open(shard.queue);
      if (!consumer) continue;
      this.sources.set(shard.index, {
        index: shard.index,
        queue: shard.queue,
        consumer,
        empty: false,
      });
      log.info(
        { shard: shard.index, queue: shard.queue, consumer: consumer.name },
        'moving the backlog of a removed shard to live shards',
      );
    }
  }

  /**
   * Closes every source after a failure: reopened by the next `sync`, each starts again from
   * its committed position on disk (a recovery may have committed for it meanwhile).
   */
  async reset(): Promise<void> {
    for (const source of this.sources.values())
      await source.consumer.close().catch(() => undefined);
    this.sources.clear();
  }

  /** Sources that may hold messages, in shard order. */
  pending(): MoveSource[] {
    return [...this.sources.values()].filter((s) => !s.empty).sort((a, b) => a.index - b.index);
  }

  /** Whether the loop has moving to do: a source not known empty, or a shard not yet opened. */
  hasWork(): boolean {
    const { shards } = this.options;
    return (
      this.pending().length > 0 ||
      shards.moving().some((s) => !this.sources.has(s.index) && s.backlog > 0)
    );
  }

  /** After a load measurement: a source whose shard still has a backlog is read again. */
  rearm(): void {
    for (const source of this.sources.values()) {
      if ((this.options.shards.get(source.index)?.backlog ?? 0) > 0) source.empty = false;
    }
  }

  async close(): Promise<void> {
    for (const source of this.sources.values()) await source.consumer.close();
    this.sources.clear();
  }

  /** A shard queue never written has nothing to move (and measures a backlog of 0). */
  private async open(queue: string): Promise<QueueConsumer | undefined> {
    const { backend, workerConsumer } = this.options;
    try {
      return await backend.openConsumer(queue, workerConsumer);
    } catch (error) {
      if (error instanceof QueueNotFoundError) return undefined;
      throw error;
    }
  }
}
