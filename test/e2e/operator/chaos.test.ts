import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { compactEtcd, restartApiServer } from '../../harness/control-endpoint.ts';
import { eventually, kubeConfig, kubectlOk, useNamespace } from '../support.ts';
import {
  boundClaim,
  condition,
  createSd,
  deleteSdsAndWait,
  getSd,
  LocalDistributor,
  patchSpec,
  sdManifest,
  sdWithCondition,
  workerDeploymentNames,
  workers,
  useOperator,
} from './support.ts';

const apps = () => kubeConfig().makeApiClient(k8s.AppsV1Api);

/** Every Deployment of `name` by label: each worker shard once, nothing else but the distributor. */
async function deploymentsOf(namespace: string, name: string) {
  const list = await apps().listNamespacedDeployment({
    namespace,
    labelSelector: `shards.veda.dev/distributor=${name}`,
  });
  return list.items.map((d) => ({
    name: d.metadata!.name!,
    component: d.metadata?.labels?.['shards.veda.dev/component'],
    shard: d.metadata?.labels?.['shards.veda.dev/shard'],
    owners: (d.metadata?.ownerReferences ?? []).filter((o) => o.controller).length,
  }));
}

const op = useOperator('chaos');

describe('the operator when the API server goes away', () => {
  const ns = useNamespace('chaos');
  let distributor: LocalDistributor | undefined;
  beforeEach(async () => boundClaim(ns.name));
  afterEach(async () => {
    await deleteSdsAndWait(ns.name);
    await distributor?.stop();
    distributor = undefined;
  });

  it('converges to exactly 6 workers when the API server restarts in the middle of a scale-up from 2', async () => {
    await createSd(ns.name, sdManifest('bounce', { minWorkers: 2 }));
    distributor = await LocalDistributor.start(ns.name, 'bounce', op.book);
    await sdWithCondition(ns.name, 'bounce', 'Ready', { status: 'True' }, 60_000);

    await patchSpec(ns.name, 'bounce', { minWorkers: 6 });
    // In the middle: some of the new workers exist, not all of them.
    await eventually(
      async () =>
        expect((await workerDeploymentNames(ns.name, 'bounce')).length).toBeGreaterThan(2),
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    await restartApiServer(inject('controlPlaneControl'), 3_000);

    await eventually(
      async () => {
        const sd = await getSd(ns.name, 'bounce');
        expect(sd.status).toMatchObject({ workers: 6, readyWorkers: 6, desiredWorkers: 6 });
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
        expect(sd.status.observedGeneration).toBe(sd.metadata.generation);
      },
      { timeoutMs: 90_000 },
    );
    const deployments = await deploymentsOf(ns.name, 'bounce');
    const shards = deployments
      .filter((d) => d.component === 'worker')
      .map((d) => Number(d.shard))
      .sort((x, y) => x - y);
    expect(shards).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await workerDeploymentNames(ns.name, 'bounce')).toEqual(workers('bounce', 6));
    expect(deployments.map((d) => d.name).sort()).toEqual(
      [...workers('bounce', 6), 'bounce-distributor'].sort(),
    );
    expect(deployments.every((d) => d.owners === 1)).toBe(true);
    expect(op.operator.child.exitCode).toBeNull();
  }, 240_000);

  it('relists when its watches expired (etcd compacted, API server restarted) and reconciles what changed', async () => {
    await createSd(ns.name, sdManifest('expired', { minWorkers: 2, deletionPolicy: 'Abandon' }));
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'expired')).toEqual(workers('expired', 2)),
      { timeoutMs: 60_000 },
    );
    const before = op.operator.output().length;
    // Writes the operator's informers see, then history gone: their resourceVersions are too old.
    kubectlOk(['annotate', 'sd/expired', '-n', ns.name, 'chaos.test/touch=1']);
    await compactEtcd(inject('controlPlaneControl'));
    await restartApiServer(inject('controlPlaneControl'), 1_000);
    kubectlOk(['scale', 'sd/expired', '-n', ns.name, '--replicas=3']);
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'expired')).toEqual(workers('expired', 3)),
      { timeoutMs: 90_000 },
    );
    await eventually(() => expect(op.operator.output().slice(before)).toContain('relisting'), {
      timeoutMs: 60_000,
    });
  }, 240_000);
});
