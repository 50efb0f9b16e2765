import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appliedAnnotationOf } from '../../../src/operator/reconciler/kube.ts';
import { eventually, kubeConfig, kubectlOk, useNamespace } from '../support.ts';
import {
  boundClaim,
  condition,
  createSd,
  deleteSdsAndWait,
  expectEvent,
  getSd,
  LocalDistributor,
  metricSum,
  patchSpec,
  sdManifest,
  workerDeploymentNames,
  workers,
  useOperator,
} from './support.ts';

const apps = () => kubeConfig().makeApiClient(k8s.AppsV1Api);
const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);

const SD = 'veda';
const OURS = `sd-${SD}`; // our container, and the prefix of our volumes, in the host's pod
const MANAGER = `shard-distributor-sidecar-${SD}`;
const SIDECAR_OF = { kind: 'StatefulSet', name: 'veda-server' };

/** The Veda server's StatefulSet, as its own team writes it. */
const HOST = {
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'veda-server', labels: { app: 'veda-server' } },
  spec: {
    replicas: 1,
    serviceName: 'veda-server',
    selector: { matchLabels: { app: 'veda-server' } },
    template: {
      metadata: { labels: { app: 'veda-server' }, annotations: { 'veda.dev/team': 'storage' } },
      spec: {
        initContainers: [
          {
            name: 'prepare-data',
            image: 'registry.example/veda-server:7',
            command: ['veda-server', 'migrate'],
            volumeMounts: [{ name: 'veda-data', mountPath: '/opt/veda/data' }],
          },
        ],
        containers: [
          {
            name: 'veda-server',
            image: 'registry.example/veda-server:7',
            ports: [{ name: 'http', containerPort: 8080 }],
            env: [{ name: 'VEDA_DATA', value: '/opt/veda/data' }],
            volumeMounts: [{ name: 'veda-data', mountPath: '/opt/veda/data' }],
          },
          {
            name: 'log-shipper',
            image: 'registry.example/log-shipper:2',
            volumeMounts: [{ name: 'veda-data', mountPath: '/logs', readOnly: true }],
          },
        ],
        volumes: [{ name: 'veda-data', emptyDir: {} }],
      },
    },
  },
};

function sidecarSd() {
  return sdManifest(SD, {
    queue: {
      mainQueue: 'individuals-flow',
      veda: {
        basePath: '/opt/veda/data/queue',
        workerBasePath: '/opt/veda/data/queue',
        volumeName: 'veda-data',
        persistentVolumeClaim: 'veda-queue',
      },
    },
    distributor: { placement: 'Sidecar', sidecarOf: SIDECAR_OF },
  });
}

/** The sidecar ShardDistributor, deleted without a drain (no distributor ever runs here). */
function abandoningSidecarSd() {
  return { ...sidecarSd(), spec: { ...sidecarSd().spec, deletionPolicy: 'Abandon' } };
}

/** Waits until the ShardDistributor is Degraded for `reason`, its message saying `says`. */
async function degradedWith(namespace: string, reason: string, says: string): Promise<void> {
  await eventually(
    async () =>
      expect(condition(await getSd(namespace, SD), 'Degraded')).toMatchObject({
        status: 'True',
        reason,
        message: expect.stringContaining(says),
      }),
    { timeoutMs: 60_000 },
  );
}

async function host(namespace: string): Promise<k8s.V1StatefulSet> {
  return apps().readNamespacedStatefulSet({ namespace, name: 'veda-server' });
}

/** The host's spec without our entries: what its owner wrote (and the API server defaulted). */
function ownersPart(spec: k8s.V1StatefulSetSpec | undefined): unknown {
  const copy = structuredClone(spec) as k8s.V1StatefulSetSpec;
  const pod = copy.template.spec!;
  pod.initContainers = pod.initContainers?.filter((c) => c.name !== OURS);
  pod.volumes = pod.volumes?.filter((v) => !v.name.startsWith(`${OURS}-`));
  return JSON.parse(JSON.stringify(copy));
}

function ourEntries(statefulSet: k8s.V1StatefulSet) {
  const pod = statefulSet.spec!.template.spec!;
  return {
    containers: (pod.initContainers ?? []).filter((c) => c.name === OURS),
    volumes: (pod.volumes ?? []).filter((v) => v.name.startsWith(`${OURS}-`)).map((v) => v.name),
  };
}

function fieldsOf(statefulSet: k8s.V1StatefulSet, manager: string): any {
  return statefulSet.metadata?.managedFields?.find(
    (m) => m.manager === manager && m.operation === 'Apply',
  )?.fieldsV1;
}

async function standaloneDistributors(namespace: string): Promise<string[]> {
  const list = await apps().listNamespacedDeployment({
    namespace,
    labelSelector: `shards.veda.dev/distributor=${SD},shards.veda.dev/component=distributor`,
  });
  return list.items.map((d) => d.metadata!.name!);
}

const op = useOperator('sidecar', { extraArgs: ['--resync-seconds', '3'] });

describe('the distributor as a native sidecar of the workload that owns the main queue', () => {
  const ns = useNamespace('sidecar');
  let distributor: LocalDistributor | undefined;
  beforeEach(async () => boundClaim(ns.name));
  afterEach(async () => {
    await deleteSdsAndWait(ns.name);
    await distributor?.stop();
    distributor = undefined;
  });

  it('adds only its own init container to the host, moves to Standalone and back, and leaves the host as it was when deleted', async () => {
    kubectlOk(['apply', '--server-side', '--field-manager=veda-team', '-n', ns.name, '-f', '-'], {
      input: JSON.stringify(HOST),
    });
    const before = await host(ns.name);
    const teamFields = fieldsOf(before, 'veda-team');
    expect(teamFields).toBeDefined();

    await createSd(ns.name, sidecarSd());
    distributor = await LocalDistributor.start(ns.name, SD, op.book);
    const withSidecar = await eventually(
      async () => {
        const current = await host(ns.name);
        expect(ourEntries(current).containers).toHaveLength(1);
        return current;
      },
      { timeoutMs: 60_000 },
    );
    const sidecarShape = (current: k8s.V1StatefulSet) => {
      const [container] = ourEntries(current).containers;
      expect(container!.restartPolicy).toBe('Always');
      expect(container!.volumeMounts?.map((m) => m.name)).toContain('veda-data');
      expect(ourEntries(current).volumes.sort()).toEqual([`${OURS}-config`, `${OURS}-tmp`]);
      // Exactly one native sidecar: ours. The owner's init container is still a plain one.
      expect(
        current.spec!.template.spec!.initContainers!.filter((c) => c.restartPolicy === 'Always'),
      ).toHaveLength(1);
      expect(current.spec!.template.spec!.initContainers!.map((c) => c.name)).toEqual([
        'prepare-data',
        OURS,
      ]);
      // The owner's part is untouched, and the owner still owns all of it.
      expect(ownersPart(current.spec)).toEqual(ownersPart(before.spec));
      expect(current.metadata?.labels).toEqual(before.metadata?.labels);
      expect(fieldsOf(current, 'veda-team')).toEqual(teamFields);
      // Our manager owns our entries and nothing else: in the pod template, and the digest
      // of what it applied (so that a steady state applies nothing).
      const ours = fieldsOf(current, MANAGER);
      expect(Object.keys(ours).sort()).toEqual(['f:metadata', 'f:spec']);
      expect(ours['f:metadata']).toEqual({
        'f:annotations': { [`f:${appliedAnnotationOf(MANAGER)}`]: {} },
      });
      expect(Object.keys(ours['f:spec'])).toEqual(['f:template']);
      expect(Object.keys(ours['f:spec']['f:template'])).toEqual(['f:spec']);
      const podFields = ours['f:spec']['f:template']['f:spec'];
      expect(Object.keys(podFields).sort()).toEqual(['f:initContainers', 'f:volumes']);
      expect(Object.keys(podFields['f:initContainers'])).toEqual([`k:{"name":"${OURS}"}`]);
      expect(Object.keys(podFields['f:volumes']).sort()).toEqual([
        `k:{"name":"${OURS}-config"}`,
        `k:{"name":"${OURS}-tmp"}`,
      ]);
    };
    sidecarShape(withSidecar);
    expect(await standaloneDistributors(ns.name)).toEqual([]);
    await eventually(
      async () => {
        const sd = await getSd(ns.name, SD);
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
        expect(sd.status).toMatchObject({ workers: 2, readyWorkers: 2 });
      },
      { timeoutMs: 90_000 },
    );
    expect(await workerDeploymentNames(ns.name, SD)).toEqual(workers(SD, 2));
    const service = await core().readNamespacedService({
      namespace: ns.name,
      name: `${SD}-metrics`,
    });
    expect(service.spec?.selector).toEqual({ app: 'veda-server' });
    await expectEvent(ns.name, SD, 'SidecarApplied', /StatefulSet veda-server/);
    // Steady: the host's own init container and volume beside ours are no reason to apply
    // again (before, every reconcile re-applied the host, and said so every ten minutes).
    const applied = () => op.operator.output().match(/distributor sidecar applied/g)?.length ?? 0;
    const appliedOnce = applied();
    await new Promise((r) => setTimeout(r, 10_000)); // three resyncs (--resync-seconds 3)
    expect(applied()).toBe(appliedOnce);

    // Standalone: the sidecar goes, x-distributor comes.
    await patchSpec(ns.name, SD, { distributor: { placement: 'Standalone', sidecarOf: null } });
    await eventually(
      async () => {
        const current = await host(ns.name);
        expect(ourEntries(current)).toEqual({ containers: [], volumes: [] });
        expect(fieldsOf(current, MANAGER)).toBeUndefined();
        expect(await standaloneDistributors(ns.name)).toEqual([`${SD}-distributor`]);
      },
      { timeoutMs: 60_000 },
    );
    const standalone = await host(ns.name);
    expect(JSON.parse(JSON.stringify(standalone.spec))).toEqual(
      JSON.parse(JSON.stringify(before.spec)),
    );
    expect(fieldsOf(standalone, 'veda-team')).toEqual(teamFields);
    await expectEvent(ns.name, SD, 'SidecarRemoved', /StatefulSet veda-server/);

    // And back: the sidecar again, x-distributor gone.
    await patchSpec(ns.name, SD, { distributor: { placement: 'Sidecar', sidecarOf: SIDECAR_OF } });
    await eventually(
      async () => {
        const current = await host(ns.name);
        expect(ourEntries(current).containers).toHaveLength(1);
        expect(await standaloneDistributors(ns.name)).toEqual([]);
      },
      { timeoutMs: 60_000 },
    );
    sidecarShape(await host(ns.name));

    // Deleted: the sidecar goes with it, the host stays as its owner wrote it.
    kubectlOk(['delete', 'sd', SD, '-n', ns.name, '--wait=false']);
    await eventually(
      () => expect(kubectlOk(['get', 'sd', '-n', ns.name, '-o', 'name']).trim()).toBe(''),
      { timeoutMs: 90_000 },
    );
    const after = await host(ns.name);
    expect(ourEntries(after)).toEqual({ containers: [], volumes: [] });
    expect(JSON.parse(JSON.stringify(after.spec))).toEqual(JSON.parse(JSON.stringify(before.spec)));
    expect(fieldsOf(after, MANAGER)).toBeUndefined();
    expect(fieldsOf(after, 'veda-team')).toEqual(teamFields);
  }, 300_000);

  it('moves to another host in one reconcile: the first is left as its owner wrote it, and no write fails', async () => {
    const replica = structuredClone(HOST);
    replica.metadata = { name: 'veda-replica', labels: { app: 'veda-replica' } };
    replica.spec.serviceName = 'veda-replica';
    replica.spec.selector = { matchLabels: { app: 'veda-replica' } };
    replica.spec.template.metadata.labels = { app: 'veda-replica' };
    for (const workload of [HOST, replica])
      kubectlOk(['apply', '--server-side', '--field-manager=veda-team', '-n', ns.name, '-f', '-'], {
        input: JSON.stringify(workload),
      });
    const before = await host(ns.name);
    // No distributor runs here to report a drain: Abandon lets the clean-up delete it.
    const manifest = sidecarSd();
    await createSd(ns.name, { ...manifest, spec: { ...manifest.spec, deletionPolicy: 'Abandon' } });
    await eventually(
      async () => expect(ourEntries(await host(ns.name)).containers).toHaveLength(1),
      { timeoutMs: 60_000 },
    );
    const errors = () => metricSum(op.metricsPort, 'controller_runtime_reconcile_errors_total');
    const errorsBefore = await errors();

    await patchSpec(ns.name, SD, {
      distributor: {
        placement: 'Sidecar',
        sidecarOf: { kind: 'StatefulSet', name: 'veda-replica' },
      },
    });
    await eventually(
      async () => {
        const moved = await apps().readNamespacedStatefulSet({
          namespace: ns.name,
          name: 'veda-replica',
        });
        expect(ourEntries(moved).containers).toHaveLength(1);
        expect(ourEntries(await host(ns.name))).toEqual({ containers: [], volumes: [] });
        const sd = await getSd(ns.name, SD);
        expect(sd.metadata.annotations?.['shards.veda.dev/sidecar-of']).toBe(
          'StatefulSet/veda-replica',
        );
      },
      { timeoutMs: 60_000 },
    );
    expect(JSON.parse(JSON.stringify((await host(ns.name)).spec))).toEqual(
      JSON.parse(JSON.stringify(before.spec)),
    );
    expect(await errors()).toBe(errorsBefore);
  }, 180_000);

  it('reports a host that does not exist as Degraded, and attaches once it is created', async () => {
    await createSd(ns.name, abandoningSidecarSd());
    await degradedWith(
      ns.name,
      'SidecarHostNotFound',
      'StatefulSet veda-server, which does not exist',
    );
    const event = await expectEvent(ns.name, SD, 'SidecarHostNotFound', /veda-server/);
    expect(event.type).toBe('Warning');

    kubectlOk(['apply', '--server-side', '--field-manager=veda-team', '-n', ns.name, '-f', '-'], {
      input: JSON.stringify(HOST),
    });
    await eventually(
      async () => {
        expect(ourEntries(await host(ns.name)).containers).toHaveLength(1);
        expect(condition(await getSd(ns.name, SD), 'Degraded')?.reason).not.toBe(
          'SidecarHostNotFound',
        );
      },
      { timeoutMs: 60_000 },
    );
    expect(await workerDeploymentNames(ns.name, SD)).toEqual(workers(SD, 2));
  }, 180_000);

  it('does not add itself to a host whose pods run as root, which it would keep from starting, and takes itself off one that turns root', async () => {
    const asUser = (runAsUser: number) => {
      const manifest = structuredClone(HOST) as any;
      manifest.spec.template.spec.securityContext = { runAsUser };
      return JSON.stringify(manifest);
    };
    const applyHost = (runAsUser: number) =>
      kubectlOk(['apply', '--server-side', '--field-manager=veda-team', '-n', ns.name, '-f', '-'], {
        input: asUser(runAsUser),
      });
    applyHost(0);
    await createSd(ns.name, abandoningSidecarSd());
    await degradedWith(
      ns.name,
      'SidecarHostRunsAsRoot',
      'StatefulSet veda-server runs its pods as root',
    );
    await expectEvent(ns.name, SD, 'SidecarHostRunsAsRoot', /distributor.placement: Standalone/);
    expect(ourEntries(await host(ns.name)).containers).toEqual([]);
    // Everything else is there: the workers wait for the messages the sidecar will bring.
    expect(await workerDeploymentNames(ns.name, SD)).toEqual(workers(SD, 2));

    // Fixed by its owners: the sidecar goes on (workloads are not watched; the next look sees it).
    applyHost(1000);
    await eventually(
      async () => {
        expect(ourEntries(await host(ns.name)).containers).toHaveLength(1);
        expect(condition(await getSd(ns.name, SD), 'Degraded')?.reason).not.toBe(
          'SidecarHostRunsAsRoot',
        );
      },
      { timeoutMs: 60_000 },
    );
    // And back to root: the sidecar comes off rather than keep the host's new pods from starting.
    applyHost(0);
    await eventually(async () => expect(ourEntries(await host(ns.name)).containers).toEqual([]), {
      timeoutMs: 60_000,
    });
  }, 240_000);

  it('lets a Drain deletion go when no host ever ran the sidecar, saying nothing could drain', async () => {
    await createSd(ns.name, sidecarSd());
    await eventually(
      async () =>
        expect(condition(await getSd(ns.name, SD), 'Degraded')?.reason).toBe('SidecarHostNotFound'),
      { timeoutMs: 60_000 },
    );
    kubectlOk(['delete', 'sd', SD, '-n', ns.name, '--wait=false']);
    await eventually(
      () => expect(kubectlOk(['get', 'sd', '-n', ns.name, '-o', 'name']).trim()).toBe(''),
      { timeoutMs: 60_000 },
    );
    const event = await expectEvent(ns.name, SD, 'DrainImpossible', /no host workload/);
    expect(event.type).toBe('Warning');
  }, 180_000);
});
