import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { LABEL_POOL, LABEL_SHARD } from '../../../../src/api/index.ts';
import { parseIni } from '../../../../src/config/index.ts';
import {
  configFor,
  configHash,
  desiredObjects,
  poolsOf,
  renderedIni,
  selectorFor,
  specProblems,
  workerArgvFor,
  workerPodSelector,
  type DesiredOptions,
} from '../../../../src/operator/desired/index.ts';
import { sample, withSpec } from './samples.ts';

const sd = sample('pools');
const defaultPlan = { liveShards: 4, drainingShards: [] };

function build(options: Partial<DesiredOptions> = {}) {
  return desiredObjects(sd, { defaultImage: 'sd:1', shardSet: defaultPlan, ...options });
}

function byName(deployments: V1Deployment[]): Map<string, V1Deployment> {
  return new Map(deployments.map((d) => [d.metadata!.name!, d]));
}

/** The same ShardDistributor as it was before it had pools. */
function withoutPools() {
  return withSpec(sd, (spec) => {
    delete spec.pools;
    delete spec.backpressure;
  });
}

describe('the pools of a ShardDistributor', () => {
  it('resolves each pool with the top-level fields as its defaults', () => {
    const [main, large, documents] = poolsOf(sd);
    expect(main).toMatchObject({ name: 'default', isDefault: true, minWorkers: 4 });
    expect(main!.subQueuePrefix).toBe('individuals-flow-shard');
    expect(large).toMatchObject({
      name: 'large',
      isDefault: false,
      minWorkers: 1,
      maxWorkers: 4,
      targetBacklogPerWorker: 50,
      strategy: 'LeastLoaded',
      subQueuePrefix: 'individuals-flow-shard-large',
      backpressure: { maxBacklogPerShard: 500, maxDiskBytes: 10737418240 },
    });
    // Without a strategy, prefix or worker of its own a pool takes the default pool's.
    expect(documents).toMatchObject({
      name: 'documents',
      minWorkers: 2,
      targetBacklogPerWorker: 1000,
      strategy: 'ZeroLoadFirst',
      subQueuePrefix: 'documents',
    });
    expect(documents!.worker).toEqual(sd.spec.worker);
    expect(documents!.maxWorkers).toBeUndefined();
  });
});

describe('desired worker Deployments with pools', () => {
  it('keeps one Deployment per shard of every pool, named <sd>-<pool>-worker-<i>', () => {
    const names = build({
      poolShardSets: { large: { liveShards: 2, drainingShards: [3] } },
    }).workerDeployments.map((d) => d.metadata?.name);
    expect(names).toEqual([
      'pools-worker-0',
      'pools-worker-1',
      'pools-worker-2',
      'pools-worker-3',
      'pools-large-worker-0',
      'pools-large-worker-1',
      'pools-large-worker-3',
      'pools-documents-worker-0',
      'pools-documents-worker-1',
    ]);
  });

  it('leaves the default pool’s Deployments exactly as they were before pools', () => {
    const before = desiredObjects(withoutPools(), {
      defaultImage: 'sd:1',
      shardSet: defaultPlan,
    }).workerDeployments;
    const after = byName(build().workerDeployments);
    expect(before).toHaveLength(4);
    for (const deployment of before)
      expect(after.get(deployment.metadata!.name!)).toStrictEqual(deployment);
  });

  it('labels and selects a pool’s workers by pool and shard', () => {
    const large = byName(build().workerDeployments).get('pools-large-worker-0')!;
    expect(large.metadata?.labels).toMatchObject({
      [LABEL_POOL]: 'large',
      [LABEL_SHARD]: '0',
      'shards.veda.dev/component': 'worker',
      'shards.veda.dev/distributor': 'pools',
    });
    expect(large.spec?.selector.matchLabels).toEqual({
      'shards.veda.dev/distributor': 'pools',
      'shards.veda.dev/component': 'worker',
      [LABEL_SHARD]: '0',
      [LABEL_POOL]: 'large',
    });
    expect(large.spec?.template.metadata?.labels).toMatchObject(large.spec!.selector.matchLabels!);
    const main = byName(build().workerDeployments).get('pools-worker-0')!;
    expect(main.metadata?.labels?.[LABEL_POOL]).toBeUndefined();
  });

  it('renders a pool’s worker from its own template and queue prefix', () => {
    const deployments = byName(build().workerDeployments);
    const large = deployments.get('pools-large-worker-0')!.spec!.template.spec!.containers[0]!;
    expect(large.command).toEqual(['python3', '-m', 'worker.queue_worker']);
    expect(large.args).toEqual([
      '--base',
      '/var/lib/veda/queue',
      '--sub',
      'individuals-flow-shard-large-0',
      '--src',
      'queue-shard-distributor',
      '--sleep-empty',
      '0.5',
    ]);
    expect(large.resources).toEqual({ limits: { memory: '2Gi' } });
    // A pool without a worker of its own: the default pool's template on the pool's queues.
    const documents = deployments.get('pools-documents-worker-1')!.spec!.template.spec!
      .containers[0]!;
    expect(documents.image).toBe(sd.spec.worker.image);
    expect(documents.args).toContain('documents-1');
    expect(documents.resources).toBeUndefined();
  });

  it('fills {sub_queue_name} and {sleep_empty_sec} from the pool’s own worker', () => {
    const custom = withSpec(sd, (spec) => {
      spec.pools![0]!.worker = {
        image: 'big:2',
        command: ['big-worker', '--fast'],
        argsTemplate: ['--queue={sub_queue_name}', '--sleep', '{sleep_empty_sec}'],
        sleepEmptySeconds: 3,
      };
    });
    expect(workerArgvFor(custom, 2, poolsOf(custom)[1])).toEqual({
      command: ['big-worker', '--fast'],
      args: ['--queue=individuals-flow-shard-large-2', '--sleep', '3'],
    });
  });

  it('stops only the pool’s removed shards', () => {
    const replicas = build({
      poolShardSets: {
        large: { liveShards: 1, drainingShards: [1, 2], stoppedShards: [1, 2], movingShards: [2] },
      },
    }).workerDeployments.map((d) => [d.metadata?.name, d.spec?.replicas]);
    expect(replicas.filter(([name]) => String(name).startsWith('pools-large-'))).toEqual([
      ['pools-large-worker-0', 1],
      ['pools-large-worker-1', 0],
      ['pools-large-worker-2', 0],
    ]);
    expect(replicas.filter(([, n]) => n === 0)).toHaveLength(2);
  });
});

describe('the INI with pools', () => {
  const plans = {
    large: { liveShards: 2, drainingShards: [3, 2], stoppedShards: [2, 3], movingShards: [3] },
  };

  it('has a [pool.NAME] section per pool with its rule, shard set and limits', () => {
    const ini = renderedIni(sd, defaultPlan, { pools: plans });
    expect(ini).toMatch(/^\[pool\.large\]$/m);
    expect(ini).toMatch(/^\[pool\.documents\]$/m);
    const config = parseIni(ini, { file: 'ConfigMap', env: {} });
    expect(config.dispatcher.minWorkers).toBe(4);
    expect(config.backpressure).toEqual({ maxBacklogPerShard: 10000, maxDiskBytes: 0 });
    expect(config.pools).toEqual([
      {
        name: 'large',
        match: { minBytes: 1048576 },
        minWorkers: 2,
        drainingShards: [2, 3],
        movingShards: [3],
        strategy: 'LeastLoaded',
        subQueuePrefix: 'individuals-flow-shard-large',
        workerModule: 'python3 -m worker.queue_worker',
        workerArgsTemplate:
          '--base {worker_base_path} --sub {sub_queue_name} --src {src} --sleep-empty {sleep_empty_sec}',
        backpressure: { maxBacklogPerShard: 500, maxDiskBytes: 10737418240 },
      },
      expect.objectContaining({
        name: 'documents',
        match: { predicate: { name: 'rdf:type', value: 'v-s:Document' } },
        minWorkers: 2,
        drainingShards: [],
        subQueuePrefix: 'documents',
        backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
      }),
    ]);
  });

  it('starts a pool without a plan at its minWorkers', () => {
    const config = configFor(sd, defaultPlan);
    expect(config.pools.map((p) => [p.name, p.minWorkers, p.drainingShards])).toEqual([
      ['large', 1, []],
      ['documents', 2, []],
    ]);
  });

  it('reads exactly as before pools when the spec has none', () => {
    const ini = renderedIni(withoutPools(), defaultPlan);
    expect(ini).not.toMatch(/pool|max_backlog_per_shard|max_disk_bytes/);
  });

  it('keeps a retiring pool with no live shard until its shards are drained', () => {
    const [large] = configFor(sd, defaultPlan).pools;
    const retiring = {
      ...large!,
      name: 'old',
      subQueuePrefix: 'old',
      minWorkers: 0,
      drainingShards: [0, 1],
    };
    const config = parseIni(renderedIni(sd, defaultPlan, { retiringPools: [retiring] }), {
      file: 'ConfigMap',
      env: {},
    });
    expect(config.pools.map((p) => [p.name, p.minWorkers, p.drainingShards])).toEqual([
      ['large', 1, []],
      ['documents', 2, []],
      ['old', 0, [0, 1]],
    ]);
  });

  it('rolls the distributor when pools change, not when they scale or change limits', () => {
    const base = configHash(configFor(sd, defaultPlan));
    expect(configHash(configFor(sd, defaultPlan, { pools: plans }))).toBe(base);
    const tuned = withSpec(sd, (spec) => {
      spec.pools![0]!.strategy = 'RoundRobin';
      spec.pools![0]!.backpressure = { maxBacklogPerShard: 1, maxDiskBytes: 2 };
      spec.pools![0]!.worker!.image = 'other:2';
      spec.backpressure = { maxBacklogPerShard: 7, maxDiskBytes: 0 };
    });
    expect(configHash(configFor(tuned, defaultPlan))).toBe(base);
    const rerouted = withSpec(sd, (spec) => void (spec.pools![0]!.match = { minBytes: 1 }));
    expect(configHash(configFor(rerouted, defaultPlan))).not.toBe(base);
    const fewer = withSpec(sd, (spec) => void spec.pools!.pop());
    expect(configHash(configFor(fewer, defaultPlan))).not.toBe(base);
  });
});

describe('selectors with pools', () => {
  it('keeps status.selector to the default pool’s workers, as the scale subresource means it', () => {
    expect(selectorFor(sd)).toBe(
      'shards.veda.dev/distributor=pools,shards.veda.dev/component=worker,!shards.veda.dev/pool',
    );
    expect(selectorFor(withoutPools())).toBe(
      'shards.veda.dev/distributor=pools,shards.veda.dev/component=worker',
    );
  });

  it('counts one pool’s shard pods without the other pools’ pods of the same index', () => {
    expect(workerPodSelector(sd, 1)).toBe(
      'shards.veda.dev/distributor=pools,shards.veda.dev/component=worker,shards.veda.dev/shard=1,!shards.veda.dev/pool',
    );
    expect(workerPodSelector(sd, 1, 'large')).toBe(
      'shards.veda.dev/distributor=pools,shards.veda.dev/component=worker,shards.veda.dev/shard=1,shards.veda.dev/pool=large',
    );
  });
});

describe('specProblems with pools', () => {
  it('finds nothing wrong with the pools sample', () => {
    expect(specProblems(sd)).toEqual([]);
  });

  it('refuses two pools on the same shard queues, saying which and what to do', () => {
    const clash = withSpec(
      sd,
      (spec) => void (spec.pools![1]!.subQueuePrefix = 'individuals-flow-shard-large'),
    );
    expect(specProblems(clash)).toEqual([
      {
        reason: 'InvalidSpec',
        message:
          'pool documents and pool large both name their shard queues individuals-flow-shard-large-<i>, so their workers would read the same queues; give pool documents a subQueuePrefix of its own',
      },
    ]);
    const withDefault = withSpec(
      sd,
      (spec) => void (spec.pools![1]!.subQueuePrefix = 'individuals-flow-shard'),
    );
    expect(specProblems(withDefault)[0]?.message).toMatch(
      /^pool documents and the default pool \(queue\.subQueuePrefix\) both name/,
    );
  });

  it('refuses two pools of one name (a spec that did not come through the API server)', () => {
    const twice = withSpec(sd, (spec) => void (spec.pools![1]!.name = 'large'));
    expect(specProblems(twice).map((p) => p.message)).toContain(
      'spec.pools has two pools named large; give each pool its own name',
    );
  });

  it('checks a pool’s own worker template like spec.worker', () => {
    const bad = withSpec(sd, (spec) => {
      spec.pools![0]!.worker!.podTemplate = {
        spec: { volumes: [{ name: 'root', hostPath: { path: '/' } }] },
      };
    });
    expect(specProblems(bad)).toEqual([
      {
        reason: 'InvalidSpec',
        message: expect.stringContaining(
          'pools[large].worker.podTemplate volume root is of type hostPath',
        ),
      },
    ]);
  });

  it('passes on what the INI rules refuse in a pool', () => {
    const bad = withSpec(sd, (spec) => void (spec.pools![0]!.worker!.command = ['run', '{nope}']));
    expect(specProblems(bad)).toEqual([
      { reason: 'InvalidSpec', message: expect.stringContaining('{nope}') },
    ]);
  });
});
