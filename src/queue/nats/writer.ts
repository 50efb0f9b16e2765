import type { AppendOptions } from '../types.ts';
import { nuid } from '@nats-io/transport-node';
import { QueueClosedError, QueueTimeoutError } from '../errors.ts';
import type { QueueMark, QueueWriter } from '../types.ts';
import { closedError } from './connection.ts';
import type { NatsContext, QueueAddress } from './context.ts';
import { fromNatsError } from './errors.ts';
import type { Publication } from './publisher.ts';
import { fromMark, toMark } from './position.ts';
import { idsOnSubjectAfter } from './copied.ts';
import { countAfter, lastSeqOf } from './streams.ts';

type Pending = Publication;

/** Publishes at most this many messages at once and waits for their acks. */
const WINDOW = 256;

/**
 * The writer of one queue's subject. `append` only stages (readers see nothing); `flush`
 * publishes the staged messages and waits for every publish ack, retrying unacknowledged
 * ones with the same msgID until `flushTimeoutMs`, so a server restart in the middle stores
 * each message once. A flush that still fails keeps what is unacknowledged staged, with its
 * ids: calling flush again finishes the batch without duplicates. JetStream cannot take back
 * what was already stored, so unlike veda a failed flush may leave part of a batch visible.
 */
export class NatsWriter implements QueueWriter {
  readonly queue: string;
  private readonly ctx: NatsContext;
  private readonly address: QueueAddress;
  private readonly writerId = nuid.next();
  private counter = 0;
  private staged: Pending[] = [];
  private durableSeq: number;
  private closed = false;

  private constructor(ctx: NatsContext, address: QueueAddress, lastSeq: number) {
    this.ctx = ctx;
    this.address = address;
    this.queue = address.queue;
    this.durableSeq = lastSeq;
  }

  static async open(ctx: NatsContext, address: QueueAddress): Promise<NatsWriter> {
    return new NatsWriter(ctx, address, await lastSeqOf(ctx, address.stream, address.subject));
  }

  async append(messages: readonly Uint8Array[], options: AppendOptions = {}): Promise<void> {
    this.assertOpen();
    const { ids, headers } = options;
    if (ids !== undefined && ids.length !== messages.length) {
      throw new RangeError(`append got ${messages.length} messages but ${ids.length} ids`);
    }
    if (headers !== undefined && headers.length !== messages.length) {
      throw new RangeError(`append got ${messages.length} messages but ${headers.length} headers`);
    }
    messages.forEach((data, i) => {
      const id = ids?.[i] ?? `${this.writerId}.${++this.counter}`;
      const own = headers?.[i];
      // A copy: the caller may reuse its buffers before flush.
      const copy = Uint8Array.prototype.slice.call(data);
      this.staged.push(own ? { data: copy, id, headers: own } : { data: copy, id });
    });
  }

  async flush(): Promise<QueueMark> {
    this.assertOpen();
    const deadline = Date.now() + this.ctx.options.flushTimeoutMs;
    let lastError: unknown;
    for (let attempt = 0; this.staged.length > 0; attempt++) {
      lastError = await this.publishStaged();
      if (lastError === undefined) break;
      if (!(lastError instanceof QueueTimeoutError) || Date.now() >= deadline) throw lastError;
      this.ctx.log.warn(
        { queue: this.queue, unacknowledged: this.staged.length, attempt, err: lastError },
        'publish not acknowledged, retrying with the same msgIDs',
      );
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2_000)));
    }
    return this.mark();
  }

  mark(): QueueMark {
    return toMark(this.queue, { stream: this.address.stream, seq: this.durableSeq });
  }

  async countSince(mark: QueueMark): Promise<number> {
    this.assertOpen();
    const { seq } = fromMark(this.queue, this.address.stream, mark);
    return countAfter(this.ctx, this.address.stream, this.address.subject, seq);
  }

  /** By direct gets of this queue's subject after the mark (the stream must allow them). */
  async storedIdsSince(mark: QueueMark): Promise<ReadonlySet<string> | undefined> {
    this.assertOpen();
    const { seq } = fromMark(this.queue, this.address.stream, mark);
    try {
      return await idsOnSubjectAfter(this.ctx, this.address.stream, this.address.subject, seq);
    } catch (err) {
      throw fromNatsError(err, `reading back what queue ${this.queue} stored`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.staged = [];
  }

  /** Publishes everything staged once; keeps what was not acknowledged. Returns the first error. */
  private async publishStaged(): Promise<unknown> {
    const left: Pending[] = [];
    let firstError: unknown;
    for (let i = 0; i < this.staged.length; i += WINDOW) {
      const window = this.staged.slice(i, i + WINDOW);
      const outcomes = await this.ctx.publisher.publishAll(
        this.address.subject,
        window,
        this.ctx.options.requestTimeoutMs,
      );
      outcomes.forEach((outcome, j) => {
        if (outcome.ok) {
          // A duplicate's ack carries the sequence of the message stored earlier.
          this.durableSeq = Math.max(this.durableSeq, outcome.seq);
        } else {
          left.push(window[j] as Pending);
          firstError ??= fromNatsError(outcome.error, `publishing to queue ${this.queue}`);
        }
      });
      // Later windows would only pile up behind a full stream or a closed connection.
      if (firstError !== undefined && !(firstError instanceof QueueTimeoutError)) {
        left.push(...this.staged.slice(i + WINDOW));
        break;
      }
    }
    this.staged = left;
    return firstError;
  }

  private assertOpen(): void {
    const what = `writer of queue ${this.queue}`;
    if (this.ctx.nc.isClosed()) throw closedError(this.ctx.nc, what);
    if (this.closed) throw QueueClosedError.of(what);
  }
}
