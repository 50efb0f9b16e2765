import { ShardDistributorError } from '../../errors.ts';

/** A desired object cannot be built from what was given (a caller's mistake, not the user's spec). */
export class DesiredStateError extends ShardDistributorError {
  constructor(message: string) {
    super('SD_ERR_DESIRED_STATE', message);
  }
}
