import { deadLetterQueueOf, retryDelayMs, retryQueueOf } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import {
  copiedLookupOf,
  decodeEnvelope,
  finishMove,
  moveBatch,
  MoveJournal,
  MoveJournalError,
  QueueMessageTooLargeError,
  samePosition,
  type Envelope,
  type EnvelopeHeader,
  type MoveContext,
  type MoveItem,
  type QueueConsumer,
  type QueueMessage,
  type QueuePosition,
  type QueueWriter,
  type ReadBatch,
} from '../queue/index.ts';
import { WorkerConfigError, WorkerHandlerError, WorkerInfrastructureError } from './errors.ts';
import { workerMetrics, type RejectOutcome, type WorkerMetrics } from './metrics.ts';
import type {
  MessageContext,
  MessageHeaders,
  MessageHandler,
  RunWorkerOptions,
  WorkerFailureOptions,
  WorkerReport,
} from './types.ts';
import { openWhenCreated, pause } from './wait.ts';

export interface LoopSettings {
  readonly log: Logger;
  readonly batchSize: number;
  readonly idleMs: number;
}

/** `stopped`: the handler threw after the stop (cut short): not handled, not a reject. */
type Outcome = { readonly ok: true } | { readonly reject: string } | { readonly stopped: true };

type Decision =
  | { readonly to: 'retry' | 'dead_letter'; readonly header: EnvelopeHeader }
  | { readonly to: 'dropped' }
  | { readonly to: 'block' };

/** The head of the retry queue, read and not yet handled (it waits for its `notBefore`). */
interface Held {
  readonly from: QueuePosition;
  readonly message: QueueMessage;
  readonly envelope: Envelope | undefined;
  readonly problem: string | undefined;
}

const MIN_WAIT_MS = 10;
/** How long an empty read of the retry queue is believed before it is read again. */
const RETRY_RECHECK_MS = 2_000;

/**
 * The worker loop with a failure policy. A rejected message (DeadLetter, Drop) goes to the
 * worker's own retry queue `<queue>-retry` in an envelope saying when it is due; once it has
 * been rejected `maxAttempts` times it goes to `<queue>-dlq` (DeadLetter) or is counted and
 * dropped (Drop). Before each read of the shard queue the worker handles the head of its
 * retry queue if it is due, so a retrying message never holds up the rest of the shard.
 * Block retries in place and never moves past the message. Rejects reach their queue before
 * the batch is committed; a move journal (veda), or on nats the source position as message id
 * and the look-up of what a crashed run stored (copiedAfter), keeps a crash in between from
 * moving them twice.
 */
export async function runFailureWorker(
  options: RunWorkerOptions & { readonly failure: WorkerFailureOptions },
  loop: LoopSettings,
): Promise<WorkerReport> {
  const { backend, queue, consumer: name, signal, failure } = options;
  if (backend.kind !== 'nats' && failure.journalDir === undefined) {
    throw new WorkerConfigError(
      `a failure policy on the ${backend.kind} backend needs failure.journalDir (the shard queues' directory) for its move journal`,
    );
  }
  const shard = await openWhenCreated(backend, queue, name, loop.idleMs, signal, loop.log);
  const zero = { retry: 0, deadLetter: 0, dropped: 0, blocked: 0 };
  if (!shard) return { processed: 0, batches: 0, rejected: zero };
  const opened: { close(): Promise<void> }[] = [shard];
  try {
    const retryWriter = await backend.openWriter(retryQueueOf(queue));
    opened.push(retryWriter);
    const dlqWriter = await backend.openWriter(deadLetterQueueOf(queue));
    opened.push(dlqWriter);
    const retryConsumer = await backend.openConsumer(retryQueueOf(queue), name);
    opened.push(retryConsumer);
    const worker = new FailureWorker(options, loop, shard, retryConsumer, retryWriter, dlqWriter);
    return await worker.run();
  } finally {
    for (const handle of opened.reverse()) await handle.close();
  }
}

class FailureWorker {
  readonly #options: RunWorkerOptions & { readonly failure: WorkerFailureOptions };
  readonly #loop: LoopSettings;
  readonly #shard: QueueConsumer;
  readonly #retry: QueueConsumer;
  readonly #move: MoveContext;
  readonly #metrics: WorkerMetrics;
  readonly #now: () => number;
  readonly #retryQueue: string;
  readonly #dlqQueue: string;
  #processed = 0;
  #batches = 0;
  readonly #counts = { retry: 0, deadLetter: 0, dropped: 0, blocked: 0 };
  /** Whether the retry queue may hold something: true at start and after each append to it. */
  #retryPending = true;
  /** When a read of the retry queue last came back empty. */
  #retryEmptyAt = 0;
  #held: Held | undefined;
  /** Moves refused one after another as too large: the backoff before the next try. */
  #tooLarge = 0;

  constructor(
    options: RunWorkerOptions & { readonly failure: WorkerFailureOptions },
    loop: LoopSettings,
    shard: QueueConsumer,
    retry: QueueConsumer,
    retryWriter: QueueWriter,
    dlqWriter: QueueWriter,
  ) {
    this.#options = options;
    this.#loop = loop;
    this.#shard = shard;
    this.#retry = retry;
    this.#retryQueue = retryWriter.queue;
    this.#dlqQueue = dlqWriter.queue;
    const { journalDir } = options.failure;
    const alreadyCopied = copiedLookupOf(options.backend);
    this.#move = {
      ...(journalDir === undefined
        ? {}
        : { journal: MoveJournal.forWorker(journalDir, options.queue, options.consumer) }),
      writers: new Map([
        [retryWriter.queue, retryWriter],
        [dlqWriter.queue, dlqWriter],
      ]),
      ...(alreadyCopied ? { alreadyCopied } : {}),
      ...(options.failpoint ? { failpoint: options.failpoint } : {}),
    };
    this.#metrics = workerMetrics(options.registry);
    this.#now = options.now ?? Date.now;
  }

  async run(): Promise<WorkerReport> {
    const { signal, failure } = this.#options;
    const log = this.#loop.log;
    await this.#recover();
    log.info(
      {
        batchSize: this.#loop.batchSize,
        policy: failure.policy,
        maxAttempts: failure.maxAttempts,
        retryQueue: this.#retryQueue,
        deadLetterQueue: this.#dlqQueue,
      },
      'worker consuming',
    );
    while (!signal.aborted) {
      if (await this.#handleDueRetry()) continue;
      const batch = await this.#shard.read(this.#loop.batchSize);
      if (batch.messages.length === 0) {
        if (!samePosition(batch.next, this.#shard.committed()))
          await this.#shard.commit(batch.next);
        await pause(this.#idleMs(), signal);
        continue;
      }
      await this.#handleBatch(batch);
    }
    const report = {
      processed: this.#processed,
      batches: this.#batches,
      rejected: { ...this.#counts },
    };
    log.info(report, 'worker stopped');
    return report;
  }

  /** A move interrupted by a crash is finished before anything else is read. */
  async #recover(): Promise<void> {
    const journal = this.#move.journal;
    const entry = await journal?.read();
    if (!entry) return;
    const source =
      entry.source === this.#shard.queue
        ? this.#shard
        : entry.source === this.#retryQueue
          ? this.#retry
          : undefined;
    if (!source) {
      throw new MoveJournalError(
        `the move journal ${journal?.file} is of queue ${entry.source}, not of ${this.#shard.queue} or ${this.#retryQueue}; move it aside`,
      );
    }
    const result = await finishMove(this.#move, entry, source);
    this.#loop.log.warn(
      { source: entry.source, messages: entry.count, result },
      'finished moving rejects interrupted by a crash',
    );
  }

  /** Handles the head of the retry queue if it is due; says whether it did. */
  async #handleDueRetry(): Promise<boolean> {
    // An empty read is not trusted for ever: on nats one that met only a redelivery of an
    // acknowledged message (its ack lost in a reconnect) comes back empty with a retry behind
    // it, which would then wait for the next reject, and a draining shard for ever.
    if (!this.#retryPending && this.#now() - this.#retryEmptyAt >= RETRY_RECHECK_MS)
      this.#retryPending = true;
    if (!this.#held && this.#retryPending) {
      const batch = await this.#retry.read(1);
      const [message] = batch.messages;
      if (!message) {
        if (!samePosition(batch.next, this.#retry.committed()))
          await this.#retry.commit(batch.next);
        this.#retryPending = false;
        this.#retryEmptyAt = this.#now();
        return false;
      }
      this.#held = held(batch.from, message);
    }
    const head = this.#held;
    if (!head || dueAt(head) > this.#now()) return false;
    await this.#handleRetry(head);
    this.#held = undefined;
    return true;
  }

  async #handleRetry(head: Held): Promise<void> {
    const { message, envelope } = head;
    const one = { from: head.from, next: message.position, messages: [message] };
    if (!envelope) {
      // Only this worker writes its retry queue: bytes that are no envelope are damage. Keep
      // them where a person looks, with what was wrong.
      const header = this.#header(
        `unreadable retry envelope: ${head.problem ?? ''}`,
        0,
        this.#now(),
      );
      const moved = await this.#moved(this.#retry, () =>
        moveBatch(this.#move, this.#retry, one, [
          { queue: this.#dlqQueue, items: [{ index: 0, header }] },
        ]),
      );
      if (moved) this.#count('dead_letter', 1, { reason: header.reason });
      return;
    }
    const attempt = envelope.header.attempts + 1;
    const outcome = await this.#invoke(envelope.payload, attempt, message.headers);
    // Left in the retry queue, its attempt not used: the next worker hands it over again.
    if ('stopped' in outcome) return;
    if ('ok' in outcome) {
      await this.#options.beforeCommit?.();
      await this.#retry.commit(message.position);
      return;
    }
    const decision = this.#decide(outcome.reject, attempt, envelope.header.firstFailedAt);
    if (decision.to === 'block') {
      if (!(await this.#block(envelope.payload, attempt, outcome.reject, message.headers))) return;
      await this.#options.beforeCommit?.();
      await this.#retry.commit(message.position);
      return;
    }
    const items: MoveItem[] =
      decision.to === 'dropped' ? [] : [{ index: 0, header: decision.header, unwrap: true }];
    const target = decision.to === 'retry' ? this.#retryQueue : this.#dlqQueue;
    await this.#options.beforeCommit?.();
    if (items.length === 0) await this.#retry.commit(message.position);
    else if (
      !(await this.#moved(this.#retry, () =>
        moveBatch(this.#move, this.#retry, one, [{ queue: target, items }]),
      ))
    )
      return;
    if (decision.to === 'retry') this.#retryPending = true;
    this.#count(decision.to, 1, { reason: outcome.reject, attempts: attempt });
  }

  async #handleBatch(batch: ReadBatch): Promise<void> {
    const retryItems: MoveItem[] = [];
    const dlqItems: MoveItem[] = [];
    let dropped = 0;
    for (const [index, message] of batch.messages.entries()) {
      if (this.#options.signal.aborted) {
        // Stopped: what was handled is settled, the rest is the next worker's (see runWorker).
        await this.#settle(batch, index, retryItems, dlqItems, dropped);
        return;
      }
      const outcome = await this.#invoke(message.data, 1, message.headers);
      if ('stopped' in outcome) {
        await this.#settle(batch, index, retryItems, dlqItems, dropped);
        return;
      }
      if ('ok' in outcome) continue;
      const decision = this.#decide(outcome.reject, 1, undefined);
      if (decision.to === 'block') {
        if (await this.#block(message.data, 1, outcome.reject, message.headers)) continue;
        // Stopped while blocked: commit what came before the message, never the message.
        await this.#settle(batch, index, retryItems, dlqItems, dropped);
        return;
      }
      if (decision.to === 'dropped') dropped += 1;
      else
        (decision.to === 'retry' ? retryItems : dlqItems).push({ index, header: decision.header });
      this.#loop.log.warn({ reason: outcome.reject, outcome: decision.to }, 'message rejected');
    }
    await this.#settle(batch, batch.messages.length, retryItems, dlqItems, dropped);
  }

  /** Commits the first `count` messages of `batch`, their rejects moved first. */
  async #settle(
    batch: ReadBatch,
    count: number,
    retryItems: readonly MoveItem[],
    dlqItems: readonly MoveItem[],
    dropped: number,
  ): Promise<void> {
    if (count === 0) return;
    const messages = batch.messages.slice(0, count);
    const next = count === batch.messages.length ? batch.next : messages[count - 1]!.position;
    await this.#options.beforeCommit?.();
    if (retryItems.length === 0 && dlqItems.length === 0) {
      await this.#shard.commit(next);
    } else {
      const moved = await this.#moved(this.#shard, () =>
        moveBatch(this.#move, this.#shard, { from: batch.from, next, messages }, [
          { queue: this.#retryQueue, items: retryItems },
          { queue: this.#dlqQueue, items: dlqItems },
        ]),
      );
      if (!moved) return;
    }
    if (retryItems.length > 0) this.#retryPending = true;
    this.#count('retry', retryItems.length);
    this.#count('dead_letter', dlqItems.length);
    this.#count('dropped', dropped);
    this.#processed += count;
    this.#batches += 1;
  }

  /**
   * Runs a move of rejects; false when their queue refuses one as too large (nats: an envelope
   * over the server's max_payload). Then nothing of the batch is committed: `source` goes
   * back to its committed position and the batch is handled again after a backoff, one
   * error line each time, rather than the worker exiting and being restarted for ever. What
   * the move stored already is not stored again (message ids).
   */
  async #moved(source: QueueConsumer, move: () => Promise<void>): Promise<boolean> {
    try {
      await move();
      this.#tooLarge = 0;
      return true;
    } catch (error) {
      if (!(error instanceof QueueMessageTooLargeError)) throw error;
      this.#tooLarge += 1;
      const retryInMs = retryDelayMs(this.#tooLarge, this.#options.failure);
      this.#loop.log.error(
        { err: error, queue: source.queue, retryInMs },
        'a reject is too large for its queue; the batch is handled again after the backoff',
      );
      await source.rewind();
      // The retry queue's head is read again with it.
      if (source === this.#retry) this.#retryPending = true;
      await pause(retryInMs, this.#options.signal);
      return false;
    }
  }

  /**
   * Block: the same message again after each backoff until the handler takes it; the shard
   * waits meanwhile (the distributor's stuck detector sees its backlog stand still). False
   * when stopped first.
   */
  async #block(
    data: Uint8Array,
    attempt: number,
    reason: string,
    headers: MessageHeaders | undefined,
  ): Promise<boolean> {
    const { signal, failure } = this.#options;
    let why = reason;
    for (let n = attempt; ; n++) {
      const retryInMs = retryDelayMs(n, failure);
      this.#count('blocked', 1);
      this.#loop.log.error(
        { attempt: n, reason: why, retryInMs },
        'message rejected; the shard waits for it (failure_policy Block)',
      );
      await pause(retryInMs, signal);
      if (signal.aborted) return false;
      const outcome = await this.#invoke(data, n + 1, headers);
      if ('ok' in outcome) return true;
      if ('stopped' in outcome) return false;
      why = outcome.reject;
    }
  }

  #decide(reason: string, attempts: number, firstFailedAt: string | undefined): Decision {
    const { failure } = this.#options;
    if (failure.policy === 'Block') return { to: 'block' };
    // One reading of the clock: notBefore is exactly the backoff after lastFailedAt.
    const now = this.#now();
    const header = this.#header(reason, attempts, now, firstFailedAt);
    if (attempts < failure.maxAttempts) {
      const notBefore = new Date(now + retryDelayMs(attempts, failure)).toISOString();
      return { to: 'retry', header: { ...header, notBefore } };
    }
    return failure.policy === 'Drop' ? { to: 'dropped' } : { to: 'dead_letter', header };
  }

  #header(
    reason: string,
    attempts: number,
    failedAtMs: number,
    firstFailedAt?: string,
  ): EnvelopeHeader {
    const now = new Date(failedAtMs).toISOString();
    return {
      reason,
      attempts,
      shard: this.#options.queue,
      pool: this.#options.failure.pool ?? 'default',
      firstFailedAt: firstFailedAt ?? now,
      lastFailedAt: now,
      kind: 'rejected',
    };
  }

  async #invoke(
    data: Uint8Array,
    attempt: number,
    headers: MessageHeaders | undefined,
  ): Promise<Outcome> {
    const { queue, consumer } = this.#options;
    const context: MessageContext = {
      queue,
      consumer,
      attempt,
      signal: this.#options.signal,
      ...(headers ? { headers } : {}),
    };
    return invoke(this.#options.handler, data, context, this.#loop.log);
  }

  #count(outcome: RejectOutcome, n: number, fields: Record<string, unknown> = {}): void {
    if (n === 0) return;
    this.#metrics.rejected.inc({ queue: this.#options.queue, outcome }, n);
    if (outcome === 'retry') this.#counts.retry += n;
    else if (outcome === 'dead_letter') this.#counts.deadLetter += n;
    else if (outcome === 'dropped') this.#counts.dropped += n;
    else this.#counts.blocked += n;
    if (outcome === 'dead_letter' || outcome === 'dropped') {
      this.#loop.log.warn({ ...fields, outcome, messages: n }, 'rejected message gave up on');
    }
  }

  /** How long to sleep on an empty shard queue: not past the retry head's due time. */
  #idleMs(): number {
    if (!this.#held) return this.#loop.idleMs;
    const untilDue = dueAt(this.#held) - this.#now();
    return Math.max(MIN_WAIT_MS, Math.min(this.#loop.idleMs, untilDue));
  }
}

function held(from: QueuePosition, message: QueueMessage): Held {
  try {
    return { from, message, envelope: decodeEnvelope(message.data), problem: undefined };
  } catch (err) {
    return {
      from,
      message,
      envelope: undefined,
      problem: err instanceof Error ? err.message : String(err),
    };
  }
}

function dueAt(head: Held): number {
  const notBefore = head.envelope?.header.notBefore;
  return notBefore === undefined ? 0 : Date.parse(notBefore);
}

/** A throw is a reject with its message, except a WorkerInfrastructureError, which stops the worker. */
async function invoke(
  handler: MessageHandler,
  data: Uint8Array,
  context: MessageContext,
  log: Logger,
): Promise<Outcome> {
  try {
    const result = await handler(data, context);
    if (result && typeof result === 'object' && 'reject' in result) {
      return { reject: reasonOf(result.reject) };
    }
    return { ok: true };
  } catch (err) {
    // Cut short by the stop (an AbortError from context.signal, say): the message is the next
    // worker's, not a reject that would use up an attempt, or be dropped.
    if (context.signal?.aborted) return { stopped: true };
    if (err instanceof WorkerInfrastructureError) {
      log.error({ err }, 'infrastructure failure; batch not committed');
      throw new WorkerHandlerError(
        `the handler reported an infrastructure failure on a message of queue ${context.queue}; its batch was not committed and will be delivered again`,
        { cause: err },
      );
    }
    return { reject: reasonOf(err) };
  }
}

/**
 * The reason a thrown or rejected value stands for, as text. Never throws: a handler that
 * throws something with no text (an object without a prototype, an Error whose message is
 * not a string) must still get its message dead-lettered, not stop the worker on every start.
 */
export function reasonOf(value: unknown): string {
  if (value instanceof Error && typeof value.message === 'string') return value.message;
  try {
    return String(value);
  } catch {
    return `an object that cannot be turned into text (${Object.prototype.toString.call(value)}) was thrown or rejected with`;
  }
}
