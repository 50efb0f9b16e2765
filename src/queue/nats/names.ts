/** Queue and consumer names become subject tokens and consumer names: no dots, wildcards or spaces. */
const NAME = /^[A-Za-z0-9_-]{1,128}$/;

export function checkName(kind: string, name: string): void {
  if (!NAME.test(name)) {
    throw new RangeError(
      `${kind} name ${JSON.stringify(name)} cannot be used with the nats backend: it must be 1-128 characters of A-Z a-z 0-9 _ -`,
    );
  }
}

/** The subject of one queue: `<prefix>.<queue>`. */
export function subjectOf(prefix: string, queue: string): string {
  return `${prefix}.${queue}`;
}

/**
 * The durable consumer of `consumer` on `queue`. Consumer names are unique per stream, and
 * every worker reads its shard under the same name (`{src}`), so the queue is part of it. A
 * clash (`a_b` + `c` against `a` + `b_c`) is caught when opening: the filter subject differs.
 */
export function durableOf(queue: string, consumer: string): string {
  return `${queue}_${consumer}`;
}
