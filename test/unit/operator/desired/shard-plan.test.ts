import { describe, expect, it } from 'vitest';
import { nextShardPlan, shardsWithWorkers } from '../../../../src/operator/desired/index.ts';

describe('nextShardPlan', () => {
  it('adds live shards when the count grows', () => {
    expect(nextShardPlan({ liveShards: 4, drainingShards: [] }, 6)).toEqual({
      liveShards: 6,
      drainingShards: [],
    });
  });

  it('drains the shards that leave the live set', () => {
    expect(nextShardPlan({ liveShards: 6, drainingShards: [] }, 4)).toEqual({
      liveShards: 4,
      drainingShards: [4, 5],
    });
  });

  it('keeps draining what was draining until it is drained', () => {
    expect(nextShardPlan({ liveShards: 4, drainingShards: [4, 5] }, 3, [5])).toEqual({
      liveShards: 3,
      drainingShards: [3, 4],
    });
  });

  it('brings a draining shard back when the count grows over it again', () => {
    expect(nextShardPlan({ liveShards: 4, drainingShards: [4, 5, 6] }, 6)).toEqual({
      liveShards: 6,
      drainingShards: [6],
    });
  });

  it('is stable when nothing changes', () => {
    const plan = { liveShards: 4, drainingShards: [5] };
    expect(nextShardPlan(plan, 4)).toEqual(plan);
  });
});

describe('shardsWithWorkers', () => {
  it('lists live then draining shards', () => {
    expect(shardsWithWorkers({ liveShards: 3, drainingShards: [5, 4] })).toEqual([0, 1, 2, 4, 5]);
  });
});
