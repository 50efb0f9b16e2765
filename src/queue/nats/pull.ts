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
