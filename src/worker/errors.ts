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

/**
 * Thrown by a handler when the failure is not the message's fault (a database down, a full
 * disk): the worker stops without committing, and the message is delivered again to the next
 * worker of the shard. It is not a reject: it counts no attempt and never dead-letters.
 */
export class WorkerInfrastructureError extends ShardDistributorError {
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_WORKER_INFRASTRUCTURE', message, options);
  }
}

/** The worker's options do not fit together (e.g. a failure policy on veda without a journal directory). */
export class WorkerConfigError extends ShardDistributorError {
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_WORKER_CONFIG', message, options);
  }
}
