import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installChart, releaseName, uninstallIfPresent } from '../chart/helm.ts';
import { eventually, kubeConfig, kubectlOk, useNamespace } from '../support.ts';
import { serviceAccountAccess, type ServiceAccountAccess } from '../support-rbac.ts';
import {
  AddressBook,
  boundClaim,
  condition,
  createSd,
  deleteSdsAndWait,
  expectEvent,
  getSd,
  LocalDistributor,
  loggedPort,
  sdManifest,
  startOperator,
  workerDeploymentNames,
  workers,
  type Proc,
} from './support.ts';

/** The status code of a refused request; 0 when it was allowed. */
async function refusal(request: Promise<unknown>): Promise<number> {
  try {
    await request;
    return 0;
  } catch (error) {
    if (error instanceof k8s.ApiException) return error.code;
    throw error;
  }
}

/**
 * The chart's RBAC (the same rules as config/rbac; test/unit/chart compares them), installed
 * with a release of its own so that its ClusterRole cannot collide with another test's.
 */
describe("the operator with nothing but its ServiceAccount's RBAC", () => {
  const ns = useNamespace('op-rbac');
  let dir: string;
  let book: AddressBook;
  let release = '';
  let sa: ServiceAccountAccess;
  let operator: Proc | undefined;
  let distributor: LocalDistributor | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-e2e-rbac-'));
    book = await AddressBook.create(dir);
    release = releaseName();
    // No operator pod (kwok would not run it anyway): this test runs the operator itself.
    installChart(release, ns.name, { replicaCount: 0 });
    sa = await serviceAccountAccess(ns.name, `${release}-shard-distributor`);
    await boundClaim(ns.name);
    operator = startOperator({
      book,
      kubeconfig: sa.kubeconfigPath,
      extraArgs: [
        '--leader-elect',
        '--lease-namespace',
        ns.name,
        '--lease-name',
        // The chart's default Lease for this release: `<fullname>-leader`.
        `${release}-shard-distributor-leader`,
        '--lease-duration-seconds',
        '6',
      ],
    });
    await loggedPort(operator, 'metricsPort');
  });
  afterEach(async () => {
    if (operator) await deleteSdsAndWait(ns.name);
    await distributor?.stop();
    distributor = undefined;
    await operator?.stop();
    operator = undefined;
    if (release) uninstallIfPresent(release, ns.name);
    release = '';
    await rm(dir, { recursive: true, force: true });
  });

  /** Lines where the API server refused the operator something. */
  const refusals = () =>
    (operator?.output() ?? '').split('\n').filter((l) => /forbidden|\b403\b/i.test(l));

  it('reconciles a ShardDistributor to Ready, scales it and records events, and can do no more', async () => {
    await createSd(ns.name, sdManifest('least', { minWorkers: 2 }));
    distributor = await LocalDistributor.start(ns.name, 'least', book);
    await eventually(
      async () => {
        const sd = await getSd(ns.name, 'least');
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
        expect(sd.status).toMatchObject({ workers: 2, readyWorkers: 2 });
        expect(sd.metadata.finalizers).toContain('shards.veda.dev/finalizer');
      },
      { timeoutMs: 90_000 },
    );
    expect(await workerDeploymentNames(ns.name, 'least')).toEqual(workers('least', 2));
    await expectEvent(ns.name, 'least', 'ScaledUp', /^scaled up from 0 to 2 workers/);
    // It leads through its release's Lease, the only one it may touch.
    const lease = await kubeConfig()
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: `${release}-shard-distributor-leader`, namespace: ns.name });
    expect(lease.spec?.holderIdentity).toBeTruthy();

    // Scaling down deletes a drained worker and says so.
    kubectlOk(['scale', 'sd/least', '-n', ns.name, '--replicas=1']);
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'least')).toEqual(workers('least', 1)),
      { timeoutMs: 90_000 },
    );
    await expectEvent(
      ns.name,
      'least',
      'ScalingDown',
      /^scaling down from 2 to 1 worker: .*; shard 1 drains first$/,
    );
    await expectEvent(ns.name, 'least', 'ShardDrained', /^shard 1 is drained/);
    expect(refusals()).toEqual([]);

    // Not more than needed: the same token reads no Secret and deletes no namespace.
    const core = sa.kubeConfig().makeApiClient(k8s.CoreV1Api);
    expect(await refusal(core.listNamespacedSecret({ namespace: ns.name }))).toBe(403);
    expect(await refusal(core.listSecretForAllNamespaces())).toBe(403);
    expect(await refusal(core.deleteNamespace({ name: ns.name }))).toBe(403);
    const still = await kubeConfig().makeApiClient(k8s.CoreV1Api).readNamespace({ name: ns.name });
    expect(still.metadata?.deletionTimestamp).toBeUndefined();
  }, 300_000);

  it('reports a spec it cannot build as Degraded InvalidSpec, with a Warning event', async () => {
    // 64 characters: a valid object name, but not a label value.
    const name = `too-long-${'x'.repeat(55)}`;
    expect(name).toHaveLength(64);
    await createSd(ns.name, sdManifest(name, { minWorkers: 2, deletionPolicy: 'Abandon' }));
    await eventually(
      async () =>
        expect(condition(await getSd(ns.name, name), 'Degraded')).toMatchObject({
          status: 'True',
          reason: 'InvalidSpec',
          message: expect.stringContaining('longer than 63 characters'),
        }),
      { timeoutMs: 60_000 },
    );
    const event = await expectEvent(ns.name, name, 'InvalidSpec', /longer than 63 characters/);
    expect(event.type).toBe('Warning');
    const deployments = await kubeConfig().makeApiClient(k8s.AppsV1Api).listNamespacedDeployment({
      namespace: ns.name,
      // Nothing of any ShardDistributor (its name cannot be a label value, so no `=name`).
      labelSelector: 'shards.veda.dev/distributor',
    });
    expect(deployments.items).toEqual([]);
    expect(refusals()).toEqual([]);
  }, 180_000);
});
