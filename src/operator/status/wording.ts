/** `1 worker`, `3 workers`: a count with its noun, as conditions and Events print them. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `shard 2`, `shards 1, 2`. */
export function shardList(shards: readonly (number | string)[]): string {
  return `${shards.length === 1 ? 'shard' : 'shards'} ${shards.join(', ')}`;
}

/** The ScaledUp Event's sentence; `which` is `pool NAME ` or empty for the default pool. */
export function scaledUpMessage(which: string, from: number, to: number, why: string): string {
  return `${which}scaled up from ${from} to ${count(to, 'worker')}: ${why}`;
}

/** The ScalingDown Event's sentence: the shards leaving drain before their workers go. */
export function scalingDownMessage(
  which: string,
  from: number,
  to: number,
  why: string,
  draining: readonly number[],
): string {
  const drain = draining.length === 1 ? 'drains' : 'drain';
  return `${which}scaling down from ${from} to ${count(to, 'worker')}: ${why}; ${shardList(draining)} ${drain} first`;
}
