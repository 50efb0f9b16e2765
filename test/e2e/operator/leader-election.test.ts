import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, kubeConfig, kubectlOk, useNamespace } from '../support.ts';
import {
  AddressBook,
  boundClaim,
  createSd,
  deleteSdsAndWait,
  loggedPort,
  metricSum,
  sdManifest,
  startOperator,
  workerDeploymentNames,
  workers,
  type Proc,
} from './support.ts';

const LEASE_SECONDS = 6;

interface Replica {
  name: string;
  proc: Proc;
  metricsPort: number;
}

describe('two operator processes with leader election', () => {
  const ns = useNamespace('le-op');
  let dir: string;
  let book: AddressBook;
  let lease: string;
  const replicas: Replica[] = [];
  let sampler: NodeJS.Timeout | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-e2e-le-'));
    book = await AddressBook.create(dir);
    lease = `sd-leader-${randomBytes(3).toString('hex')}`;
    await boundClaim(ns.name);
  });
  afterEach(async () => {
    clearInterval(sampler);
    sampler = undefined;
    // A live operator removes the finalizers; only then may the operators go.
    if (replicas.some((r) => r.proc.child.exitCode === null && r.proc.child.signalCode === null))
      await deleteSdsAndWait(ns.name);
    await Promise.all(replicas.splice(0).map((r) => r.proc.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  async function replica(name: string): Promise<Replica> {
    const proc = startOperator({
      book,
      env: { POD_NAME: name },
      extraArgs: [
        '--leader-elect',
        '--lease-namespace',
        ns.name,
        '--lease-name',
        lease,
        '--lease-duration-seconds',
        String(LEASE_SECONDS),
      ],
    });
    const r = { name, proc, metricsPort: await loggedPort(proc, 'metricsPort') };
    replicas.push(r);
    return r;
  }

  async function holder(): Promise<string> {
    const api = kubeConfig().makeApiClient(k8s.CoordinationV1Api);
    const read = await api.readNamespacedLease({ name: lease, namespace: ns.name });
    return read.spec?.holderIdentity ?? '';
  }

  const leading = (r: Replica) => metricSum(r.metricsPort, 'leader_election_master_status');
  const reconciles = (r: Replica) => metricSum(r.metricsPort, 'controller_runtime_reconcile_total');

  it('one leads and reconciles, the other waits; killed -9, the other takes over within the lease and reconciles', async () => {
    const a = await replica('op-a');
    const b = await replica('op-b');
    // Both processes' own view, sampled throughout: never two leaders at once.
    const violations: string[] = [];
    sampler = setInterval(() => {
      const alive = [a, b].filter((r) => r.proc.child.exitCode === null && !r.proc.child.killed);
      void Promise.all(alive.map((r) => leading(r).catch(() => 0))).then((states) => {
        if (states.filter((s) => s === 1).length > 1)
          violations.push(`two leaders at ${new Date().toISOString()}`);
      });
    }, 100);

    const identity = await eventually(
      async () => {
        const h = await holder();
        if (!/^op-[ab]_\d+$/.test(h)) throw new Error(`Lease held by "${h}"`);
        return h;
      },
      { timeoutMs: 30_000, description: 'a leader in the Lease' },
    );
    const [leader, standby] = identity.startsWith('op-a_') ? [a, b] : [b, a];
    expect(identity).toBe(`${leader.name}_${leader.proc.child.pid}`);

    await createSd(ns.name, sdManifest('elected', { minWorkers: 2, deletionPolicy: 'Abandon' }));
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'elected')).toEqual(workers('elected', 2)),
      { timeoutMs: 60_000 },
    );
    expect(await leading(leader)).toBe(1);
    await eventually(async () => expect(await reconciles(leader)).toBeGreaterThan(0));
    // The standby's informers are warm, but its controller has not reconciled anything.
    expect(await leading(standby)).toBe(0);
    expect(await reconciles(standby)).toBe(0);

    await leader.proc.kill();
    const killedAt = Date.now();
    kubectlOk(['scale', 'sd/elected', '-n', ns.name, '--replicas=3']);
    const standbyIdentity = `${standby.name}_${standby.proc.child.pid}`;
    await eventually(async () => expect(await holder()).toBe(standbyIdentity), {
      timeoutMs: 60_000,
      description: 'the standby to take the Lease',
    });
    const handover = Date.now() - killedAt;
    // The standby takes a Lease that nobody renewed for leaseDuration, judged on its own
    // clock from when it last saw the Lease change: at most leaseDuration + one retry period
    // (0.8 s) + jitter after the kill. 4 s more for polling and a busy 2-core machine.
    expect(handover).toBeLessThan((LEASE_SECONDS + 4) * 1000 + 1_000);
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'elected')).toEqual(workers('elected', 3)),
      { timeoutMs: 60_000 },
    );
    expect(await leading(standby)).toBe(1);
    // Counted when the reconcile ends, a little after the Deployment it wrote is seen.
    await eventually(async () => expect(await reconciles(standby)).toBeGreaterThan(0));
    expect(violations).toEqual([]);
  }, 180_000);

  it('a leader whose Lease is taken stops and exits non-zero, so that it restarts clean', async () => {
    const only = await replica('op-solo');
    await eventually(async () => expect(await holder()).toMatch(/^op-solo_/), {
      timeoutMs: 30_000,
    });
    expect(await leading(only)).toBe(1);
    const api = kubeConfig().makeApiClient(k8s.CoordinationV1Api);
    const current = await api.readNamespacedLease({ name: lease, namespace: ns.name });
    await api.replaceNamespacedLease({
      name: lease,
      namespace: ns.name,
      body: {
        ...current,
        spec: {
          ...current.spec,
          holderIdentity: 'intruder',
          renewTime: new k8s.V1MicroTime(),
          leaseDurationSeconds: 60,
        },
      },
    });
    const exit = await Promise.race([
      only.proc.exited,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 30_000)),
    ]);
    expect(exit, only.proc.output().slice(-2000)).toEqual({ code: 1, signal: null });
    expect(only.proc.output()).toContain('SD_ERR_LEADER_ELECTION_LOST');
    expect(await holder()).toBe('intruder');
  }, 120_000);
});
