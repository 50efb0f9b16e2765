import { describe, expect, it } from 'vitest';
import type { ShardDistributor, ShardDistributorStatus } from '../../../../src/api/index.ts';
import {
  statusEqual,
  statusFor,
  type LoadSnapshot,
  type Observed,
} from '../../../../src/operator/status/index.ts';
import { sample } from '../desired/samples.ts';

const now = new Date('2025-03-01T12:00:00Z');
const later = new Date('2025-03-01T12:10:00Z');
const sd = sample('full');

function load(
  shards: [index: number, backlog: number, state?: 'live' | 'draining' | 'drained'][],
): LoadSnapshot {
  return {
    mainLag: 0,
    shards: shards.map(([index, backlog, state]) => ({
      index,
      queue: `individuals-flow-shard-${index}`,
      backlog,
      dispatched: backlog * 10,
      state: state ?? 'live',
    })),
  };
}

function observed(overrides: Partial<Observed> = {}): Observed {
  return {
    workerDeployments: [0, 1, 2, 3].map((shard) => ({
      shard,
      exists: true,
      replicas: 1,
      readyReplicas: 1,
    })),
    load: load([
      [0, 10],
      [1, 20],
      [2, 0],
      [3, 5],
    ]),
    desiredWorkers: 4,
    draining: [],
    problems: [],
    now,
    ...overrides,
  };
}

function condition(status: ShardDistributorStatus, type: string) {
  return status.conditions?.find((c) => c.type === type);
}

describe('statusFor', () => {
  it('reports a healthy ShardDistributor as Ready, Stable and not Degraded', () => {
    const status = statusFor(sd, observed());
    expect(status).toMatchObject({
      observedGeneration: 3,
      workers: 4,
      desiredWorkers: 4,
      readyWorkers: 4,
      backlog: 35,
      selector: 'shards.veda.dev/distributor=full,shards.veda.dev/component=worker',
    });
    expect(status.shards?.[1]).toEqual({
      index: 1,
      queue: 'individuals-flow-shard-1',
      state: 'Live',
      ready: true,
      backlog: 20,
      dispatched: 200,
    });
    expect(condition(status, 'Ready')).toMatchObject({ status: 'True', reason: 'AllWorkersReady' });
    expect(condition(status, 'Progressing')).toMatchObject({ status: 'False', reason: 'Stable' });
    expect(condition(status, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(status.conditions?.every((c) => c.observedGeneration === 3)).toBe(true);
  });

  it('keeps observedGeneration at the last generation applied when a write of this one failed', () => {
    const edited: ShardDistributor = {
      ...sd,
      status: { ...statusFor(sd, observed()), observedGeneration: 2 },
    };
    const failed = statusFor(
      edited,
      observed({
        problems: [{ reason: 'ApplyFailed', message: 'a write failed: exceeded quota' }],
        applied: false,
      }),
    );
    expect(failed.observedGeneration).toBe(2);
    expect(condition(failed, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'ApplyFailed',
      observedGeneration: 3,
    });
    // Ready and Progressing speak of what runs, the generation applied: a health check on
    // Ready's own observedGeneration must not count the edit as rolled out either.
    for (const type of ['Ready', 'Progressing'])
      expect(condition(failed, type)?.observedGeneration, type).toBe(2);
    // Never applied at all: no generation to claim.
    const first = statusFor({ ...sd, status: undefined }, observed({ applied: false }));
    expect(first.observedGeneration).toBeUndefined();
    expect(condition(first, 'Ready')).not.toHaveProperty('observedGeneration');
  });

  it('names the workers that are not ready', () => {
    const workers = observed().workerDeployments.map((w) =>
      w.shard === 2 ? { ...w, readyReplicas: 0 } : w,
    );
    const status = statusFor(sd, observed({ workerDeployments: workers }));
    expect(status.readyWorkers).toBe(3);
    expect(condition(status, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'WorkersNotReady',
      message: '3 of 4 workers ready; waiting for shard 2',
    });
  });

  it('is not Ready while the distributor does not report load', () => {
    const status = statusFor(sd, observed({ load: undefined, loadError: 'connection refused' }));
    expect(status.backlog).toBeUndefined();
    expect(status.shards?.[0]).toEqual({
      index: 0,
      queue: 'individuals-flow-shard-0',
      state: 'Live',
      ready: true,
    });
    expect(condition(status, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'DistributorNotReporting',
      message: expect.stringMatching(/connection refused.*deployment full-distributor/),
    });
  });

  it('is Progressing while it creates workers, with the autoscaler’s reason', () => {
    const status = statusFor(
      sd,
      observed({
        desiredWorkers: 6,
        autoscaleReason: 'backlog 5300 / target 1000 per worker → 6 workers',
      }),
    );
    expect(status.workers).toBe(4);
    expect(status.desiredWorkers).toBe(6);
    expect(condition(status, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'ScalingUp',
      message: expect.stringContaining('5300 / target 1000') as unknown,
    });
    expect(condition(status, 'Progressing')?.message).toContain('shards 4, 5');
  });

  it('is Progressing while workers roll out, until their new pods are ready', () => {
    // Before, it said Stable as soon as the Deployments existed: `kubectl wait` on
    // Progressing=False returned before any new pod was ready.
    const workers = observed().workerDeployments.map((w) =>
      w.shard >= 2 ? { ...w, readyReplicas: 0, rolledOut: false } : { ...w, rolledOut: true },
    );
    const status = statusFor(sd, observed({ workerDeployments: workers }));
    expect(condition(status, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'RollingOut',
      message: '4 workers: waiting for the new pods of shards 2, 3 to be ready',
    });
    const done = observed().workerDeployments.map((w) => ({ ...w, rolledOut: true }));
    expect(
      condition(statusFor(sd, observed({ workerDeployments: done })), 'Progressing'),
    ).toMatchObject({ status: 'False', reason: 'Stable' });
  });

  it('shows draining shards, and drained ones only on the distributor’s word', () => {
    const status = statusFor(
      sd,
      observed({
        desiredWorkers: 2,
        draining: [3, 2],
        load: load([
          [0, 1],
          [1, 1],
          [2, 40, 'draining'],
          [3, 0, 'drained'],
        ]),
      }),
    );
    expect(status.workers).toBe(2);
    expect(status.shards?.map((s) => [s.index, s.state])).toEqual([
      [0, 'Live'],
      [1, 'Live'],
      [2, 'Draining'],
      [3, 'Drained'],
    ]);
    expect(condition(status, 'Progressing')).toMatchObject({ status: 'True', reason: 'Draining' });
    expect(condition(status, 'Progressing')?.message).toContain('backlog 40');
    const stale = statusFor(sd, observed({ desiredWorkers: 3, draining: [3] }));
    expect(stale.shards?.[3]?.state).toBe('Draining');
  });

  it('says the draining backlog is unknown when the distributor does not report it', () => {
    const unread = statusFor(
      sd,
      observed({ desiredWorkers: 0, draining: [0, 1], load: undefined, loadError: 'HTTP 403' }),
    );
    expect(condition(unread, 'Progressing')?.message).toBe(
      'scaling to 0 workers: draining shards 0, 1 (backlog unknown) before their workers are deleted',
    );
    // Shard 3 is not in the report yet (the distributor has not re-read its config).
    const partly = statusFor(
      sd,
      observed({
        desiredWorkers: 2,
        draining: [2, 3],
        load: load([
          [0, 1],
          [1, 1],
          [2, 40, 'draining'],
        ]),
      }),
    );
    expect(condition(partly, 'Progressing')?.message).toContain(
      'draining shards 2, 3 (backlog 40, unknown for shard 3)',
    );
  });

  it('speaks of one draining shard, one new worker and one message in the singular', () => {
    const draining = statusFor(
      sd,
      observed({
        desiredWorkers: 3,
        draining: [3],
        load: load([
          [0, 1],
          [1, 1],
          [2, 1],
          [3, 1, 'draining'],
        ]),
      }),
    );
    expect(condition(draining, 'Progressing')?.message).toBe(
      'scaling to 3 workers: draining shard 3 (backlog 1) before its worker is deleted',
    );
    const drained = statusFor(
      sd,
      observed({
        desiredWorkers: 3,
        draining: [3],
        load: load([
          [0, 1],
          [1, 1],
          [2, 1],
          [3, 0, 'drained'],
        ]),
      }),
    );
    expect(condition(drained, 'Progressing')?.message).toBe(
      'scaling to 3 workers: draining shard 3 (backlog 0) before its worker is deleted; shard 3 drained, removing its worker',
    );
    const creating = statusFor(
      sd,
      observed({
        desiredWorkers: 1,
        workerDeployments: [{ shard: 0, exists: false }],
        load: load([[0, 0]]),
      }),
    );
    expect(condition(creating, 'Progressing')?.message).toBe(
      'scaling to 1 worker: creating the worker for shard 0',
    );
    const stuck = statusFor(
      sd,
      observed({
        load: {
          mainLag: 0,
          shards: [
            { index: 0, queue: 'q-0', backlog: 1, dispatched: 0, state: 'live', stuck: true },
          ],
        },
      }),
    );
    expect(condition(stuck, 'Degraded')?.message).toContain('(queue q-0) holds 1 message and');
  });

  it('is Degraded with the problems a person must fix', () => {
    const status = statusFor(
      sd,
      observed({
        problems: [
          { reason: 'InvalidSpec', message: 'first problem' },
          { reason: 'NoSharedVolume', message: 'second problem' },
        ],
      }),
    );
    expect(condition(status, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'InvalidSpec',
      message: 'first problem; second problem',
    });
  });

  it.each([
    ['InvalidSpec', 'the spec does not make a valid distributor config: {nope}'],
    ['ApplyFailed', 'a write failed: exceeded quota; retried with backoff'],
    ['NameConflict', 'ConfigMap sd-config exists and is not ours'],
  ])(
    'is Degraded %s, said first, when the edit is refused while a standing problem remains',
    (reason, message) => {
      const standing = { reason: 'NoSharedVolume', message: 'no claim' };
      const status = statusFor(sd, observed({ problems: [standing, { reason, message }] }));
      expect(condition(status, 'Degraded')).toMatchObject({
        status: 'True',
        reason,
        message: `${message}; no claim`,
      });
    },
  );

  it('is Degraded when a worker Deployment fails', () => {
    const workers = observed().workerDeployments.map((w) =>
      w.shard === 1 ? { ...w, readyReplicas: 0, failing: 'ProgressDeadlineExceeded' } : w,
    );
    const status = statusFor(sd, observed({ workerDeployments: workers }));
    expect(condition(status, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'WorkerFailing',
      message: expect.stringContaining('deployment full-worker-1') as unknown,
    });
  });

  it('is Degraded when a shard is stuck', () => {
    const report = load([
      [0, 0],
      [1, 0],
      [2, 1200],
      [3, 0],
    ]);
    const stuck = { ...report, shards: report.shards.map((s) => ({ ...s, stuck: s.index === 2 })) };
    const status = statusFor(sd, observed({ load: stuck }));
    expect(condition(status, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'ShardStuck',
      message: expect.stringContaining('holds 1200 messages') as unknown,
    });
  });

  it('keeps lastTransitionTime from the previous status while nothing changes', () => {
    const first = statusFor(sd, observed());
    const withStatus: ShardDistributor = { ...sd, status: first };
    const second = statusFor(withStatus, observed({ now: later }));
    expect(second).toEqual(first);
  });
});

describe('statusEqual', () => {
  const base = statusFor(sd, observed());

  it('is true for the same status rebuilt later', () => {
    const again = statusFor(sd, observed({ now: later }));
    expect(again).not.toEqual(base);
    expect(statusEqual(base, again)).toBe(true);
  });

  it('ignores list and key order', () => {
    const shuffled: ShardDistributorStatus = JSON.parse(JSON.stringify(base));
    shuffled.conditions?.reverse();
    shuffled.shards?.reverse();
    const reordered = Object.fromEntries(
      Object.entries(shuffled).reverse(),
    ) as ShardDistributorStatus;
    expect(statusEqual(base, reordered)).toBe(true);
  });

  it('is false when a value changes', () => {
    expect(
      statusEqual(
        base,
        statusFor(
          sd,
          observed({
            load: load([
              [0, 11],
              [1, 20],
              [2, 0],
              [3, 5],
            ]),
          }),
        ),
      ),
    ).toBe(false);
    expect(statusEqual(base, statusFor(sd, observed({ load: undefined })))).toBe(false);
    expect(statusEqual(undefined, base)).toBe(false);
  });
});
