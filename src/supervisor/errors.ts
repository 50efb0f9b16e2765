import { ShardDistributorError } from '../errors.ts';

/** The worker command rendered from the config cannot be started as it is. */
export class WorkerCommandError extends ShardDistributorError {
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_WORKER_COMMAND', message, options);
  }
}
