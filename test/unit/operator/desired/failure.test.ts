import type { V1Container, V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ShardDistributor, ShardDistributorSpec } from '../../../../src/api/index.ts';
import {
  DEFAULT_FAILURE,
  failureFor,
  failureFromEnv,
  parseIni,
} from '../../../../src/config/index.ts';
import {
  ANNOTATION_CONFIG_HASH,
  configFor,
  configHash,
  desiredObjects,
  poolsOf,
  renderedIni,
  specProblems,
  workerDeploymentFor,
} from '../../../../src/operator/desired/index.ts';
import { expectPlainJson, sample, withSpec } from './samples.ts';

const pools = sample('pools');
const full = sample('full');
const defaultPlan = { liveShards: 4, drainingShards: [] };

/** The pools sample with spec.failure, and a policy of its own on pool `large` (documents inherits). */
const withPolicies = withSpec(pools, (spec) => {
  spec.failure = {
    policy: 'Drop',
    maxAttempts: 3,
    retryBackoffSeconds: 0.5,
    retryBackoffMaxSeconds: 60,
  } as ShardDistributorSpec['failure'];
  spec.pools![0]!.failure = { policy: 'Block' } as ShardDistributorSpec['failure'];
});

function build(sd: ShardDistributor) {
  return desiredObjects(sd, { defaultImage: 'sd:1', shardSet: defaultPlan });
}

function byName(deployments: V1Deployment[]): Map<string, V1Deployment> {
  return new Map(deployments.map((d) => [d.metadata!.name!, d]));
}

function workerOf(deployment: V1Deployment | undefined): V1Container {
  return deployment!.spec!.template.spec!.containers[0]!;
}

function envOf(deployment: V1Deployment | undefined): Record<string, string | undefined> {
  return Object.fromEntries((workerOf(deployment).env ?? []).map((e) => [e.name, e.value]));
}

describe('spec.failure and a pool’s failure', () => {
  it('resolve per pool: its own, else spec.failure, else none', () => {
    const [main, large, documents] = poolsOf(withPolicies);
    const top = { policy: 'Drop', maxAttempts: 3, retryBackoffSec: 0.5, retryBackoffMaxSec: 60 };
    expect(main).toMatchObject({ failure: top, ownFailure: top });
    // A pool's own policy is whole: its unset fields are the defaults, not spec.failure's.
    expect(large).toMatchObject({ failure: { ...DEFAULT_FAILURE, policy: 'Block' } });
    expect(documents!.failure).toEqual(top);
    expect(documents!.ownFailure).toBeUndefined();
    for (const pool of poolsOf(pools)) {
      expect(pool.failure).toBeUndefined();
      expect(pool.ownFailure).toBeUndefined();
    }
  });
});

describe('worker Deployments with a failure policy', () => {
  const deployments = byName(build(withPolicies).workerDeployments);

  it('give every worker its pool’s policy as SD_* variables, its own or inherited', () => {
    expect(envOf(deployments.get('pools-worker-0'))).toEqual({
      SD_POOL: 'default',
      SD_FAILURE_POLICY: 'Drop',
      SD_MAX_ATTEMPTS: '3',
      SD_RETRY_BACKOFF_SEC: '0.5',
      SD_RETRY_BACKOFF_MAX_SEC: '60',
    });
    expect(envOf(deployments.get('pools-large-worker-0'))).toEqual({
      SD_POOL: 'large',
      SD_FAILURE_POLICY: 'Block',
      SD_MAX_ATTEMPTS: '5',
      SD_RETRY_BACKOFF_SEC: '1',
      SD_RETRY_BACKOFF_MAX_SEC: '300',
    });
    expect(envOf(deployments.get('pools-documents-worker-1'))).toMatchObject({
      SD_POOL: 'documents',
      SD_FAILURE_POLICY: 'Drop',
      SD_MAX_ATTEMPTS: '3',
    });
    for (const deployment of deployments.values()) expectPlainJson(deployment);
  });

  it('gives the worker SDK exactly the policy of the pool', () => {
    const [, large] = poolsOf(withPolicies);
    const env = envOf(deployments.get('pools-large-worker-0'));
    expect(failureFromEnv(env)).toEqual(large!.failure);
    expect(failureFromEnv(envOf(deployments.get('pools-worker-3')))).toEqual(
      failureFor(configFor(withPolicies, defaultPlan)),
    );
  });

  it('puts the policy before the template’s env, and the policy’s value wins over it', () => {
    const sd = withSpec(full, (spec) => {
      spec.failure = { policy: 'DeadLetter' } as ShardDistributorSpec['failure'];
      spec.worker.env = [
        { name: 'VEDA_LOG_LEVEL', value: 'info' },
        { name: 'SD_MAX_ATTEMPTS', value: '99' },
      ];
    });
    expect(workerOf(workerDeploymentFor(sd, 0)).env).toEqual([
      { name: 'SD_POOL', value: 'default' },
      { name: 'SD_FAILURE_POLICY', value: 'DeadLetter' },
      { name: 'SD_MAX_ATTEMPTS', value: '5' },
      { name: 'SD_RETRY_BACKOFF_SEC', value: '1' },
      { name: 'SD_RETRY_BACKOFF_MAX_SEC', value: '300' },
      { name: 'VEDA_LOG_LEVEL', value: 'info' },
    ]);
  });

  it('get the default policy (DeadLetter) without one, and a worker.env SD_* is reported', () => {
    const minimal = sample('minimal');
    expect(workerOf(workerDeploymentFor(minimal, 0)).env).toEqual([
      { name: 'SD_POOL', value: 'default' },
      { name: 'SD_FAILURE_POLICY', value: 'DeadLetter' },
      { name: 'SD_MAX_ATTEMPTS', value: '5' },
      { name: 'SD_RETRY_BACKOFF_SEC', value: '1' },
      { name: 'SD_RETRY_BACKOFF_MAX_SEC', value: '300' },
    ]);
    const ownEnv = withSpec(
      full,
      (spec) => void spec.worker.env!.push({ name: 'SD_FAILURE_POLICY', value: 'Drop' }),
    );
    expect(
      workerOf(workerDeploymentFor(ownEnv, 0)).env?.find((e) => e.name === 'SD_FAILURE_POLICY'),
    ).toEqual({ name: 'SD_FAILURE_POLICY', value: 'DeadLetter' });
    expect(specProblems(ownEnv).map((p) => p.reason)).toEqual(['FailureEnvOverridden']);
  });

  it('change only in the pools whose policy changed', () => {
    const onlyLarge = withSpec(pools, (spec) => {
      spec.pools![0]!.failure = { policy: 'Drop' } as ShardDistributorSpec['failure'];
    });
    const before = byName(build(pools).workerDeployments);
    const after = byName(build(onlyLarge).workerDeployments);
    for (const [name, deployment] of before) {
      if (name.startsWith('pools-large-')) expect(after.get(name)).not.toEqual(deployment);
      else expect(after.get(name)).toStrictEqual(deployment);
    }
  });
});

describe('the INI with a failure policy', () => {
  it('carries spec.failure in [dispatcher] and a pool’s own in its section', () => {
    const ini = renderedIni(withPolicies, defaultPlan);
    expect(ini).toMatch(/^failure_policy = Drop$/m);
    expect(ini).toMatch(/^max_attempts = 3$/m);
    const config = parseIni(ini, { file: 'ConfigMap', env: {} });
    expect(config).toEqual(configFor(withPolicies, defaultPlan));
    expect(config.failure).toEqual({
      policy: 'Drop',
      maxAttempts: 3,
      retryBackoffSec: 0.5,
      retryBackoffMaxSec: 60,
    });
    expect(config.pools.map((p) => [p.name, p.failure])).toEqual([
      ['large', { ...DEFAULT_FAILURE, policy: 'Block' }],
      ['documents', undefined],
    ]);
    // What run mode would give each pool's workers: the same as the Deployments get.
    for (const pool of poolsOf(withPolicies))
      expect(failureFor(config, pool.isDefault ? undefined : pool.name)).toEqual(pool.failure);
  });

  it('has no failure key without a policy', () => {
    expect(renderedIni(pools, defaultPlan)).not.toMatch(
      /failure_policy|max_attempts|retry_backoff/,
    );
    expect(configFor(pools, defaultPlan).failure).toBeUndefined();
  });
});

describe('the config hash with a failure policy', () => {
  const base = configHash(configFor(pools, defaultPlan));

  it.each<[string, (spec: ShardDistributorSpec) => void]>([
    [
      'spec.failure set',
      (s) => void (s.failure = { policy: 'Drop' } as ShardDistributorSpec['failure']),
    ],
    [
      'a pool’s failure set',
      (s) => void (s.pools![1]!.failure = { maxAttempts: 9 } as ShardDistributorSpec['failure']),
    ],
  ])('stays with %s: only the workers read it', (_what, change) => {
    expect(configHash(configFor(withSpec(pools, change), defaultPlan))).toBe(base);
  });

  it('stays when the policy changes, so the distributor is not restarted', () => {
    const changed = withSpec(withPolicies, (spec) => {
      spec.failure!.maxAttempts = 10;
      spec.pools![0]!.failure!.policy = 'DeadLetter';
    });
    expect(configHash(configFor(changed, defaultPlan))).toBe(base);
    const annotation = (sd: ShardDistributor) =>
      build(sd).distributorDeployment?.spec?.template.metadata?.annotations?.[
        ANNOTATION_CONFIG_HASH
      ];
    expect(annotation(changed)).toBe(annotation(pools));
    expect(build(changed).distributorDeployment).toStrictEqual(build(pools).distributorDeployment);
  });
});

describe('specProblems with a failure policy', () => {
  it('finds nothing wrong with policies alone', () => {
    expect(specProblems(withPolicies)).toEqual([]);
  });

  it('reports worker.env setting an SD_* variable the policy sets, as Degraded but buildable', () => {
    const clash = withSpec(withPolicies, (spec) => {
      spec.worker.env = [
        { name: 'SD_MAX_ATTEMPTS', value: '9' },
        { name: 'OTHER', value: 'x' },
      ];
      spec.pools![0]!.worker!.env = [{ name: 'SD_POOL', value: 'huge' }];
    });
    expect(specProblems(clash)).toEqual([
      {
        reason: 'FailureEnvOverridden',
        message:
          'worker.env sets SD_MAX_ATTEMPTS, which the operator sets on the workers of the default pool and pool documents from the failure policy (spec.failure), so the value in worker.env is not used; remove it from worker.env and change spec.failure instead',
      },
      {
        reason: 'FailureEnvOverridden',
        message:
          'pools[large].worker.env sets SD_POOL, which the operator sets on the workers of pool large from the failure policy (pools[large].failure), so the value in pools[large].worker.env is not used; remove it from pools[large].worker.env and change pools[large].failure instead',
      },
    ]);
  });

  it('passes on a policy the INI rules refuse (a spec that did not come through the API server)', () => {
    const bad = withSpec(withPolicies, (spec) => {
      spec.failure!.retryBackoffSeconds = 100;
      spec.failure!.retryBackoffMaxSeconds = 10;
    });
    expect(specProblems(bad)).toEqual([
      { reason: 'InvalidSpec', message: expect.stringContaining('retry_backoff_max_sec') },
    ]);
  });
});
