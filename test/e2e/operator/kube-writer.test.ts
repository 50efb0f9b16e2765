import * as k8s from '@kubernetes/client-node';
import { Counter } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { KubeWriter, NotOwnedError } from '../../../src/operator/reconciler/kube.ts';
import { kubeConfig, kubectlOk, useNamespace } from '../support.ts';

// The operator's writer against a real API server: what it does with an object of its name
// that its caches do not hold, or that another controller holds.
describe('KubeWriter.apply and objects it does not own', () => {
  const ns = useNamespace('kw');
  const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);

  function writer() {
    const writes = new Counter({
      name: 'test_writes_total',
      help: 'writes',
      labelNames: ['verb', 'kind'] as const,
      registers: [],
    });
    const requests = async () => (await writes.get()).values.reduce((sum, v) => sum + v.value, 0);
    return { kube: new KubeWriter(kubeConfig(), writes), requests };
  }

  /** A real object to own ours (the garbage collector deletes what a missing owner owns). */
  async function owner(name: string): Promise<k8s.V1OwnerReference> {
    const made = await core().createNamespacedConfigMap({
      namespace: ns.name,
      body: { metadata: { name } },
    });
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name,
      uid: made.metadata!.uid!,
      controller: true,
    };
  }

  function desired(name: string, ownerRef: k8s.V1OwnerReference, data: Record<string, string>) {
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: ns.name, labels: { app: 'ours' }, ownerReferences: [ownerRef] },
      data,
    };
  }

  const read = (name: string) => core().readNamespacedConfigMap({ namespace: ns.name, name });

  it('takes its fields back on an object of its own that the caches do not hold yet', async () => {
    const { kube, requests } = writer();
    const ours = await owner('owner');
    expect(await kube.apply(desired('mine', ours, { k: 'v1' }), undefined)).toBe('created');
    kubectlOk(['patch', 'configmap', 'mine', '-n', ns.name, '-p', '{"data":{"k":"by-hand"}}']);

    // Unforced, the apply conflicts with kubectl's field; the object is ours, so it is forced.
    expect(await kube.apply(desired('mine', ours, { k: 'v1' }), undefined)).toBe('updated');
    expect((await read('mine')).data).toEqual({ k: 'v1' });
    expect(await requests()).toBe(3);
  });

  it('refuses an object someone else made, and names who wrote it', async () => {
    const { kube } = writer();
    kubectlOk(['create', 'configmap', 'theirs', '-n', ns.name, '--from-literal=k=theirs']);
    const ours = await owner('owner');

    const refused = kube.apply(desired('theirs', ours, { k: 'v1' }), undefined);
    await expect(refused).rejects.toThrow(NotOwnedError);
    await expect(refused).rejects.toThrow(
      'ConfigMap theirs already exists and belongs to someone else (written by kubectl-create)',
    );
    const after = await read('theirs');
    expect(after.data).toEqual({ k: 'theirs' });
    expect(after.metadata?.ownerReferences).toBeUndefined();
  });

  it('refuses, without a request, an object its cache shows under another controller', async () => {
    const { kube, requests } = writer();
    const ours = await owner('owner');
    const other = await owner('other-owner');
    await kube.apply(desired('held', other, { k: 'other' }), undefined);
    const live = await read('held');
    const before = await requests();

    await expect(kube.apply(desired('held', ours, { k: 'v1' }), live)).rejects.toThrow(
      'ConfigMap held already exists and belongs to ConfigMap other-owner',
    );
    expect(await requests()).toBe(before);
    expect((await read('held')).data).toEqual({ k: 'other' });
  });

  it('adopts an orphan of its own (its labels, no controller)', async () => {
    const { kube } = writer();
    const ours = await owner('owner');
    await core().createNamespacedConfigMap({
      namespace: ns.name,
      body: { metadata: { name: 'orphan', labels: { app: 'ours' } }, data: { k: 'old' } },
    });
    const live = await read('orphan');

    expect(await kube.apply(desired('orphan', ours, { k: 'v1' }), live)).toBe('updated');
    const after = await read('orphan');
    expect(after.data).toEqual({ k: 'v1' });
    expect(after.metadata?.ownerReferences?.map((r) => r.uid)).toEqual([ours.uid]);
  });
});
