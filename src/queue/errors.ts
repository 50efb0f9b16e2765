import { ShardDistributorError } from '../errors.ts';

/**
 * Queue failures, one class each. `retryable` tells a caller whether the same call can succeed
 * later without a person doing something (a full disk gets freed, a timeout passes) or whether
 * it is a fault (a closed handle, a position from another queue).
 */
export abstract class QueueError extends ShardDistributorError {
  abstract readonly retryable: boolean;
}

/** A queue (or a part, or a file of it) that should exist does not. */
export class QueueNotFoundError extends QueueError {
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_QUEUE_NOT_FOUND', message, options);
  }
}

/** Data that cannot be used as it is (and could not be set aside automatically). */
export class QueueCorruptError extends QueueError {
  readonly retryable = false;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_QUEUE_CORRUPT', message, options);
  }
}

/** A consumer, writer or backend used after `close`. */
export class QueueClosedError extends QueueError {
  readonly retryable = false;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_QUEUE_CLOSED', message, options);
  }

  /** `handle` ("writer of queue q", …) used after its own `close`. */
  static of(handle: string): QueueClosedError {
    return new QueueClosedError(`${handle} is closed; open a new one`);
  }
}

/**
 * The backend's client closed its connection for good on its own (NATS: the same
 * authorisation error twice while reconnecting). Nothing in this process can reopen it: a
 * caller stops and lets the process exit, for its supervisor to restart.
 */
export class QueueConnectionClosedError extends QueueClosedError {}

/** No space left on the device (or quota exceeded): nothing of the batch became visible. */
export class QueueFullError extends QueueError {
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_QUEUE_FULL', message, options);
  }
}

/**
 * The server refused what its user may not do (NATS: a permissions violation on a publish or
 * a subscription). A person has to grant it; retried meanwhile, as the refusal ends the moment
 * the grant reaches the server, and a restart would change nothing.
 */
export class QueuePermissionError extends QueueError {
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_QUEUE_PERMISSION', message, options);
  }
}

/**
 * One message is bigger than the backend takes (NATS: the server's max_payload, counting the
 * headers a copy carries). Retried: raising the limit lets it through, and nothing after it
 * may pass it.
 */
export class QueueMessageTooLargeError extends QueueError {
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_QUEUE_MESSAGE_TOO_LARGE', message, options);
  }
}

/** The backend did not answer in time. */
export class QueueTimeoutError extends QueueError {
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_QUEUE_TIMEOUT', message, options);
  }
}

/** Another live writer holds the queue. */
export class QueueLockedError extends QueueError {
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_QUEUE_LOCKED', message, options);
  }
}

/** A position or mark that does not belong to this backend or queue. */
export class QueuePositionError extends QueueError {
  readonly retryable = false;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_QUEUE_POSITION', message, options);
  }
}

function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/** Maps a file-system error to its queue error where one fits (ENOSPC → full); others pass through. */
export function fromFsError(err: unknown, what: string): unknown {
  const code = errnoCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new QueueFullError(
      `${what}: no space left on the device; free disk space (or enable retention) and retry`,
      {
        cause: err,
      },
    );
  }
  return err;
}

export function isNotFound(err: unknown): boolean {
  return errnoCode(err) === 'ENOENT';
}

export function isAlreadyExists(err: unknown): boolean {
  return errnoCode(err) === 'EEXIST';
}
