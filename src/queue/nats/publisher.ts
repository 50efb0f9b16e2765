import { JetStreamApiError, type ApiError } from '@nats-io/jetstream';
import {
  createInbox,
  headers,
  PermissionViolationError,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { QueueMessageTooLargeError, QueueTimeoutError } from '../errors.ts';
import { permissionError } from './errors.ts';

/** One message to store, with the id JetStream deduplicates it by (`Nats-Msg-Id`). */
export interface Publication {
  readonly data: Uint8Array;
  readonly id: string;
  /** The message's own headers; JetStream's (`Nats-*`) are left out, `Nats-Msg-Id` is `id`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** What JetStream answered one publish with. */
export type PublishOutcome =
  | { readonly ok: true; readonly seq: number; readonly duplicate: boolean }
  | { readonly ok: false; readonly error: unknown };

/** The publish ack JetStream sends to the reply subject: a stored sequence or an API error. */
interface PubAckBody {
  readonly stream?: string;
  readonly seq?: number;
  readonly duplicate?: boolean;
  readonly error?: ApiError;
}

/**
 * JetStream publishes whose acks come back on one wildcard inbox subscription
 * (`<inbox>.<n>`), with one timer per call instead of one per message. `js.publish` makes each
 * publish a full request (a mux entry, a timer, a promise chain and an Error built on
 * success); at the distributor's rate that bookkeeping, not the server, was the bound. What
 * reaches the server is the same: the message, its `Nats-Msg-Id`, a reply subject.
 */
export class AckedPublisher {
  private readonly nc: NatsConnection;
  private readonly prefix: string;
  private counter = 0;
  /** Who waits for the ack sent to each reply subject. */
  private readonly waiting = new Map<string, (msg: Msg) => void>();
  /** The calls in flight: a refusal by the server ends those of its subject at once. */
  private readonly calls = new Set<PendingCall>();
  /** The acks' subscription; gone after the server refused it, made again by the next call. */
  private acks: Subscription | undefined;

  constructor(nc: NatsConnection) {
    this.nc = nc;
    this.prefix = createInbox();
    this.subscribeToAcks();
    void this.watchRefusals();
  }

  /**
   * Drained with the connection. The client subscribes again after a reconnect; an ack lost
   * meanwhile is a timeout, and the caller's retry with the same msgID is stored once.
   */
  private subscribeToAcks(): void {
    const subject = `${this.prefix}.*`;
    this.acks = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (!err) {
          this.waiting.get(msg.subject)?.(msg);
          return;
        }
        // The server closed the subscription: no ack can come back, so every call would wait
        // for its timeout and report an unreachable server.
        this.acks = undefined;
        const refusal =
          err instanceof PermissionViolationError
            ? permissionError(err, `receiving the publish acks on ${subject}`)
            : err;
        for (const call of this.calls) call.refuse(refusal);
      },
    });
  }

  /** A publish the server refuses is answered by an error on the connection, not by an ack. */
  private async watchRefusals(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type !== 'error') continue;
      const error = status.error;
      if (!(error instanceof PermissionViolationError) || error.operation !== 'publish') continue;
      for (const call of this.calls) {
        if (call.subject === error.subject)
          call.refuse(permissionError(error, `publishing to ${call.subject}`));
      }
    }
  }

  /**
   * Publishes every message at once and resolves, in their order, with each one's outcome
   * once all are answered or `timeoutMs` has passed (those unanswered then: QueueTimeoutError;
   * they may or may not be stored, so retry them with the same ids). Never rejects.
   */
  publishAll(
    subject: string,
    messages: readonly Publication[],
    timeoutMs: number,
  ): Promise<PublishOutcome[]> {
    // Filled, not sparse: `map` and `forEach` skip holes, and a skipped outcome would be a
    // message neither acknowledged nor retried.
    const outcomes = Array.from<PublishOutcome | undefined>({ length: messages.length });
    if (messages.length === 0) return Promise.resolve([]);
    if (this.acks === undefined) this.subscribeToAcks();
    return new Promise((resolve) => {
      const tokens: string[] = [];
      let left = messages.length;
      const call: PendingCall = {
        subject,
        refuse: (error) => {
          for (let i = 0; i < messages.length; i++) settle(i, { ok: false, error });
        },
      };
      const finish = (): void => {
        clearTimeout(timer);
        this.calls.delete(call);
        for (const token of tokens) this.waiting.delete(token);
        resolve(Array.from(outcomes, (o) => o ?? timedOut(subject, timeoutMs)));
      };
      const settle = (i: number, outcome: PublishOutcome): void => {
        if (outcomes[i] !== undefined) return;
        outcomes[i] = outcome;
        if (--left === 0) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.calls.add(call);
      for (const [i, message] of messages.entries()) {
        if (left === 0) break;
        const token = `${this.prefix}.${++this.counter}`;
        tokens.push(token);
        this.waiting.set(token, (msg) => settle(i, outcomeOf(msg, subject)));
        const h = headers();
        for (const [key, value] of Object.entries(message.headers ?? {}))
          if (!isJetStreamHeader(key)) h.set(key, value);
        h.set('Nats-Msg-Id', message.id);
        try {
          this.nc.publish(subject, message.data, { reply: token, headers: h });
        } catch (error) {
          if (/max_payload/.test((error as Error).message)) {
            // This message alone: the rest of the call may well fit.
            const size = message.data.byteLength;
            const limit = this.nc.info?.max_payload ?? 0;
            settle(i, { ok: false, error: tooLarge(message.id, subject, size, limit, error) });
            continue;
          }
          // A closed connection, say: the rest would fail the same way.
          for (let j = i; j < messages.length; j++) settle(j, { ok: false, error });
        }
      }
    });
  }
}

interface PendingCall {
  readonly subject: string;
  /** Settles every message of the call not yet answered with `error`. */
  refuse(error: unknown): void;
}

function tooLarge(
  id: string,
  subject: string,
  size: number,
  limit: number,
  cause: unknown,
): QueueMessageTooLargeError {
  return new QueueMessageTooLargeError(
    `message ${id} to ${subject} (a ${size}-byte payload and its headers) is over the server's max_payload of ${limit} bytes: raise max_payload in the nats-server configuration; it is retried, and nothing after it is skipped`,
    { cause },
  );
}

function timedOut(subject: string, timeoutMs: number): PublishOutcome {
  return {
    ok: false,
    error: new QueueTimeoutError(
      `JetStream did not acknowledge a publish to ${subject} within ${timeoutMs} ms (server restarting or unreachable); retry`,
    ),
  };
}

function outcomeOf(msg: Msg, subject: string): PublishOutcome {
  // No stream listens on the subject (503), or the server answered with another status.
  if (msg.data.length === 0) {
    const code = msg.headers?.code ?? 0;
    return {
      ok: false,
      error: new QueueTimeoutError(
        `JetStream answered a publish to ${subject} with status ${code} ${msg.headers?.description ?? ''} (no stream responding); retry`,
      ),
    };
  }
  let body: PubAckBody;
  try {
    body = msg.json<PubAckBody>();
  } catch (error) {
    return { ok: false, error };
  }
  if (body.error) return { ok: false, error: new JetStreamApiError(body.error) };
  if (typeof body.seq !== 'number' || !body.stream) {
    return { ok: false, error: new Error(`invalid publish ack: ${msg.string()}`) };
  }
  return { ok: true, seq: body.seq, duplicate: body.duplicate ?? false };
}

/**
 * JetStream's own headers (`Nats-Msg-Id`, `Nats-Expected-*`, `Nats-TTL`, …): meant for the
 * publish that carried them into the main queue, not for the copy on a shard.
 */
function isJetStreamHeader(key: string): boolean {
  return key.toLowerCase().startsWith('nats-');
}
