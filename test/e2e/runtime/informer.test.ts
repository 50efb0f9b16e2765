import type * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ResourceExpiredError } from '../../../src/operator/runtime/errors.ts';
import type { Informer } from '../../../src/operator/runtime/informer.ts';
import { kubeListerWatcher, type ListerWatcher } from '../../../src/operator/runtime/list-watch.ts';
import { compactEtcd, restartApiServer } from '../../harness/control-endpoint.ts';
import { eventually, kubeConfig, useNamespace } from '../support.ts';
import { configMapInformer, configMapSource, core, createConfigMap } from './helpers.ts';

describe('Informer against a real API server', () => {
  const ns = useNamespace('inf');
  const informers: Informer<k8s.V1ConfigMap>[] = [];
  afterEach(async () => {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
  });

  function record(informer: Informer<k8s.V1ConfigMap>) {
    const events: string[] = [];
    informer.addHandler({
      onAdd: (o) => events.push(`add ${o.metadata?.name}`),
      onUpdate: (old, o) =>
        events.push(
          old.metadata?.resourceVersion === o.metadata?.resourceVersion
            ? `resync ${o.metadata?.name}`
            : `update ${o.metadata?.name}`,
        ),
      onDelete: (o) => events.push(`delete ${o.metadata?.name}`),
    });
    informers.push(informer);
    return events;
  }

  it('says the resource is not served, and what to do, when its list answers 404', async () => {
    const absent = kubeListerWatcher(kubeConfig(), {
      apiVersion: 'absent.shards.veda.dev/v1',
      plural: 'widgets',
      whenNotServed: 'install the widgets CRD',
    });
    const error = await absent.list({ limit: 1 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(
      /^list widgets failed with HTTP 404: .*; the informer retries with backoff — the API server does not serve widgets in absent\.shards\.veda\.dev\/v1: install the widgets CRD$/,
    );
  });

  it('holds only metadata when asked to, listed and watched alike', async () => {
    await createConfigMap(ns.name, 'listed', { app: 'meta' }, { big: 'x'.repeat(1_000) });
    const informer = configMapInformer(
      kubeListerWatcher(kubeConfig(), {
        apiVersion: 'v1',
        plural: 'configmaps',
        namespace: ns.name,
        labelSelector: 'app=meta',
        metadataOnly: true,
      }),
    );
    const events = record(informer);
    informer.start();
    expect(await informer.waitForSync()).toBe(true);
    await createConfigMap(ns.name, 'watched', { app: 'meta' }, { big: 'y'.repeat(1_000) });
    await eventually(() => expect(events).toEqual(['add listed', 'add watched']));
    for (const name of ['listed', 'watched']) {
      const cached = informer.get(ns.name, name) as k8s.KubernetesObject & { data?: unknown };
      expect(cached).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name } });
      expect(cached.data).toBeUndefined();
      expect(cached.metadata).not.toHaveProperty('managedFields');
    }
    expect(informer.get(ns.name, 'watched')?.metadata?.labels).toEqual({ app: 'meta' });
    await core().deleteNamespacedConfigMap({ name: 'listed', namespace: ns.name });
    await eventually(() => expect(events).toContain('delete listed'));
  });

  it('sees adds, updates and deletes of the ConfigMaps its label selector matches', async () => {
    await createConfigMap(ns.name, 'before', { app: 'rt' });
    const informer = configMapInformer(configMapSource(ns.name, 'app=rt'));
    const events = record(informer);
    informer.start();
    expect(await informer.waitForSync()).toBe(true);
    expect(events).toEqual(['add before']);
    expect(informer.get(ns.name, 'before')?.metadata).not.toHaveProperty('managedFields');

    await createConfigMap(ns.name, 'other', { app: 'someone-else' });
    await createConfigMap(ns.name, 'mine', { app: 'rt' });
    await core().patchNamespacedConfigMap({
      name: 'mine',
      namespace: ns.name,
      body: [{ op: 'add', path: '/data', value: { k: 'v' } }],
    });
    await core().deleteNamespacedConfigMap({ name: 'before', namespace: ns.name });
    await eventually(() =>
      expect(events).toEqual(['add before', 'add mine', 'update mine', 'delete before']),
    );
    expect(informer.get(ns.name, 'mine')?.data).toEqual({ k: 'v' });
    expect(informer.get(ns.name, 'other')).toBeUndefined();
    // The server keeps managedFields on every object; the cache holds none of them (listed or
    // watched), as the operator never reads them.
    const live = await core().readNamespacedConfigMap({ name: 'mine', namespace: ns.name });
    expect(live.metadata?.managedFields?.length).toBeGreaterThan(0);
    expect(informer.get(ns.name, 'mine')?.metadata).not.toHaveProperty('managedFields');
    expect(informer.get(ns.name, 'mine')?.metadata?.resourceVersion).toBe(
      live.metadata?.resourceVersion,
    );
    expect(informer.list().map((o) => o.metadata?.name)).toEqual(['mine']);
  });

  it('re-emits the cached objects at every resync', async () => {
    await createConfigMap(ns.name, 'steady', { app: 'rt' });
    const informer = configMapInformer(configMapSource(ns.name, 'app=rt'), { resyncMs: 300 });
    const events = record(informer);
    informer.start();
    await informer.waitForSync();
    await eventually(() =>
      expect(events.filter((e) => e === 'resync steady').length).toBeGreaterThanOrEqual(2),
    );
  });

  it('relists after the API server answers a watch with 410 Gone, emitting deletes for what vanished', async () => {
    await createConfigMap(ns.name, 'stays', { app: 'rt' });
    await createConfigMap(ns.name, 'goes', { app: 'rt' });
    // A young API server's watch cache began near resourceVersion 1 and still serves it.
    // Compacting etcd and restarting the API server puts resourceVersion 1 out of reach of
    // both the cache and etcd, so the watch below is answered with 410 Gone.
    await compactEtcd(inject('controlPlaneControl'));
    await restartApiServer(inject('controlPlaneControl'));
    const real = configMapSource(ns.name, 'app=rt');
    let lists = 0;
    let watches = 0;
    let sawGone = false;
    // The first watch asks for resourceVersion 1, compacted away;
    // meanwhile one object is deleted and one created, changes only a relist can reveal.
    const expiring: ListerWatcher = {
      description: real.description,
      async list(options) {
        const page = await real.list(options);
        lists += 1;
        if (lists === 1) {
          await core().deleteNamespacedConfigMap({ name: 'goes', namespace: ns.name });
          await createConfigMap(ns.name, 'comes', { app: 'rt' });
        }
        return page;
      },
      watch(options, onEvent, onDone) {
        watches += 1;
        const resourceVersion = watches === 1 ? '1' : options.resourceVersion;
        return real.watch(
          { ...options, resourceVersion },
          (event) => {
            if (event.type === 'ERROR' && event.object.code === 410) sawGone = true;
            onEvent(event);
          },
          (error) => {
            if (error instanceof ResourceExpiredError) sawGone = true;
            onDone(error);
          },
        );
      },
    };
    const informer = configMapInformer(expiring);
    const events = record(informer);
    informer.start();
    await informer.waitForSync();
    await eventually(() => expect(events.length).toBeGreaterThanOrEqual(4));
    expect(events.slice(0, 2).sort()).toEqual(['add goes', 'add stays']);
    expect(events.slice(2)).toEqual(['delete goes', 'add comes']);
    expect(sawGone).toBe(true);
    expect(lists).toBe(2);
    expect(
      informer
        .list()
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(['comes', 'stays']);
  });
});
