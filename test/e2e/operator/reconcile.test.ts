import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONFIG_FILE_NAME, parseIni } from '../../../src/config/index.ts';
import { eventually, kubeConfig, kubectlOk, useNamespace } from '../support.ts';
import {
  condition,
  createSd,
  expectEvent,
  getSd,
  sdEvents,
  LocalDistributor,
  operatorWrites,
  patchSpec,
  sdManifest,
  sdWithCondition,
  workerDeploymentNames,
  watchSd,
  workers,
  useOperator,
  boundClaim,
} from './support.ts';

const apps = () => kubeConfig().makeApiClient(k8s.AppsV1Api);
const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);

const op = useOperator('op', { extraArgs: ['--resync-seconds', '3'] });

describe('the operator on a real control plane', () => {
  const ns = useNamespace('op');
  let distributor: LocalDistributor | undefined;
  beforeEach(async () => boundClaim(ns.name));
  afterEach(async () => {
    await distributor?.stop();
    distributor = undefined;
  });

  it('turns a ShardDistributor into a ConfigMap, a distributor and N running workers, and reports Ready', async () => {
    await createSd(ns.name, sdManifest('orders', { minWorkers: 3 }));
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'orders')).toEqual(workers('orders', 3)),
      {
        timeoutMs: 30_000,
      },
    );
    const distributorDeployment = await apps().readNamespacedDeployment({
      namespace: ns.name,
      name: 'orders-distributor',
    });
    expect(distributorDeployment.spec?.strategy?.type).toBe('Recreate');
    expect(distributorDeployment.spec?.replicas).toBe(1);
    const worker = await apps().readNamespacedDeployment({
      namespace: ns.name,
      name: 'orders-worker-1',
    });
    expect(worker.spec?.template.spec?.containers[0]?.args).toEqual([
      '--base',
      '/var/lib/veda/queue',
      '--sub',
      'individuals-flow-shard-1',
      '--src',
      'queue-shard-distributor',
      '--sleep-empty',
      '0.5',
    ]);
    expect(worker.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'ShardDistributor',
      name: 'orders',
      controller: true,
    });
    await core().readNamespacedService({ namespace: ns.name, name: 'orders-metrics' });

    distributor = await LocalDistributor.start(ns.name, 'orders', op.book);
    const sd = await eventually(
      async () => {
        const current = await getSd(ns.name, 'orders');
        expect(condition(current, 'Ready')).toMatchObject({ status: 'True' });
        return current;
      },
      { timeoutMs: 60_000 },
    );
    expect(sd.status).toMatchObject({ workers: 3, readyWorkers: 3, desiredWorkers: 3, backlog: 0 });
    expect(sd.status.selector.split(',').sort()).toEqual([
      'shards.veda.dev/component=worker',
      'shards.veda.dev/distributor=orders',
    ]);
    expect(sd.status.observedGeneration).toBe(sd.metadata.generation);
    expect(sd.metadata.finalizers).toContain('shards.veda.dev/finalizer');
    const table = kubectlOk(['get', 'sd', 'orders', '-n', ns.name]);
    expect(table).toMatch(/orders\s+3\s+3\s+0\s+ZeroLoadFirst/);
  });

  it('adds workers at once when minWorkers grows, by edit and by kubectl scale', async () => {
    await createSd(ns.name, sdManifest('grow', { minWorkers: 2 }));
    await eventually(
      async () => expect(await workerDeploymentNames(ns.name, 'grow')).toEqual(workers('grow', 2)),
      { timeoutMs: 30_000 },
    );
    await patchSpec(ns.name, 'grow', { minWorkers: 4 });
    await eventually(
      async () => expect(await workerDeploymentNames(ns.name, 'grow')).toEqual(workers('grow', 4)),
      { timeoutMs: 30_000 },
    );
    kubectlOk(['scale', '-n', ns.name, 'sd/grow', '--replicas=5']);
    await eventually(
      async () => expect(await workerDeploymentNames(ns.name, 'grow')).toEqual(workers('grow', 5)),
      { timeoutMs: 30_000 },
    );
    await eventually(async () => expect((await getSd(ns.name, 'grow')).status?.workers).toBe(5), {
      timeoutMs: 30_000,
    });
  });

  it("stops a removed shard's worker, moves its backlog to the live shards, then deletes it", async () => {
    await createSd(ns.name, sdManifest('shrink', { minWorkers: 3, strategy: 'RoundRobin' }));
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'shrink')).toEqual(workers('shrink', 3)),
      { timeoutMs: 30_000 },
    );
    distributor = await LocalDistributor.start(ns.name, 'shrink', op.book);
    await distributor.produce(['a', 'b', 'c', 'd', 'e', 'f']);
    await eventually(async () => expect((await getSd(ns.name, 'shrink')).status?.backlog).toBe(6), {
      timeoutMs: 30_000,
    });

    const watch = await watchSd(ns.name, 'shrink');
    try {
      kubectlOk(['scale', '-n', ns.name, 'sd/shrink', '--replicas=2']);
      await eventually(
        async () =>
          expect(await workerDeploymentNames(ns.name, 'shrink')).toEqual(workers('shrink', 2)),
        { timeoutMs: 60_000 },
      );
      // On the way: shard 2 shown Draining while its worker stopped and its queue was moved.
      const drainingSeen = watch.seen.some(
        (sd) =>
          sd?.status?.shards?.find((s: any) => s.index === 2)?.state === 'Draining' &&
          condition(sd, 'Progressing')?.reason === 'Draining',
      );
      expect(drainingSeen).toBe(true);
    } finally {
      watch.stop();
    }
    expect(distributor.output).toContain('moving the backlog of a removed shard to live shards');
    // Nothing lost, nothing doubled: the live shards' workers now hold all six, once.
    await eventually(async () => expect((await getSd(ns.name, 'shrink')).status?.backlog).toBe(6), {
      timeoutMs: 30_000,
    });
    expect((await distributor.consumeShard(0)) + (await distributor.consumeShard(1))).toBe(6);
    await eventually(
      async () =>
        expect(condition(await getSd(ns.name, 'shrink'), 'Progressing')).toMatchObject({
          reason: 'Stable',
        }),
      { timeoutMs: 30_000 },
    );
    const events = kubectlOk(['get', 'events', '-n', ns.name, '-o', 'jsonpath={.items[*].reason}']);
    expect(events).toContain('ShardDrained');
  });

  it('restores a worker Deployment deleted or changed by hand', async () => {
    await createSd(ns.name, sdManifest('keep', { minWorkers: 2 }));
    await eventually(
      async () => expect(await workerDeploymentNames(ns.name, 'keep')).toEqual(workers('keep', 2)),
      { timeoutMs: 30_000 },
    );
    await eventually(async () => expect((await getSd(ns.name, 'keep')).status?.workers).toBe(2), {
      timeoutMs: 30_000,
    });
    await apps().deleteNamespacedDeployment({ namespace: ns.name, name: 'keep-worker-1' });
    await eventually(
      async () => expect(await workerDeploymentNames(ns.name, 'keep')).toEqual(workers('keep', 2)),
      { timeoutMs: 30_000 },
    );

    kubectlOk([
      'set',
      'image',
      '-n',
      ns.name,
      'deployment/keep-worker-0',
      'worker=registry.example/hacked:6',
    ]);
    await eventually(
      async () => {
        const d = await apps().readNamespacedDeployment({
          namespace: ns.name,
          name: 'keep-worker-0',
        });
        expect(d.spec?.template.spec?.containers[0]?.image).toBe('registry.example/worker:1');
      },
      { timeoutMs: 30_000 },
    );
    const events = kubectlOk([
      'get',
      'events',
      '-n',
      ns.name,
      '--field-selector',
      'involvedObject.name=keep',
      '-o',
      'json',
    ]);
    const reasons = (JSON.parse(events).items as any[]).map((e) => `${e.reason}: ${e.message}`);
    expect(reasons.some((r) => r.startsWith('Restored:'))).toBe(true);
  });

  it('leaves what others add to its objects alone without applying again, and still takes out what it no longer renders', async () => {
    const worker = (env: { name: string; value: string }[]) => ({
      worker: {
        image: 'registry.example/worker:1',
        command: ['python3', '-m', 'worker.queue_worker'],
        env,
      },
    });
    const ours = [
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ];
    await createSd(ns.name, sdManifest('shared', { minWorkers: 1, ...worker(ours) }));
    const envNames = async () =>
      (
        await apps().readNamespacedDeployment({ namespace: ns.name, name: 'shared-worker-0' })
      ).spec?.template.spec?.containers[0]?.env?.map((e) => e.name) ?? [];
    await eventually(
      async () => expect(await envNames()).toEqual(expect.arrayContaining(['A', 'B'])),
      {
        timeoutMs: 30_000,
      },
    );
    await sdWithCondition(ns.name, 'shared', 'Ready', { status: 'True' }, 60_000).catch(
      () => undefined,
    );
    const applies = () =>
      op.operator
        .output()
        .split('\n')
        .filter((l) => l.includes('"msg":"applied"') && l.includes('"name":"shared-worker-0"'))
        .length;

    // Someone's env var (a mutating policy, `kubectl set env`): no fight over it.
    kubectlOk(['set', 'env', '-n', ns.name, 'deployment/shared-worker-0', 'FOO=bar']);
    const before = applies();
    await new Promise((r) => setTimeout(r, 10_000)); // three resyncs (--resync-seconds 3)
    expect(applies()).toBe(before);
    expect(await envNames()).toEqual(expect.arrayContaining(['A', 'B', 'FOO']));
    expect((await sdEvents(ns.name, 'shared')).filter((e) => e.reason === 'Restored')).toEqual([]);

    // An env var taken out of the spec goes; theirs stays.
    await patchSpec(ns.name, 'shared', worker([ours[0]!]));
    await eventually(
      async () =>
        expect((await envNames()).filter((n) => n !== 'SD_POOL' && !n.startsWith('SD_'))).toEqual([
          'A',
          'FOO',
        ]),
      { timeoutMs: 30_000 },
    );
    expect((await sdEvents(ns.name, 'shared')).filter((e) => e.reason === 'Restored')).toEqual([]);
  });

  it('says so when its ConfigMap was edited into an INI that does not parse, and renders it again', async () => {
    await createSd(ns.name, sdManifest('garbled', { minWorkers: 2 }));
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'garbled')).toEqual(workers('garbled', 2)),
      { timeoutMs: 30_000 },
    );
    kubectlOk([
      'patch',
      'configmap',
      '-n',
      ns.name,
      'garbled-config',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ data: { [CONFIG_FILE_NAME]: '[dispatcher\nmin_workers = two\n' } }),
    ]);
    await eventually(
      () =>
        expect(op.operator.output()).toMatch(
          /"configMap":"garbled-config".*"msg":"the ConfigMap does not parse \(edited by hand\?\)/,
        ),
      { timeoutMs: 30_000 },
    );
    await eventually(
      async () => {
        const cm = await core().readNamespacedConfigMap({
          namespace: ns.name,
          name: 'garbled-config',
        });
        const ini = parseIni(cm.data?.[CONFIG_FILE_NAME] ?? '', { file: 'ConfigMap', env: {} });
        expect(ini.dispatcher.minWorkers).toBe(2);
      },
      { timeoutMs: 30_000 },
    );
    expect(await workerDeploymentNames(ns.name, 'garbled')).toEqual(workers('garbled', 2));
  });

  it('leaves a same-named Deployment it did not make alone, says so, and takes the name once it is free', async () => {
    const theirs = {
      metadata: { name: 'taken-worker-1', labels: { app: 'theirs' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'theirs' } },
        template: {
          metadata: { labels: { app: 'theirs' } },
          spec: { containers: [{ name: 'main', image: 'registry.example/theirs:3' }] },
        },
      },
    };
    await apps().createNamespacedDeployment({ namespace: ns.name, body: theirs });
    await createSd(ns.name, sdManifest('taken', { minWorkers: 2 }));

    const sd = await sdWithCondition(
      ns.name,
      'taken',
      'Degraded',
      { status: 'True', reason: 'NameConflict' },
      30_000,
    );
    expect(condition(sd, 'Degraded')?.message).toContain(
      'Deployment taken-worker-1 already exists and belongs to someone else',
    );
    await expectEvent(ns.name, 'taken', 'NameConflict', /taken-worker-1/);
    expect(await workerDeploymentNames(ns.name, 'taken')).toEqual(['taken-worker-0']);
    const untouched = await apps().readNamespacedDeployment({
      namespace: ns.name,
      name: 'taken-worker-1',
    });
    expect(untouched.metadata?.ownerReferences ?? []).toEqual([]);
    expect(untouched.metadata?.labels).toEqual({ app: 'theirs' });
    expect(untouched.spec?.template.spec?.containers.map((c) => c.image)).toEqual([
      'registry.example/theirs:3',
    ]);

    await apps().deleteNamespacedDeployment({ namespace: ns.name, name: 'taken-worker-1' });
    await eventually(
      async () => {
        expect(await workerDeploymentNames(ns.name, 'taken')).toEqual(workers('taken', 2));
        expect(condition(await getSd(ns.name, 'taken'), 'Degraded')).toMatchObject({
          status: 'False',
        });
      },
      { timeoutMs: 30_000 },
    );
  });

  it("never takes another ShardDistributor's worker: a pool b of a and a ShardDistributor a-b both want a-b-worker-0", async () => {
    await createSd(ns.name, sdManifest('pay-eu', { minWorkers: 1 }));
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'pay-eu')).toEqual(['pay-eu-worker-0']),
      { timeoutMs: 30_000 },
    );
    const before = await apps().readNamespacedDeployment({
      namespace: ns.name,
      name: 'pay-eu-worker-0',
    });
    const eu = {
      name: 'eu',
      match: { minBytes: 1 },
      minWorkers: 1,
      worker: { image: 'registry.example/eu-worker:1', command: ['eu-worker'] },
    };
    await createSd(ns.name, sdManifest('pay', { minWorkers: 1, pools: [eu] }));

    const sd = await sdWithCondition(
      ns.name,
      'pay',
      'Degraded',
      { status: 'True', reason: 'NameConflict' },
      30_000,
    );
    expect(condition(sd, 'Degraded')?.message).toContain(
      'Deployment pay-eu-worker-0 already exists and belongs to ShardDistributor pay-eu',
    );
    // The rest of pay is made; pay-eu's worker stays pay-eu's alone, as it was.
    expect(await workerDeploymentNames(ns.name, 'pay')).toEqual(['pay-worker-0']);
    const after = await apps().readNamespacedDeployment({
      namespace: ns.name,
      name: 'pay-eu-worker-0',
    });
    expect(after.metadata?.ownerReferences).toEqual(before.metadata?.ownerReferences);
    expect(after.metadata?.labels).toEqual(before.metadata?.labels);
    expect(after.spec?.template.spec?.containers.map((c) => c.image)).toEqual([
      'registry.example/worker:1',
    ]);
    expect(condition(await getSd(ns.name, 'pay-eu'), 'Degraded')).not.toMatchObject({
      reason: 'NameConflict',
    });
  });

  it('says Degraded ApplyFailed with the API server’s reason while a write is refused (a quota), and clears it once writes go through', async () => {
    // Two Deployments at most: of three workers and the distributor, some are refused.
    await core().createNamespacedResourceQuota({
      namespace: ns.name,
      body: { metadata: { name: 'few' }, spec: { hard: { 'count/deployments.apps': '2' } } },
    });
    await eventually(
      async () => {
        const quota = await core().readNamespacedResourceQuota({ namespace: ns.name, name: 'few' });
        expect(quota.status?.hard?.['count/deployments.apps']).toBe('2');
      },
      { timeoutMs: 30_000 },
    );
    await createSd(ns.name, sdManifest('capped', { minWorkers: 3 }));
    const degraded = await sdWithCondition(
      ns.name,
      'capped',
      'Degraded',
      { status: 'True', reason: 'ApplyFailed' },
      60_000,
    );
    expect(condition(degraded, 'Degraded')?.message).toMatch(
      /^a write failed: .*exceeded quota: few.* \(HTTP 403\); retried with backoff$/,
    );
    const event = await expectEvent(ns.name, 'capped', 'ApplyFailed', /exceeded quota: few/);
    expect(event.type).toBe('Warning');

    await core().deleteNamespacedResourceQuota({ namespace: ns.name, name: 'few' });
    await eventually(
      async () => expect(await workerDeploymentNames(ns.name, 'capped')).toHaveLength(3),
      { timeoutMs: 120_000 },
    );
    await sdWithCondition(ns.name, 'capped', 'Degraded', { status: 'False' }, 60_000);
  }, 240_000);

  it('reports a missing claim as Degraded with a message a person can act on', async () => {
    await createSd(
      ns.name,
      sdManifest('noclaim', {
        queue: { mainQueue: 'q', veda: { persistentVolumeClaim: 'missing' } },
      }),
    );
    const sd = await sdWithCondition(
      ns.name,
      'noclaim',
      'Degraded',
      {
        status: 'True',
        reason: 'VolumeClaimNotFound',
      },
      30_000,
    );
    expect(condition(sd, 'Degraded')?.message).toContain('missing, which does not exist');

    // The claim is read from a watched cache: once it exists, the operator sees it and the
    // ShardDistributor is no longer Degraded for it.
    await boundClaim(ns.name, 'missing');
    await eventually(
      async () =>
        expect(condition(await getSd(ns.name, 'noclaim'), 'Degraded')).not.toMatchObject({
          reason: 'VolumeClaimNotFound',
        }),
      { timeoutMs: 30_000 },
    );
  });

  it('makes no API writes in a steady state, through a quiet minute of requeues and resyncs', async () => {
    await createSd(ns.name, sdManifest('quiet', { minWorkers: 2 }));
    distributor = await LocalDistributor.start(ns.name, 'quiet', op.book);
    await sdWithCondition(ns.name, 'quiet', 'Ready', { status: 'True' }, 60_000);
    // Only this ShardDistributor is left (earlier tests' namespaces are gone), and the
    // last status write and its echo have settled.
    await eventually(
      () =>
        expect(kubectlOk(['get', 'sd', '-A', '-o', 'name']).trim()).toBe(
          'sharddistributor.shards.veda.dev/quiet',
        ),
      {
        timeoutMs: 60_000,
      },
    );
    let before = await operatorWrites(op.metricsPort);
    await eventually(
      async () => {
        await new Promise((r) => setTimeout(r, 3_000));
        const now = await operatorWrites(op.metricsPort);
        const settled = now === before;
        before = now;
        const lines = (await (await fetch(`http://127.0.0.1:${op.metricsPort}/metrics`)).text())
          .split('\n')
          .filter((l) => l.startsWith('shard_distributor_operator_api_writes_total{'));
        expect(settled, lines.join('\n')).toBe(true);
      },
      { timeoutMs: 60_000, intervalMs: 0 },
    );
    const resourceVersion = (await getSd(ns.name, 'quiet')).metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 60_000));
    const lines = (await (await fetch(`http://127.0.0.1:${op.metricsPort}/metrics`)).text())
      .split('\n')
      .filter((l) => l.startsWith('shard_distributor_operator_api_writes_total{'));
    expect(
      await operatorWrites(op.metricsPort),
      lines.join('\n') +
        op.operator
          .output()
          .split('\n')
          .filter((l) => /applied|status written|error|fail/i.test(l))
          .slice(-15)
          .join('\n'),
    ).toBe(before);
    expect((await getSd(ns.name, 'quiet')).metadata.resourceVersion).toBe(resourceVersion);
    expect(op.operator.output()).toMatch(
      /"controller":"sharddistributor".*"key":"[^"]*\/quiet".*"reconcileID"/,
    );
  }, 180_000);

  /** `name` with two live RoundRobin shards, its distributor running, two messages on each. */
  async function twoShardsOfTwo(
    name: string,
  ): Promise<{ produced: string[]; local: LocalDistributor }> {
    await createSd(ns.name, sdManifest(name, { minWorkers: 2, strategy: 'RoundRobin' }));
    const local = await LocalDistributor.start(ns.name, name, op.book);
    distributor = local;
    await sdWithCondition(ns.name, name, 'Ready', { status: 'True' }, 60_000);
    const produced = [1, 2, 3, 4].map((i) => `${name}-${i}`);
    await local.produce(produced);
    await eventually(
      async () =>
        expect((await getSd(ns.name, name)).status?.shards?.map((s: any) => s.backlog)).toEqual([
          2, 2,
        ]),
      { timeoutMs: 30_000 },
    );
    return { produced, local };
  }

  /** Waits until no ShardDistributor is left in the test's namespace (finalizers done). */
  const sdsGone = (timeoutMs: number) =>
    eventually(
      async () => expect(kubectlOk(['get', 'sd', '-n', ns.name, '-o', 'name']).trim()).toBe(''),
      { timeoutMs },
    );

  const replicas = async (name: string) =>
    (await apps().readNamespacedDeployment({ namespace: ns.name, name })).spec?.replicas;

  it('gives a shard stopped by a scale-down its worker back when deleted (Drain): no live shard is left to move its backlog to', async () => {
    const { produced, local } = await twoShardsOfTwo('late');

    // The distributor is down while shard 1 is stopped: nothing moves its backlog.
    await local.pause();
    await patchSpec(ns.name, 'late', { minWorkers: 1 });
    await eventually(async () => expect(await replicas('late-worker-1')).toBe(0), {
      timeoutMs: 30_000,
    });
    kubectlOk(['delete', 'sd', 'late', '-n', ns.name, '--wait=false']);
    // Back up, the distributor reads the deletion's INI (nothing moves); then the worker runs.
    await local.resume();
    await eventually(async () => expect(await replicas('late-worker-1')).toBe(1), {
      timeoutMs: 30_000,
    });
    await expectEvent(ns.name, 'late', 'WorkerRestarted', /shard 1/);

    // Each worker drains its own shard (kwok runs no containers: the test reads for them).
    const taken = await local.takeShard(0);
    const rest: string[] = [];
    await eventually(
      async () => {
        rest.push(...(await local.takeShard(1)));
        expect(rest).toHaveLength(2);
      },
      { timeoutMs: 30_000 },
    );
    expect([...taken, ...rest].sort()).toEqual(produced);
    await sdsGone(60_000);
  });

  it('waits, when deleted (Drain), for a distributor that has not read the deletion yet: what it routes meanwhile is drained too', async () => {
    const { produced, local } = await twoShardsOfTwo('lag');
    // The workers keep up: both shards live and empty, as the distributor reports them.
    const taken = [...(await local.takeShard(0)), ...(await local.takeShard(1))];
    await eventually(
      async () =>
        expect((await local.load()).shards.map((s) => [s.state, s.backlog])).toEqual([
          ['live', 0],
          ['live', 0],
        ]),
      { timeoutMs: 30_000 },
    );

    // Its pod has not seen the deletion's ConfigMap yet: it still routes to both shards.
    local.holdConfig();
    kubectlOk(['delete', 'sd', 'lag', '-n', ns.name, '--wait=false']);
    await expectEvent(ns.name, 'lag', 'DeletionDraining', /shards 0, 1 still take new messages/);
    const late = ['lag-5', 'lag-6'];
    await local.produce(late);
    await eventually(
      async () => expect((await local.load()).shards.map((s) => s.backlog)).toEqual([1, 1]),
      { timeoutMs: 30_000 },
    );
    expect(kubectlOk(['get', 'sd', '-n', ns.name, '-o', 'name']).trim()).toBe(
      'sharddistributor.shards.veda.dev/lag',
    );

    // Once it reads the deletion, nothing more is routed and each worker drains its shard (kwok
    // runs no containers: the test reads for them); only then does the ShardDistributor go.
    local.releaseConfig();
    await eventually(
      async () => {
        taken.push(...(await local.takeShard(0)), ...(await local.takeShard(1)));
        expect(kubectlOk(['get', 'sd', '-n', ns.name, '-o', 'name']).trim()).toBe('');
      },
      { timeoutMs: 60_000 },
    );
    expect(taken.sort()).toEqual([...produced, ...late].sort());
  });

  it('brings a stopped shard back on a scale-up only once nothing moves it, and loses or repeats nothing', async () => {
    const { produced, local } = await twoShardsOfTwo('back');
    const movingShards = async () => {
      const cm = await core().readNamespacedConfigMap({ namespace: ns.name, name: 'back-config' });
      return parseIni(cm.data?.[CONFIG_FILE_NAME] ?? '', { file: 'ConfigMap', env: {} }).dispatcher
        .movingShards;
    };

    await local.pause();
    await patchSpec(ns.name, 'back', { minWorkers: 1 });
    await eventually(async () => expect(await movingShards()).toEqual([1]), { timeoutMs: 30_000 });
    await patchSpec(ns.name, 'back', { minWorkers: 2 });
    // The INI it had rendered has shard 1 moved: its worker waits for a reconcile after that.
    await expectEvent(ns.name, 'back', 'WorkerHeld', /shard 1 starts once/);
    await eventually(async () => expect(await movingShards()).toBeUndefined(), {
      timeoutMs: 30_000,
    });
    // The rendered INI moves nothing now, but the distributor's pod runs and /load is not
    // answered: it could still be moving shard 1 by the INI it read last.
    await expectEvent(ns.name, 'back', 'WorkerHeld', /its \/load cannot be read/);
    expect(await replicas('back-worker-1')).toBe(0);

    // Back, it reads the INI without moves and says so: then the worker runs.
    await local.resume();
    await eventually(async () => expect(await replicas('back-worker-1')).toBe(1), {
      timeoutMs: 60_000,
    });
    expect((await sdEvents(ns.name, 'back')).filter((e) => e.reason === 'Restored')).toEqual([]);

    // Nothing was moved: each shard's worker has its own two.
    const taken = [...(await local.takeShard(0)), ...(await local.takeShard(1))];
    expect(taken.sort()).toEqual(produced);
  });

  it('lets a ShardDistributor with a spec it cannot build be deleted (Drain): at once when nothing was made, else once the spec allows a drain', async () => {
    const invalid = { worker: { image: 'registry.example/worker:1', command: ['run', '{nope}'] } };
    // Never valid: nothing was made, so there is nothing to drain. Without a claim (as the
    // minimal sample) NoSharedVolume stands too, found first, but said after the refusal.
    const noClaim = { queue: { mainQueue: 'individuals-flow' } };
    await createSd(ns.name, sdManifest('never', { ...invalid, ...noClaim }));
    const never = await sdWithCondition(
      ns.name,
      'never',
      'Degraded',
      { reason: 'InvalidSpec' },
      60_000,
    );
    expect(condition(never, 'Degraded')?.message).toMatch(
      /^the spec does not make a valid distributor config: .*\{nope\}.*; queue\.veda\.persistentVolumeClaim is not set/,
    );
    await expectEvent(
      ns.name,
      'never',
      'InvalidSpec',
      /^the spec does not make a valid distributor config: /,
    );
    kubectlOk(['delete', 'sd', 'never', '-n', ns.name, '--wait=false']);
    await sdsGone(60_000);

    // Made, then edited into a spec the drain's config cannot be rendered from: the deletion
    // says so and waits, until the spec says to delete without draining.
    await createSd(ns.name, sdManifest('was', { minWorkers: 2 }));
    await eventually(
      async () => expect(await workerDeploymentNames(ns.name, 'was')).toHaveLength(2),
      { timeoutMs: 60_000 },
    );
    const applied = (await getSd(ns.name, 'was')).status.observedGeneration;
    await patchSpec(ns.name, 'was', invalid);
    const degraded = await sdWithCondition(
      ns.name,
      'was',
      'Degraded',
      { reason: 'InvalidSpec', observedGeneration: applied + 1 },
      60_000,
    );
    // Nothing of the invalid generation was applied: a rollout check must not count it as done.
    expect(degraded.status.observedGeneration).toBe(applied);
    kubectlOk(['delete', 'sd', 'was', '-n', ns.name, '--wait=false']);
    await expectEvent(
      ns.name,
      'was',
      'InvalidSpec',
      /cannot drain for the deletion: .*\{nope\}.*deletionPolicy: Abandon/,
    );
    expect(kubectlOk(['get', 'sd', '-n', ns.name, '-o', 'name']).trim()).toBe(
      'sharddistributor.shards.veda.dev/was',
    );
    await patchSpec(ns.name, 'was', { deletionPolicy: 'Abandon' });
    await sdsGone(60_000);
  });

  it('deletes everything when the ShardDistributor is deleted, after draining', async () => {
    await createSd(ns.name, sdManifest('gone', { minWorkers: 2 }));
    distributor = await LocalDistributor.start(ns.name, 'gone', op.book);
    await sdWithCondition(ns.name, 'gone', 'Ready', { status: 'True' }, 60_000);
    kubectlOk(['delete', 'sd', 'gone', '-n', ns.name, '--wait=false']);
    await eventually(
      async () => {
        const left = await apps().listNamespacedDeployment({
          namespace: ns.name,
          labelSelector: 'shards.veda.dev/distributor=gone',
        });
        expect(left.items).toEqual([]);
        const maps = await core().listNamespacedConfigMap({
          namespace: ns.name,
          labelSelector: 'shards.veda.dev/distributor=gone',
        });
        expect(maps.items).toEqual([]);
        expect(kubectlOk(['get', 'sd', '-n', ns.name, '-o', 'name']).trim()).toBe('');
      },
      { timeoutMs: 60_000 },
    );
  });
});
