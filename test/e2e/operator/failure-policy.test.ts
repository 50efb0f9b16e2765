import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONFIG_FILE_NAME, parseIni } from '../../../src/config/index.ts';
import { ANNOTATION_CONFIG_HASH } from '../../../src/operator/desired/index.ts';
import { eventually, kubeConfig, useNamespace } from '../support.ts';
import {
  boundClaim,
  createSd,
  deleteSdsAndWait,
  patchSpec,
  poolWorkerDeployments,
  poolWorkers,
  sdManifest,
  useOperator,
  workerDeploymentNames,
  workers,
} from './support.ts';

useOperator('failpol');

const apps = () => kubeConfig().makeApiClient(k8s.AppsV1Api);
const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);

const DROP = {
  policy: 'Drop',
  maxAttempts: 3,
  retryBackoffSeconds: 0.5,
  retryBackoffMaxSeconds: 60,
};

function envOf(deployment: k8s.V1Deployment): Record<string, string | undefined> {
  const container = deployment.spec?.template.spec?.containers[0];
  return Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
}

/** Name → uid/generation of a pool's worker Deployments: an edited one shows a new generation. */
async function fingerprint(namespace: string, pool: string) {
  return Object.fromEntries(
    (await poolWorkerDeployments(namespace, 'policies', pool)).map((d) => [
      d.metadata!.name!,
      `${d.metadata!.uid}/${d.metadata!.generation}`,
    ]),
  );
}

async function distributor(namespace: string) {
  const d = await apps().readNamespacedDeployment({ namespace, name: 'policies-distributor' });
  return {
    hash: d.spec?.template.metadata?.annotations?.[ANNOTATION_CONFIG_HASH],
    version: `${d.metadata?.uid}/${d.metadata?.generation}`,
  };
}

async function ini(namespace: string) {
  const cm = await core().readNamespacedConfigMap({ namespace, name: 'policies-config' });
  return parseIni(cm.data?.[CONFIG_FILE_NAME] ?? '', { file: 'ConfigMap', env: {} });
}

describe('failure policies of a ShardDistributor on a real control plane', () => {
  const ns = useNamespace('failpol');
  beforeEach(async () => boundClaim(ns.name));
  afterEach(async () => deleteSdsAndWait(ns.name));

  it('gives each pool’s workers their policy as SD_* env, renders it into the INI, and rolls only the workers when it changes', async () => {
    await createSd(
      ns.name,
      sdManifest('policies', {
        minWorkers: 2,
        // No distributor runs here to drain the shards on delete.
        deletionPolicy: 'Abandon',
        failure: DROP,
        worker: {
          image: 'registry.example/worker:1',
          command: ['python3', '-m', 'worker.queue_worker'],
          env: [{ name: 'LOG_LEVEL', value: 'debug' }],
        },
        pools: [
          { name: 'large', match: { minBytes: 64 }, minWorkers: 1, failure: { policy: 'Block' } },
        ],
      }),
    );
    await eventually(
      async () =>
        expect(await workerDeploymentNames(ns.name, 'policies')).toEqual(
          [...workers('policies', 2), ...poolWorkers('policies', 'large', 1)].sort(),
        ),
      { timeoutMs: 30_000 },
    );

    const main = await poolWorkerDeployments(ns.name, 'policies', 'default');
    for (const deployment of main) {
      expect(deployment.spec?.template.spec?.containers[0]?.env).toEqual([
        { name: 'SD_POOL', value: 'default' },
        { name: 'SD_FAILURE_POLICY', value: 'Drop' },
        { name: 'SD_MAX_ATTEMPTS', value: '3' },
        { name: 'SD_RETRY_BACKOFF_SEC', value: '0.5' },
        { name: 'SD_RETRY_BACKOFF_MAX_SEC', value: '60' },
        { name: 'LOG_LEVEL', value: 'debug' },
      ]);
    }
    const [large] = await poolWorkerDeployments(ns.name, 'policies', 'large');
    // The pool's own policy, whole: its unset fields are the defaults, not spec.failure's.
    expect(envOf(large!)).toEqual({
      SD_POOL: 'large',
      SD_FAILURE_POLICY: 'Block',
      SD_MAX_ATTEMPTS: '5',
      SD_RETRY_BACKOFF_SEC: '1',
      SD_RETRY_BACKOFF_MAX_SEC: '300',
      LOG_LEVEL: 'debug',
    });

    const config = await ini(ns.name);
    expect(config.failure).toEqual({
      policy: 'Drop',
      maxAttempts: 3,
      retryBackoffSec: 0.5,
      retryBackoffMaxSec: 60,
    });
    expect(config.pools[0]?.failure).toEqual({
      policy: 'Block',
      maxAttempts: 5,
      retryBackoffSec: 1,
      retryBackoffMaxSec: 300,
    });

    const before = await distributor(ns.name);
    expect(before.hash).toMatch(/^[0-9a-f]{16}$/);
    const mainBefore = await fingerprint(ns.name, 'default');
    const largeBefore = await fingerprint(ns.name, 'large');

    await patchSpec(ns.name, 'policies', { failure: { maxAttempts: 7 } });
    await eventually(
      async () => {
        const rolled = await poolWorkerDeployments(ns.name, 'policies', 'default');
        expect(rolled).toHaveLength(2);
        for (const deployment of rolled) {
          expect(envOf(deployment)).toMatchObject({
            SD_FAILURE_POLICY: 'Drop',
            SD_MAX_ATTEMPTS: '7',
          });
        }
        expect((await ini(ns.name)).failure?.maxAttempts).toBe(7);
      },
      { timeoutMs: 30_000 },
    );
    // The same Deployments, edited (a new pod template): their pods are replaced.
    const mainAfter = await fingerprint(ns.name, 'default');
    expect(Object.keys(mainAfter)).toEqual(Object.keys(mainBefore));
    for (const [name, version] of Object.entries(mainAfter)) {
      const [uid, generation] = version.split('/');
      const [uidBefore, generationBefore] = mainBefore[name]!.split('/');
      expect(uid).toBe(uidBefore);
      expect(Number(generation)).toBeGreaterThan(Number(generationBefore));
    }
    // Pool large has a policy of its own; the distributor never reads the policy.
    expect(await fingerprint(ns.name, 'large')).toEqual(largeBefore);
    expect(await distributor(ns.name)).toEqual(before);
  });
});
