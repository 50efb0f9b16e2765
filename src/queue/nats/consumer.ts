import type { ConsumerInfo } from '@nats-io/jetstream';
import { nanos, type Msg } from '@nats-io/transport-node';
import { QueueClosedError, QueueError, QueueTimeoutError } from '../errors.ts';
import type {
  ConsumerOptions,
  QueueConsumer,
  QueueMessage,
  QueuePosition,
  ReadBatch,
} from '../types.ts';
import { parseAckSubject } from './ack-subject.ts';
import { closedError } from './connection.ts';
import type { NatsContext, QueueAddress } from './context.ts';
import { QueueConflictError, fromNatsError, isNotFound } from './errors.ts';
import { checkName, durableOf } from './names.ts';
import { streamEpoch } from './message-id.ts';
import { fromPosition, toPosition } from './position.ts';
import { PullAhead } from './pull-ahead.ts';
import { pull, pullWait } from './pull.ts';

/**
 * A durable pull consumer (`<queue>_<consumer>`, filtered on the queue's subject) with
 * AckPolicy `all`: committing a position is one acknowledgement of the message there, which
 * JetStream applies to every message before it — exactly the position semantics of the
 * interface, in one round trip and without holes. Messages come back in stream order; any
 * sign that a delivery went missing (a gap in the consumer sequence, a pull that timed out)
 * rewinds to the committed position, because acknowledging past an unseen message would
 * lose it. One live reader per consumer, as with veda: opening takes over what a previous
 * reader had read and not committed. Waiting for new messages is a pull with an expiry (a long
 * poll): the message it brings is delivered, so it is held and handed out first by the next
 * read, through the same checks as any other delivery.
 *
 * Pull ahead: a read that fills its batch sends the pull for the next batch at once, so the
 * server delivers it while the caller writes and commits this one, and the next read finds it
 * here. Pulled-ahead messages are delivered and unacknowledged like the held ones: a commit
 * acknowledges only up to the position it names, and a crash, close or rewind leaves them to
 * JetStream (a rewind or an opening consumer resets the consumer to its ack floor). A reset
 * waits for the pull ahead to end first, so that no delivery of the old numbering arrives
 * after it.
 */
export class NatsConsumer implements QueueConsumer {
  readonly queue: string;
  readonly name: string;
  private readonly ctx: NatsContext;
  private readonly address: QueueAddress;
  private readonly durable: string;
  private committedSeq: number;
  /** Stream sequence of the last message read (or the committed one). */
  private cursor: number;
  /** Next consumer (delivery) sequence expected from JetStream. */
  private expectedDelivery: number;
  /** Ack subjects of messages read and not committed, by stream sequence, ascending. */
  private readonly held = new Map<number, string>();
  /** Delivered and not yet read (a `waitForNew` pull's message, a pull ahead's rest), in order. */
  private buffered: Msg[] = [];
  /** The pull for the next batch, sent when a read filled its batch. */
  private readonly ahead: PullAhead;
  /** With pipelined commits: the last commit's acknowledgement, sent and not yet confirmed. */
  private unconfirmed: UnconfirmedAck | undefined;
  private mustRewind = false;
  private closed = false;
  /** Ends a `waitForNew` in flight on `close`. */
  private readonly closing = new AbortController();

  /** The stream's incarnation, in every position (message ids name it: messageIdOf). */
  private epoch: string | undefined;

  private constructor(
    ctx: NatsContext,
    address: QueueAddress,
    name: string,
    info: ConsumerInfo,
    epoch: string | undefined,
  ) {
    this.ctx = ctx;
    this.epoch = epoch;
    this.address = address;
    this.queue = address.queue;
    this.name = name;
    this.durable = info.name;
    this.committedSeq = info.ack_floor.stream_seq;
    this.cursor = this.committedSeq;
    this.expectedDelivery = info.delivered.consumer_seq + 1;
    this.ahead = new PullAhead(ctx, address.stream, this.durable);
  }

  static async open(
    ctx: NatsContext,
    address: QueueAddress,
    name: string,
    options: ConsumerOptions = {},
  ): Promise<NatsConsumer> {
    checkName('consumer', name);
    const durable = durableOf(address.queue, name);
    const what = `opening consumer ${name} of queue ${address.queue}`;
    try {
      let info = await existing(ctx, address.stream, durable);
      info ??= await create(ctx, address, durable, options);
      const filter = info.config.filter_subject ?? info.config.filter_subjects?.[0];
      if (filter !== address.subject || (info.config.filter_subjects?.length ?? 0) > 1) {
        throw new QueueConflictError(
          `consumer ${durable} of stream ${address.stream} reads ${filter ?? 'every subject'}, not ${address.subject}; delete it or rename the queue or consumer`,
        );
      }
      if (info.config.ack_policy !== 'all') {
        throw new QueueConflictError(
          `consumer ${durable} of stream ${address.stream} has ack policy ${info.config.ack_policy}, the nats backend needs "all"; delete the consumer so it is created again`,
        );
      }
      if (info.num_ack_pending > 0) {
        // What a previous reader read and did not commit comes back now, not after ack_wait.
        info = await ctx.jsm.consumers.reset(address.stream, durable);
      }
      const { created } = await ctx.jsm.streams.info(address.stream);
      return new NatsConsumer(ctx, address, name, info, streamEpoch(created));
    } catch (err) {
      throw fromNatsError(err, what);
    }
  }

  async read(max: number): Promise<ReadBatch> {
    this.assertOpen();
    // A gap makes readOnce rewind: one more go from the committed position, so that an
    // empty batch still means there was nothing to read.
    return (await this.readOnce(max)) ?? (await this.readOnce(max)) ?? this.batch([], this.cursor);
  }

  /** One read; undefined when a delivery did not follow the last one (then it has rewound). */
  private async readOnce(max: number): Promise<ReadBatch | undefined> {
    if (this.mustRewind) await this.rewind();
    const from = this.cursor;
    const messages: QueueMessage[] = [];
    if (max <= 0) return this.batch(messages, from);
    const what = `reading queue ${this.queue} as ${this.name}`;
    // What a wait or the pull ahead delivered comes first, then what the server has after
    // it — unless the pull ahead already found the end of what there was.
    const reachedEnd = await this.landAhead(what);
    if (this.buffered.length < max && !(reachedEnd && this.buffered.length > 0)) {
      try {
        this.buffered.push(
          ...(await pull(this.ctx, this.address.stream, this.durable, max - this.buffered.length)),
        );
      } catch (err) {
        this.mustRewind = true;
        throw fromNatsError(err, what);
      }
    }
    const delivered = this.buffered.splice(0, max);
    for (const msg of delivered) {
      const reply = msg.reply ?? '';
      const delivery = parseAckSubject(reply);
      if (!delivery || delivery.consumerSeq !== this.expectedDelivery) {
        this.ctx.log.warn(
          {
            queue: this.queue,
            consumer: this.name,
            reply,
            expected: this.expectedDelivery,
          },
          'unexpected delivery, rewinding to the committed position',
        );
        this.ctx.metrics.corrupt.inc({ queue: this.queue, reason: 'delivery_gap' });
        await this.rewind();
        return undefined;
      }
      this.expectedDelivery = delivery.consumerSeq + 1;
      const seq = delivery.streamSeq;
      if (seq <= this.cursor) {
        // Redelivered after ack_wait while we still hold it: ack with the newest delivery.
        if (this.held.has(seq)) this.held.set(seq, reply);
        // Redelivered though committed: that acknowledgement was lost (a reconnect). Nothing
        // else would ack it (a drained source commits no more), so the server would keep it
        // pending for ever; ack it again, and again at its next redelivery if this one is lost.
        else if (seq <= this.committedSeq) void this.sendAck(reply);
        continue;
      }
      this.held.set(seq, reply);
      this.cursor = seq;
      const headers = headersOf(msg.headers);
      messages.push({
        data: Buffer.from(msg.data),
        position: this.position(seq),
        ...(headers ? { headers } : {}),
      });
    }
    // A full batch says more is likely there: ask for it now, while the caller moves this one.
    if (delivered.length === max && this.buffered.length < max)
      this.ahead.start(max - this.buffered.length);
    return this.batch(messages, from);
  }

  async commit(position: QueuePosition): Promise<void> {
    this.assertOpen();
    const { seq } = fromPosition(this.queue, this.address.stream, position);
    // The previous commit first: a failure of its acknowledgement is this commit's failure.
    await this.confirm();
    if (seq <= this.committedSeq) return;
    const what = `committing queue ${this.queue} as ${this.name}`;
    if (seq > this.cursor || this.mustRewind) {
      // Not read in this process (a position from a journal): move the ack floor there.
      try {
        await this.ahead.drop();
        const info = await this.ctx.jsm.consumers.reset(this.address.stream, this.durable, seq + 1);
        this.restart(info, seq);
      } catch (err) {
        throw fromNatsError(err, what);
      }
      return;
    }
    let reply: string | undefined;
    for (const [heldSeq, subject] of this.held) {
      if (heldSeq > seq) break;
      reply = subject;
    }
    if (reply !== undefined) {
      const sent = this.sendAck(reply);
      if (this.ctx.options.pipelineCommits) this.unconfirmed = { sent, seq, what };
      else await this.settleAck(await sent, seq, what);
    }
    this.committedSeq = seq;
    for (const heldSeq of this.held.keys()) {
      if (heldSeq > seq) break;
      this.held.delete(heldSeq);
    }
  }

  committed(): QueuePosition {
    return this.position(this.committedSeq);
  }

  async rewind(): Promise<void> {
    this.assertOpen();
    try {
      // Whatever became of the last acknowledgement, the reset below reads the ack floor.
      await this.confirm().catch(() => undefined);
      await this.ahead.drop();
      const info =
        (await existing(this.ctx, this.address.stream, this.durable)) === undefined
          ? await this.createAgain()
          : await this.ctx.jsm.consumers.reset(this.address.stream, this.durable);
      this.restart(info, info.ack_floor.stream_seq);
    } catch (err) {
      this.mustRewind = true;
      throw fromNatsError(err, `rewinding queue ${this.queue} as ${this.name}`);
    }
  }

  async hasNew(): Promise<boolean> {
    this.assertOpen();
    // A pull ahead took what is pending: the server no longer counts it as pending.
    if (this.mustRewind || this.buffered.length > 0 || this.ahead.inFlight) return true;
    const info = await this.info();
    return info.num_pending > 0;
  }

  /**
   * One pull of one message with `expires` = `maxWaitMs`: JetStream answers the moment a
   * message is stored, so an idle reader wakes at once without polling. The message is held
   * (not acknowledged) and the next read returns it first. An abort (or `close`) drops the
   * pull; what the server may have delivered to it meanwhile comes back by a rewind before
   * the next read.
   */
  async waitForNew(maxWaitMs: number, signal?: AbortSignal): Promise<boolean> {
    this.assertOpen();
    // Going idle: a lost acknowledgement is found now, not at the next commit, which may
    // come after the duplicate window that makes a re-read batch harmless.
    await this.confirm();
    if (this.ahead.inFlight) {
      try {
        await this.landAhead(`waiting on queue ${this.queue} as ${this.name}`);
      } catch {
        // The next read rewinds (mustRewind) and reports it if the server is still away.
        return true;
      }
    }
    if (this.mustRewind || this.buffered.length > 0) return true;
    if (signal?.aborted) return false;
    const started = Date.now();
    const stop = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    let outcome;
    try {
      outcome = await pullWait(this.ctx, this.address.stream, this.durable, maxWaitMs, stop);
    } catch (err) {
      this.mustRewind = true;
      throw fromNatsError(err, `waiting on queue ${this.queue} as ${this.name}`);
    }
    switch (outcome.kind) {
      case 'message':
        this.buffered.push(outcome.message);
        return true;
      case 'expired':
        return false;
      case 'aborted':
        this.mustRewind = true;
        return false;
      case 'status':
        // The server refused the wait (too many waiting pulls, a leader change): wait out
        // the time without spinning, then look.
        this.ctx.log.debug(
          { queue: this.queue, consumer: this.name, ...outcome },
          'waiting pull refused; polling instead',
        );
        await delay(maxWaitMs - (Date.now() - started), stop);
        return !this.closed && (await this.hasNew());
    }
  }

  async backlog(): Promise<number> {
    this.assertOpen();
    const info = await this.info();
    return info.num_pending + info.num_ack_pending;
  }

  async close(): Promise<void> {
    // Read and uncommitted messages stay with JetStream: the next reader gets them back.
    // A pull ahead still running ends on its own (its result is dropped).
    const unconfirmed = this.unconfirmed;
    this.unconfirmed = undefined;
    if (unconfirmed && !this.closed) {
      // The last commit lands before we go; if it does not, the next reader re-reads its
      // batch (a deduplicating writer stores it once).
      const error = await unconfirmed.sent;
      if (error !== undefined) {
        this.ctx.log.warn(
          { queue: this.queue, consumer: this.name, seq: unconfirmed.seq, err: error },
          'last commit not confirmed at close; the next reader may read its batch again',
        );
      }
    }
    this.closed = true;
    this.held.clear();
    this.buffered = [];
    this.ahead.forget();
    this.closing.abort();
  }

  /** Sends the acknowledgement (AckAll up to its message); resolves with its error, if any. */
  private sendAck(reply: string): Promise<unknown> {
    return this.ctx.nc.request(reply, '+ACK', { timeout: this.ctx.options.requestTimeoutMs }).then(
      () => undefined,
      (err: unknown) => err ?? new Error('acknowledgement failed'),
    );
  }

  /** Waits for the pipelined acknowledgement still unconfirmed, and settles it. */
  private async confirm(): Promise<void> {
    const unconfirmed = this.unconfirmed;
    if (!unconfirmed) return;
    this.unconfirmed = undefined;
    await this.settleAck(await unconfirmed.sent, unconfirmed.seq, unconfirmed.what);
  }

  /**
   * An acknowledgement's answer: none needed when it was confirmed; otherwise the consumer
   * state says whether it was applied (only the answer lost), whether the server forgot our
   * deliveries (commit by reset), or the commit failed (QueueTimeoutError: retry).
   */
  private async settleAck(err: unknown, seq: number, what: string): Promise<void> {
    if (err === undefined) return;
    let info: ConsumerInfo;
    try {
      info = await this.info();
    } catch (infoErr) {
      throw fromNatsError(infoErr, what);
    }
    // Applied, only the answer was lost (a reconnect).
    if (info.ack_floor.stream_seq >= seq) return;
    if (info.delivered.stream_seq < seq) {
      // The server lost our deliveries (it crashed before saving the consumer state) and
      // ignores acks above what it thinks it delivered: set the ack floor directly.
      this.ctx.log.warn(
        { queue: this.queue, consumer: this.name, seq, delivered: info.delivered.stream_seq },
        'consumer state behind what was read, committing by reset',
      );
      try {
        await this.ahead.drop();
        await this.ctx.jsm.consumers.reset(this.address.stream, this.durable, seq + 1);
      } catch (resetErr) {
        throw fromNatsError(resetErr, what);
      }
      // Messages read past `seq` come again: their deliveries are gone with the reset.
      this.mustRewind = true;
      return;
    }
    const mapped = fromNatsError(err, what);
    throw mapped instanceof QueueError
      ? mapped
      : new QueueTimeoutError(`${what}: the acknowledgement was not confirmed; retry`, {
          cause: err,
        });
  }

  /**
   * The durable consumer was deleted under this reader (`nats consumer rm`, or its stream
   * deleted and created again): made again where this reader knows it stands. In the same
   * stream, right after the committed position, so nothing is read twice or passed over;
   * in a stream created again (another incarnation), from its first message.
   */
  private async createAgain(): Promise<ConsumerInfo> {
    const { ctx, address, durable } = this;
    const epoch = streamEpoch((await ctx.jsm.streams.info(address.stream)).created);
    const sameStream = epoch === this.epoch;
    const info = await create(ctx, address, durable, {}, sameStream ? this.committedSeq + 1 : 1);
    ctx.log.warn(
      {
        queue: this.queue,
        consumer: this.name,
        stream: address.stream,
        from: info.ack_floor.stream_seq + 1,
      },
      sameStream
        ? 'the consumer was deleted; created again after its committed position'
        : 'the stream was deleted and created again; reading it from its first message',
    );
    this.epoch = epoch;
    return info;
  }

  /** Adopts the consumer state after a reset: nothing held, the server delivers from `seq + 1`. */
  private restart(info: ConsumerInfo, seq: number): void {
    this.held.clear();
    this.buffered = [];
    this.committedSeq = seq;
    this.cursor = seq;
    this.expectedDelivery = info.delivered.consumer_seq + 1;
    this.mustRewind = false;
  }

  /**
   * Buffers what the pull ahead, if any, delivered; says whether it brought less than it
   * asked for (the server had no more then). Its failure means rewind.
   */
  private async landAhead(what: string): Promise<boolean> {
    let landed;
    try {
      landed = await this.ahead.take();
    } catch (err) {
      // What it may have delivered is unknown: the next read starts from the committed position.
      this.mustRewind = true;
      throw fromNatsError(err, what);
    }
    if (!landed) return false;
    this.buffered.push(...landed.messages);
    return landed.reachedEnd;
  }

  private async info(): Promise<ConsumerInfo> {
    try {
      return await this.ctx.jsm.consumers.info(this.address.stream, this.durable);
    } catch (err) {
      throw fromNatsError(err, `reading consumer ${this.name} of queue ${this.queue}`);
    }
  }

  private batch(messages: QueueMessage[], from: number): ReadBatch {
    return { messages, from: this.position(from), next: this.position(this.cursor) };
  }

  private position(seq: number): QueuePosition {
    return toPosition(this.queue, {
      stream: this.address.stream,
      seq,
      ...(this.epoch === undefined ? {} : { epoch: this.epoch }),
    });
  }

  private assertOpen(): void {
    const what = `consumer ${this.name} of queue ${this.queue}`;
    if (this.ctx.nc.isClosed()) throw closedError(this.ctx.nc, what);
    if (this.closed) throw QueueClosedError.of(what);
  }
}

async function existing(
  ctx: NatsContext,
  stream: string,
  durable: string,
): Promise<ConsumerInfo | undefined> {
  try {
    return await ctx.jsm.consumers.info(stream, durable);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** A new durable consumer, from `startAt`, or from the stream sequence `startSeq` when given. */
async function create(
  ctx: NatsContext,
  address: QueueAddress,
  durable: string,
  options: ConsumerOptions,
  startSeq?: number,
): Promise<ConsumerInfo> {
  const from =
    startSeq ??
    ((options.startAt ?? 'oldest') === 'oldest'
      ? undefined
      : (await ctx.jsm.streams.info(address.stream)).state.last_seq + 1);
  const start =
    from === undefined || from <= 1
      ? ({ deliver_policy: 'all' } as const)
      : ({ deliver_policy: 'by_start_sequence', opt_start_seq: from } as const);
  return ctx.jsm.consumers.add(address.stream, {
    durable_name: durable,
    filter_subject: address.subject,
    ack_policy: 'all',
    ack_wait: nanos(ctx.options.ackWaitMs),
    max_ack_pending: ctx.options.maxAckPending,
    max_deliver: -1,
    ...start,
  });
}

/** A commit's acknowledgement in flight: `sent` resolves with its error (undefined: confirmed). */
interface UnconfirmedAck {
  readonly sent: Promise<unknown>;
  readonly seq: number;
  readonly what: string;
}

/** Resolves after `ms`, or at once when `signal` fires. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Application headers as a plain record (the first value of each); none when the message has none. */
function headersOf(
  headers: { keys(): string[]; get(key: string): string } | undefined,
): Record<string, string> | undefined {
  if (!headers) return undefined;
  const keys = headers.keys();
  if (keys.length === 0) return undefined;
  return Object.fromEntries(keys.map((key) => [key, headers.get(key)]));
}
