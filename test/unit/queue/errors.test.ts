import { describe, expect, it } from 'vitest';
import { ShardDistributorError } from '../../../src/errors.ts';
import { fromFsError } from '../../../src/queue/errors.ts';
import { QueueCorruptError, QueueFullError, QueueTimeoutError } from '../../../src/queue/index.ts';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(code), { code });
}

describe('queue errors', () => {
  it('turns a full disk into a retryable QueueFullError that keeps its cause', () => {
    const cause = errno('ENOSPC');
    const err = fromFsError(cause, 'appending to queue q');
    expect(err).toBeInstanceOf(QueueFullError);
    expect(err).toBeInstanceOf(ShardDistributorError);
    expect(err).toMatchObject({
      code: 'SD_ERR_QUEUE_FULL',
      retryable: true,
      cause,
      name: 'QueueFullError',
    });
    expect(fromFsError(errno('EDQUOT'), 'x')).toBeInstanceOf(QueueFullError);
  });

  it('passes other file-system errors through unchanged', () => {
    const cause = errno('EIO');
    expect(fromFsError(cause, 'x')).toBe(cause);
  });

  it('tells faults from retries by class', () => {
    expect(new QueueCorruptError('x')).toMatchObject({
      code: 'SD_ERR_QUEUE_CORRUPT',
      retryable: false,
    });
    expect(new QueueTimeoutError('x')).toMatchObject({
      code: 'SD_ERR_QUEUE_TIMEOUT',
      retryable: true,
    });
  });
});
