import type { Msg } from '@nats-io/transport-node';
import type { NatsContext } from './context.ts';
import { pull } from './pull.ts';

/** What a pull ahead delivered, and whether that was less than it asked for (the end, then). */
export interface Landed {
  readonly messages: Msg[];
  readonly reachedEnd: boolean;
}

/** How a pull ended; never a rejection, so nothing is left unhandled while it runs. */
type PullResult = { readonly landed: Landed } | { readonly error: unknown };

/**
 * At most one `no_wait` pull sent before the reader asks for its messages. Its messages are
 * delivered (unacknowledged) as soon as the server answers; the consumer takes them with
 * its next read, through the same checks as any other delivery.
 */
export class PullAhead {
  private readonly ctx: NatsContext;
  private readonly stream: string;
  private readonly durable: string;
  private pending: Promise<PullResult> | undefined;

  constructor(ctx: NatsContext, stream: string, durable: string) {
    this.ctx = ctx;
    this.stream = stream;
    this.durable = durable;
  }

  get inFlight(): boolean {
    return this.pending !== undefined;
  }

  /** Sends the pull now. */
  start(batch: number): void {
    this.pending = pull(this.ctx, this.stream, this.durable, batch).then(
      (messages): PullResult => ({ landed: { messages, reachedEnd: messages.length < batch } }),
      (error: unknown): PullResult => ({ error }),
    );
  }

  /**
   * Waits for the pull, if one was sent, and hands over what it delivered; throws its error
   * (what it delivered is then unknown: the caller must rewind). Undefined when none was sent,
   * or it was forgotten or dropped meanwhile.
   */
  async take(): Promise<Landed | undefined> {
    const pending = this.pending;
    if (!pending) return undefined;
    const result = await pending;
    if (this.pending !== pending) return undefined;
    this.pending = undefined;
    if ('error' in result) throw result.error;
    return result.landed;
  }

  /**
   * Before a reset: lets the pull end (a `no_wait` pull ends at once) and forgets what it
   * brought, so that none of its deliveries, numbered before the reset, arrives after it.
   */
  async drop(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    await pending;
    if (this.pending === pending) this.pending = undefined;
  }

  /** On close: a pull still running ends on its own; what it brings stays with JetStream. */
  forget(): void {
    this.pending = undefined;
  }
}
