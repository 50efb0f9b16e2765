import { QueuePositionError } from '../errors.ts';
import type { QueueMark, QueuePosition } from '../types.ts';

/** A consumer's place: part id, byte offset in the part, records popped in the part (the pop-file fields). */
export interface VedaPlace {
  readonly part: number;
  readonly offset: number;
  readonly popped: number;
}

export function toPosition(queue: string, place: VedaPlace): QueuePosition {
  return { backend: 'veda', queue, part: place.part, offset: place.offset, popped: place.popped };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Reads back a position this backend made (from memory or from a journal). */
export function fromPosition(queue: string, position: QueuePosition): VedaPlace {
  const { backend, part, offset, popped } = position;
  if (
    backend !== 'veda' ||
    position.queue !== queue ||
    !isCount(part) ||
    !isCount(offset) ||
    !isCount(popped)
  ) {
    throw new QueuePositionError(
      `position ${JSON.stringify(position)} is not a veda position of queue ${queue}; a journal or caller mixed up queues or backends`,
    );
  }
  return { part, offset, popped };
}

/** A writer's durable state: part id, records and bytes published in it. */
export interface VedaMark {
  readonly part: number;
  readonly pushed: number;
  readonly bytes: number;
}

export function toMark(queue: string, mark: VedaMark): QueueMark {
  return { backend: 'veda', queue, part: mark.part, pushed: mark.pushed, bytes: mark.bytes };
}

export function fromMark(queue: string, mark: QueueMark): VedaMark {
  const { backend, part, pushed, bytes } = mark;
  if (
    backend !== 'veda' ||
    mark.queue !== queue ||
    !isCount(part) ||
    !isCount(pushed) ||
    !isCount(bytes)
  ) {
    throw new QueuePositionError(
      `mark ${JSON.stringify(mark)} is not a veda mark of queue ${queue}; a journal or caller mixed up queues or backends`,
    );
  }
  return { part, pushed, bytes };
}
