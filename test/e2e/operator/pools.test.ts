import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONFIG_FILE_NAME, parseIni } from '../../../src/config/index.ts';
import { eventually, kubeConfig, kubectlOk, useNamespace } from '../support.ts';
import {
  boundClaim,
  condition,
  createSd,
  deleteSdsAndWait,
  expectEvent,
  getSd,
  LocalDistributor,
  operatorWrites,
  patchSpec,
  poolWorkerDeployments,
  poolWorkerNames,
  poolWorkers,
  sdEvents,
  sdManifest,
  sdWithCondition,
  useOperator,
  watchSd,
  workerDeploymentNames,
  workers,
} from './support.ts';

const WINDOW_SECONDS = 5;

const op = useOperator('pools', {
  extraArgs: ['--scale-down-stabilization-seconds', String(WINDOW_SECONDS)],
});

const apps = () => kubeConfig().makeApiClient(k8s.AppsV1Api);
const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);

// The pool `large` takes payloads of 64 bytes and more; everything else goes to the default pool.
const LARGE_FROM = 64;
const large = (n: number, tag = 'large') =>
  Array.from({ length: n }, (_, i) => `${tag}-${i}-${'x'.repeat(LARGE_FROM)}`);
const small = (n: number) => Array.from({ length: n }, (_, i) => `small-${i}`);

function largePool(spec: Record<string, unknown> = {}) {
  return {
    name: 'large',
    match: { minBytes: LARGE_FROM },
    minWorkers: 2,
    strategy: 'RoundRobin',
    worker: {
      image: 'registry.example/big-worker:2',
      command: ['big-worker', '--memory-hungry'],
    },
    ...spec,
  };
}

function poolStatus(sd: any, name: string): any {
  return sd?.status?.pools?.find((p: any) => p.name === name);
}

/** Name → uid and generation of a pool's Deployments: a replaced or edited one shows here. */
async function fingerprint(namespace: string, name: string, pool: string) {
  return Object.fromEntries(
    (await poolWorkerDeployments(namespace, name, pool)).map((d) => [
      d.metadata!.name!,
      `${d.metadata!.uid}/${d.metadata!.generation}`,
    ]),
  );
}

describe('a ShardDistributor with two pools on a real control plane', () => {
  const ns = useNamespace('pools');
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

  it('keeps each pool’s workers under their own names and labels, renders the pool, and reports it', async () => {
    await createSd(ns.name, sdManifest('tiers', { minWorkers: 2, pools: [largePool()] }));
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'tiers')).toEqual(
          [...workers('tiers', 2), ...poolWorkers('tiers', 'large', 2)].sort(),
        ),
      { timeoutMs: 30_000 },
    );
    expect(await poolWorkerNames(ns.name, 'tiers', 'default')).toEqual(workers('tiers', 2));
    expect(await poolWorkerNames(ns.name, 'tiers', 'large')).toEqual(
      poolWorkers('tiers', 'large', 2),
    );

    const pooled = await apps().readNamespacedDeployment({
      namespace: ns.name,
      name: 'tiers-large-worker-1',
    });
    expect(pooled.metadata?.labels).toMatchObject({
      'shards.veda.dev/distributor': 'tiers',
      'shards.veda.dev/component': 'worker',
      'shards.veda.dev/pool': 'large',
      'shards.veda.dev/shard': '1',
    });
    expect(pooled.spec?.selector.matchLabels).toEqual({
      'shards.veda.dev/distributor': 'tiers',
      'shards.veda.dev/component': 'worker',
      'shards.veda.dev/pool': 'large',
      'shards.veda.dev/shard': '1',
    });
    const container = pooled.spec?.template.spec?.containers[0];
    expect(container?.image).toBe('registry.example/big-worker:2');
    expect(container?.command).toEqual(['big-worker', '--memory-hungry']);
    expect(container?.args).toEqual([
      '--base',
      '/var/lib/veda/queue',
      '--sub',
      'individuals-flow-shard-large-1',
      '--src',
      'queue-shard-distributor',
      '--sleep-empty',
      '0.5',
    ]);
    // The default pool's Deployments are named and labelled as before pools existed.
    const plain = await apps().readNamespacedDeployment({
      namespace: ns.name,
      name: 'tiers-worker-1',
    });
    expect(plain.metadata?.labels?.['shards.veda.dev/pool']).toBeUndefined();
    expect(plain.spec?.selector.matchLabels).toEqual({
      'shards.veda.dev/distributor': 'tiers',
      'shards.veda.dev/component': 'worker',
      'shards.veda.dev/shard': '1',
    });
    expect(plain.spec?.template.spec?.containers[0]?.args).toContain('individuals-flow-shard-1');

    const configMap = await core().readNamespacedConfigMap({
      namespace: ns.name,
      name: 'tiers-config',
    });
    const ini = configMap.data?.[CONFIG_FILE_NAME] ?? '';
    expect(ini).toMatch(/^\[pool\.large\]$/m);
    expect(parseIni(ini, { file: 'ConfigMap', env: {} }).pools).toEqual([
      expect.objectContaining({
        name: 'large',
        match: { minBytes: LARGE_FROM },
        minWorkers: 2,
        drainingShards: [],
        strategy: 'RoundRobin',
        subQueuePrefix: 'individuals-flow-shard-large',
        workerModule: 'big-worker --memory-hungry',
      }),
    ]);

    distributor = await LocalDistributor.start(ns.name, 'tiers', op.book);
    const sd = await eventually(
      async () => {
        const current = await getSd(ns.name, 'tiers');
        expect(condition(current, 'Ready')).toMatchObject({ status: 'True' });
        expect(poolStatus(current, 'large')).toMatchObject({ readyWorkers: 2, backlog: 0 });
        return current;
      },
      { timeoutMs: 90_000 },
    );
    expect(sd.status).toMatchObject({ workers: 2, readyWorkers: 2, desiredWorkers: 2, backlog: 0 });
    expect(sd.status.pools).toEqual([
      {
        name: 'large',
        workers: 2,
        desiredWorkers: 2,
        readyWorkers: 2,
        backlog: 0,
        shards: [0, 1].map((index) => ({
          index,
          queue: `individuals-flow-shard-large-${index}`,
          state: 'Live',
          ready: true,
          backlog: 0,
          dispatched: 0,
        })),
      },
    ]);
    // The scale subresource still means the default pool.
    expect(sd.status.selector.split(',').sort()).toEqual([
      '!shards.veda.dev/pool',
      'shards.veda.dev/component=worker',
      'shards.veda.dev/distributor=tiers',
    ]);
    expect(kubectlOk(['get', 'sd', 'tiers', '-n', ns.name])).toMatch(/tiers\s+2\s+2\s+0\s+/);
    const scale = JSON.parse(
      kubectlOk([
        'get',
        '--raw',
        `/apis/shards.veda.dev/v1alpha1/namespaces/${ns.name}/sharddistributors/tiers/scale`,
      ]),
    );
    expect(scale.spec.replicas).toBe(2);
    expect(scale.status.replicas).toBe(2);
    expect(condition(sd, 'Backpressure')).toMatchObject({ status: 'False' });

    // Each pool's messages land in its own shard queues.
    await distributor.produce([...large(4), ...small(3)]);
    await eventually(
      async () => {
        const current = await getSd(ns.name, 'tiers');
        expect(current.status.backlog).toBe(3);
        expect(poolStatus(current, 'large').backlog).toBe(4);
      },
      { timeoutMs: 30_000 },
    );
    // Their workers finish them (so the deletion after this test drains at once).
    expect(
      (await distributor.consumeShard(0, 'large')) + (await distributor.consumeShard(1, 'large')),
    ).toBe(4);
    expect((await distributor.consumeShard(0)) + (await distributor.consumeShard(1))).toBe(3);
  }, 180_000);

  it('makes no API writes in a steady state with pools', async () => {
    await createSd(ns.name, sdManifest('calm', { minWorkers: 1, pools: [largePool()] }));
    distributor = await LocalDistributor.start(ns.name, 'calm', op.book);
    await sdWithCondition(ns.name, 'calm', 'Ready', { status: 'True' }, 90_000);
    await eventually(
      () =>
        expect(kubectlOk(['get', 'sd', '-A', '-o', 'name']).trim()).toBe(
          'sharddistributor.shards.veda.dev/calm',
        ),
      { timeoutMs: 60_000 },
    );
    let before = await operatorWrites(op.metricsPort);
    await eventually(
      async () => {
        await new Promise((r) => setTimeout(r, 3_000));
        const now = await operatorWrites(op.metricsPort);
        const settled = now === before;
        before = now;
        expect(settled).toBe(true);
      },
      { timeoutMs: 60_000, intervalMs: 0 },
    );
    const resourceVersion = (await getSd(ns.name, 'calm')).metadata.resourceVersion;
    // Several requeues (every 2 s) and resyncs.
    await new Promise((r) => setTimeout(r, 20_000));
    expect(await operatorWrites(op.metricsPort)).toBe(before);
    expect((await getSd(ns.name, 'calm')).metadata.resourceVersion).toBe(resourceVersion);
  }, 180_000);

  it('scales one pool by its own minWorkers, draining its removed shards, and leaves the other pool alone', async () => {
    await createSd(
      ns.name,
      sdManifest('split', { minWorkers: 2, strategy: 'RoundRobin', pools: [largePool()] }),
    );
    await eventually(
      async () =>
        expect(await poolWorkerNames(ns.name, 'split', 'large')).toEqual(
          poolWorkers('split', 'large', 2),
        ),
      { timeoutMs: 30_000 },
    );
    distributor = await LocalDistributor.start(ns.name, 'split', op.book);
    await sdWithCondition(ns.name, 'split', 'Ready', { status: 'True' }, 90_000);
    const untouched = await fingerprint(ns.name, 'split', 'default');
    expect(Object.keys(untouched)).toEqual(workers('split', 2));

    // Up: 2 → 4 in the pool; new Deployments at once.
    await patchSpec(ns.name, 'split', { pools: [largePool({ minWorkers: 4 })] });
    await eventually(
      async () => {
        expect(await poolWorkerNames(ns.name, 'split', 'large')).toEqual(
          poolWorkers('split', 'large', 4),
        );
        const sd = await getSd(ns.name, 'split');
        expect(poolStatus(sd, 'large')).toMatchObject({ workers: 4, desiredWorkers: 4 });
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
      },
      { timeoutMs: 60_000 },
    );
    await expectEvent(ns.name, 'split', 'ScaledUp', /^pool large scaled up from 2 to 4 workers/);

    // Every large shard gets a backlog (round robin over 4 live shards).
    await distributor.produce(large(8));
    await eventually(
      async () => {
        const pool = poolStatus(await getSd(ns.name, 'split'), 'large');
        expect(pool.backlog).toBe(8);
        expect(pool.shards.every((s: any) => s.backlog === 2)).toBe(true);
      },
      { timeoutMs: 30_000 },
    );

    // Down: 4 → 2. Shards 2 and 3 stop, their backlog moves to 0 and 1, then they go.
    watcher = await watchSd(ns.name, 'split');
    await patchSpec(ns.name, 'split', { pools: [largePool({ minWorkers: 2 })] });
    await eventually(
      async () => {
        expect(await poolWorkerNames(ns.name, 'split', 'large')).toEqual(
          poolWorkers('split', 'large', 2),
        );
        const sd = await getSd(ns.name, 'split');
        expect(poolStatus(sd, 'large')).toMatchObject({
          workers: 2,
          desiredWorkers: 2,
          backlog: 8,
        });
        expect(condition(sd, 'Progressing')).toMatchObject({ status: 'False', reason: 'Stable' });
      },
      { timeoutMs: 90_000 },
    );
    const drainingSeen = watcher.seen.some(
      (sd) =>
        poolStatus(sd, 'large')?.shards?.find((s: any) => s.index === 3)?.state === 'Draining' &&
        condition(sd, 'Progressing')?.reason === 'Draining' &&
        /^pool large: scaling to 2 workers/.test(condition(sd, 'Progressing')?.message ?? ''),
    );
    expect(drainingSeen).toBe(true);
    expect(distributor.output).toContain('moving the backlog of a removed shard to live shards');
    await expectEvent(
      ns.name,
      'split',
      'ScalingDown',
      /^pool large scaling down from 4 to 2 workers: .*; shards 2, 3 drain first$/,
    );
    for (const shard of [2, 3])
      await expectEvent(
        ns.name,
        'split',
        'ShardDrained',
        new RegExp(
          `^shard ${shard} of pool large is drained; deleted its worker Deployment split-large-worker-${shard}$`,
        ),
      );
    // Nothing lost, nothing doubled, nothing spilled into the default pool.
    expect(
      (await distributor.consumeShard(0, 'large')) + (await distributor.consumeShard(1, 'large')),
    ).toBe(8);
    expect((await distributor.consumeShard(0)) + (await distributor.consumeShard(1))).toBe(0);

    // The default pool's Deployments were never replaced nor changed, and its count never moved.
    expect(await fingerprint(ns.name, 'split', 'default')).toEqual(untouched);
    expect(
      watcher.seen.every((sd) => sd.status?.workers === undefined || sd.status.workers === 2),
    ).toBe(true);
    const reasons = (await sdEvents(ns.name, 'split')).map((e) => `${e.reason}: ${e.message}`);
    expect(reasons.filter((r) => /^(ScaledUp|ScalingDown): (?!pool large)/.test(r))).toEqual([
      expect.stringMatching(/^ScaledUp: scaled up from 0 to 2 workers/),
    ]);
  }, 300_000);

  it('autoscales each pool on its own backlog', async () => {
    await createSd(
      ns.name,
      sdManifest('elastic', {
        minWorkers: 1,
        maxWorkers: 3,
        targetBacklogPerWorker: 10,
        pools: [largePool({ minWorkers: 1, maxWorkers: 3, targetBacklogPerWorker: 10 })],
      }),
    );
    distributor = await LocalDistributor.start(ns.name, 'elastic', op.book);
    await eventually(
      async () => {
        const sd = await getSd(ns.name, 'elastic');
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
        expect(poolStatus(sd, 'large')).toMatchObject({
          workers: 1,
          desiredWorkers: 1,
          backlog: 0,
        });
      },
      { timeoutMs: 90_000 },
    );
    watcher = await watchSd(ns.name, 'elastic');

    // Nobody consumes: the large pool holds 25 (ceil(25 / 10) = 3), the default pool 4 (1).
    await distributor.produce([...large(25), ...small(4)]);
    await eventually(
      async () => {
        const sd = await getSd(ns.name, 'elastic');
        expect(poolStatus(sd, 'large')).toMatchObject({
          workers: 3,
          readyWorkers: 3,
          desiredWorkers: 3,
          backlog: 25,
        });
        expect(sd.status).toMatchObject({ workers: 1, desiredWorkers: 1, backlog: 4 });
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
      },
      { timeoutMs: 90_000 },
    );
    expect(await poolWorkerNames(ns.name, 'elastic', 'large')).toEqual(
      poolWorkers('elastic', 'large', 3),
    );
    expect(await poolWorkerNames(ns.name, 'elastic', 'default')).toEqual(workers('elastic', 1));
    await expectEvent(
      ns.name,
      'elastic',
      'ScaledUp',
      /^pool large scaled up from [12] to 3 workers: backlog 2\d \/ target 10 per worker → 3 workers$/,
    );

    // The pool's workers catch up: it comes back down to its minWorkers after the window.
    let consumed = 0;
    for (let shard = 0; shard < 3; shard++)
      consumed += await distributor.consumeShard(shard, 'large');
    expect(consumed).toBe(25);
    await eventually(
      async () => {
        const sd = await getSd(ns.name, 'elastic');
        expect(poolStatus(sd, 'large')).toMatchObject({
          workers: 1,
          desiredWorkers: 1,
          backlog: 0,
        });
        expect(condition(sd, 'Progressing')).toMatchObject({ status: 'False', reason: 'Stable' });
        expect(await poolWorkerNames(ns.name, 'elastic', 'large')).toEqual(
          poolWorkers('elastic', 'large', 1),
        );
      },
      { timeoutMs: 90_000 },
    );
    await expectEvent(
      ns.name,
      'elastic',
      'ScalingDown',
      /^pool large scaling down from 3 to 1 worker: backlog 0 \/ target 10 per worker → 0 workers, raised to minWorkers 1; shards 1, 2 drain first$/,
    );
    // The default pool never moved: its backlog stayed under its target.
    expect(
      watcher.seen.every(
        (sd) => (sd.status?.desiredWorkers ?? 1) === 1 && (sd.status?.workers ?? 1) <= 1,
      ),
    ).toBe(true);
    expect(watcher.seen.every((sd) => (poolStatus(sd, 'large')?.desiredWorkers ?? 0) <= 3)).toBe(
      true,
    );
    expect(await distributor.consumeShard(0)).toBe(4);
  }, 300_000);

  it('says Backpressure while a pool is at its backlog limit, with an Event, and clears it', async () => {
    await createSd(
      ns.name,
      sdManifest('pressed', {
        minWorkers: 1,
        pools: [largePool({ minWorkers: 1, backpressure: { maxBacklogPerShard: 5 } })],
      }),
    );
    distributor = await LocalDistributor.start(ns.name, 'pressed', op.book);
    await eventually(
      async () => {
        const sd = await getSd(ns.name, 'pressed');
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
        expect(condition(sd, 'Backpressure')).toMatchObject({
          status: 'False',
          reason: 'WithinLimits',
        });
      },
      { timeoutMs: 90_000 },
    );

    await distributor.produce(large(12));
    const sd = await sdWithCondition(
      ns.name,
      'pressed',
      'Backpressure',
      {
        status: 'True',
        reason: 'BacklogLimit',
      },
      60_000,
    );
    expect(condition(sd, 'Backpressure')?.message).toMatch(
      /^the distributor stopped reading the main queue \(which keeps every message\) until the workers catch up: pool large: every live shard holds at least maxBacklogPerShard 5 messages since \S+$/,
    );
    const held = poolStatus(sd, 'large').backlog;
    expect(held).toBeGreaterThanOrEqual(5);
    await expectEvent(ns.name, 'pressed', 'Backpressure', /pool large/);

    // While the pool is full nothing is read from the main queue, for any pool: it keeps them.
    await distributor.produce(small(3));
    await new Promise((r) => setTimeout(r, 3_000));
    const meanwhile = await getSd(ns.name, 'pressed');
    expect(meanwhile.status.backlog).toBe(0);
    expect(poolStatus(meanwhile, 'large').backlog).toBe(held);

    // The worker catches up: the distributor reads again, and the condition clears.
    let consumed = 0;
    await eventually(
      async () => {
        consumed += await distributor!.consumeShard(0, 'large');
        const current = await getSd(ns.name, 'pressed');
        expect(condition(current, 'Backpressure')).toMatchObject({ status: 'False' });
        expect(poolStatus(current, 'large').backlog).toBe(0);
        expect(current.status.backlog).toBe(3);
      },
      { timeoutMs: 60_000, intervalMs: 2_000 },
    );
    expect(consumed).toBe(12);
    expect(await distributor.consumeShard(0)).toBe(3);
  }, 240_000);

  it('drains a pool taken out of the spec before deleting its workers', async () => {
    await createSd(
      ns.name,
      sdManifest('shrinking', { minWorkers: 1, pools: [largePool({ minWorkers: 2 })] }),
    );
    distributor = await LocalDistributor.start(ns.name, 'shrinking', op.book);
    await sdWithCondition(ns.name, 'shrinking', 'Ready', { status: 'True' }, 90_000);
    await distributor.produce(large(4));
    await eventually(
      async () => expect(poolStatus(await getSd(ns.name, 'shrinking'), 'large')?.backlog).toBe(4),
      { timeoutMs: 30_000 },
    );

    await patchSpec(ns.name, 'shrinking', { pools: null });
    // The pool's workers stay while their queues hold messages; the INI keeps the pool, retiring.
    await eventually(
      async () => {
        const cm = await core().readNamespacedConfigMap({
          namespace: ns.name,
          name: 'shrinking-config',
        });
        const pools = parseIni(cm.data?.[CONFIG_FILE_NAME] ?? '', {
          file: 'ConfigMap',
          env: {},
        }).pools;
        expect(pools).toEqual([
          expect.objectContaining({ name: 'large', minWorkers: 0, drainingShards: [0, 1] }),
        ]);
      },
      { timeoutMs: 30_000 },
    );
    expect(await poolWorkerNames(ns.name, 'shrinking', 'large')).toEqual(
      poolWorkers('shrinking', 'large', 2),
    );
    expect((await getSd(ns.name, 'shrinking')).status.pools).toBeUndefined();

    // Their workers finish the backlog: the shards drain, the workers go, the pool leaves the INI.
    expect(
      (await distributor.consumeShard(0, 'large')) + (await distributor.consumeShard(1, 'large')),
    ).toBe(4);
    await eventually(
      async () => {
        expect(await poolWorkerNames(ns.name, 'shrinking', 'large')).toEqual([]);
        const cm = await core().readNamespacedConfigMap({
          namespace: ns.name,
          name: 'shrinking-config',
        });
        expect(cm.data?.[CONFIG_FILE_NAME]).not.toMatch(/\[pool\./);
      },
      { timeoutMs: 90_000 },
    );
    await expectEvent(
      ns.name,
      'shrinking',
      'ShardDrained',
      /^shard 1 of pool large is drained; deleted its worker Deployment shrinking-large-worker-1$/,
    );
    expect(await poolWorkerNames(ns.name, 'shrinking', 'default')).toEqual(workers('shrinking', 1));
  }, 240_000);
  it('moves the backlog of a shard stopped when its pool was taken out of the spec', async () => {
    const retiringIni = async () => {
      const cm = await core().readNamespacedConfigMap({
        namespace: ns.name,
        name: 'stranded-config',
      });
      return parseIni(cm.data?.[CONFIG_FILE_NAME] ?? '', { file: 'ConfigMap', env: {} }).pools;
    };
    await createSd(
      ns.name,
      sdManifest('stranded', {
        minWorkers: 1,
        strategy: 'RoundRobin',
        pools: [largePool({ minWorkers: 2, strategy: 'RoundRobin' })],
      }),
    );
    distributor = await LocalDistributor.start(ns.name, 'stranded', op.book);
    await sdWithCondition(ns.name, 'stranded', 'Ready', { status: 'True' }, 90_000);
    const produced = large(6);
    await distributor.produce(produced);
    await eventually(
      async () => {
        const pool = poolStatus(await getSd(ns.name, 'stranded'), 'large');
        expect(pool.shards.map((s: any) => s.backlog)).toEqual([3, 3]);
      },
      { timeoutMs: 30_000 },
    );

    // The distributor is down (a restart, say) while the pool scales 2 → 1 and then leaves the
    // spec: shard 1 is stopped before anything could move its backlog.
    await distributor.pause();
    await patchSpec(ns.name, 'stranded', { pools: [largePool({ minWorkers: 1 })] });
    await eventually(
      async () => expect((await retiringIni())[0]).toMatchObject({ movingShards: [1] }),
      { timeoutMs: 60_000 },
    );
    await patchSpec(ns.name, 'stranded', { pools: null });
    // Retiring: no live shard, both draining, shard 1 (no worker, no pods) for the distributor.
    await eventually(
      async () =>
        expect(await retiringIni()).toEqual([
          expect.objectContaining({
            name: 'large',
            minWorkers: 0,
            drainingShards: [0, 1],
            movingShards: [1],
          }),
        ]),
      { timeoutMs: 30_000 },
    );
    await distributor.resume();

    // Shard 0's worker drains its own 3; shard 1's 3 go to the default pool, where the pool's
    // messages go now. Then the pool leaves the INI and its workers go.
    const drainedByWorker = await distributor.takeShard(0, 'large');
    expect(drainedByWorker).toHaveLength(3);
    const moved: string[] = [];
    await eventually(
      async () => {
        moved.push(...(await distributor!.takeShard(0)));
        expect(moved).toHaveLength(3);
      },
      { timeoutMs: 60_000 },
    );
    // Every message once: the worker's three and the moved three are the six produced.
    expect([...drainedByWorker, ...moved].sort()).toEqual([...produced].sort());
    await eventually(
      async () => {
        expect(await poolWorkerNames(ns.name, 'stranded', 'large')).toEqual([]);
        expect(await retiringIni()).toEqual([]);
      },
      { timeoutMs: 90_000 },
    );
    expect(await distributor.takeShard(0)).toEqual([]);
  }, 300_000);
});
