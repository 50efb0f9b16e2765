// The worker room's public surface: the SDK for TypeScript workers and the reference worker the CLI runs.
export { runWorker, DEFAULT_WORKER_BATCH_SIZE } from './sdk.ts';
export type {
  HandlerResult,
  MessageContext,
  MessageHandler,
  MessageHeaders,
  RunWorkerOptions,
  WorkerFailureOptions,
  WorkerFailpoint,
  WorkerReport,
} from './types.ts';
export { main as workerMain } from './reference-worker.ts';
export type { ReferenceWorkerOptions } from './reference-worker.ts';
export { parseWorkerArgs, WORKER_USAGE } from './cli-args.ts';
export type { WorkerArgs, WorkerBackend } from './cli-args.ts';
export { encodeOutputLine, decodeOutputLine } from './output-line.ts';
export {
  WorkerArgsError,
  WorkerConfigError,
  WorkerHandlerError,
  WorkerInfrastructureError,
} from './errors.ts';
export {
  deadLetterQueueOf,
  poolDeadLetterQueueOf,
  replayQueueOf,
  retryQueueOf,
} from '../config/index.ts';
// A worker's move journal cannot be used (unreadable, or not of its queue): move it aside.
export { MoveJournalError } from '../queue/index.ts';
export { workerMetrics } from './metrics.ts';
export type { RejectOutcome, WorkerMetrics } from './metrics.ts';
