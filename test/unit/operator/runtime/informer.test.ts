import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Informer } from '../../../../src/operator/runtime/informer.ts';
import { FakeApi } from './fake-api.ts';
import { FakeClock, settle } from './fake-clock.ts';

type Seen = Array<[string, string]>;

async function started(
  options: { pageSize?: number; resyncMs?: number; watchdogMs?: number } = {},
) {
  const api = new FakeApi();
  const clock = new FakeClock();
  const seen: Seen = [];
  const informer = new Informer({
    listerWatcher: api,
    clock,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
    random: () => 0.5, // no jitter: the delays below are exact
    resyncMs: options.resyncMs ?? 0,
    watchdogMs: options.watchdogMs ?? 60_000,
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
  });
  const name = (o: KubernetesObject) => o.metadata?.name ?? '?';
  informer.addHandler({
    onAdd: (o) => seen.push(['add', name(o)]),
    onUpdate: (_old, o) => seen.push(['update', name(o)]),
    onDelete: (o) => seen.push(['delete', name(o)]),
  });
  return { api, clock, seen, informer, name };
}

describe('Informer', () => {
  it('lists in pages, syncs, then watches from the list’s resourceVersion', async () => {
    const { api, informer, seen } = await started({ pageSize: 2 });
    for (const n of ['a', 'b', 'c', 'd', 'e']) api.put(n, {}, false);
    informer.start();
    expect(await informer.waitForSync()).toBe(true);
    await settle();
    expect(api.lists).toBe(3);
    expect(seen.map(([, n]) => n).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(api.open?.resourceVersion).toBe('105');
    expect(informer.get('ns', 'c')?.metadata?.name).toBe('c');
    expect(informer.list('ns')).toHaveLength(5);
    expect(informer.list('other')).toHaveLength(0);
    await informer.stop();
  });

  it('applies watch events to the cache and tells the handlers', async () => {
    const { api, informer, seen } = await started();
    api.put('a', {}, false);
    informer.start();
    await informer.waitForSync();
    await settle();
    api.put('b');
    api.put('a', { changed: 'yes' });
    api.remove('b');
    expect(seen).toEqual([
      ['add', 'a'],
      ['add', 'b'],
      ['update', 'a'],
      ['delete', 'b'],
    ]);
    expect(informer.get('ns', 'a')?.['data' as keyof KubernetesObject]).toEqual({ changed: 'yes' });
    expect(informer.get('ns', 'b')).toBeUndefined();
    expect(informer.lastResourceVersion()).toBe('104');
    await informer.stop();
  });

  it('relists on a 410 ERROR event and emits deletes for what vanished meanwhile', async () => {
    const { api, informer, seen } = await started();
    api.put('a', {}, false);
    api.put('b', {}, false);
    informer.start();
    await informer.waitForSync();
    await settle();
    api.remove('b', false);
    api.put('c', {}, false);
    api.expireWithEvent();
    await settle();
    expect(api.lists).toBe(2);
    expect(seen.slice(2)).toEqual([
      ['delete', 'b'],
      ['add', 'c'],
    ]);
    expect(api.open?.resourceVersion).toBe('104');
    await informer.stop();
  });

  it('relists when the watch request itself answers 410 Gone', async () => {
    const { api, informer } = await started();
    informer.start();
    await informer.waitForSync();
    await settle();
    api.put('late', {}, false);
    api.expireWithStatus();
    await settle();
    expect(api.lists).toBe(2);
    expect(informer.get('ns', 'late')).toBeDefined();
    await informer.stop();
  });

  it('reconnects after a failure from the last resourceVersion, with growing backoff, without relisting', async () => {
    const { api, informer, clock } = await started();
    informer.start();
    await informer.waitForSync();
    await settle();
    api.put('a');
    const rv = informer.lastResourceVersion();
    const reconnectAfter: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = api.watches.length;
      const failedAt = clock.now();
      api.fail();
      while (api.watches.length === before) await clock.advance(10);
      reconnectAfter.push(clock.now() - failedAt);
    }
    // The first watch brought an event, so its failure starts the backoff at the base.
    expect(reconnectAfter).toEqual([100, 200, 400, 800]);
    expect(api.watches.every((w, i) => i === 0 || w.resourceVersion === rv)).toBe(true);
    expect(api.lists).toBe(1);
    await informer.stop();
  });

  it('retries a failing list with backoff until it succeeds', async () => {
    const { api, informer, clock } = await started();
    api.failLists = 3;
    informer.start();
    await clock.advance(100 + 200 + 400);
    expect(await informer.waitForSync()).toBe(true);
    expect(api.lists).toBe(4);
    await informer.stop();
  });

  it('restarts a watch that stayed silent past the watchdog, from the same resourceVersion', async () => {
    const { api, informer, clock } = await started({ watchdogMs: 1000 });
    informer.start();
    await informer.waitForSync();
    await settle();
    await clock.advance(900);
    api.bookmark();
    await clock.advance(900);
    expect(api.watches).toHaveLength(1);
    await clock.advance(100);
    expect(api.watches).toHaveLength(2);
    expect(api.watches[1]?.resourceVersion).toBe('101');
    expect(api.lists).toBe(1);
    await informer.stop();
  });

  it('re-emits every cached object as an update at each resync', async () => {
    const { api, informer, clock, seen } = await started({ resyncMs: 5000 });
    api.put('a', {}, false);
    api.put('b', {}, false);
    informer.start();
    await informer.waitForSync();
    await clock.advance(5000);
    expect(
      seen
        .filter(([kind]) => kind === 'update')
        .map(([, n]) => n)
        .sort(),
    ).toEqual(['a', 'b']);
    await clock.advance(5000);
    expect(seen.filter(([kind]) => kind === 'update')).toHaveLength(4);
    await informer.stop();
  });

  it('tells a handler added after the sync about every cached object', async () => {
    const { api, informer } = await started();
    api.put('a', {}, false);
    informer.start();
    await informer.waitForSync();
    const late: string[] = [];
    informer.addHandler({ onAdd: (o) => late.push(o.metadata?.name ?? '') });
    expect(late).toEqual(['a']);
    await informer.stop();
  });

  it('keeps going when a handler throws', async () => {
    const { api, informer, seen } = await started();
    informer.addHandler({
      onAdd: () => {
        throw new Error('boom');
      },
    });
    informer.start();
    await informer.waitForSync();
    await settle();
    api.put('a');
    api.put('b');
    expect(seen).toEqual([
      ['add', 'a'],
      ['add', 'b'],
    ]);
    await informer.stop();
  });

  it('stops: closes its watch and opens no other', async () => {
    const { api, informer, clock } = await started();
    informer.start();
    await informer.waitForSync();
    await settle();
    await informer.stop();
    expect(api.open).toBeUndefined();
    await clock.advance(10_000);
    expect(api.watches).toHaveLength(1);
  });

  it('stops during a list the server does not answer, without waiting it out', async () => {
    const { api, informer } = await started();
    let listing = false;
    // A list that ends only when its signal fires (an API server that accepted and hangs).
    api.list = ({ signal }) =>
      new Promise((_, reject) => {
        listing = true;
        signal?.addEventListener('abort', () => reject(signal.reason));
      });
    informer.start();
    await settle();
    expect(listing).toBe(true);
    await informer.stop();
    expect(informer.hasSynced()).toBe(false);
  });
});
