import { silentLogger } from '../observability/index.ts';
import { runFailureWorker } from './failure-worker.ts';
import { WorkerHandlerError } from './errors.ts';
import { samePosition, type QueueMessage } from '../queue/index.ts';
import type { MessageContext, RunWorkerOptions, WorkerReport } from './types.ts';
import { openWhenCreated, pause } from './wait.ts';

export const DEFAULT_WORKER_BATCH_SIZE = 100;
const MIN_IDLE_MS = 10;

/**
 * Consumes one queue until `signal` aborts: read a batch, hand each message to `handler` in
 * order, commit the batch. Aborted mid-batch, it commits what was handled and leaves the rest
 * (the handler sees the signal in its context, for work it can cut short). At least once: what was handled but not committed when the
 * process died is read again by the next worker of the shard. With `failure`, rejected
 * messages follow the failure policy (see runFailureWorker); without it a handler that
 * throws or rejects stops the worker without committing its batch.
 */
export async function runWorker(options: RunWorkerOptions): Promise<WorkerReport> {
  const { backend, queue, consumer: name, handler, signal } = options;
  const log = (options.log ?? silentLogger).child({ queue, consumer: name });
  const batchSize = options.batchSize ?? DEFAULT_WORKER_BATCH_SIZE;
  // A floor, so `--sleep-empty 0` polls instead of spinning a core.
  const idleMs = Math.max(MIN_IDLE_MS, options.sleepEmptySec * 1000);
  if (options.failure) {
    return runFailureWorker({ ...options, failure: options.failure }, { log, batchSize, idleMs });
  }
  let processed = 0;
  let batches = 0;

  const consumer = await openWhenCreated(backend, queue, name, idleMs, signal, log);
  if (!consumer) return { processed, batches };
  log.info({ batchSize }, 'worker consuming');
  const context: MessageContext = { queue, consumer: name, attempt: 1, signal };
  const contextOf = (message: QueueMessage): MessageContext =>
    message.headers ? { ...context, headers: message.headers } : context;
  try {
    while (!signal.aborted) {
      const batch = await consumer.read(batchSize);
      if (batch.messages.length === 0) {
        // The position can move past set-aside data or an empty part without a message.
        if (!samePosition(batch.next, consumer.committed())) await consumer.commit(batch.next);
        await pause(idleMs, signal);
        continue;
      }
      let handled = 0;
      for (const message of batch.messages) {
        // Stopped: the rest of the batch is the next worker's. Finishing it could outlast the
        // grace period, and a worker killed then hands the whole batch out again.
        if (signal.aborted) break;
        let failure: unknown;
        try {
          const result = await handler(message.data, contextOf(message));
          if (result && typeof result === 'object' && 'reject' in result) {
            failure = new Error(`rejected without a failure policy: ${result.reject}`);
          }
        } catch (err) {
          // Cut short by the stop: this message is the next worker's, what came before is done.
          if (signal.aborted) break;
          failure = err;
        }
        if (failure !== undefined) {
          log.error({ err: failure, processed }, 'message handler failed; batch not committed');
          throw new WorkerHandlerError(
            `the handler failed on a message of queue ${queue}; its batch was not committed and will be delivered again`,
            { cause: failure },
          );
        }
        handled += 1;
      }
      if (handled === 0) break;
      await options.beforeCommit?.();
      const whole = handled === batch.messages.length;
      await consumer.commit(whole ? batch.next : batch.messages[handled - 1]!.position);
      processed += handled;
      batches += 1;
    }
  } finally {
    await consumer.close();
  }
  log.info({ processed, batches }, 'worker stopped');
  return { processed, batches };
}
