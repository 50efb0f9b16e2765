// The queues of a shard's failures. One worker per shard writes both, so each has a single
// writer, as every queue here does.

/** `<shard queue>-retry`: rejected messages waiting for their next attempt, in envelopes. */
export function retryQueueOf(shardQueue: string): string {
  return `${shardQueue}-retry`;
}

/** The shard queue whose retry queue `queue` is, or undefined when it is none. */
export function shardQueueOfRetry(queue: string): string | undefined {
  return queue.endsWith('-retry') ? queue.slice(0, -'-retry'.length) : undefined;
}

/** `<shard queue>-dlq`: messages rejected `max_attempts` times, in envelopes. */
export function deadLetterQueueOf(shardQueue: string): string {
  return `${shardQueue}-dlq`;
}

/**
 * `<pool prefix>-dlq`: what the distributor dead-letters for the pool (expired messages, in
 * envelopes of kind `expired`).
 */
export function poolDeadLetterQueueOf(subQueuePrefix: string): string {
  return `${subQueuePrefix}-dlq`;
}

/** `<main queue>-replay`: dead letters put back (`dlq replay`), read by the distributor like the main queue (veda: in the shard queues' directory). */
export function replayQueueOf(mainQueue: string): string {
  return `${mainQueue}-replay`;
}
