import { describe, expect, it } from 'vitest';
import type { ShardDistributor, ShardDistributorStatus } from '../../../../src/api/index.ts';
import {
  statusEqual,
  statusFor,
  type LoadSnapshot,
  type Observed,
  type PoolObserved,
} from '../../../../src/operator/status/index.ts';
import { sample } from '../desired/samples.ts';

const now = new Date('2025-03-01T12:00:00Z');
const sd = sample('pools');

type Row = [
  pool: string | undefined,
  index: number,
  backlog: number,
  state?: 'live' | 'draining' | 'drained',
];

function load(rows: Row[], backpressure?: LoadSnapshot['backpressure']): LoadSnapshot {
  const prefix = (pool: string | undefined) =>
    pool === undefined
      ? 'individuals-flow-shard'
      : pool === 'large'
        ? 'individuals-flow-shard-large'
        : pool;
  return {
    mainLag: 0,
    shards: rows.map(([pool, index, backlog, state]) => ({
      ...(pool === undefined ? {} : { pool }),
      index,
      queue: `${prefix(pool)}-${index}`,
      backlog,
      dispatched: backlog,
      state: state ?? 'live',
    })),
    ...(backpressure === undefined ? {} : { backpressure }),
  };
}

function pool(workers: number, overrides: Partial<PoolObserved> = {}): PoolObserved {
  return {
    workerDeployments: Array.from({ length: workers }, (_, shard) => ({
      shard,
      exists: true,
      replicas: 1,
      readyReplicas: 1,
    })),
    desiredWorkers: workers,
    draining: [],
    ...overrides,
  };
}

const healthyLoad = load([
  [undefined, 0, 1],
  [undefined, 1, 2],
  [undefined, 2, 3],
  [undefined, 3, 4],
  ['large', 0, 40],
  ['documents', 0, 0],
  ['documents', 1, 7],
]);

/** The sample's two named pools, as observed. */
function twoPools(large = pool(1), documents = pool(2)): Observed['pools'] {
  return [
    { name: 'large', ...large },
    { name: 'documents', ...documents },
  ];
}

function observed(overrides: Partial<Observed> = {}): Observed {
  return {
    ...pool(4),
    pools: twoPools(),
    load: healthyLoad,
    problems: [],
    now,
    ...overrides,
  };
}

function condition(status: ShardDistributorStatus, type: string) {
  return status.conditions?.find((c) => c.type === type);
}

describe('statusFor with pools', () => {
  it('keeps the top-level fields to the default pool and gives each pool its own', () => {
    const status = statusFor(sd, observed());
    expect(status).toMatchObject({ workers: 4, desiredWorkers: 4, readyWorkers: 4, backlog: 10 });
    expect(status.shards?.map((s) => s.queue)).toEqual([
      'individuals-flow-shard-0',
      'individuals-flow-shard-1',
      'individuals-flow-shard-2',
      'individuals-flow-shard-3',
    ]);
    expect(status.pools).toEqual([
      {
        name: 'large',
        workers: 1,
        desiredWorkers: 1,
        readyWorkers: 1,
        backlog: 40,
        shards: [
          {
            index: 0,
            queue: 'individuals-flow-shard-large-0',
            state: 'Live',
            ready: true,
            backlog: 40,
            dispatched: 40,
          },
        ],
      },
      expect.objectContaining({ name: 'documents', workers: 2, readyWorkers: 2, backlog: 7 }),
    ]);
    expect(condition(status, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'AllWorkersReady',
      message:
        '4 of 4 workers ready; pool large: 1 of 1 worker ready; pool documents: 2 of 2 workers ready and the distributor reports load',
    });
    expect(condition(status, 'Progressing')).toMatchObject({ status: 'False', reason: 'Stable' });
  });

  it('names shard queues of a pool /load does not report yet by the pool’s prefix', () => {
    const status = statusFor(sd, observed({ load: undefined }));
    expect(status.pools?.[1]?.shards.map((s) => s.queue)).toEqual(['documents-0', 'documents-1']);
    expect(status.pools?.[0]?.backlog).toBeUndefined();
  });

  it('says which pool waits for which workers', () => {
    const large = pool(2, {
      workerDeployments: [
        { shard: 0, exists: true, replicas: 1, readyReplicas: 1 },
        { shard: 1, exists: true, replicas: 1, readyReplicas: 0 },
      ],
    });
    const status = statusFor(
      sd,
      observed({
        pools: twoPools(large),
      }),
    );
    expect(status.readyWorkers).toBe(4);
    expect(status.pools?.[0]).toMatchObject({ workers: 2, readyWorkers: 1 });
    expect(condition(status, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'WorkersNotReady',
      message:
        '4 of 4 workers ready; pool large: 1 of 2 workers ready; waiting for shard 1; pool documents: 2 of 2 workers ready',
    });
  });

  it('is Progressing while one pool scales, naming it and its autoscaler’s reason', () => {
    const large = pool(1, {
      desiredWorkers: 3,
      autoscaleReason: 'backlog 120 / target 50 per worker → 3 workers',
    });
    const status = statusFor(
      sd,
      observed({
        pools: twoPools(large),
      }),
    );
    expect(status.workers).toBe(4);
    expect(status.pools?.[0]).toMatchObject({ workers: 1, desiredWorkers: 3 });
    expect(condition(status, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'ScalingUp',
      message:
        'pool large: scaling to 3 workers (backlog 120 / target 50 per worker → 3 workers): creating workers for shards 1, 2',
    });
  });

  it('shows a pool’s draining shards in its own status', () => {
    const documents = pool(2, { desiredWorkers: 1, draining: [1] });
    const status = statusFor(
      sd,
      observed({
        pools: twoPools(undefined, documents),
        load: load([
          [undefined, 0, 0],
          ['documents', 0, 0],
          ['documents', 1, 5, 'draining'],
        ]),
      }),
    );
    expect(status.shards?.every((s) => s.state === 'Live')).toBe(true);
    expect(status.pools?.[1]?.shards.map((s) => [s.index, s.state])).toEqual([
      [0, 'Live'],
      [1, 'Draining'],
    ]);
    expect(condition(status, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'Draining',
      message: expect.stringMatching(
        /^pool documents: scaling to 1 worker: draining shard 1 \(backlog 5\)/,
      ),
    });
  });

  it('names the pool of a failing worker and of a stuck shard', () => {
    const failing = pool(1, {
      workerDeployments: [
        { shard: 0, exists: true, readyReplicas: 0, failing: 'ImagePullBackOff' },
      ],
    });
    const status = statusFor(
      sd,
      observed({
        pools: twoPools(failing),
      }),
    );
    expect(condition(status, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'WorkerFailing',
      message: expect.stringContaining(
        'worker of shard 0 of pool large is failing: ImagePullBackOff; see kubectl describe deployment pools-large-worker-0',
      ),
    });
    const stuckLoad = {
      ...healthyLoad,
      shards: healthyLoad.shards.map((s) => ({
        ...s,
        stuck: s.pool === 'documents' && s.index === 1,
      })),
    };
    expect(condition(statusFor(sd, observed({ load: stuckLoad })), 'Degraded')).toMatchObject({
      reason: 'ShardStuck',
      message: expect.stringContaining(
        'shard 1 of pool documents (queue documents-1) holds 7 messages and its worker takes none; check the logs of deployment pools-documents-worker-1',
      ),
    });
  });
});

describe('the Backpressure condition', () => {
  it('is False while no pool is at its limits', () => {
    expect(condition(statusFor(sd, observed()), 'Backpressure')).toMatchObject({
      status: 'False',
      reason: 'WithinLimits',
    });
  });

  it('is Unknown while the distributor does not report', () => {
    expect(condition(statusFor(sd, observed({ load: undefined })), 'Backpressure')).toMatchObject({
      status: 'Unknown',
      reason: 'DistributorNotReporting',
    });
  });

  it('is True with the limit and the pools that hold the main queue', () => {
    const pressed = load(
      [[undefined, 0, 0]],
      [
        {
          pool: 'large',
          reason: 'BacklogLimit',
          message: 'every live shard holds at least 512 messages, limit 500 per shard',
          since: '2025-03-01T11:59:00.000Z',
        },
        {
          pool: 'default',
          reason: 'DiskLimit',
          message: 'shard queues use 9 bytes on disk, limit 5',
          since: '2025-03-01T11:58:00.000Z',
        },
      ],
    );
    expect(condition(statusFor(sd, observed({ load: pressed })), 'Backpressure')).toEqual({
      type: 'Backpressure',
      status: 'True',
      reason: 'BacklogLimit',
      message:
        'the distributor stopped reading the main queue (which keeps every message) until the workers catch up: pool large: every live shard holds at least maxBacklogPerShard 500 messages since 2025-03-01T11:59:00.000Z; the default pool: shard queues use 9 bytes on disk, limit 5 since 2025-03-01T11:58:00.000Z',
      lastTransitionTime: '2025-03-01T12:00:00Z',
      observedGeneration: 3,
    });
  });

  it('says DiskLimit when that is what holds it', () => {
    const pressed = load(
      [['large', 0, 1]],
      [{ pool: 'large', reason: 'DiskLimit', since: '2025-03-01T11:59:00.000Z' }],
    );
    expect(condition(statusFor(sd, observed({ load: pressed })), 'Backpressure')).toMatchObject({
      status: 'True',
      reason: 'DiskLimit',
      message: expect.stringContaining(
        'pool large: its shard queues use at least maxDiskBytes 10737418240 bytes on disk',
      ),
    });
  });

  it('does not change while the pressure lasts, however the backlog moves', () => {
    const at = (least: number) =>
      load(
        [['large', 0, least]],
        [
          {
            pool: 'large',
            reason: 'BacklogLimit',
            message: `every live shard holds at least ${least} messages, limit 500 per shard`,
            since: '2025-03-01T11:59:00.000Z',
          },
        ],
      );
    const first = condition(statusFor(sd, observed({ load: at(510) })), 'Backpressure');
    const second = condition(statusFor(sd, observed({ load: at(530) })), 'Backpressure');
    expect(second).toEqual(first);
  });
});

describe('statusEqual with pools', () => {
  it('ignores the order of pools and of their shards', () => {
    const base = statusFor(sd, observed());
    const shuffled: ShardDistributorStatus = JSON.parse(JSON.stringify(base));
    shuffled.pools?.reverse();
    shuffled.pools?.[0]?.shards.reverse();
    expect(statusEqual(base, shuffled)).toBe(true);
    const changed: ShardDistributorStatus = JSON.parse(JSON.stringify(base));
    changed.pools![0]!.backlog = 41;
    expect(statusEqual(base, changed)).toBe(false);
  });

  it('writes no pools for a ShardDistributor without pools', () => {
    const plain: ShardDistributor = sample('full');
    const { pools: _pools, ...rest } = observed();
    expect(statusFor(plain, { ...rest, load: load([[undefined, 0, 1]]) }).pools).toBeUndefined();
  });
});
