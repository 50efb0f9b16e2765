import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/observability/index.ts';
import { ItemExponentialBackoff } from '../../../../src/operator/runtime/backoff.ts';
import { Controller, type Reconciler } from '../../../../src/operator/runtime/controller.ts';
import { Informer } from '../../../../src/operator/runtime/informer.ts';
import { ownerKey } from '../../../../src/operator/runtime/keys.ts';
import { eventually } from '../../../harness/eventually.ts';
import { FakeApi } from './fake-api.ts';

/** A reconcile that waits until released, tracking how many run at once. */
function gated() {
  const releases: Array<() => void> = [];
  const running = new Map<string, number>();
  const calls: string[] = [];
  let now = 0;
  let max = 0;
  let maxSameKey = 0;
  const reconcile: Reconciler = async (key) => {
    calls.push(key);
    running.set(key, (running.get(key) ?? 0) + 1);
    now += 1;
    max = Math.max(max, now);
    maxSameKey = Math.max(maxSameKey, running.get(key) ?? 0);
    await new Promise<void>((resolve) => releases.push(resolve));
    running.set(key, (running.get(key) ?? 1) - 1);
    now -= 1;
  };
  return {
    reconcile,
    calls,
    releaseAll: () => releases.splice(0).forEach((r) => r()),
    waiting: () => releases.length,
    max: () => max,
    maxSameKey: () => maxSameKey,
  };
}

const fastBackoff = () => new ItemExponentialBackoff(1, 20);

async function counter(registry: Registry, name: string, labels: Record<string, string>) {
  const metric = await registry.getSingleMetric(name)?.get();
  const found = metric?.values.find((v) =>
    Object.entries(labels).every(([k, val]) => v.labels[k] === val),
  );
  return found?.value ?? 0;
}

describe('Controller', () => {
  it('runs no more reconciles at once than its concurrency', async () => {
    const g = gated();
    const c = new Controller({ name: 'c', reconcile: g.reconcile, concurrency: 2 });
    c.start();
    for (let i = 0; i < 6; i++) c.enqueue(`ns/k${i}`);
    while (g.calls.length < 6) {
      await eventually(() => expect(g.waiting()).toBeGreaterThan(0));
      g.releaseAll();
    }
    await eventually(() => expect(g.waiting()).toBe(0));
    expect(g.max()).toBe(2);
    await c.stop();
  });

  it('never reconciles one key twice at once; adds during a reconcile cause one more run', async () => {
    const g = gated();
    const c = new Controller({ name: 'c', reconcile: g.reconcile, concurrency: 4 });
    c.start();
    c.enqueue('ns/a');
    await eventually(() => expect(g.waiting()).toBe(1));
    for (let i = 0; i < 5; i++) c.enqueue('ns/a');
    g.releaseAll();
    await eventually(() => expect(g.waiting()).toBe(1));
    g.releaseAll();
    await eventually(() => expect(g.calls).toEqual(['ns/a', 'ns/a']));
    expect(g.maxSameKey()).toBe(1);
    await c.stop();
  });

  it('exports its counters at 0 before the first reconcile, so an alert on their increase sees the first one', async () => {
    const registry = new Registry();
    const c = new Controller({ name: 'fresh', registry, reconcile: () => undefined });
    c.start();
    const series = async (name: string) =>
      (await registry.getSingleMetric(name)!.get()).values.map((v) => ({
        labels: v.labels,
        value: v.value,
      }));
    expect(await series('controller_runtime_reconcile_errors_total')).toEqual([
      { labels: { controller: 'fresh' }, value: 0 },
    ]);
    expect(await series('controller_runtime_reconcile_total')).toEqual(
      ['success', 'error', 'requeue', 'requeue_after'].map((result) => ({
        labels: { controller: 'fresh', result },
        value: 0,
      })),
    );
    for (const name of ['workqueue_adds_total', 'workqueue_retries_total'])
      expect(await series(name)).toEqual([{ labels: { name: 'fresh' }, value: 0 }]);
    await c.stop();
  });

  it('retries a failing key until it succeeds, counting errors and results', async () => {
    const registry = new Registry();
    let attempts = 0;
    const c = new Controller({
      name: 'flaky',
      registry,
      backoff: fastBackoff,
      reconcile: () => {
        attempts += 1;
        if (attempts <= 3) throw new Error('conflict');
      },
    });
    c.start();
    c.enqueue('ns/a');
    await eventually(() => expect(attempts).toBe(4));
    const labels = { controller: 'flaky' };
    await eventually(async () =>
      expect(
        await counter(registry, 'controller_runtime_reconcile_total', {
          ...labels,
          result: 'success',
        }),
      ).toBe(1),
    );
    expect(
      await counter(registry, 'controller_runtime_reconcile_total', { ...labels, result: 'error' }),
    ).toBe(3);
    expect(await counter(registry, 'controller_runtime_reconcile_errors_total', labels)).toBe(3);
    expect(await counter(registry, 'workqueue_retries_total', { name: 'flaky' })).toBe(3);
    await c.stop();
  });

  it('reconciles again after requeueAfter, and on requeue', async () => {
    const registry = new Registry();
    const results = [{ requeueAfterMs: 5 }, { requeue: true }, undefined];
    let calls = 0;
    const c = new Controller({
      name: 'again',
      registry,
      backoff: fastBackoff,
      reconcile: () => results[calls++],
    });
    c.start();
    c.enqueue('ns/a');
    await eventually(() => expect(calls).toBe(3));
    const total = (result: string) =>
      counter(registry, 'controller_runtime_reconcile_total', { controller: 'again', result });
    await eventually(async () => expect(await total('success')).toBe(1));
    expect(await total('requeue_after')).toBe(1);
    expect(await total('requeue')).toBe(1);
    await c.stop();
  });

  it('gives every line of a reconcile its controller, key and own reconcileID', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean))
          lines.push(JSON.parse(line));
        done();
      },
    });
    const log = createLogger({ level: 'debug' }, sink);
    const c = new Controller({
      name: 'logged',
      log,
      reconcile: (_key, ctx) => {
        ctx.log.info({ step: 1 }, 'working');
        ctx.log.info({ step: 2 }, 'working');
      },
    });
    c.start();
    c.enqueue('ns/a');
    c.enqueue('ns/b');
    await eventually(() => expect(lines.filter((l) => l['msg'] === 'working')).toHaveLength(4));
    await c.stop();
    const ofReconciles = lines.filter((l) => l['key'] !== undefined);
    expect(ofReconciles.length).toBeGreaterThanOrEqual(4);
    for (const line of ofReconciles) {
      expect(line).toMatchObject({ controller: 'logged' });
      expect(line['reconcileID']).toMatch(/^[0-9a-f-]{36}$/);
    }
    const idsByKey = new Map<unknown, Set<unknown>>();
    for (const line of ofReconciles) {
      idsByKey.set(line['key'], (idsByKey.get(line['key']) ?? new Set()).add(line['reconcileID']));
    }
    expect([...idsByKey.keys()].sort()).toEqual(['ns/a', 'ns/b']);
    const [idsA, idsB] = [idsByKey.get('ns/a'), idsByKey.get('ns/b')];
    expect(idsA?.size).toBe(1);
    expect(idsB?.size).toBe(1);
    expect([...(idsA ?? [])][0]).not.toBe([...(idsB ?? [])][0]);
  });

  it('maps owned objects seen by an informer to their owner’s key', async () => {
    const api = new FakeApi();
    api.objects.set('x-config', {
      metadata: {
        name: 'x-config',
        namespace: 'ns',
        resourceVersion: '1',
        ownerReferences: [
          {
            apiVersion: 'shards.veda.dev/v1alpha1',
            kind: 'ShardDistributor',
            name: 'x',
            uid: 'u',
            controller: true,
          },
        ],
      },
    });
    api.objects.set('unowned', {
      metadata: { name: 'unowned', namespace: 'ns', resourceVersion: '2' },
    });
    const informer = new Informer({ listerWatcher: api, resyncMs: 0 });
    const keys: string[] = [];
    const c = new Controller({ name: 'owners', reconcile: (key) => void keys.push(key) });
    c.watch(
      informer,
      ownerKey({ apiVersion: 'shards.veda.dev/v1alpha1', kind: 'ShardDistributor' }),
    );
    informer.start();
    await informer.waitForSync();
    c.start();
    await eventually(() => expect(keys).toEqual(['ns/x']));
    await c.stop();
    await informer.stop();
  });

  it('stops at once: aborts running reconciles and takes no further keys', async () => {
    let aborted = false;
    const seen: string[] = [];
    const c = new Controller({
      name: 'stopping',
      reconcile: (key, ctx) =>
        new Promise<void>((resolve) => {
          seen.push(key);
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
    });
    c.start();
    c.enqueue('ns/a');
    await eventually(() => expect(seen).toEqual(['ns/a']));
    c.enqueue('ns/b');
    await c.stop();
    expect(aborted).toBe(true);
    expect(seen).toEqual(['ns/a']);
    expect(c.running).toBe(false);
  });
});
