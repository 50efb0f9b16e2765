import { ShardDistributorError } from '../errors.ts';

export class UsageError extends ShardDistributorError {
  readonly usage: string;

  constructor(message: string, usage: string) {
    super('SD_ERR_USAGE', message);
    this.usage = usage;
  }
}
