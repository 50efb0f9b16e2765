/**
 * The one queue interface the distributor, the workers and the operator's load reading use.
 * Two backends implement it: veda (the file queue, byte-compatible with v_queue 0.2.7) and
 * nats (JetStream: the main queue is a stream with a durable pull consumer and explicit ack,
 * each shard a subject with its own durable consumer).
 */

export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Where a consumer stands, as plain JSON so the distributor's journal can store it.
 * Opaque to callers: only the backend that made it reads it back, and it checks that the
 * position belongs to it (backend and queue) before using it.
 */
export interface QueuePosition {
  readonly backend: string;
  readonly queue: string;
  readonly [field: string]: JsonValue;
}

/**
 * A writer's durable state, as plain JSON: how far the queue is known to be on disk (veda:
 * part id + count pushed in it; nats: the last stream sequence of the subject).
 */
export interface QueueMark {
  readonly backend: string;
  readonly queue: string;
  readonly [field: string]: JsonValue;
}

export interface QueueMessage {
  /** The payload, byte-identical to what was appended. */
  readonly data: Buffer;
  /** Message headers where the backend has them (nats); veda records have none. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The position just after this message: committing it acknowledges this message and all before it. */
  readonly position: QueuePosition;
}

export interface ReadBatch {
  readonly messages: readonly QueueMessage[];
  /** The position before the first message of this batch. */
  readonly from: QueuePosition;
  /**
   * The position after the batch. It can move even when `messages` is empty (corrupt data
   * that was set aside, an empty part passed): commit it then too.
   */
  readonly next: QueuePosition;
}

export type StartAt = 'oldest' | 'current';

export interface ConsumerOptions {
  /**
   * Where a consumer without a committed position starts. `oldest` (our default) reads every
   * part still on disk; `current` is what Veda's consumers do (skip to the newest part).
   */
  readonly startAt?: StartAt;
  /** fsync committed positions (default true). */
  readonly durable?: boolean;
}

/** A named consumer of one queue: the distributor on the main queue, a worker on its shard. */
export interface QueueConsumer {
  readonly queue: string;
  readonly name: string;
  /** Up to `max` messages after the last one read, at once; an empty batch when nothing is there. */
  read(max: number): Promise<ReadBatch>;
  /**
   * Persists `position` as this consumer's committed position (acknowledges up to it). A nats
   * consumer opened with `pipelineCommits` (the distributor's, whose writes are deduplicated)
   * returns once the acknowledgement is sent; the next commit, wait, rewind or close confirms it.
   */
  commit(position: QueuePosition): Promise<void>;
  /** The last committed position. */
  committed(): QueuePosition;
  /** Goes back to the committed position: the next read returns what was read but not committed. */
  rewind(): Promise<void>;
  /**
   * Cheap check whether a read may return something new. A hint: on nats the server counts a
   * consumer's pending messages a moment after storing them, so it can say false for a few
   * milliseconds after a flush; `waitForNew` does not lag.
   */
  hasNew(): Promise<boolean>;
  /**
   * Waits until a read may return something new (true) or `maxWaitMs` passes with nothing
   * (false); an abort of `signal` ends the wait at once (false). What it sees is read, in
   * order and once, by the next `read` (nats: a pull with that expiry, whose message the next
   * read returns first; veda: a poll of the info files).
   */
  waitForNew(maxWaitMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Messages not yet committed by this consumer. */
  backlog(): Promise<number>;
  close(): Promise<void>;
}

export interface WriterOptions {
  /** fsync records and info files on `flush` (default true). */
  readonly durable?: boolean;
}

export interface AppendOptions {
  /**
   * A stable id per message (e.g. the main-queue position it came from). A backend that
   * deduplicates (nats: `Nats-Msg-Id` within the duplicate window) drops a message whose id it
   * already stored, so a batch replayed after a crash is stored once; veda ignores ids (the
   * distributor's journal does that job there).
   */
  readonly ids?: readonly string[];
  /**
   * Headers per message (or undefined for one without), carried where the backend has them
   * (nats): a message moved from the main queue to a shard keeps its headers. Veda records
   * have none, so veda ignores them. JetStream's own `Nats-*` headers are not copied: the
   * writer sets `Nats-Msg-Id` itself, and another's expectations would fail the publish.
   */
  readonly headers?: readonly (Readonly<Record<string, string>> | undefined)[];
}

/** The single writer of one queue: the distributor on each shard queue. */
export interface QueueWriter {
  readonly queue: string;
  /**
   * Writes a batch. Readers see nothing of it until `flush`. veda: a batch is all-or-nothing
   * from their point of view; on QueueFullError the batch is dropped whole and can be retried.
   * nats: a failed flush may have stored part of the batch; calling `flush` again (or a
   * replay with the same `ids`) stores the rest once, possibly in another order.
   */
  append(messages: readonly Uint8Array[], options?: AppendOptions): Promise<void>;
  /** Makes everything appended durable and visible, and returns the new mark. */
  flush(): Promise<QueueMark>;
  /** The mark of what is durable now (appended but unflushed messages are not in it). */
  mark(): QueueMark;
  /** How many messages became durable after `mark` (a mark of this queue from an earlier flush or run). */
  countSince(mark: QueueMark): Promise<number>;
  /**
   * The `ids` (given to `append`) of what became durable after `mark`, where they can be read
   * back (nats with direct gets); undefined where they cannot. A count says what is missing
   * only when a batch is stored in order, up to a point; JetStream refuses messages one at a
   * time (one too big for the stream, a full stream that takes a smaller one after), so a
   * batch can be stored with a hole. `unstoredOf` asks this first.
   */
  storedIdsSince?(mark: QueueMark): Promise<ReadonlySet<string> | undefined>;
  /** Bytes the queue uses on disk (veda, all parts); absent where the server owns storage (nats). */
  diskBytes?(): number;
  close(): Promise<void>;
}

/** What an operator on call wants to know about one queue (`shard-distributor queue stat`). */
export interface QueueStat {
  readonly queue: string;
  readonly backend: string;
  /** Where it lives: a directory (veda), or a stream and subject (nats). */
  readonly location: string;
  /** Messages held: pushed in every part on disk (veda), or on the subject in the stream (nats). */
  readonly messages: number;
  /** veda: the parts on disk. */
  readonly parts?: readonly {
    id: number;
    pushed: number | undefined;
    bytes: number;
    problem?: string;
  }[];
  readonly consumers: readonly {
    name: string;
    position?: string;
    backlog?: number;
    problem?: string;
  }[];
}

export interface QueueBackend {
  readonly kind: string;
  openConsumer(queue: string, consumer: string, options?: ConsumerOptions): Promise<QueueConsumer>;
  openWriter(queue: string, options?: WriterOptions): Promise<QueueWriter>;
  /**
   * The backlog of `consumer` on `queue`, read from outside without registering or moving the
   * consumer (the load reading of the distributor and the operator).
   */
  backlog(
    queue: string,
    consumer: string,
    options?: { readonly startAt?: StartAt },
  ): Promise<number>;
  /** Parts or stream, messages held, every consumer with its position and backlog. Reads only. */
  inspect(queue: string): Promise<QueueStat>;
  /** The names of the queues it holds (veda: its directory); absent where it cannot tell (nats). */
  queues?(): Promise<string[]>;
  /**
   * Up to `count` messages `consumer` would read next (without one: from the oldest message),
   * moving nothing and registering nothing.
   */
  peek(queue: string, count: number, consumer?: string): Promise<Buffer[]>;
  /**
   * The ids (`messageIdOf`) of the messages after `position` in its queue that writers of this
   * backend already stored, whenever they did: what a distributor or worker restarted before
   * committing them must not write again. `into`: the queues the copies went to, when known
   * (a worker's retry and dead-letter queues; nats looks only at those in the source's
   * stream). Absent where a journal does that (veda).
   */
  copiedAfter?(position: QueuePosition, into?: readonly string[]): Promise<ReadonlySet<string>>;
  close(): Promise<void>;
}
