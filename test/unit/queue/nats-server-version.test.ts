import { describe, expect, it } from 'vitest';
import { MIN_SERVER_VERSION, olderThanSupported } from '../../../src/queue/nats/server-version.ts';

describe('the nats-server versions the backend runs on', () => {
  it(`refuses servers older than ${MIN_SERVER_VERSION}, which cannot reset a consumer`, () => {
    for (const old of ['2.10.24', '2.13.9', '1.4.0', 'v2.11.0'])
      expect(olderThanSupported(old), old).toBe(true);
  });

  it('takes 2.14.0 and anything newer, and a version it cannot read', () => {
    for (const fine of ['2.14.0', '2.14.0-beta.1', '2.15.2', '3.0.0', undefined, 'dev'])
      expect(olderThanSupported(fine), String(fine)).toBe(false);
  });
});
