import type { QueuePosition } from '../types.ts';

/**
 * The msgID for a shard message copied from the main queue message at `position`:
 * `<queue>:<stream>@<epoch>:<seq>` for nats positions (`<queue>:<stream>:<seq>` for one
 * without an epoch, as every id was before epochs), the position's JSON for others. Stable
 * across restarts, so JetStream drops a replay of the same source message. The epoch names
 * the stream's incarnation (`streamEpoch`): a stream deleted and created again numbers its
 * messages from 1 again, and without it their copies would take the ids of the old ones' —
 * dropped by JetStream's duplicate window, or passed over as already copied.
 */
export function messageIdOf(position: QueuePosition): string {
  const { backend, queue, stream, seq, epoch } = position;
  if (backend === 'nats' && typeof stream === 'string' && typeof seq === 'number') {
    return typeof epoch === 'string'
      ? `${queue}:${stream}@${epoch}:${seq}`
      : `${queue}:${stream}:${seq}`;
  }
  return JSON.stringify(position);
}

/** A stream's incarnation, from its creation time (`StreamInfo.created`): milliseconds, base 36. */
export function streamEpoch(created: string): string | undefined {
  const ms = Date.parse(created);
  return Number.isFinite(ms) ? ms.toString(36) : undefined;
}

/** When the incarnation `epoch` names was created, in milliseconds. */
export function epochMs(epoch: string): number {
  return parseInt(epoch, 36);
}

/**
 * What a `messageIdOf` msgID says about a message of `queue` in `stream`: undefined when it is
 * the copy of another queue's message; else the source sequence, and whether the id names
 * the incarnation `epoch` (`same`), another one (`other`), or none (`unmarked`, written
 * before ids carried one).
 */
export function sourceOfId(
  id: string,
  queue: string,
  stream: string,
  epoch: string | undefined,
): { seq: number; incarnation: 'same' | 'other' | 'unmarked' } | undefined {
  const prefix = `${queue}:${stream}`;
  if (!id.startsWith(prefix)) return undefined;
  const rest = id.slice(prefix.length);
  // Queue and stream names hold no ':' or '@' (checkName), so the next character decides.
  let incarnation: 'same' | 'other' | 'unmarked';
  let seqText: string;
  if (rest.startsWith(':')) {
    incarnation = 'unmarked';
    seqText = rest.slice(1);
  } else if (rest.startsWith('@')) {
    const colon = rest.indexOf(':');
    if (colon < 0) return undefined;
    incarnation = rest.slice(1, colon) === epoch ? 'same' : 'other';
    seqText = rest.slice(colon + 1);
  } else {
    return undefined;
  }
  const seq = Number(seqText);
  return seqText !== '' && Number.isSafeInteger(seq) ? { seq, incarnation } : undefined;
}
