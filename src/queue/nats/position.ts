import { QueuePositionError } from '../errors.ts';
import type { QueueMark, QueuePosition } from '../types.ts';

/**
 * Positions and marks are stream sequences: a consumer's position is the sequence of the last
 * message it read (or committed), a writer's mark the last sequence stored on its subject.
 * Sequences of other subjects in between do not matter: a consumer only sees its own.
 */
export interface NatsPlace {
  readonly stream: string;
  readonly seq: number;
  /** Positions only: the stream's incarnation (streamEpoch), which message ids carry. */
  readonly epoch?: string;
}

export function toPosition(queue: string, place: NatsPlace): QueuePosition {
  return {
    backend: 'nats',
    queue,
    stream: place.stream,
    seq: place.seq,
    ...(place.epoch === undefined ? {} : { epoch: place.epoch }),
  };
}

export function toMark(queue: string, place: NatsPlace): QueueMark {
  return { backend: 'nats', queue, stream: place.stream, seq: place.seq };
}

function read(
  kind: string,
  queue: string,
  stream: string,
  value: QueuePosition | QueueMark,
): NatsPlace {
  const seq = value['seq'];
  if (
    value.backend !== 'nats' ||
    value.queue !== queue ||
    value['stream'] !== stream ||
    typeof seq !== 'number' ||
    !Number.isSafeInteger(seq) ||
    seq < 0
  ) {
    throw new QueuePositionError(
      `${kind} ${JSON.stringify(value)} is not a nats ${kind} of queue ${queue} in stream ${stream}; a journal or caller mixed up queues or backends`,
    );
  }
  return { stream, seq };
}

export function fromPosition(queue: string, stream: string, position: QueuePosition): NatsPlace {
  return read('position', queue, stream, position);
}

export function fromMark(queue: string, stream: string, mark: QueueMark): NatsPlace {
  return read('mark', queue, stream, mark);
}
