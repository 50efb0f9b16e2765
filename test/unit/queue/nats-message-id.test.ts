import { describe, expect, it } from 'vitest';
import {
  epochMs,
  messageIdOf,
  sourceOfId,
  streamEpoch,
} from '../../../src/queue/nats/message-id.ts';

const position = { backend: 'nats', queue: 'main', stream: 'SD_MAIN', seq: 42 };

describe('nats message ids', () => {
  it("carry the stream's incarnation when the position has one", () => {
    const epoch = streamEpoch('2026-11-24T16:15:25.635265112Z')!;
    expect(epochMs(epoch)).toBe(Date.parse('2026-11-24T16:15:25.635Z'));
    expect(messageIdOf({ ...position, epoch })).toBe(`main:SD_MAIN@${epoch}:42`);
    expect(messageIdOf(position)).toBe('main:SD_MAIN:42');
    expect(streamEpoch('not a time')).toBeUndefined();
  });

  it.each([
    ['main:SD_MAIN@abc:7', { seq: 7, incarnation: 'same' }],
    ['main:SD_MAIN@abd:7', { seq: 7, incarnation: 'other' }],
    ['main:SD_MAIN:7', { seq: 7, incarnation: 'unmarked' }],
    ['main:SD_MAIN2:7', undefined],
    ['main-retry:SD_MAIN:7', undefined],
    ['main:SD_MAIN@abc', undefined],
    ['main:SD_MAIN:', undefined],
    ['main:SD_MAIN:x', undefined],
  ])('reads %s as a copy of main in SD_MAIN (incarnation abc): %j', (id, expected) => {
    expect(sourceOfId(id, 'main', 'SD_MAIN', 'abc')).toEqual(expected);
  });
});
