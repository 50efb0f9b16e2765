import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, kubeConfig, kubectlOk, useNamespace } from '../support.ts';
import {
  boundClaim,
  condition,
  createSd,
  deleteSdsAndWait,
  getSd,
  LocalDistributor,
  sdManifest,
  watchSd,
  useOperator,
} from './support.ts';

const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);
/** kwok's chaos stage (test/harness/control-plane.ts loads it): a Running pod so labelled fails. */
const FAIL_LABEL = 'pod-container-running-failed.stage.kwok.x-k8s.io';

async function shardPods(namespace: string, name: string, shard: number) {
  const list = await core().listNamespacedPod({
    namespace,
    labelSelector: `shards.veda.dev/distributor=${name},shards.veda.dev/shard=${shard}`,
  });
  return list.items;
}

const op = useOperator('fail');

describe('a worker pod that fails', () => {
  const ns = useNamespace('fail');
  let distributor: LocalDistributor | undefined;
  let watcher: { seen: any[]; stop(): void } | undefined;
  beforeEach(async () => boundClaim(ns.name));
  afterEach(async () => {
    watcher?.stop();
    watcher = undefined;
    await deleteSdsAndWait(ns.name);
    await distributor?.stop();
    distributor = undefined;
  });

  it('shows in the status as a worker not ready, and the status recovers when its ReplicaSet replaces the pod', async () => {
    await createSd(ns.name, sdManifest('flaky', { minWorkers: 3 }));
    distributor = await LocalDistributor.start(ns.name, 'flaky', op.book);
    await eventually(
      async () => {
        const sd = await getSd(ns.name, 'flaky');
        expect(condition(sd, 'Ready')).toMatchObject({ status: 'True' });
        expect(sd.status).toMatchObject({ workers: 3, readyWorkers: 3 });
      },
      { timeoutMs: 90_000 },
    );
    const [victim] = await shardPods(ns.name, 'flaky', 1);
    expect(victim?.status?.phase).toBe('Running');
    watcher = await watchSd(ns.name, 'flaky');

    kubectlOk(['label', 'pod', victim!.metadata!.name!, '-n', ns.name, `${FAIL_LABEL}=true`]);
    await eventually(
      async () => {
        const pod = await core().readNamespacedPod({
          namespace: ns.name,
          name: victim!.metadata!.name!,
        });
        expect(pod.status?.phase).toBe('Failed');
      },
      { timeoutMs: 30_000, description: 'kwok to fail the pod' },
    );

    // The status said so while it lasted (the watch keeps every version, however brief).
    const notReady = await eventually(
      () => {
        const found = watcher!.seen.find(
          (sd) => sd.status?.readyWorkers === 2 && condition(sd, 'Ready')?.status === 'False',
        );
        if (!found) throw new Error('no status with a worker not ready yet');
        return found;
      },
      { timeoutMs: 60_000 },
    );
    expect(condition(notReady, 'Ready')).toMatchObject({
      reason: 'WorkersNotReady',
      message: expect.stringContaining('waiting for shard 1'),
    });
    expect(notReady.status.workers).toBe(3);
    expect(notReady.status.shards.find((s: any) => s.index === 1)).toMatchObject({ ready: false });

    // Recovered: a new pod for shard 1 Running, the failed one left as Failed, status Ready again.
    await eventually(
      async () => {
        const pods = await shardPods(ns.name, 'flaky', 1);
        const running = pods.filter((p) => p.status?.phase === 'Running');
        expect(running).toHaveLength(1);
        expect(running[0]!.metadata!.name).not.toBe(victim!.metadata!.name);
        const sd = await getSd(ns.name, 'flaky');
        expect(sd.status).toMatchObject({ workers: 3, readyWorkers: 3 });
        expect(condition(sd, 'Ready')).toMatchObject({
          status: 'True',
          reason: 'AllWorkersReady',
        });
      },
      { timeoutMs: 90_000 },
    );
    const sd = await getSd(ns.name, 'flaky');
    expect(sd.status.shards.map((s: any) => s.ready)).toEqual([true, true, true]);
  }, 240_000);
});
