import { describe, expect, it } from 'vitest';
import { pressureOf } from '../../../src/distributor/backpressure.ts';

const shards = (...backlogs: number[]) => backlogs.map((backlog) => ({ backlog }));
const limits = (maxBacklogPerShard: number, maxDiskBytes = 0) => ({
  maxBacklogPerShard,
  maxDiskBytes,
});

describe('pressureOf: when a pool is full', () => {
  it('is full only when every live shard is at or over the backlog limit', () => {
    expect(pressureOf({ live: shards(5, 9), diskBytes: 0, limits: limits(5) })).toMatchObject({
      reason: 'BacklogLimit',
    });
    expect(pressureOf({ live: shards(5, 4), diskBytes: 0, limits: limits(5) })).toBeUndefined();
  });

  it('names the least loaded shard and the limit in its message', () => {
    expect(pressureOf({ live: shards(7, 12), diskBytes: 0, limits: limits(5) })?.message).toBe(
      'every live shard holds at least 7 messages, limit 5 per shard',
    );
  });

  it('is full when the pool uses its disk limit, whatever the backlogs', () => {
    expect(
      pressureOf({ live: shards(0, 0), diskBytes: 4096, limits: limits(0, 4096) }),
    ).toMatchObject({ reason: 'DiskLimit' });
    expect(
      pressureOf({ live: shards(0), diskBytes: 4095, limits: limits(0, 4096) }),
    ).toBeUndefined();
  });

  it('ignores the disk limit where the backend cannot measure it (nats)', () => {
    expect(
      pressureOf({ live: shards(0), diskBytes: undefined, limits: limits(0, 1) }),
    ).toBeUndefined();
  });

  it('is never full with limits off, without limits, or without live shards', () => {
    expect(
      pressureOf({ live: shards(1e9), diskBytes: 1e12, limits: limits(0, 0) }),
    ).toBeUndefined();
    expect(pressureOf({ live: shards(1e9), diskBytes: 1e12, limits: undefined })).toBeUndefined();
    expect(pressureOf({ live: [], diskBytes: 1e12, limits: limits(1, 1) })).toBeUndefined();
  });
});
