import type { QueueBackend, QueuePosition } from './types.ts';

/** Ids of a source's messages after a position that the given queues already hold. */
export type CopiedLookup = (
  from: QueuePosition,
  into?: readonly string[],
) => Promise<ReadonlySet<string>>;

/** A CopiedLookup that remembers its answers until told to `forget` them. */
export type CachedCopiedLookup = CopiedLookup & {
  /**
   * Drops every answer: the next batch of each source asks again. For a rewind after a
   * failure in this run: copies stored but not committed before it (a commit whose ack was
   * lost in an outage) are not in an answer given before.
   */
  forget(): void;
};

/**
 * `backend.copiedAfter`, asked once per source queue, at its first batch or move: until a
 * rewind, only a run that crashed before this one can have left copies uncommitted, so the
 * answer stands for the later batches too (a failed lookup is asked again; `forget` after a
 * rewind). Undefined for a backend without it (veda, whose journals do that job).
 */
export function copiedLookupOf(backend: QueueBackend): CachedCopiedLookup | undefined {
  if (!backend.copiedAfter) return undefined;
  const lookup = backend.copiedAfter.bind(backend);
  const found = new Map<string, Promise<ReadonlySet<string>>>();
  const cached = (from: QueuePosition, into?: readonly string[]) => {
    let answer = found.get(from.queue);
    if (answer === undefined) {
      answer = lookup(from, into);
      found.set(from.queue, answer);
      answer.catch(() => found.delete(from.queue));
    }
    return answer;
  };
  return Object.assign(cached, { forget: () => found.clear() });
}
