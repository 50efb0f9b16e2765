import { describe, expect, it } from 'vitest';
import type { PoolConfig } from '../../../../src/config/index.ts';
import { configFor } from '../../../../src/operator/desired/index.ts';
import type { Load } from '../../../../src/operator/reconciler/load-reader.ts';
import {
  iniPlanOf,
  liveBacklog,
  loadShardsOf,
  retiringPoolFor,
} from '../../../../src/operator/reconciler/pool-plans.ts';
import { sample } from '../desired/samples.ts';

function load(
  shards: [
    pool: string | undefined,
    index: number,
    backlog: number,
    state: Load['shards'][number]['state'],
  ][],
): Load {
  return {
    mainLag: 0,
    updatedAt: '2025-03-01T12:00:00.000Z',
    shards: shards.map(([pool, index, backlog, state]) => ({
      ...(pool === undefined ? {} : { pool }),
      index,
      queue: `q-${index}`,
      backlog,
      dispatched: 0,
      live: state === 'live',
      state,
    })),
  };
}

const old: PoolConfig = {
  name: 'old',
  match: { messageType: 'v-s:Old' },
  minWorkers: 2,
  drainingShards: [3],
  movingShards: [3],
  strategy: 'ZeroLoadFirst',
  subQueuePrefix: 'old',
  workerModule: 'w',
  workerArgsTemplate: '{sub_queue_name}',
  backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
};

describe('one pool in /load', () => {
  const report = load([
    [undefined, 0, 5, 'live'],
    ['default', 1, 6, 'live'],
    ['large', 0, 100, 'live'],
    ['large', 1, 7, 'draining'],
  ]);

  it('takes the default pool’s shards as those without a pool (or named default)', () => {
    expect(loadShardsOf(report, 'default').map((s) => s.index)).toEqual([0, 1]);
    expect(loadShardsOf(report, 'large').map((s) => s.index)).toEqual([0, 1]);
  });

  it('weighs only a pool’s live shards for autoscaling', () => {
    expect(liveBacklog(loadShardsOf(report, 'large'))).toBe(100);
    expect(liveBacklog(loadShardsOf(report, 'default'))).toBe(11);
  });
});

describe('iniPlanOf', () => {
  const sd = sample('pools');
  const config = configFor(
    sd,
    { liveShards: 3, drainingShards: [4] },
    { pools: { large: { liveShards: 2, drainingShards: [2] } } },
  );

  it('reads each pool’s shard set back from its own section', () => {
    expect(iniPlanOf(config, { name: 'default', isDefault: true })).toEqual({
      liveShards: 3,
      drainingShards: [4],
    });
    expect(iniPlanOf(config, { name: 'large', isDefault: false })).toEqual({
      liveShards: 2,
      drainingShards: [2],
    });
  });

  it('knows no plan for a pool the INI does not have yet', () => {
    expect(iniPlanOf(config, { name: 'new', isDefault: false })).toBeUndefined();
    expect(iniPlanOf(undefined, { name: 'default', isDefault: true })).toBeUndefined();
  });
});

describe('a pool taken out of the spec', () => {
  it('stays in the INI with no live shard and every shard draining, workers running', () => {
    const retiring = retiringPoolFor('old', old, [0, 1, 3], undefined);
    expect(retiring.plan).toEqual({ liveShards: 0, drainingShards: [0, 1, 3] });
    expect(retiring.config).toEqual({
      ...old,
      movingShards: undefined,
      minWorkers: 0,
      drainingShards: [0, 1, 3],
    });
    expect(retiring.config).not.toHaveProperty('movingShards');
  });

  it('has the distributor move a stopped shard whose pods are gone, and only one still draining', () => {
    const report = load([
      ['old', 0, 3, 'draining'],
      ['old', 1, 4, 'draining'],
      ['old', 3, 0, 'drained'],
    ]);
    const retiring = retiringPoolFor('old', old, [0, 1, 3], report, [1, 3]);
    expect(retiring.plan.drainingShards).toEqual([0, 1]);
    expect(retiring.config).toMatchObject({ drainingShards: [0, 1], movingShards: [1] });
  });

  it('lets each shard go once the distributor reports it drained', () => {
    const report = load([
      ['old', 0, 0, 'drained'],
      ['old', 1, 4, 'draining'],
      ['old', 3, 0, 'drained'],
    ]);
    expect(retiringPoolFor('old', old, [0, 1, 3], report).plan.drainingShards).toEqual([1]);
  });

  it('leaves the INI once every shard is drained', () => {
    const report = load([
      ['old', 0, 0, 'drained'],
      ['old', 1, 0, 'drained'],
      ['old', 3, 0, 'drained'],
    ]);
    const retiring = retiringPoolFor('old', old, [0], report);
    expect(retiring.plan.drainingShards).toEqual([]);
    expect(retiring.config).toBeUndefined();
  });

  it('lets workers go that neither the INI nor the distributor knows a pool for', () => {
    const retiring = retiringPoolFor('ghost', undefined, [0, 1], load([]));
    expect(retiring.plan.drainingShards).toEqual([]);
    // Without a report, nothing is known: they stay.
    expect(retiringPoolFor('ghost', undefined, [0, 1], undefined).plan.drainingShards).toEqual([
      0, 1,
    ]);
  });
});
