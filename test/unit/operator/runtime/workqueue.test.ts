import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ItemExponentialBackoff } from '../../../../src/operator/runtime/backoff.ts';
import { WorkQueue } from '../../../../src/operator/runtime/workqueue.ts';
import { FakeClock, settle } from './fake-clock.ts';

function queue(clock = new FakeClock(), registry = new Registry()) {
  return { q: new WorkQueue({ name: 'test', clock, registry }), clock, registry };
}

async function metric(registry: Registry, name: string): Promise<number> {
  const found = await registry.getSingleMetric(name)?.get();
  return found?.values.find((v) => v.labels['name'] === 'test')?.value ?? 0;
}

/** Takes a key if one is ready now, without waiting. */
async function tryGet(q: WorkQueue): Promise<string | undefined> {
  let got: string | undefined;
  let settled = false;
  if (q.len() === 0) return undefined;
  void q.get().then((k) => {
    got = k;
    settled = true;
  });
  await settle();
  expect(settled).toBe(true);
  return got;
}

describe('WorkQueue', () => {
  it('hands out a key added several times before it is taken only once', async () => {
    const { q, registry } = queue();
    for (const key of ['ns/a', 'ns/a', 'ns/b', 'ns/a']) q.add(key);
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
    expect(q.len()).toBe(0);
    expect(await metric(registry, 'workqueue_adds_total')).toBe(2);
  });

  it('never hands a key being processed to a second worker; a re-add waits for done()', async () => {
    const { q } = queue();
    q.add('ns/a');
    expect(await q.get()).toBe('ns/a');
    q.add('ns/a');
    q.add('ns/a');
    expect(q.len()).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await settle();
    expect(second).toBeUndefined();
    q.done('ns/a');
    await settle();
    expect(second).toBe('ns/a');
    q.done('ns/a');
    expect(q.len()).toBe(0);
  });

  it('processes other keys while one is being processed', async () => {
    const { q } = queue();
    q.add('ns/a');
    q.add('ns/b');
    expect(await q.get()).toBe('ns/a');
    q.add('ns/a');
    expect(await q.get()).toBe('ns/b');
    expect(q.len()).toBe(0);
  });

  it('wakes a waiting get() when a key arrives', async () => {
    const { q } = queue();
    const waiting = q.get();
    q.add('ns/a');
    expect(await waiting).toBe('ns/a');
  });

  it('grows each key’s failure backoff on its own: 5, 10, 20 ms …', async () => {
    const { q, clock, registry } = queue();
    const readyAfter: number[] = [];
    for (let i = 0; i < 3; i++) {
      const start = clock.now();
      q.addRateLimited('ns/a');
      while ((await tryGet(q)) === undefined) await clock.advance(1);
      readyAfter.push(clock.now() - start);
      q.done('ns/a');
    }
    expect(readyAfter).toEqual([5, 10, 20]);
    expect(q.numRequeues('ns/a')).toBe(3);
    expect(q.numRequeues('ns/b')).toBe(0);
    q.addRateLimited('ns/b');
    await clock.advance(5);
    expect(await tryGet(q)).toBe('ns/b');
    expect(await metric(registry, 'workqueue_retries_total')).toBe(4);
  });

  it('starts the backoff afresh after forget()', async () => {
    const { q, clock } = queue();
    q.addRateLimited('ns/a');
    q.addRateLimited('ns/a');
    q.addRateLimited('ns/a');
    q.forget('ns/a');
    expect(q.numRequeues('ns/a')).toBe(0);
    await clock.advance(20);
    expect(await tryGet(q)).toBe('ns/a');
    q.done('ns/a');
    q.addRateLimited('ns/a');
    await clock.advance(4);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(await tryGet(q)).toBe('ns/a');
  });

  it('keeps the failure backoff across a requeue-after: only forget() resets it', async () => {
    const { q, clock } = queue();
    for (let i = 0; i < 3; i++) q.addRateLimited('ns/a');
    q.addAfter('ns/a', 1);
    await clock.advance(1);
    expect(await tryGet(q)).toBe('ns/a');
    q.done('ns/a');
    expect(q.numRequeues('ns/a')).toBe(3);
    await clock.advance(100);
    while ((await tryGet(q)) !== undefined) q.done('ns/a');
    q.addRateLimited('ns/a');
    await clock.advance(39);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(await tryGet(q)).toBe('ns/a');
  });

  it('keeps the earliest of several delayed adds of one key', async () => {
    const { q, clock } = queue();
    q.addAfter('ns/a', 100);
    q.addAfter('ns/a', 50);
    q.addAfter('ns/a', 70);
    await clock.advance(50);
    expect(await tryGet(q)).toBe('ns/a');
    q.done('ns/a');
    await clock.advance(100);
    expect(q.len()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('adds at once when the delay is zero', async () => {
    const { q } = queue();
    q.addAfter('ns/a', 0);
    expect(q.len()).toBe(1);
  });

  it('on shutdown wakes waiting workers with undefined, drops queued and delayed keys, ignores adds', async () => {
    const { q, clock } = queue();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();

    const other = queue(clock).q;
    other.add('ns/a');
    other.addAfter('ns/b', 10);
    other.addRateLimited('ns/c');
    other.shutDown();
    expect(clock.pendingTimers()).toBe(0);
    expect(await other.get()).toBeUndefined();
    other.add('ns/d');
    expect(other.len()).toBe(0);
  });

  it('lets drain() wait for the keys still being processed', async () => {
    const { q } = queue();
    q.add('ns/a');
    const key = await q.get();
    q.shutDown();
    let drained = false;
    void q.drain().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);
    q.done(key as string);
    await settle();
    expect(drained).toBe(true);
  });

  it('reports depth as keys are added and taken', async () => {
    const { q, registry } = queue();
    q.add('ns/a');
    q.add('ns/b');
    expect(await metric(registry, 'workqueue_depth')).toBe(2);
    await q.get();
    expect(await metric(registry, 'workqueue_depth')).toBe(1);
  });

  it('accepts a custom backoff', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ name: 'x', clock, backoff: new ItemExponentialBackoff(100, 150) });
    q.addRateLimited('k');
    q.addRateLimited('k');
    await clock.advance(99);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(q.len()).toBe(1);
  });
});
