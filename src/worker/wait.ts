import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/index.ts';
import { QueueNotFoundError, type QueueBackend, type QueueConsumer } from '../queue/index.ts';

/** The shard queue appears when the distributor first writes to it: wait for it. */
export async function openWhenCreated(
  backend: QueueBackend,
  queue: string,
  name: string,
  idleMs: number,
  signal: AbortSignal,
  log: Logger,
): Promise<QueueConsumer | undefined> {
  let waiting = false;
  while (!signal.aborted) {
    try {
      return await backend.openConsumer(queue, name);
    } catch (err) {
      if (!(err instanceof QueueNotFoundError)) throw err;
      if (!waiting) log.info({ retryMs: idleMs }, 'queue not created yet, waiting');
      waiting = true;
    }
    await pause(idleMs, signal);
  }
  return undefined;
}

export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}
