import type { QueueStat } from '../types.ts';
import type { NatsContext, QueueAddress } from './context.ts';
import { fromNatsError, isNotFound } from './errors.ts';
import { isNoMessage, subjectCount } from './streams.ts';

/** The queue's subject count, and every durable filtered on it with its ack floor and backlog. */
export async function inspectQueue(ctx: NatsContext, address: QueueAddress): Promise<QueueStat> {
  const { queue, stream, subject } = address;
  const consumers: { name: string; position?: string; backlog?: number }[] = [];
  try {
    for await (const info of ctx.jsm.consumers.list(stream)) {
      if (info.config.filter_subject !== subject) continue;
      const name = info.name.startsWith(`${queue}_`)
        ? info.name.slice(queue.length + 1)
        : info.name;
      consumers.push({
        name,
        position: `acked to stream seq ${info.ack_floor.stream_seq}, delivered to ${info.delivered.stream_seq}`,
        backlog: info.num_pending + info.num_ack_pending,
      });
    }
  } catch (err) {
    throw fromNatsError(err, `listing the consumers of stream ${stream}`);
  }
  return {
    queue,
    backend: 'nats',
    location: `stream ${stream}, subject ${subject}`,
    messages: await subjectCount(ctx, stream, subject),
    consumers: consumers.sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/**
 * The next `count` messages after `consumer`'s ack floor (or from the first), read with
 * direct gets by subject: no consumer is created and nothing is acknowledged.
 */
export async function peekQueue(
  ctx: NatsContext,
  address: QueueAddress,
  durable: string | undefined,
  count: number,
): Promise<Buffer[]> {
  const { stream, subject } = address;
  let seq = 1;
  if (durable !== undefined) {
    try {
      seq = (await ctx.jsm.consumers.info(stream, durable)).ack_floor.stream_seq + 1;
    } catch (err) {
      if (!isNotFound(err)) throw fromNatsError(err, `reading consumer ${durable}`);
    }
  }
  const out: Buffer[] = [];
  while (out.length < count) {
    let msg;
    try {
      // Direct gets read by subject without a consumer (the streams we create allow them).
      msg = await ctx.jsm.direct.getMessage(stream, { next_by_subj: subject, seq });
    } catch (err) {
      if (isNoMessage(err)) break;
      throw fromNatsError(
        err,
        `reading ${subject} (peeking needs allow_direct on stream ${stream})`,
      );
    }
    if (!msg) break;
    out.push(Buffer.from(msg.data));
    seq = msg.seq + 1;
  }
  return out;
}
