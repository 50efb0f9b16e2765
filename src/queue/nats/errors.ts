import { JetStreamApiError } from '@nats-io/jetstream';
import {
  ClosedConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import {
  QueueClosedError,
  QueueError,
  QueueFullError,
  QueueNotFoundError,
  QueuePermissionError,
  QueueTimeoutError,
} from '../errors.ts';

/**
 * A stream or consumer exists on the server with a configuration we cannot use as it is (a
 * stream that does not capture our subjects, a durable consumer filtered on another subject,
 * a server too old for consumer reset). A person has to change the server or the INI.
 */
export class QueueConflictError extends QueueError {
  readonly retryable = false;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_QUEUE_CONFLICT', message, options);
  }
}

/** JetStream API error codes (nats-server's jetstream_errors_generated.go) we map. */
const API = {
  consumerNotFound: 10014,
  streamNotFound: 10059,
  insufficientResources: 10023,
  memoryExceeded: 10028,
  storageExceeded: 10047,
  storeFailed: 10077,
} as const;

/** Store failures of a stream with `discard: new` that reached a limit. */
const LIMIT_REACHED = /maximum (bytes|messages|messages per subject) exceeded/i;

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && chain.length < 5;) {
    chain.push(e);
    e = e instanceof Error ? e.cause : undefined;
  }
  return chain;
}

/**
 * Maps an error of the NATS client onto the queue's error classes, so callers can tell a
 * retry (full, timeout, not found) from a fault (closed). Our own errors and anything
 * unknown pass through unchanged.
 */
export function fromNatsError(err: unknown, what: string): unknown {
  if (err instanceof QueueError) return err;
  for (const e of causes(err)) {
    if (e instanceof JetStreamApiError) {
      if (e.code === API.consumerNotFound || e.code === API.streamNotFound) {
        return new QueueNotFoundError(`${what}: ${e.message}`, { cause: err });
      }
      if (
        e.code === API.insufficientResources ||
        e.code === API.memoryExceeded ||
        e.code === API.storageExceeded ||
        (e.code === API.storeFailed && LIMIT_REACHED.test(e.message))
      ) {
        return new QueueFullError(
          `${what}: JetStream refused the message (${e.message}); raise the stream's limits or let its consumers catch up, then retry`,
          { cause: err },
        );
      }
      if (e.status === 503) {
        return new QueueTimeoutError(
          `${what}: JetStream is temporarily unavailable (${e.message}); retry`,
          { cause: err },
        );
      }
    }
    if (e instanceof Error && LIMIT_REACHED.test(e.message)) {
      return new QueueFullError(
        `${what}: JetStream refused the message (${e.message}); raise the stream's limits or let its consumers catch up, then retry`,
        { cause: err },
      );
    }
    if (e instanceof PermissionViolationError) return permissionError(e, what);
    if (e instanceof ClosedConnectionError || e instanceof DrainingConnectionError) {
      return new QueueClosedError(`${what}: the NATS connection is closed`, { cause: err });
    }
    if (e instanceof TimeoutError || e instanceof NoRespondersError) {
      return new QueueTimeoutError(
        `${what}: JetStream did not answer in time (server restarting or unreachable); retry`,
        { cause: err },
      );
    }
  }
  if (err instanceof RequestError) {
    return new QueueTimeoutError(`${what}: ${err.message}; retry`, { cause: err });
  }
  return err;
}

export function isNotFound(err: unknown): boolean {
  return fromNatsError(err, '') instanceof QueueNotFoundError;
}

/**
 * What the server refused its user, named with the subject and where to grant it: a refused
 * request or publish otherwise looks like a server that does not answer.
 */
export function permissionError(e: PermissionViolationError, what: string): QueuePermissionError {
  const verb = e.operation === 'subscription' ? 'subscribe to' : 'publish to';
  const grant = e.operation === 'subscription' ? 'subscribe' : 'publish';
  return new QueuePermissionError(
    `${what}: the NATS server does not allow this connection's user to ${verb} ${e.subject} (${e.message}); grant it in the user's permissions (${grant}.allow); retrying meanwhile`,
    { cause: e },
  );
}
