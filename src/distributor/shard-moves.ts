import { retryQueueOf } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import {
  MoveJournalError,
  QueueNotFoundError,
  type QueueBackend,
  type QueueConsumer,
} from '../queue/index.ts';
import { RetrySource } from './retry-source.ts';
import type { Shard, ShardTable } from './shard-table.ts';
import { finishStoppedWorkerMove } from './worker-move.ts';

export interface MoveSource {
  readonly index: number;
  /** The shard's queue, or its worker's retry queue (payloads unwrapped: RetrySource). */
  readonly kind: 'shard' | 'retry';
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
  /** The workers' move journals' directory (veda); absent: workers keep none (nats). */
  workerJournalDir?: string;
  log: Logger;
}

/**
 * The consumers the distributor reads moving shards with: for each draining shard listed in
 * moving_shards, its queue as the shard's worker would read it (its worker is stopped, so
 * nobody else reads that consumer) and, once a measurement finds it holding messages, its
 * worker's retry queue: rejects waiting there would otherwise wait for good. Only the
 * distributor loop calls `sync`, between batches, so a consumer is never closed under a
 * batch in flight.
 */
export class ShardMoves {
  private readonly options: ShardMovesOptions;
  /** By queue: a shard's and its retry queue's. */
  private readonly sources = new Map<string, MoveSource>();
  /** By shard queue: why its stopped worker's move journal cannot be finished (logged once). */
  private readonly unfinished = new Map<string, string>();

  constructor(options: ShardMovesOptions) {
    this.options = options;
  }

  /** Opens a consumer for each queue to move now; closes those no longer moving. */
  async sync(): Promise<void> {
    const { shards, log } = this.options;
    const moving = shards.moving();
    const wanted = new Set(moving.flatMap((s) => [s.queue, retryQueueOf(s.queue)]));
    for (const [queue, source] of this.sources) {
      if (wanted.has(queue)) continue;
      await source.consumer.close();
      this.sources.delete(queue);
      log.info(
        { shard: source.index, queue, state: shards.get(source.index)?.state ?? 'removed' },
        'stopped moving a shard',
      );
    }
    for (const shard of moving) {
      if (!(await this.workerMoveFinished(shard))) continue;
      await this.openSource(shard, 'shard');
      // Opened only when it holds something: most shards have no retry queue at all.
      if (shard.retryBacklog > 0) await this.openSource(shard, 'retry');
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

  /** Sources that may hold messages, in shard order, each shard's queue before its retries. */
  pending(): MoveSource[] {
    return [...this.sources.values()]
      .filter((s) => !s.empty)
      .sort((a, b) => a.index - b.index || (a.kind === 'shard' ? -1 : 1));
  }

  /** Whether the loop has moving to do: a source not known empty, or one not yet opened. */
  hasWork(): boolean {
    const { shards } = this.options;
    return (
      this.pending().length > 0 ||
      shards
        .moving()
        .some(
          (s) =>
            (!this.sources.has(s.queue) && s.backlog > 0) ||
            (!this.sources.has(retryQueueOf(s.queue)) && s.retryBacklog > 0),
        )
    );
  }

  /** After a load measurement: a source whose queue still has a backlog is read again. */
  rearm(): void {
    for (const source of this.sources.values()) {
      const shard = this.options.shards.get(source.index);
      const backlog = source.kind === 'shard' ? shard?.backlog : shard?.retryBacklog;
      if ((backlog ?? 0) > 0) source.empty = false;
    }
  }

  async close(): Promise<void> {
    for (const source of this.sources.values()) await source.consumer.close();
    this.sources.clear();
  }

  /**
   * Before a shard's first source opens: finishes what its stopped worker was moving when it
   * died (see finishStoppedWorkerMove). False while its journal cannot be finished: the
   * shard is not moved (nothing of it is lost or sent twice) until a person moves it aside.
   */
  private async workerMoveFinished(shard: Shard): Promise<boolean> {
    const { backend, workerConsumer, workerJournalDir, log } = this.options;
    if (workerJournalDir === undefined) return true;
    if (this.sources.has(shard.queue) || this.sources.has(retryQueueOf(shard.queue))) return true;
    try {
      await finishStoppedWorkerMove(
        { backend, journalDir: workerJournalDir, workerConsumer, log },
        shard,
      );
      this.unfinished.delete(shard.queue);
      return true;
    } catch (error) {
      if (!(error instanceof MoveJournalError)) throw error;
      if (this.unfinished.get(shard.queue) !== error.message)
        log.error(
          { err: error, shard: shard.index, queue: shard.queue },
          "a removed shard is not moved: its stopped worker's move journal cannot be finished",
        );
      this.unfinished.set(shard.queue, error.message);
      return false;
    }
  }

  private async openSource(shard: Shard, kind: MoveSource['kind']): Promise<void> {
    const queue = kind === 'shard' ? shard.queue : retryQueueOf(shard.queue);
    if (this.sources.has(queue)) return;
    const consumer = await this.open(queue);
    if (!consumer) return;
    const source = kind === 'shard' ? consumer : new RetrySource(consumer, this.options.log);
    this.sources.set(queue, { index: shard.index, kind, queue, consumer: source, empty: false });
    this.options.log.info(
      { shard: shard.index, queue, consumer: consumer.name },
      kind === 'shard'
        ? 'moving the backlog of a removed shard to live shards'
        : "moving the retry queue of a removed shard's worker to live shards",
    );
  }

  /** A queue never written has nothing to move (and measures a backlog of 0). */
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
