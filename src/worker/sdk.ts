import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger, type Logger } from '../observability/index.ts';
import {
  QueueNotFoundError,
  type QueueBackend,
  type QueueConsumer,
  type QueuePosition,
} from '../queue/index.ts';
import { WorkerHandlerError } from './errors.ts';

/**
 * What a handler returns. Nothing (or undefined) means handled. Room to grow: a later version
 * adds `{ reject: reason }` for dead-lettering, so handlers written today keep working.
 */
export type HandlerResult = void | undefined;

export interface MessageContext {
  readonly queue: string;
  readonly consumer: string;
}

export type MessageHandler = (
  message: Uint8Array,
  context: MessageContext,
) => Promise<HandlerResult> | HandlerResult;

export interface RunWorkerOptions {
  readonly backend: QueueBackend;
  /** The shard queue to consume. */
  readonly queue: string;
  /** The consumer name (the original template's `--src`). */
  readonly consumer: string;
  readonly handler: MessageHandler;
  /** Pause when the queue is empty (or not created yet) before reading again. */
  readonly sleepEmptySec: number;
  /** Messages per read (default 100). */
  readonly batchSize?: number;
  /** Called after a batch is handled and before it is committed: flush what the handlers buffered. */
  readonly beforeCommit?: () => Promise<void> | void;
  /** Abort to stop: the batch in hand is finished and committed first. */
  readonly signal: AbortSignal;
  readonly log?: Logger;
}

export interface WorkerReport {
  /** Messages handled and committed. */
  readonly processed: number;
  readonly batches: number;
}

export const DEFAULT_WORKER_BATCH_SIZE = 100;
const MIN_IDLE_MS = 10;

/**
 * Consumes one queue until `signal` aborts: read a batch, hand each message to `handler` in
 * order, commit the batch. At least once: what was handled but not committed when the
 * process died is read again by the next worker of the shard. A handler that throws stops
 * the worker without committing its batch.
 */
export async function runWorker(options: RunWorkerOptions): Promise<WorkerReport> {
  const { backend, queue, consumer: name, handler, signal } = options;
  const log = (options.log ?? silentLogger).child({ queue, consumer: name });
  const batchSize = options.batchSize ?? DEFAULT_WORKER_BATCH_SIZE;
  // A floor, so `--sleep-empty 0` polls instead of spinning a core.
  const idleMs = Math.max(MIN_IDLE_MS, options.sleepEmptySec * 1000);
  let processed = 0;
  let batches = 0;

  const consumer = await openWhenCreated(backend, queue, name, idleMs, signal, log);
  if (!consumer) return { processed, batches };
  log.info({ batchSize }, 'worker consuming');
  const context: MessageContext = { queue, consumer: name };
  try {
    while (!signal.aborted) {
      const batch = await consumer.read(batchSize);
      if (batch.messages.length === 0) {
        // The position can move past set-aside data or an empty part without a message.
        if (!samePosition(batch.next, consumer.committed())) await consumer.commit(batch.next);
        await pause(idleMs, signal);
        continue;
      }
      for (const message of batch.messages) {
        try {
          await handler(message.data, context);
        } catch (err) {
          log.error({ err, processed }, 'message handler failed; batch not committed');
          throw new WorkerHandlerError(
            `the handler failed on a message of queue ${queue}; its batch was not committed and will be delivered again`,
            { cause: err },
          );
        }
      }
      await options.beforeCommit?.();
      await consumer.commit(batch.next);
      processed += batch.messages.length;
      batches += 1;
    }
  } finally {
    await consumer.close();
  }
  log.info({ processed, batches }, 'worker stopped');
  return { processed, batches };
}

/** The shard queue appears when the distributor first writes to it: wait for it. */
async function openWhenCreated(
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

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

function samePosition(a: QueuePosition, b: QueuePosition): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
