import type { StoredMsg } from '@nats-io/jetstream';
import { QueuePositionError } from '../errors.ts';
import type { QueuePosition } from '../types.ts';
import type { NatsContext } from './context.ts';
import { fromNatsError } from './errors.ts';
import { epochMs, sourceOfId } from './message-id.ts';
import { isNoMessage } from './streams.ts';

/**
 * The sequence and queue of a nats position whose copies are looked up. Throws for another
 * backend's position.
 */
function sourceOf(after: QueuePosition): {
  queue: string;
  stream: string;
  committed: number;
  epoch: string | undefined;
} {
  const { queue, stream, seq, epoch } = after;
  if (after.backend !== 'nats' || typeof stream !== 'string' || typeof seq !== 'number')
    throw new QueuePositionError(
      `position ${JSON.stringify(after)} is not a nats position: only copies of nats messages are looked up`,
    );
  return { queue, stream, committed: seq, epoch: typeof epoch === 'string' ? epoch : undefined };
}

/**
 * The ids of the copies that `subjects` of `stream` hold of the messages after `after`, when
 * its queue is in the same stream (a worker's rejects, from its shard or retry queue to its
 * retry and dead-letter queues). A copy is stored after its original, so each subject is read
 * forward from the original's sequence: every copy is found, after any downtime. Needs direct
 * gets (streams this backend creates allow them); without, the duplicate window alone keeps
 * a replay from being stored twice.
 */
export async function copiedInto(
  ctx: NatsContext,
  stream: string,
  after: QueuePosition,
  subjects: readonly string[],
): Promise<Set<string>> {
  const source = sourceOf(after);
  const copied = new Set<string>();
  try {
    for (const subject of subjects) {
      const ids = await idsOnSubjectAfter(ctx, stream, subject, source.committed);
      if (ids === undefined) {
        ctx.log.info(
          { stream, queue: source.queue },
          'the stream allows no direct gets: copies stored before a restart rely on the duplicate window',
        );
        return copied;
      }
      // The copies are in the source's own stream, so they are of its incarnation: a stream
      // created again has none of the old one's messages.
      for (const id of ids) {
        const copyOf = sourceOfId(id, source.queue, source.stream, source.epoch);
        if (copyOf !== undefined && copyOf.incarnation !== 'other' && copyOf.seq > source.committed)
          copied.add(id);
      }
    }
    return copied;
  } catch (err) {
    throw fromNatsError(err, `reading the copies of ${source.queue} in stream ${stream}`);
  }
}

/**
 * The `Nats-Msg-Id`s of `subject`'s messages in `stream` after sequence `after`, read forward
 * by direct batch gets; undefined when the stream allows none.
 */
export async function idsOnSubjectAfter(
  ctx: NatsContext,
  stream: string,
  subject: string,
  after: number,
): Promise<Set<string> | undefined> {
  const info = await ctx.jsm.streams.info(stream);
  if (!info.config.allow_direct) return undefined;
  const ids = new Set<string>();
  for (let seq = after + 1; seq <= info.state.last_seq;) {
    const batch = await directBatch(ctx, stream, seq, WINDOW, subject);
    for (const msg of batch) {
      const id = msgIdOf(msg);
      if (id) ids.add(id);
    }
    const last = batch.at(-1);
    if (last === undefined) break;
    seq = last.seq + 1;
  }
  return ids;
}

/**
 * Up to `batch` messages from `seq` on (of `subject` only, when given), by one direct batch
 * get; none when nothing matches.
 */
async function directBatch(
  ctx: NatsContext,
  stream: string,
  seq: number,
  batch: number,
  subject?: string,
): Promise<StoredMsg[]> {
  const found: StoredMsg[] = [];
  try {
    const messages = await ctx.jsm.direct.getBatch(stream, {
      seq,
      batch,
      ...(subject === undefined ? {} : { next_by_subj: subject }),
    });
    for await (const msg of messages) found.push(msg);
  } catch (err) {
    // A direct batch that matches nothing ends in a 404 status.
    if (!isNoMessage(err) && (err as { code?: unknown }).code !== 404) throw err;
  }
  return found;
}

/** A stored message's `Nats-Msg-Id`, if it has one. */
function msgIdOf(msg: StoredMsg | null | undefined): string | undefined {
  return msg?.header?.get('Nats-Msg-Id') || undefined;
}

/** How many of the shard stream's newest messages a look-back reads at most. */
export const COPIED_LOOK_BACK = 10_000;

/**
 * The ids of the copies `shardStream` holds of the messages after `after` in its source
 * queue: what a distributor restarted before committing them must not store again. JetStream
 * drops a replayed `Nats-Msg-Id` only within the stream's duplicate window; this works after
 * any downtime. The stream is read newest first down to the first copy of a message at or
 * before `after`, a committed position: a distributor commits only at the end of a batch,
 * once all its copies are stored (in any order), and stores nothing of the next batch
 * before that, so every copy older than a committed one is committed too.
 * Copies of other sources in between are passed over; a copy of the source stream's earlier
 * incarnation (message-id.ts) ends the look-back as a committed one does. When `lookBack` messages go by first,
 * the older ones are left to the duplicate window, with a warning.
 */
export async function copiedAfter(
  ctx: NatsContext,
  shardStream: string,
  after: QueuePosition,
  lookBack = COPIED_LOOK_BACK,
): Promise<Set<string>> {
  const { queue, stream, committed, epoch } = sourceOf(after);
  const copied = new Set<string>();
  try {
    const info = await ctx.jsm.streams.info(shardStream);
    const { first_seq: first, last_seq: last, messages } = info.state;
    if (messages === 0) return copied;
    const oldest = Math.max(first, 1, last - lookBack + 1);
    for (let end = last; end >= oldest; end -= WINDOW) {
      const start = Math.max(oldest, end - WINDOW + 1);
      const stored = await msgIdsBetween(ctx, shardStream, start, end, info.config.allow_direct);
      for (const { id, time } of stored.reverse()) {
        const source = sourceOfId(id, queue, stream, epoch);
        if (source === undefined) continue;
        // A copy of the source stream's earlier incarnation (deleted and created again, its
        // sequences starting over): older than every copy of this one, so the end as well.
        const earlier =
          source.incarnation === 'other' ||
          (source.incarnation === 'unmarked' && epoch !== undefined && time < epochMs(epoch));
        if (earlier || source.seq <= committed) return copied;
        copied.add(id);
      }
    }
    if (oldest > first)
      ctx.log.warn(
        { queue, shardStream, lookBack, found: copied.size },
        'looked back for copies stored before a restart as far as the look-back goes; older ones rely on the duplicate window',
      );
    return copied;
  } catch (err) {
    throw fromNatsError(err, `reading back the copies of ${queue} in stream ${shardStream}`);
  }
}

/** Messages read back per request. */
const WINDOW = 256;

/**
 * The `Nats-Msg-Id`s of the stream's messages `start` … `end` with when each was stored (ms),
 * oldest first (deleted messages and those without one left out): one direct batch get when
 * the stream allows direct gets, else one get per message.
 */
async function msgIdsBetween(
  ctx: NatsContext,
  stream: string,
  start: number,
  end: number,
  direct: boolean | undefined,
): Promise<{ id: string; time: number }[]> {
  const ids: { id: string; time: number }[] = [];
  const keep = (msg: StoredMsg | null | undefined) => {
    const id = msgIdOf(msg);
    if (msg && id && msg.seq <= end) ids.push({ id, time: msg.time.getTime() });
  };
  if (direct) {
    for (const msg of await directBatch(ctx, stream, start, end - start + 1)) keep(msg);
    return ids;
  }
  for (let seq = start; seq <= end; seq++) {
    try {
      keep(await ctx.jsm.streams.getMessage(stream, { seq }));
    } catch (err) {
      if (!isNoMessage(err)) throw err;
    }
  }
  return ids;
}
