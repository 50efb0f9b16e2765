import type { QueuePosition } from '../types.ts';

/**
 * The msgID for a shard message copied from the main queue message at `position`:
 * `<queue>:<stream>:<seq>` for nats positions, the position's JSON for others. Stable across
 * restarts, so JetStream drops a replay of the same source message.
 */
export function messageIdOf(position: QueuePosition): string {
  const { backend, queue, stream, seq } = position;
  if (backend === 'nats' && typeof stream === 'string' && typeof seq === 'number') {
    return `${queue}:${stream}:${seq}`;
  }
  return JSON.stringify(position);
}

/** The source sequence a `messageIdOf` msgID names, if it is of `queue` in `stream`. */
export function sourceSeqOf(id: string, queue: string, stream: string): number | undefined {
  const prefix = `${queue}:${stream}:`;
  if (!id.startsWith(prefix)) return undefined;
  const seq = Number(id.slice(prefix.length));
  return Number.isSafeInteger(seq) ? seq : undefined;
}
