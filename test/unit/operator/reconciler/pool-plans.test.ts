import { describe, expect, it } from 'vitest';
import type { PoolConfig } from '../../../../src/config/index.ts';
import { configFor } from '../../../../src/operator/desired/index.ts';
import type { Load } from '../../../../src/operator/reconciler/load-reader.ts';
import {
  iniMovingOf,
  iniPlanOf,
  liveBacklog,
  loadShardsOf,
  renderedPlanOf,
  retiringPoolFor,
  runsPlan,
  samePlan,
  returning,
  stillMoving,
  undrainedShards,
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

describe('what a deletion that drains waits for', () => {
  it('waits for every shard not reported drained, an empty live or draining one included', () => {
    const report = load([
      [undefined, 0, 0, 'live'],
      [undefined, 1, 0, 'draining'],
      [undefined, 2, 3, 'draining'],
      [undefined, 3, 0, 'drained'],
      ['large', 0, 0, 'live'],
    ]);
    // An empty live shard still takes new messages; an empty draining one may hold retries.
    report.shards[1]!.retryBacklog = 2;
    expect(undrainedShards(report.shards).map((s) => `${s.pool ?? ''}${s.index}`)).toEqual([
      '0',
      '1',
      '2',
      'large0',
    ]);
  });

  it('lets the deletion go once every shard is drained', () => {
    const report = load([
      [undefined, 0, 0, 'drained'],
      ['large', 0, 0, 'drained'],
    ]);
    expect(undrainedShards(report.shards)).toEqual([]);
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

describe('a worker brought back while its shard may still be moving', () => {
  const sd = sample('pools');
  // Shard 3 of the default pool was stopped by a scale-down, its backlog moving.
  const moving = configFor(
    sd,
    { liveShards: 3, drainingShards: [3], movingShards: [3] },
    { pools: { large: { liveShards: 2, drainingShards: [2], movingShards: [2] } } },
  );
  const rendered = renderedPlanOf(moving, { name: 'default', isDefault: true })!;
  const scaledUp = { liveShards: 4, drainingShards: [] };
  /** /load of the default pool: shards 0–2 live, shard 3 as given. */
  const reported = (three: 'live' | 'draining' | 'moving') =>
    load([
      [undefined, 0, 0, 'live'],
      [undefined, 1, 0, 'live'],
      [undefined, 2, 0, 'live'],
      [undefined, 3, 9, three === 'live' ? 'live' : 'draining'],
    ]).shards.map((s) => ({ ...s, moving: s.index === 3 && three === 'moving' }));
  const afterScaleUp = { liveShards: 4, drainingShards: [], movingShards: [] };

  it("reads each pool's moving shards from its own section of the rendered INI", () => {
    expect(iniMovingOf(moving, { name: 'default', isDefault: true })).toEqual([3]);
    expect(iniMovingOf(moving, { name: 'large', isDefault: false })).toEqual([2]);
    expect(iniMovingOf(undefined, { name: 'default', isDefault: true })).toEqual([]);
    expect(rendered).toEqual({ liveShards: 3, drainingShards: [3], movingShards: [3] });
  });

  it('holds the stopped worker while the rendered INI has the shard moved, whatever /load says', () => {
    for (const shards of [undefined, reported('moving'), reported('live')])
      expect(stillMoving({ plan: scaledUp, rendered, stopped: [3], shards })).toEqual([3]);
  });

  it('holds it while /load says the distributor still moves it, or runs another INI', () => {
    // The new INI (shard 3 live) is rendered; the distributor has not read it yet.
    const held = (shards: ReturnType<typeof reported>) =>
      stillMoving({ plan: scaledUp, rendered: afterScaleUp, stopped: [3], shards });
    expect(held(reported('moving'))).toEqual([3]);
    // Not moving, but still on an INI with shard 3 draining: it may yet read one that moves it.
    expect(held(reported('draining'))).toEqual([3]);
  });

  it('lets it start once the distributor runs the rendered INI, or once no distributor pod exists', () => {
    const plan = { plan: scaledUp, rendered: afterScaleUp, stopped: [3] };
    expect(stillMoving({ ...plan, shards: reported('live') })).toEqual([]);
    expect(stillMoving({ ...plan, shards: undefined })).toEqual([]);
    expect(stillMoving({ ...plan, shards: undefined, distributorUnseen: false })).toEqual([]);
  });

  it('holds it while a distributor runs whose /load cannot be read: it may move by an older INI', () => {
    const plan = { plan: scaledUp, rendered: afterScaleUp, shards: undefined };
    expect(stillMoving({ ...plan, stopped: [3], distributorUnseen: true })).toEqual([3]);
    // Only a stopped worker is held: running ones and new shards are not the mover's.
    expect(stillMoving({ ...plan, stopped: [], distributorUnseen: true })).toEqual([]);
    expect(
      stillMoving({
        ...plan,
        plan: { liveShards: 6, drainingShards: [] },
        stopped: [3],
        distributorUnseen: true,
      }),
    ).toEqual([3]);
    // Whether /load answered is what counts: when it does, it alone says what moves.
    expect(
      stillMoving({ ...plan, stopped: [3], shards: reported('live'), distributorUnseen: true }),
    ).toEqual([]);
  });

  it('brings back the live shards whose worker is stopped, and no others', () => {
    expect(returning({ liveShards: 4, drainingShards: [4] }, [1, 3, 4, 6])).toEqual([1, 3]);
    expect(returning(scaledUp, [])).toEqual([]);
  });

  it('never holds a running worker, a new shard or a draining one', () => {
    expect(
      stillMoving({ plan: scaledUp, rendered, stopped: [], shards: reported('moving') }),
    ).toEqual([]);
    expect(
      stillMoving({
        plan: { liveShards: 3, drainingShards: [3] },
        rendered,
        stopped: [3],
        shards: reported('moving'),
      }),
    ).toEqual([]);
  });

  it('tells the shard set /load shows from another (a drained shard still counts as draining)', () => {
    expect(runsPlan(reported('live'), afterScaleUp)).toBe(true);
    expect(runsPlan(reported('moving'), rendered)).toBe(true);
    expect(runsPlan(reported('draining'), rendered)).toBe(false);
    const drained = reported('draining').map((s) =>
      s.index === 3 ? { ...s, state: 'drained' as const, backlog: 0 } : s,
    );
    expect(runsPlan(drained, { liveShards: 3, drainingShards: [3] })).toBe(true);
  });
});

describe('samePlan', () => {
  it('tells a plan whose moving shards changed (a stopped worker’s pods went) from the same', () => {
    const stopped = { liveShards: 1, drainingShards: [1] };
    expect(samePlan(stopped, { ...stopped, movingShards: [] })).toBe(true);
    expect(samePlan(stopped, { ...stopped, movingShards: [1] })).toBe(false);
    expect(
      samePlan({ ...stopped, movingShards: [2, 1] }, { ...stopped, movingShards: [1, 2] }),
    ).toBe(true);
    expect(samePlan(stopped, { liveShards: 2, drainingShards: [] })).toBe(false);
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
