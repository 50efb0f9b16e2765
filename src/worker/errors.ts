import { ShardDistributorError } from '../errors.ts';

/** The worker's command line is wrong: an unknown flag, a missing one, a bad value. */
export class WorkerArgsError extends ShardDistributorError {
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_WORKER_ARGS', message, options);
  }
}

/**
 * A message handler threw. The batch it belonged to was not committed, so a restarted worker
 * gets it again.
 */
export class WorkerHandlerError extends ShardDistributorError {
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_WORKER_HANDLER', message, options);
  }
}
