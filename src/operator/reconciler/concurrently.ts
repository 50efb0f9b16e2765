/**
 * Runs `task` on every item, at most `limit` at a time, and waits for all of them to settle
 * before it returns or throws: a failed write never leaves others still running behind the
 * reconcile that started them. The first failure (in item order) is rethrown; each other
 * one goes to `otherFailure`, so that none is lost. Once `signal` fires no item is started
 * (leadership lost: another leader may be writing), and the abort is thrown if nothing failed.
 */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
  otherFailure: (item: T, error: unknown) => void = () => undefined,
  signal?: AbortSignal,
): Promise<void> {
  const failures: { index: number; error: unknown }[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length && !signal?.aborted) {
      const index = next++;
      try {
        await task(items[index]!);
      } catch (error) {
        failures.push({ index, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failures.length === 0) {
    signal?.throwIfAborted();
    return;
  }
  const [first, ...others] = failures.sort((a, b) => a.index - b.index);
  for (const { index, error } of others) otherFailure(items[index]!, error);
  throw first!.error;
}
