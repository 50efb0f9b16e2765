import { encodeEnvelope, type QueueMessage } from '../queue/index.ts';
import type { DeadLetterWrap } from './batch-protocol.ts';
import { deadlineOf } from './deadline.ts';
import { DEFAULT_POOL } from './pool-shards.ts';

/**
 * Expired messages as the dead-letter queue holds them: the payload, byte for byte, in an
 * envelope saying why, when, and where it was headed — what `dlq list|show` report and
 * `dlq replay` unwraps.
 */
export function expiredEnvelope(now: () => number): DeadLetterWrap {
  return (message: QueueMessage, target, source) => {
    const at = new Date(now()).toISOString();
    const deadline = deadlineOf(message);
    return encodeEnvelope(
      {
        kind: 'expired',
        reason: `deadline ${deadline === undefined ? '?' : new Date(deadline).toISOString()} passed before dispatch`,
        attempts: 0,
        shard: source,
        pool: target.pool ?? DEFAULT_POOL,
        firstFailedAt: at,
        lastFailedAt: at,
      },
      message.data,
    );
  };
}
