import * as k8s from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ItemExponentialBackoff } from '../../../src/operator/runtime/backoff.ts';
import { Controller, type ReconcileContext } from '../../../src/operator/runtime/controller.ts';
import type { Informer } from '../../../src/operator/runtime/informer.ts';
import { labelKey, splitKey } from '../../../src/operator/runtime/keys.ts';
import type { ListerWatcher } from '../../../src/operator/runtime/list-watch.ts';
import { restartApiServer } from '../../harness/control-endpoint.ts';
import { eventually, useNamespace } from '../support.ts';
import { configMapInformer, configMapSource, core, createConfigMap } from './helpers.ts';

const SOURCE = 'runtime-test/source';

describe('Controller against a real API server', () => {
  const ns = useNamespace('ctl');
  const running: Array<{ stop(): Promise<void> }> = [];
  afterEach(async () => {
    for (const r of running.splice(0).reverse()) await r.stop();
  });

  function started(informer: Informer<k8s.V1ConfigMap>, controller: Controller) {
    running.push(informer, controller);
    informer.start();
    return informer.waitForSync().then(() => controller.start());
  }

  async function counter(registry: Registry, name: string, labels: Record<string, string>) {
    const metric = await registry.getSingleMetric(name)?.get();
    const found = metric?.values.find((v) =>
      Object.entries(labels).every(([k, val]) => v.labels[k] === val),
    );
    return found?.value ?? 0;
  }

  it('retries a reconcile that hit a 409 conflict, and then succeeds', async () => {
    await createConfigMap(ns.name, 'target', { app: 'rt' }, { wanted: 'yes' });
    const informer = configMapInformer(configMapSource(ns.name, 'app=rt'));
    const registry = new Registry();
    let attempts = 0;
    const conflicts: number[] = [];
    const reconcile = async (key: string) => {
      attempts += 1;
      const { namespace, name } = splitKey(key);
      const cached = informer.get(namespace, name);
      if (!cached || cached.metadata?.annotations?.['reconciled'] === 'true') return;
      if (attempts === 1) {
        // Another writer changes the object between our read and our write.
        await core().patchNamespacedConfigMap({
          name,
          namespace: namespace as string,
          body: [{ op: 'add', path: '/data/other', value: 'writer' }],
        });
      }
      const body = structuredClone(cached);
      body.metadata = { ...body.metadata, annotations: { reconciled: 'true' } };
      try {
        await core().replaceNamespacedConfigMap({ name, namespace: namespace as string, body });
      } catch (error) {
        if (error instanceof k8s.ApiException) conflicts.push(error.code);
        throw error;
      }
    };
    const controller = new Controller({
      name: 'conflicts',
      registry,
      reconcile,
      backoff: () => new ItemExponentialBackoff(5, 1_000),
    });
    controller.watch(informer);
    await started(informer, controller);
    await eventually(async () => {
      const cm = await core().readNamespacedConfigMap({ name: 'target', namespace: ns.name });
      expect(cm.metadata?.annotations?.['reconciled']).toBe('true');
      expect(cm.data).toEqual({ wanted: 'yes', other: 'writer' });
    });
    expect(conflicts.length).toBeGreaterThanOrEqual(1);
    expect(new Set(conflicts)).toEqual(new Set([409]));
    const labels = { controller: 'conflicts' };
    expect(await counter(registry, 'controller_runtime_reconcile_errors_total', labels)).toBe(
      conflicts.length,
    );
    await eventually(async () =>
      expect(
        await counter(registry, 'controller_runtime_reconcile_total', {
          ...labels,
          result: 'success',
        }),
      ).toBeGreaterThanOrEqual(1),
    );
  });

  it('converges again after the API server is restarted under it', async () => {
    // Mirrors every labelled source ConfigMap into a `copy-<name>` with the same data.
    const real = configMapSource(ns.name);
    let watches = 0;
    const counted: ListerWatcher = {
      description: real.description,
      list: (options) => real.list(options),
      watch: (...args) => {
        watches += 1;
        return real.watch(...args);
      },
    };
    const informer = configMapInformer(counted);
    const reconcile = async (key: string, ctx: ReconcileContext) => {
      const { namespace, name } = splitKey(key);
      const source = informer.get(namespace, name);
      if (!source) return;
      const copy = `copy-${name}`;
      const body = { metadata: { name: copy, namespace }, data: source.data ?? {} };
      try {
        await core().replaceNamespacedConfigMap({
          name: copy,
          namespace: namespace as string,
          body,
        });
      } catch (error) {
        if (!(error instanceof k8s.ApiException && error.code === 404)) throw error;
        await core().createNamespacedConfigMap({ namespace: namespace as string, body });
      }
      ctx.log.info({ copy }, 'mirrored');
    };
    const controller = new Controller({
      name: 'mirror',
      reconcile,
      backoff: () => new ItemExponentialBackoff(5, 2_000),
    });
    controller.watch(informer, labelKey(SOURCE));
    await started(informer, controller);

    const copyOf = async (name: string) =>
      (await core().readNamespacedConfigMap({ name: `copy-${name}`, namespace: ns.name })).data;
    await createConfigMap(ns.name, 'one', { [SOURCE]: 'one' }, { v: '1' });
    await eventually(async () => expect(await copyOf('one')).toEqual({ v: '1' }));

    const watchesBefore = watches;
    await restartApiServer(inject('controlPlaneControl'), 1_000);

    await eventually(
      async () => {
        await core().replaceNamespacedConfigMap({
          name: 'one',
          namespace: ns.name,
          body: { metadata: { name: 'one', labels: { [SOURCE]: 'one' } }, data: { v: '2' } },
        });
      },
      { timeoutMs: 60_000, description: 'the API server to take writes again' },
    );
    await createConfigMap(ns.name, 'two', { [SOURCE]: 'two' }, { v: 'x' });
    await eventually(
      async () => {
        expect(await copyOf('one')).toEqual({ v: '2' });
        expect(await copyOf('two')).toEqual({ v: 'x' });
      },
      { timeoutMs: 60_000, description: 'copies to converge after the restart' },
    );
    // The restart cut the watch: the informer must have opened a new one.
    expect(watches).toBeGreaterThan(watchesBefore);
  });
});
