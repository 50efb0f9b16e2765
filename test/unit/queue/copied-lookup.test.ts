import { describe, expect, it } from 'vitest';
import { copiedLookupOf, type QueueBackend, type QueuePosition } from '../../../src/queue/index.ts';

/** A backend whose copiedAfter answers from `stored` as it is at the time of the call. */
function backendWith(stored: Set<string>): { backend: QueueBackend; asked: () => number } {
  let asked = 0;
  const backend = {
    copiedAfter: async () => {
      asked++;
      return new Set(stored);
    },
  } as unknown as QueueBackend;
  return { backend, asked: () => asked };
}

const from: QueuePosition = { backend: 'nats', queue: 'main', stream: 'SD_MAIN', seq: 10 };

describe('copiedLookupOf', () => {
  it('asks once per source queue, and again after forget (a rewind in this run)', async () => {
    const stored = new Set(['main:SD_MAIN:11']);
    const { backend, asked } = backendWith(stored);
    const lookup = copiedLookupOf(backend)!;
    expect(await lookup(from)).toEqual(new Set(['main:SD_MAIN:11']));
    // Stored since, and not committed: an outage lost the commit's ack.
    stored.add('main:SD_MAIN:12');
    expect(await lookup(from)).toEqual(new Set(['main:SD_MAIN:11']));
    expect(asked()).toBe(1);
    lookup.forget();
    expect(await lookup(from)).toEqual(new Set(['main:SD_MAIN:11', 'main:SD_MAIN:12']));
    expect(asked()).toBe(2);
  });

  it('is undefined for a backend that cannot look copies up (veda: its journals do it)', () => {
    expect(copiedLookupOf({} as QueueBackend)).toBeUndefined();
  });
});
