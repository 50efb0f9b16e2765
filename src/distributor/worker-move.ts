import { deadLetterQueueOf, retryQueueOf } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import {
  finishMove,
  MoveJournal,
  MoveJournalError,
  type QueueBackend,
  type QueueWriter,
} from '../queue/index.ts';
import type { Shard } from './shard-table.ts';

export interface StoppedWorkerMove {
  /** Where the shard queues are. */
  readonly backend: QueueBackend;
  /** The workers' move journals' directory (veda: the shard queues' directory). */
  readonly journalDir: string;
  /** The workers' consumer name (`{src}`). */
  readonly workerConsumer: string;
  readonly log: Logger;
}

/**
 * A removed shard's worker killed while it moved a batch's rejects (to its retry or
 * dead-letter queue) leaves its move journal: the batch handled, its rejects written in part
 * or in full, its consumer not committed. Moving the shard from that consumer would send the
 * whole batch to live shards, and the rejects a second time through the retry queue. So the
 * distributor finishes that move first, as the worker's next start would have: the rejects
 * missing from their queues are written, the batch is committed, the journal cleared.
 * Veda only: a nats worker keeps no journal, and the distributor's read-back of the shard
 * stream finds the rejects' copies by their source ids, so it does not move them again.
 * Throws MoveJournalError when the journal is not of this shard or no longer fits its queue.
 */
export async function finishStoppedWorkerMove(
  context: StoppedWorkerMove,
  shard: Shard,
): Promise<void> {
  const { backend, journalDir, workerConsumer, log } = context;
  const journal = MoveJournal.forWorker(journalDir, shard.queue, workerConsumer);
  const entry = await journal.read();
  if (entry === undefined) return;
  const own = [retryQueueOf(shard.queue), deadLetterQueueOf(shard.queue)];
  const strange = [entry.source, ...entry.targets.map((t) => t.queue)].find(
    (queue) => queue !== shard.queue && !own.includes(queue),
  );
  if (strange !== undefined) {
    throw new MoveJournalError(
      `the move journal ${journal.file} of shard ${shard.index}'s stopped worker names queue ${strange}, which is neither ${shard.queue} nor its ${own.join(' or ')}; move the journal aside to move the shard from its committed position`,
    );
  }
  const source = await backend.openConsumer(entry.source, workerConsumer);
  const writers = new Map<string, QueueWriter>();
  try {
    for (const { queue } of entry.targets) writers.set(queue, await backend.openWriter(queue));
    const result = await finishMove({ journal, writers }, entry, source);
    log.warn(
      { shard: shard.index, source: entry.source, messages: entry.count, result },
      "finished the stopped worker's interrupted move of rejects",
    );
  } finally {
    for (const writer of writers.values()) await writer.close();
    await source.close();
  }
}
