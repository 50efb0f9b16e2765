import { ShardDistributorError } from '../../errors.ts';

export class NoLiveShardError extends ShardDistributorError {
  constructor() {
    super(
      'SD_ERR_NO_LIVE_SHARD',
      'No live shard to assign messages to: every shard is removed or draining. ' +
        'Keep at least one shard live (minWorkers >= 1).',
    );
  }
}

export class DuplicateShardError extends ShardDistributorError {
  readonly index: number;

  constructor(index: number) {
    super(
      'SD_ERR_DUPLICATE_SHARD',
      `Shard ${index} appears twice in the live shard set; pass each live shard once.`,
    );
    this.index = index;
  }
}

export class StrategyOptionError extends ShardDistributorError {
  constructor(message: string) {
    super('SD_ERR_STRATEGY_OPTION', message);
  }
}
