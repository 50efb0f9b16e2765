import { ShardDistributorError } from '../errors.ts';

/** The journal of an interrupted batch does not match the main queue: refusing to guess. */
export class JournalMismatchError extends ShardDistributorError {
  constructor(message: string) {
    super('SD_ERR_JOURNAL_MISMATCH', message);
  }
}

export class JournalCorruptError extends ShardDistributorError {
  constructor(file: string, cause: unknown) {
    super(
      'SD_ERR_JOURNAL_CORRUPT',
      `batch journal ${file} cannot be read (${(cause as Error).message}); it is written atomically, so this ` +
        'means it was edited or the disk is failing: inspect it, then move it aside to start from the committed main-queue position',
      { cause },
    );
  }
}

/** Thrown by a failpoint in tests that crash the distributor in-process. */
export class FailpointError extends ShardDistributorError {
  constructor(name: string) {
    super('SD_ERR_FAILPOINT', `failpoint ${name} hit`);
  }
}
