import { createInbox, type Msg } from '@nats-io/transport-node';
import { QueueNotFoundError, QueueTimeoutError } from '../errors.ts';
import type { NatsContext } from './context.ts';

/**
 * One pull request with `no_wait`: the server sends what it has (up to `batch`) and ends with
 * a status message (404 no messages, 408, 409), so a read never waits for messages that are
 * not there. A fresh inbox per pull keeps late deliveries of an abandoned pull out of the
 * next one. Throws QueueTimeoutError when the server does not finish in time; what it may
 * have delivered then is unknown, so the caller must rewind.
 */
export async function pull(
  ctx: NatsContext,
  stream: string,
  durable: string,
  batch: number,
): Promise<Msg[]> {
  const inbox = createInbox();
  const sub = ctx.nc.subscribe(inbox, { max: batch + 1 });
  const messages: Msg[] = [];
  const timer = setTimeout(() => sub.unsubscribe(), ctx.options.requestTimeoutMs);
  let ended = false;
  try {
    ctx.nc.publish(
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
      JSON.stringify({ batch, no_wait: true }),
      { reply: inbox },
    );
    for await (const msg of sub) {
      if (!msg.reply) {
        // A status message ends the pull.
        ended = true;
        throwIfFatal(msg, stream, durable);
        break;
      }
      messages.push(msg);
      if (messages.length >= batch) {
        ended = true;
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  if (!ended) {
    throw new QueueTimeoutError(
      `JetStream did not answer a pull on consumer ${durable} of stream ${stream} within ${ctx.options.requestTimeoutMs} ms (server restarting or unreachable); retry`,
    );
  }
  return messages;
}

/** How a waiting pull ended. */
export type WaitOutcome =
  | { readonly kind: 'message'; readonly message: Msg }
  | { readonly kind: 'expired' }
  | { readonly kind: 'aborted' }
  | { readonly kind: 'status'; readonly code: number; readonly description: string };

/**
 * One pull request for one message that waits on the server up to `expiresMs`: a long poll.
 * JetStream delivers the next message the moment it is stored (`message`: it is delivered,
 * so the caller must keep it and hand it out with its next read), or ends the request with
 * 408 at its expiry (`expired`). When `signal` fires first, the inbox is dropped
 * (`aborted`); the server may still have delivered a message to it before it saw the
 * unsubscribe, so the caller must consider its deliveries unknown and rewind before reading.
 * Throws QueueTimeoutError when the server neither delivers nor ends the request within
 * `expiresMs` plus the request timeout (it restarted and forgot the request): rewind too.
 */
export async function pullWait(
  ctx: NatsContext,
  stream: string,
  durable: string,
  expiresMs: number,
  signal?: AbortSignal,
): Promise<WaitOutcome> {
  if (signal?.aborted) return { kind: 'aborted' };
  const waitMs = Math.max(1, Math.ceil(expiresMs));
  const inbox = createInbox();
  const sub = ctx.nc.subscribe(inbox);
  let aborted = false;
  const onAbort = (): void => {
    aborted = true;
    sub.unsubscribe();
  };
  const timer = setTimeout(() => sub.unsubscribe(), waitMs + ctx.options.requestTimeoutMs);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    ctx.nc.publish(
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
      JSON.stringify({ batch: 1, expires: waitMs * 1_000_000 }),
      { reply: inbox },
    );
    for await (const msg of sub) {
      // A message that arrived as the wait was aborted is kept all the same.
      if (msg.reply) return { kind: 'message', message: msg };
      const code = msg.headers?.code ?? 0;
      if (code === 100) continue; // an idle heartbeat
      if (code === 408 || code === 404) return { kind: 'expired' };
      throwIfFatal(msg, stream, durable);
      return { kind: 'status', code, description: msg.headers?.description ?? '' };
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    sub.unsubscribe();
  }
  if (aborted) return { kind: 'aborted' };
  throw new QueueTimeoutError(
    `JetStream did not end a waiting pull on consumer ${durable} of stream ${stream} within ${waitMs + ctx.options.requestTimeoutMs} ms (server restarting or unreachable); retry`,
  );
}

/** The status messages that end a pull with an error: the consumer is gone, or has no leader. */
function throwIfFatal(msg: Msg, stream: string, durable: string): void {
  const code = msg.headers?.code ?? 0;
  const description = msg.headers?.description ?? '';
  if (code === 409 && /deleted/i.test(description)) {
    throw new QueueNotFoundError(
      `consumer ${durable} of stream ${stream} was deleted while reading; open the consumer again`,
    );
  }
  if (code === 503) {
    throw new QueueTimeoutError(
      `JetStream has no leader for consumer ${durable} of stream ${stream} right now; retry`,
    );
  }
}
