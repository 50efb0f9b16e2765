import { shardQueueOfRetry } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import { hasStagedFlush, type StagedFlush } from '../queue/batch-files.ts';
import {
  batchDigest,
  messageIdOf,
  samePosition,
  unstoredOf,
  QueueConnectionClosedError,
  type QueueConsumer,
  type QueueMessage,
  type CopiedLookup,
  type ReadBatch,
} from '../queue/index.ts';
import { Backoff, sleep } from './backoff.ts';
import { JournalMismatchError } from './errors.ts';
import type { Failpoint } from './failpoints.ts';
import type { BatchJournal, JournalEntry, JournalShard } from './journal.ts';
import { labelsOf, type LoadTracker } from './load.ts';
import type { DistributorMetrics } from './metrics.ts';
import type { DeadLetterTarget, PoolLanes } from './pool-lane.ts';
import { DEFAULT_POOL } from './pool-shards.ts';
import type { Shard } from './shard-table.ts';
import type { Message } from './strategies/index.ts';

/**
 * Picks the live shard of each message of a batch (of any pool); undefined when a message's
 * pool has no live shard now, so the batch cannot move yet.
 */
export type Route = (
  messages: readonly Message[],
) => readonly (Shard | DeadLetterTarget)[] | undefined;

/** What a dead-lettered message is written as (the payload in an envelope saying why). */
export type DeadLetterWrap = (
  message: QueueMessage,
  target: JournalShard,
  source: string,
) => Uint8Array;

export interface BatchProtocolOptions {
  lanes: PoolLanes;
  deadLetterWrap: DeadLetterWrap;
  load: LoadTracker;
  metrics: DistributorMetrics;
  log: Logger;
  /** The batch journal (veda); a backend that drops replayed writes itself (nats) needs none. */
  journal?: BatchJournal;
  /**
   * The ids of a source's messages after a position that the shard queues already hold
   * (nats: read back from the shard stream, see copiedLookupOf): those a crash left stored
   * but uncommitted are not written again, however long the distributor was down.
   */
  alreadyCopied?: CopiedLookup;
  failpoint: Failpoint;
  /** A batch read from any other queue is the backlog of a shard being moved. */
  mainQueue: string;
  retryMinMs: number;
  retryMaxMs: number;
}

/**
 * The commit protocol, whatever the batch was read from (the main queue, or a removed shard's
 * queue read as its worker's consumer): choose a shard per message → journal → append to the
 * shard queues → flush → commit the source position → clear the journal. A failed write is
 * retried and never skipped; a crash at any step is finished from the journal at the next start.
 */
export class BatchProtocol {
  private readonly options: BatchProtocolOptions;

  constructor(options: BatchProtocolOptions) {
    this.options = options;
  }

  /**
   * Moves one non-empty batch read from `source` to the live shards `route` chooses; says
   * whether it moved. When it cannot (a pool without a live shard) the batch goes back to its
   * source, unmoved, so that the next read returns it again.
   */
  async move(
    source: QueueConsumer,
    read: ReadBatch,
    route: Route,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { journal, failpoint, metrics } = this.options;
    const started = performance.now();
    const batch = await this.withoutCopied(source, read);
    if (batch.messages.length === 0) {
      // All of it was stored before a restart: only the commit was missing.
      await source.commit(batch.next);
      return true;
    }
    const data = batch.messages.map((m) => m.data);
    const targets = route(
      batch.messages.map((m) =>
        m.headers ? { data: m.data, headers: m.headers } : { data: m.data },
      ),
    );
    if (targets === undefined) {
      await source.rewind();
      return false;
    }
    const slots = new Map<Shard | DeadLetterTarget, number>();
    const assignment = targets.map((target) => {
      let slot = slots.get(target);
      if (slot === undefined) {
        slot = slots.size;
        slots.set(target, slot);
      }
      return slot;
    });
    const shards: JournalShard[] = [];
    for (const target of slots.keys()) {
      const named: Omit<JournalShard, 'mark'> = {
        ...(target.pool === DEFAULT_POOL ? {} : { pool: target.pool }),
        ...('deadLetter' in target ? { deadLetter: true, index: -1 } : { index: target.index }),
        queue: target.queue,
      };
      shards.push({ ...named, mark: (await this.options.lanes.writerOf(named)).mark() });
    }
    const entry: JournalEntry = {
      version: 2,
      source: source.queue,
      from: batch.from,
      next: batch.next,
      count: data.length,
      digest: batchDigest(data),
      assignment,
      shards,
    };
    // The journal is written while the shards append and sync their records: nothing is
    // published (no shard's info line moves) until the journal is durable, so a crash before
    // that leaves only unpublished bytes, cut when the shard is reopened, and the batch unread.
    const journalled = (async () => {
      await journal?.write(entry);
      failpoint('after-journal');
    })();
    // Awaited by every shard, but only after its own appends: handled now, so a journal that
    // fails at once is not an unhandled rejection meanwhile.
    journalled.catch(() => undefined);
    await this.writeShards(entry, batch.messages, signal, false, journalled);
    if (signal.aborted && !(await this.allWritten(entry, batch.messages))) return false;
    await source.commit(batch.next);
    failpoint('after-commit');
    await journal?.clear(source.queue === this.options.mainQueue);
    failpoint('after-clear');
    this.completed(entry);
    metrics.batchSize.observe(data.length);
    metrics.commitLatency.observe((performance.now() - started) / 1000);
    return true;
  }

  /**
   * Finishes the batch a crash interrupted: `source` is the consumer the journal names,
   * re-read from the position the journal starts at; the journal says which message goes where.
   * False when `signal` stopped it first (a shard write retrying on a full disk, say): nothing
   * is committed and the journal stays, for the next start to finish.
   */
  async finish(entry: JournalEntry, source: QueueConsumer, signal: AbortSignal): Promise<boolean> {
    const { journal, log, metrics } = this.options;
    const committed = source.committed();
    if (samePosition(committed, entry.next)) {
      await journal?.clear();
      log.info(
        { source: source.queue, next: entry.next },
        'interrupted batch was already committed; journal cleared',
      );
      return true;
    }
    if (!samePosition(committed, entry.from)) {
      throw new JournalMismatchError(
        `the batch journal starts at ${JSON.stringify(entry.from)} but consumer ${source.name} of queue ${source.queue} is at ${JSON.stringify(committed)}; ` +
          'someone moved the consumer: check its pop file, then move the journal aside',
      );
    }
    const batch = await source.read(entry.count);
    const data = batch.messages.map((m) => m.data);
    if (data.length !== entry.count || batchDigest(data) !== entry.digest) {
      throw new JournalMismatchError(
        `re-reading the interrupted batch of queue ${source.queue} gave ${data.length} messages that differ from the ${entry.count} journalled; ` +
          'the queue changed under the distributor: move the journal aside to resume from the committed position',
      );
    }
    await this.writeShards(entry, batch.messages, signal, true);
    if (signal.aborted && !(await this.allWritten(entry, batch.messages))) return false;
    await source.commit(entry.next);
    await journal?.clear();
    this.completed(entry);
    metrics.recoveredBatches.inc();
    log.warn(
      { source: source.queue, messages: entry.count, shards: entry.shards.map((s) => s.queue) },
      'finished a batch interrupted by a crash',
    );
    return true;
  }

  /** `batch` without the messages an earlier run already stored in a shard queue. */
  private async withoutCopied(source: QueueConsumer, batch: ReadBatch): Promise<ReadBatch> {
    const { alreadyCopied, log } = this.options;
    if (alreadyCopied === undefined) return batch;
    const copied = await alreadyCopied(batch.from);
    if (copied.size === 0) return batch;
    const messages = batch.messages.filter((m) => !copied.has(messageIdOf(m.position)));
    if (messages.length < batch.messages.length)
      log.warn(
        { source: source.queue, skipped: batch.messages.length - messages.length },
        'messages stored in shard queues before a restart, but not committed, are not copied again',
      );
    return { ...batch, messages };
  }

  /** Counts a committed batch at once, so the next batch's strategy sees it. */
  private completed(entry: JournalEntry): void {
    const { load, metrics, mainQueue, lanes } = this.options;
    for (const [slot, indices] of groupBySlot(entry.assignment)) {
      const target = entry.shards[slot]!;
      if (target.deadLetter) {
        metrics.expired.inc({ pool: target.pool ?? DEFAULT_POOL }, indices.length);
        continue;
      }
      const shard = lanes.tableFor(target.pool).get(target.index);
      if (shard?.queue === target.queue) load.dispatched(shard, indices.length);
    }
    const source = entry.source ?? mainQueue;
    // Moved out of a removed shard or its retry queue (a replay of dead letters is not a move).
    const shard =
      source === mainQueue ? undefined : lanes.findByQueue(shardQueueOfRetry(source) ?? source);
    if (shard) metrics.moved.inc(labelsOf(shard), entry.count);
  }

  /**
   * Appends each shard's part of the batch and flushes it, every shard at once so their
   * fsyncs overlap. On a failure the shard's writer is reopened and only what is not yet
   * durable (countSince the journalled mark) is written again, after a backoff — until it
   * succeeds or the distributor is stopped. `journalled` (a batch being moved, not recovered)
   * resolves once the journal is durable: a writer with a staged flush appends and prepares
   * before that, and publishes only after it; if the journal fails, what it appended is
   * discarded and the batch fails.
   */
  private async writeShards(
    entry: JournalEntry,
    messages: readonly QueueMessage[],
    signal: AbortSignal,
    recovering = false,
    journalled: Promise<void> = Promise.resolve(),
  ): Promise<void> {
    // allSettled: a shard never goes on writing behind the back of a batch that failed.
    const outcomes = await Promise.allSettled(
      entry.shards.map((_, slot) =>
        this.writeShard(entry, slot, messages, signal, recovering, journalled),
      ),
    );
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async writeShard(
    entry: JournalEntry,
    slot: number,
    messages: readonly QueueMessage[],
    signal: AbortSignal,
    recovering: boolean,
    journalled: Promise<void>,
  ): Promise<void> {
    const { lanes, failpoint, metrics, log, deadLetterWrap, mainQueue } = this.options;
    const target = entry.shards[slot]!;
    const retry = new Backoff(this.options.retryMinMs, this.options.retryMaxMs);
    const mine = messagesOfSlot(entry, slot, messages);
    const source = entry.source ?? mainQueue;
    const own = target.deadLetter
      ? mine.map((m) => deadLetterWrap(m, target, source))
      : mine.map((m) => m.data);
    // The source position names a message for good: a deduplicating backend stores a
    // replay of it once, whichever shard the replay is sent to.
    const ids = mine.map((m) => messageIdOf(m.position));
    // A message keeps its headers on the shard (nats); a dead letter's envelope says the rest.
    const headers = mine.map((m) => m.headers);
    let writer = await lanes.writerOf(target);
    // The first attempt of a staged writer: records and info line on disk, not yet visible.
    let early: { prepared: StagedFlush } | { error: unknown } | undefined;
    if (!recovering && hasStagedFlush(writer)) {
      try {
        await writer.append(own, { ids, headers });
        await writer.prepare();
        early = { prepared: writer };
      } catch (error) {
        early = { error };
      }
    }
    try {
      await journalled;
    } catch (error) {
      if (hasStagedFlush(writer)) writer.discard();
      throw error;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        if (attempt === 1 && early !== undefined) {
          if ('error' in early) throw early.error;
          failpoint('after-append');
          await early.prepared.publish();
        } else {
          // A first attempt starts from the mark just taken; only a retry or a recovery can
          // find part of the batch already durable.
          const missing =
            attempt === 1 && !recovering
              ? own.map((_, i) => i)
              : await unstoredOf(writer, target.mark, ids);
          if (missing.length > 0) {
            await writer.append(
              missing.map((i) => own[i]!),
              { ids: missing.map((i) => ids[i]!), headers: missing.map((i) => headers[i]) },
            );
            failpoint('after-append');
            await writer.flush();
          }
        }
        failpoint('after-flush');
        return;
      } catch (error) {
        // A connection closed for good fails every retry alike: the process exits instead.
        if (isFailpoint(error) || error instanceof QueueConnectionClosedError) throw error;
        const code = (error as { code?: string }).code ?? 'unknown';
        metrics.writeFailures.inc({ queue: target.queue, code });
        log.error(
          { err: error, queue: target.queue, attempt },
          'shard write failed; retrying, nothing is skipped',
        );
        if (signal.aborted) return;
        await sleep(retry.next(), signal);
        if (signal.aborted) return;
        writer = await lanes.reopenWriterOf(target);
      }
    }
  }

  private async allWritten(
    entry: JournalEntry,
    messages: readonly QueueMessage[],
  ): Promise<boolean> {
    for (const [slot, target] of entry.shards.entries()) {
      const ids = messagesOfSlot(entry, slot, messages).map((m) => messageIdOf(m.position));
      const writer = await this.options.lanes.writerOf(target);
      if ((await unstoredOf(writer, target.mark, ids)).length > 0) return false;
    }
    return true;
  }
}

/** The messages of the batch that the journal entry assigned to shard `slot`, in order. */
function messagesOfSlot(
  entry: JournalEntry,
  slot: number,
  messages: readonly QueueMessage[],
): QueueMessage[] {
  return messages.filter((_, i) => entry.assignment[i] === slot);
}

function groupBySlot(assignment: readonly number[]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  assignment.forEach((slot, i) => {
    const list = groups.get(slot);
    if (list) list.push(i);
    else groups.set(slot, [i]);
  });
  return groups;
}

function isFailpoint(error: unknown): boolean {
  return (error as { code?: string })?.code === 'SD_ERR_FAILPOINT';
}
