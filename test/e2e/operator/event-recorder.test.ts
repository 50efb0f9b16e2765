import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/observability/index.ts';
import { EventRecorder, type EventTarget } from '../../../src/operator/reconciler/events.ts';
import { eventually, kubeConfig, useNamespace } from '../support.ts';

// The recorder against a real API server: it queues, and writes in the background in order.
describe('EventRecorder', () => {
  const ns = useNamespace('ev');
  const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);

  function recorder(options: { countEveryMs?: number } = {}) {
    const lines: { msg: string; reason?: string; object?: string }[] = [];
    const log = createLogger(
      { level: 'debug' },
      { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) },
    );
    return { events: new EventRecorder(kubeConfig(), log, options), lines };
  }

  async function counts(name: string): Promise<[string | undefined, number | undefined][]> {
    const { items } = await core().listNamespacedEvent({
      namespace: ns.name,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return items.map((e) => [e.reason, e.count]);
  }

  it('counts a repeat into the Event it repeats, as client-go does, instead of dropping it', async () => {
    const { events } = recorder({ countEveryMs: 200 });
    const again = target(ns.name, 'again');
    events.record(again, 'Normal', 'Restored', 'x was deleted; restored it');
    await events.flush();
    // A second deletion a moment later: before, nothing showed it had happened again.
    events.record(again, 'Normal', 'Restored', 'x was deleted; restored it');
    await eventually(async () => expect(await counts('again')).toEqual([['Restored', 2]]));
    // Repeats in a burst are written together. (Event times are whole seconds: the burst
    // comes in a later one.)
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    events.record(again, 'Normal', 'Restored', 'x was deleted; restored it');
    events.record(again, 'Normal', 'Restored', 'x was deleted; restored it');
    await eventually(async () => expect(await counts('again')).toEqual([['Restored', 4]]));
    const { items } = await core().listNamespacedEvent({
      namespace: ns.name,
      fieldSelector: 'involvedObject.name=again',
    });
    expect(new Date(items[0]!.lastTimestamp!).getTime()).toBeGreaterThan(
      new Date(items[0]!.firstTimestamp!).getTime(),
    );
  });

  const target = (namespace: string, name: string): EventTarget => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, uid: `uid-${name}` },
  });

  async function reasons(name: string): Promise<string[]> {
    const { items } = await core().listNamespacedEvent({
      namespace: ns.name,
      fieldSelector: `involvedObject.name=${name}`,
    });
    // Written one after another: etcd's revisions give their order.
    return items
      .sort((a, b) => Number(a.metadata?.resourceVersion) - Number(b.metadata?.resourceVersion))
      .map((e) => `${e.type} ${e.reason}: ${e.message}`);
  }

  it('writes what it queued once each, in order, by the time flush resolves', async () => {
    const { events } = recorder();
    const it1 = target(ns.name, 'one');
    expect(events.record(it1, 'Normal', 'First', 'a')).toBeUndefined();
    events.record(it1, 'Warning', 'Second', 'b');
    // The same reason and message again within the repeat window: not written twice.
    events.record(it1, 'Normal', 'First', 'a');
    events.record(it1, 'Normal', 'Third', 'c');
    await events.flush();
    expect(await reasons('one')).toEqual([
      'Normal First: a',
      'Warning Second: b',
      'Normal Third: c',
    ]);
  });

  it('goes on writing after one the API server refuses, and says why it failed', async () => {
    const { events, lines } = recorder();
    events.record(target('no-such-namespace-ev', 'lost'), 'Normal', 'Refused', 'x');
    events.record(target(ns.name, 'after'), 'Normal', 'Written', 'y');
    await events.flush();
    expect(await reasons('after')).toEqual(['Normal Written: y']);
    const failed = () => lines.filter((l) => l.msg === 'could not record event');
    expect(failed()).toEqual([
      expect.objectContaining({ reason: 'Refused', object: 'ConfigMap no-such-namespace-ev/lost' }),
    ]);
    // Not written, so not counted as recorded: the same event again is tried again.
    events.record(target('no-such-namespace-ev', 'lost'), 'Normal', 'Refused', 'x');
    await events.flush();
    expect(failed()).toHaveLength(2);
  });
});
