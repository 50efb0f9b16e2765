import type { QueueBackend, QueuePosition } from './types.ts';

/** Ids of a source's messages after a position that the given queues already hold. */
export type CopiedLookup = (
  from: QueuePosition,
  into?: readonly string[],
) => Promise<ReadonlySet<string>>;

/**
 * `backend.copiedAfter`, asked once per source queue, at its first batch or move: only a run
 * that crashed before this one can have left copies uncommitted, so the answer stands for
 * the later ones too (a failed lookup is asked again). Undefined for a backend without it
 * (veda, whose journals do that job).
 */
export function copiedLookupOf(backend: QueueBackend): CopiedLookup | undefined {
  if (!backend.copiedAfter) return undefined;
  const lookup = backend.copiedAfter.bind(backend);
  const found = new Map<string, Promise<ReadonlySet<string>>>();
  return (from, into) => {
    let answer = found.get(from.queue);
    if (answer === undefined) {
      answer = lookup(from, into);
      found.set(from.queue, answer);
      answer.catch(() => found.delete(from.queue));
    }
    return answer;
  };
}
