import { nanos, millis } from '@nats-io/transport-node';
import { QueueNotFoundError } from '../errors.ts';
import type { NatsContext } from './context.ts';
import { QueueConflictError, fromNatsError, isNotFound } from './errors.ts';
import { MIN_DUPLICATE_WINDOW_MS } from './options.ts';

/**
 * Creates the stream holding `<prefix>.>` if it is missing. An existing stream (made by an
 * administrator, with limits and replicas of their choosing) is used as it is, unless its
 * retention would lose messages (refused); memory storage, dropping the oldest when full and
 * a duplicate window too short for replays to be dropped are reported.
 */
export async function ensureStream(
  ctx: NatsContext,
  stream: string,
  prefix: string,
): Promise<void> {
  const what = `stream ${stream}`;
  try {
    const info = await ctx.jsm.streams.info(stream);
    checkExistingStream(ctx, stream, info.config);
    const window = millis(info.config.duplicate_window);
    if (window < MIN_DUPLICATE_WINDOW_MS) {
      ctx.log.warn(
        { stream, duplicateWindowMs: window, minimumMs: MIN_DUPLICATE_WINDOW_MS },
        'stream duplicate window is short: a publish retried after it (a timeout) may be stored twice',
      );
    }
    return;
  } catch (err) {
    if (!isNotFound(err)) throw fromNatsError(err, what);
  }
  try {
    await ctx.jsm.streams.add({
      name: stream,
      subjects: [`${prefix}.>`],
      retention: 'limits',
      storage: 'file',
      // A full stream refuses new messages (QueueFullError) rather than dropping unread ones.
      discard: 'new',
      duplicate_window: nanos(ctx.options.duplicateWindowMs),
      num_replicas: ctx.options.replicas,
      // Lets `queue tail` read by subject without creating a consumer.
      allow_direct: true,
    });
    ctx.log.info({ stream, subjects: `${prefix}.>` }, 'stream created');
  } catch (err) {
    // Another process may have created it at the same moment: fine if it exists now.
    try {
      await ctx.jsm.streams.info(stream);
    } catch {
      throw new QueueConflictError(
        `could not create JetStream stream ${stream} for subjects ${prefix}.>: ${(err as Error).message}; another stream may already hold these subjects`,
        { cause: err },
      );
    }
  }
}

/**
 * What of an existing stream's configuration the queues cannot live with. `interest`
 * retention drops a message no consumer is interested in yet (a shard copy stored before its
 * worker's consumer exists) and `workqueue` allows one consumer per subject (the look-backs
 * and `queue` commands read with more): refused. Memory storage (a server restart loses
 * everything) and `discard: old` (a full stream drops the oldest, unread messages) are
 * allowed, with a warning.
 */
function checkExistingStream(
  ctx: NatsContext,
  stream: string,
  config: { retention?: string; storage?: string; discard?: string },
): void {
  if (config.retention !== undefined && config.retention !== 'limits') {
    throw new QueueConflictError(
      `JetStream stream ${stream} has retention ${config.retention}, which drops messages the queues still need; use a stream with retention limits (or let shard-distributor create it)`,
    );
  }
  if (config.storage === 'memory')
    ctx.log.warn(
      { stream },
      'stream keeps its messages in memory: a nats-server restart loses every queued message',
    );
  if (config.discard === 'old')
    ctx.log.warn(
      { stream },
      'stream discards its oldest messages when full: unread messages can be dropped; discard new makes a full stream refuse instead',
    );
}

/** Checks that the subject of a queue is stored by the stream we expect (an existing stream may not capture it). */
export async function checkCaptures(
  ctx: NatsContext,
  stream: string,
  subject: string,
): Promise<void> {
  let found: string;
  try {
    found = await ctx.jsm.streams.find(subject);
  } catch (err) {
    const mapped = fromNatsError(err, `looking up the stream of ${subject}`);
    if (mapped instanceof QueueNotFoundError || (err as Error).message.includes('no stream')) {
      throw new QueueConflictError(
        `no JetStream stream stores subject ${subject} (expected ${stream}); add the subject to the stream or fix [nats] main_stream / shard_stream`,
        { cause: err },
      );
    }
    throw mapped;
  }
  if (found !== stream) {
    throw new QueueConflictError(
      `subject ${subject} is stored by stream ${found}, not ${stream}; fix [nats] main_stream / shard_stream`,
    );
  }
}

/** Messages of `subject` in the stream now. */
export async function subjectCount(
  ctx: NatsContext,
  stream: string,
  subject: string,
): Promise<number> {
  try {
    const info = await ctx.jsm.streams.info(stream, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  } catch (err) {
    throw fromNatsError(err, `reading stream ${stream}`);
  }
}

/** The stream sequence of the last message of `subject`, 0 when it has none. */
export async function lastSeqOf(
  ctx: NatsContext,
  stream: string,
  subject: string,
): Promise<number> {
  try {
    const msg = await ctx.jsm.streams.getMessage(stream, { last_by_subj: subject });
    return msg?.seq ?? 0;
  } catch (err) {
    if (isNoMessage(err)) return 0;
    throw fromNatsError(err, `reading the last message of ${subject}`);
  }
}

/** Messages of `subject` with a stream sequence above `seq`, counted by a throwaway consumer. */
export async function countAfter(
  ctx: NatsContext,
  stream: string,
  subject: string,
  seq: number,
): Promise<number> {
  let name: string | undefined;
  try {
    const info = await ctx.jsm.consumers.add(stream, {
      filter_subject: subject,
      deliver_policy: 'by_start_sequence',
      opt_start_seq: seq + 1,
      ack_policy: 'none',
      mem_storage: true,
      inactive_threshold: nanos(30_000),
    });
    name = info.name;
    return info.num_pending;
  } catch (err) {
    throw fromNatsError(err, `counting messages of ${subject} after sequence ${seq}`);
  } finally {
    if (name !== undefined) {
      // The inactive threshold removes it anyway if this fails.
      await ctx.jsm.consumers.delete(stream, name).catch(() => undefined);
    }
  }
}

export function isNoMessage(err: unknown): boolean {
  return (
    err instanceof Error && ('code' in err ? (err as { code: unknown }).code === 10037 : false)
  );
}
