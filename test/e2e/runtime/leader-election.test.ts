import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { Controller } from '../../../src/operator/runtime/controller.ts';
import { kubeLeaseLock } from '../../../src/operator/runtime/lease-lock.ts';
import { Manager } from '../../../src/operator/runtime/manager.ts';
import { eventually, kubeConfig, useNamespace } from '../support.ts';
import { configMapInformer, configMapSource, createConfigMap } from './helpers.ts';

interface Replica {
  name: string;
  manager: Manager;
  reconciled: string[];
}

describe('leader election against the real Lease API', () => {
  const ns = useNamespace('le');
  const replicas: Replica[] = [];
  let sampler: ReturnType<typeof setInterval> | undefined;
  afterEach(async () => {
    clearInterval(sampler);
    await Promise.all(replicas.splice(0).map((r) => r.manager.stop()));
  });

  /** Two operator replicas in one process; a shared tracker sees every reconcile of both. */
  function twoReplicas(leaseDurationMs: number) {
    const inFlight = new Map<string, number>();
    const violations: string[] = [];
    const make = (name: string): Replica => {
      const reconciled: string[] = [];
      const informer = configMapInformer(configMapSource(ns.name, 'app=le'));
      const controller = new Controller({
        name: `le-${name}`,
        concurrency: 2,
        reconcile: async (key) => {
          const n = (inFlight.get(key) ?? 0) + 1;
          inFlight.set(key, n);
          if (n > 1) violations.push(`${key} reconciled ${n} times at once`);
          reconciled.push(key);
          await new Promise((resolve) => setTimeout(resolve, 20));
          inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
        },
      });
      controller.watch(informer);
      const manager = new Manager({
        leaderElection: {
          lock: kubeLeaseLock(kubeConfig(), ns.name, 'runtime-test'),
          identity: name,
          leaseDurationMs,
          renewDeadlineMs: Math.min(3_000, leaseDurationMs - 1_000),
          retryPeriodMs: 500,
        },
      })
        .addInformer(informer)
        .addController(controller);
      const replica = { name, manager, reconciled };
      replicas.push(replica);
      return replica;
    };
    const a = make('replica-a');
    const b = make('replica-b');
    sampler = setInterval(() => {
      if (a.manager.isLeader() && b.manager.isLeader()) violations.push('two leaders at once');
    }, 20);
    return { a, b, violations };
  }

  async function leaderOf(a: Replica, b: Replica): Promise<[Replica, Replica]> {
    return eventually(() => {
      if (a.manager.isLeader()) return [a, b] as [Replica, Replica];
      if (b.manager.isLeader()) return [b, a] as [Replica, Replica];
      throw new Error('no leader yet');
    });
  }

  async function lease() {
    const api = kubeConfig().makeApiClient(k8s.CoordinationV1Api);
    return (await api.readNamespacedLease({ name: 'runtime-test', namespace: ns.name })).spec;
  }

  it('one of two replicas leads and reconciles; killed, the other takes over once the lease expires', async () => {
    const leaseDurationMs = 4_000;
    const { a, b, violations } = twoReplicas(leaseDurationMs);
    await Promise.all([a.manager.start(), b.manager.start()]);
    const [leader, standby] = await leaderOf(a, b);
    expect((await lease())?.holderIdentity).toBe(leader.name);

    await createConfigMap(ns.name, 'first', { app: 'le' });
    await eventually(() => expect(leader.reconciled).toContain(`${ns.name}/first`));
    expect(standby.reconciled).toEqual([]);

    // A crash: no release, so the standby must wait for the lease to run out.
    await leader.manager.stop({ release: false });
    const lastRenew = new Date((await lease())?.renewTime as Date).getTime();
    await eventually(() => expect(standby.manager.isLeader()).toBe(true), {
      timeoutMs: 4 * leaseDurationMs,
    });
    const taken = await lease();
    expect(taken?.holderIdentity).toBe(standby.name);
    expect(new Date(taken?.acquireTime as Date).getTime() - lastRenew).toBeGreaterThanOrEqual(
      leaseDurationMs,
    );

    await createConfigMap(ns.name, 'second', { app: 'le' });
    await eventually(() => expect(standby.reconciled).toContain(`${ns.name}/second`));
    expect(leader.reconciled).not.toContain(`${ns.name}/second`);
    expect(violations).toEqual([]);
  });

  it('hands over at once when the leader stops gracefully and releases the lease', async () => {
    // A lease far longer than the wait below: only the release can explain a quick handover.
    const { a, b, violations } = twoReplicas(120_000);
    await Promise.all([a.manager.start(), b.manager.start()]);
    const [leader, standby] = await leaderOf(a, b);
    await createConfigMap(ns.name, 'one', { app: 'le' });
    await eventually(() => expect(leader.reconciled).toContain(`${ns.name}/one`));

    await leader.manager.stop();
    expect((await lease())?.holderIdentity ?? '').toBe('');
    await eventually(() => expect(standby.manager.isLeader()).toBe(true), { timeoutMs: 20_000 });
    // The new leader starts from its warm cache and reconciles what exists.
    await eventually(() => expect(standby.reconciled).toContain(`${ns.name}/one`));
    expect(violations).toEqual([]);
  });
});
