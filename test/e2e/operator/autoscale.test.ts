import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, useNamespace } from '../support.ts';
import {
  boundClaim,
  condition,
  createSd,
  deleteSdsAndWait,
  expectEvent,
  getSd,
  LocalDistributor,
  sdEvents,
  sdManifest,
  watchSd,
  workerDeploymentNames,
  workers,
  useOperator,
} from './support.ts';

const WINDOW_SECONDS = 5;

const op = useOperator('autoscale', {
  extraArgs: ['--scale-down-stabilization-seconds', String(WINDOW_SECONDS)],
});

describe('autoscaling on backlog', () => {
  const ns = useNamespace('autoscale');
  let distributor: LocalDistributor | undefined;
  let watcher: { seen: any[]; stop(): void } | undefined;
  beforeEach(async () => boundClaim(ns.name));
  afterEach(async () => {
    watcher?.stop();
    watcher = undefined;
    await deleteSdsAndWait(ns.name);
    await distributor?.stop();
    distributor = undefined;
  });

  it('follows the backlog up to maxWorkers at once, and down after the stabilisation window, draining first', async () => {
    await createSd(
      ns.name,
      sdManifest('elastic', { minWorkers: 1, maxWorkers: 4, targetBacklogPerWorker: 10 }),
    );
    distributor = await LocalDistributor.start(ns.name, 'elastic', op.book);
    await eventually(
      async () => {
        const sd = await getSd(ns.name, 'elastic');
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
        expect(sd.status).toMatchObject({ workers: 1, desiredWorkers: 1, backlog: 0 });
      },
      { timeoutMs: 90_000 },
    );
    watcher = await watchSd(ns.name, 'elastic');

    // Nobody consumes the shards: the backlog stays. ceil(35 / 10) = 4, within [1, 4].
    await distributor.produce(Array.from({ length: 35 }, (_, i) => `message-${i}`));
    await eventually(
      async () => {
        const sd = await getSd(ns.name, 'elastic');
        expect(sd.status).toMatchObject({
          workers: 4,
          readyWorkers: 4,
          desiredWorkers: 4,
          backlog: 35,
        });
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
      },
      { timeoutMs: 90_000 },
    );
    expect(await workerDeploymentNames(ns.name, 'elastic')).toEqual(workers('elastic', 4));
    await expectEvent(
      ns.name,
      'elastic',
      'ScaledUp',
      /^scaled up from [123] to 4 workers: backlog 3\d \/ target 10 per worker → 4 workers$/,
    );
    // The count never went past maxWorkers, even for a moment.
    expect(watcher.seen.every((sd) => (sd.status?.desiredWorkers ?? 0) <= 4)).toBe(true);

    // The workers catch up: the backlog is gone, and the count comes down to minWorkers.
    let consumed = 0;
    for (let shard = 0; shard < 4; shard++) consumed += await distributor.consumeShard(shard);
    expect(consumed).toBe(35);
    await eventually(
      async () => {
        const sd = await getSd(ns.name, 'elastic');
        expect(sd.status).toMatchObject({ workers: 1, desiredWorkers: 1, backlog: 0 });
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
        // The removed shards drained, and their workers are gone.
        expect(condition(sd, 'Progressing')).toMatchObject({ status: 'False', reason: 'Stable' });
        expect(await workerDeploymentNames(ns.name, 'elastic')).toEqual(workers('elastic', 1));
      },
      { timeoutMs: 90_000 },
    );

    // Within the window the count held at 4 though the backlog was already 0 …
    const seen = watcher.seen;
    const firstUp = seen.findIndex((sd) => sd.status?.desiredWorkers === 4);
    const firstDown = seen.findIndex((sd, i) => i > firstUp && sd.status?.desiredWorkers === 1);
    expect(firstUp).toBeGreaterThanOrEqual(0);
    const heldAtZero = seen.findIndex(
      (sd) => sd.status?.backlog === 0 && sd.status?.desiredWorkers === 4,
    );
    expect(heldAtZero).toBeGreaterThanOrEqual(0);
    expect(heldAtZero).toBeLessThan(firstDown);
    // … then the status said why it scaled down while the removed shards drained.
    expect(
      seen.some(
        (sd) =>
          condition(sd, 'Progressing')?.status === 'True' &&
          condition(sd, 'Progressing')?.reason === 'Draining' &&
          /backlog 0 \/ target 10 per worker → 0 workers, raised to minWorkers 1/.test(
            condition(sd, 'Progressing')?.message ?? '',
          ),
      ),
    ).toBe(true);
    await expectEvent(
      ns.name,
      'elastic',
      'ScalingDown',
      /^scaling down from 4 to 1 worker: backlog 0 \/ target 10 per worker → 0 workers, raised to minWorkers 1; shards 1, 2, 3 drain first$/,
    );
    for (const shard of [1, 2, 3])
      await expectEvent(
        ns.name,
        'elastic',
        'ShardDrained',
        new RegExp(
          `^shard ${shard} is drained; deleted its worker Deployment elastic-worker-${shard}$`,
        ),
      );
    // Up once (or in steps), down once: no flapping.
    const reasons = (await sdEvents(ns.name, 'elastic')).map((e) => e.reason);
    expect(reasons.filter((r) => r === 'ScalingDown')).toHaveLength(1);
  }, 300_000);
});
