import { readdirSync, readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CRD_NAME, GROUP, PLURAL, VERSION, withDefaults } from '../../src/api/index.ts';
import { REPO_ROOT } from '../harness/tools.ts';
import { kubeConfig, kubectl, kubectlOk, useNamespace } from './support.ts';

const SAMPLES_DIR = `${REPO_ROOT}config/samples`;
const samples = readdirSync(SAMPLES_DIR).filter(
  (f) => f.startsWith('shards_') && f.endsWith('.yaml'),
);
const minimalSample = () =>
  parse(readFileSync(`${SAMPLES_DIR}/shards_v1alpha1_sharddistributor_minimal.yaml`, 'utf8'));

function customObjects() {
  return kubeConfig().makeApiClient(k8s.CustomObjectsApi);
}

async function createSd(namespace: string, body: object) {
  return customObjects().createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    body,
  });
}

/** The API server's rejection message for a create, or a failure if it was accepted. */
async function rejection(namespace: string, body: object): Promise<string> {
  try {
    await createSd(namespace, body);
  } catch (error) {
    if (error instanceof k8s.ApiException) {
      expect(error.code).toBe(422);
      return (JSON.parse(String(error.body)) as { message: string }).message;
    }
    throw error;
  }
  throw new Error('the API server accepted an invalid ShardDistributor');
}

function withSpec(mutate: (spec: Record<string, any>) => void) {
  const sd = minimalSample();
  sd.metadata.name = 'bad';
  mutate(sd.spec);
  return sd;
}

describe('the ShardDistributor CRD on a real API server', () => {
  const ns = useNamespace('crd');

  it('is installed from crds/ and established, with status and scale subresources', async () => {
    const crd = await kubeConfig()
      .makeApiClient(k8s.ApiextensionsV1Api)
      .readCustomResourceDefinition({ name: CRD_NAME });
    expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    expect(crd.spec.names.shortNames).toEqual(['sd']);
    expect(crd.spec.scope).toBe('Namespaced');
    const version = crd.spec.versions[0];
    expect(version?.subresources?.status).toEqual({});
    expect(version?.subresources?.scale).toEqual({
      specReplicasPath: '.spec.minWorkers',
      statusReplicasPath: '.status.workers',
      labelSelectorPath: '.status.selector',
    });
  });

  it.each(samples)('accepts the sample %s through kubectl apply', (file) => {
    const out = kubectlOk(['apply', '-n', ns.name, '-f', `${SAMPLES_DIR}/${file}`]);
    expect(out).toMatch(/sharddistributor\.shards\.veda\.dev\/\S+ created/);
  });

  it('shows Min, Ready, Backlog, Strategy and Age in `kubectl get sd`', () => {
    for (const file of samples) kubectlOk(['apply', '-n', ns.name, '-f', `${SAMPLES_DIR}/${file}`]);
    const table = kubectlOk(['get', 'sd', '-n', ns.name]);
    const [header, ...rows] = table.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'MIN', 'READY', 'BACKLOG', 'STRATEGY', 'AGE']);
    expect(rows.map((r) => r.split(/\s+/)[0]).sort()).toEqual([
      'full',
      'minimal',
      'nats',
      'pools',
      'veda-sidecar',
    ]);
    const full = rows.find((r) => r.startsWith('full '));
    expect(full?.split(/\s+/).slice(1, 2)).toEqual(['4']);
    expect(full).toContain('ZeroLoadFirst');
  });

  it('fills in the same defaults on the server as withDefaults() does locally', async () => {
    const created = (await createSd(ns.name, minimalSample())) as { spec: unknown };
    expect(created.spec).toEqual(withDefaults(minimalSample().spec));
    const spec = created.spec as ReturnType<typeof withDefaults>;
    expect(spec.minWorkers).toBe(4);
    expect(spec.strategy).toBe('ZeroLoadFirst');
    expect(spec.queue.backend).toBe('veda');
    expect(spec.queue.consumerName).toBe('queue-shard-distributor');
    expect(spec.distributor.batchSize).toBe(100);
    expect(spec.worker.sleepEmptySeconds).toBe(0.5);
    const yaml = kubectlOk(['get', 'sd', 'minimal', '-n', ns.name, '-o', 'yaml']);
    expect(yaml).toContain('strategy: ZeroLoadFirst');
    expect(yaml).toContain('placement: Standalone');
  });

  const badInputs: Array<[string, (spec: Record<string, any>) => void, RegExp]> = [
    [
      'a negative minWorkers',
      (s) => (s.minWorkers = -1),
      /spec\.minWorkers.*greater than or equal to 1/,
    ],
    [
      'an absurd minWorkers',
      (s) => (s.minWorkers = 100000),
      /spec\.minWorkers.*less than or equal to 512/,
    ],
    ['a fractional minWorkers', (s) => (s.minWorkers = 2.5), /spec\.minWorkers.*integer/],
    [
      'maxWorkers below minWorkers',
      (s) => ((s.minWorkers = 4), (s.maxWorkers = 2)),
      /spec\.maxWorkers: Invalid value.*spec\.maxWorkers must be greater than or equal to spec\.minWorkers/,
    ],
    [
      'an unknown strategy',
      (s) => (s.strategy = 'Fastest'),
      /spec\.strategy: Unsupported value: "Fastest"/,
    ],
    [
      'an unknown placeholder in argsTemplate',
      (s) => (s.worker.argsTemplate = ['--queue', '{queue_name}']),
      /spec\.worker\.argsTemplate.*unknown \{placeholder\}/,
    ],
    [
      'a missing queue name',
      (s) => delete s.queue.mainQueue,
      /spec\.queue\.mainQueue: Required value/,
    ],
    [
      'an empty queue name',
      (s) => (s.queue.mainQueue = ''),
      /spec\.queue\.mainQueue.*at least 1 chars/,
    ],
    [
      'a queue name with a slash',
      (s) => (s.queue.mainQueue = 'a/b'),
      /spec\.queue\.mainQueue.*should match/,
    ],
    [
      'backend nats without a nats section',
      (s) => (s.queue.backend = 'nats'),
      /spec\.queue\.nats: Required value: queue\.nats is required when queue\.backend is nats/,
    ],
    [
      'a nats section with backend veda',
      (s) => (s.queue.nats = { url: 'nats://x:4222' }),
      /spec\.queue\.nats: Forbidden: queue\.nats must not be set when queue\.backend is veda/,
    ],
    [
      'a veda section with backend nats',
      (s) => (
        (s.queue.backend = 'nats'),
        (s.queue.nats = { url: 'nats://x:4222' }),
        (s.queue.veda = {})
      ),
      /spec\.queue\.veda: Forbidden/,
    ],
    [
      'an unknown backend',
      (s) => (s.queue.backend = 'kafka'),
      /spec\.queue\.backend: Unsupported value: "kafka"/,
    ],
    ['a missing worker image', (s) => delete s.worker.image, /spec\.worker\.image: Required value/],
    [
      'an empty worker command',
      (s) => (s.worker.command = []),
      /spec\.worker\.command.*at least 1 items/,
    ],
    [
      'a batch size of zero',
      (s) => (s.distributor = { batchSize: 0 }),
      /spec\.distributor\.batchSize.*greater than or equal to 1/,
    ],
    [
      'a privileged metrics port',
      (s) => (s.distributor = { metricsPort: 80 }),
      /spec\.distributor\.metricsPort.*greater than or equal to 1024/,
    ],
    [
      'Sidecar placement without sidecarOf',
      (s) => (s.distributor = { placement: 'Sidecar' }),
      /spec\.distributor\.sidecarOf: Required value/,
    ],
    [
      'an unknown placement',
      (s) => (s.distributor = { placement: 'Everywhere' }),
      /spec\.distributor\.placement: Unsupported value/,
    ],
    [
      'a negative sleepEmptySeconds',
      (s) => (s.worker.sleepEmptySeconds = -1),
      /spec\.worker\.sleepEmptySeconds.*greater than or equal to 0/,
    ],
    [
      'a pool named default',
      (s) => (s.pools = [{ name: 'default', match: { minBytes: 1 } }]),
      /spec\.pools\[0\]\.name: Invalid value.*pool name default is taken by the top-level fields/,
    ],
    [
      'a pool name that is not a DNS label',
      (s) => (s.pools = [{ name: 'Big_Pool', match: { minBytes: 1 } }]),
      /spec\.pools\[0\]\.name.*should match/,
    ],
    [
      'two pools of one name',
      (s) =>
        (s.pools = [
          { name: 'large', match: { minBytes: 1 } },
          { name: 'large', match: { messageType: 'x' } },
        ]),
      /spec\.pools\[1\]: Duplicate value: \{"name":"large"\}/,
    ],
    [
      'more than 16 pools',
      (s) =>
        (s.pools = Array.from({ length: 17 }, (_, i) => ({
          name: `p${i}`,
          match: { minBytes: i },
        }))),
      /spec\.pools: Too many: 17: must have at most 16 items/,
    ],
    [
      'a pool without a match condition',
      (s) => (s.pools = [{ name: 'large', match: {} }]),
      /spec\.pools\[0\]\.match: Required value: a pool's match needs at least one condition/,
    ],
    [
      'a size range that is empty',
      (s) => (s.pools = [{ name: 'large', match: { minBytes: 100, belowBytes: 100 } }]),
      /spec\.pools\[0\]\.match\.belowBytes: Invalid value.*match\.belowBytes must be greater than match\.minBytes/,
    ],
    [
      'a pool with maxWorkers below its minWorkers',
      (s) => (s.pools = [{ name: 'large', match: { minBytes: 1 }, minWorkers: 3, maxWorkers: 2 }]),
      /spec\.pools\[0\]\.maxWorkers: Invalid value.*a pool's maxWorkers must be greater than or equal to its minWorkers/,
    ],
    [
      'a header name with =',
      (s) => (s.pools = [{ name: 'large', match: { header: { name: 'a=b', value: 'c' } } }]),
      /spec\.pools\[0\]\.match\.header\.name.*should match/,
    ],
    [
      'a pool worker with an unknown placeholder',
      (s) =>
        (s.pools = [
          {
            name: 'large',
            match: { minBytes: 1 },
            worker: { image: 'w:1', command: ['w'], argsTemplate: ['{queue}'] },
          },
        ]),
      /spec\.pools\[0\]\.worker\.argsTemplate.*unknown \{placeholder\}/,
    ],
    [
      'negative backpressure limits',
      (s) => (s.backpressure = { maxBacklogPerShard: -1 }),
      /spec\.backpressure\.maxBacklogPerShard.*greater than or equal to 0/,
    ],
    [
      'an unknown failure policy',
      (s) => (s.failure = { policy: 'Retry' }),
      /spec\.failure\.policy: Unsupported value: "Retry"/,
    ],
    [
      'a maxAttempts of zero',
      (s) => (s.failure = { maxAttempts: 0 }),
      /spec\.failure\.maxAttempts.*greater than or equal to 1/,
    ],
    [
      'a retry backoff of zero',
      (s) => (s.failure = { retryBackoffSeconds: 0 }),
      /spec\.failure\.retryBackoffSeconds.*greater than 0/,
    ],
    [
      'a retry backoff maximum below the backoff',
      (s) => (s.failure = { retryBackoffSeconds: 10, retryBackoffMaxSeconds: 5 }),
      /spec\.failure\.retryBackoffMaxSeconds: Invalid value.*failure\.retryBackoffMaxSeconds \(default 300\) must be greater than or equal to failure\.retryBackoffSeconds/,
    ],
    [
      'a backoff above the default maximum without a maximum',
      (s) => (s.failure = { retryBackoffSeconds: 600 }),
      /spec\.failure\.retryBackoffMaxSeconds: Invalid value.*must be greater than or equal to failure\.retryBackoffSeconds/,
    ],
    [
      'a pool failure policy with its maximum below its backoff',
      (s) =>
        (s.pools = [
          {
            name: 'large',
            match: { minBytes: 1 },
            failure: { policy: 'Drop', retryBackoffSeconds: 2, retryBackoffMaxSeconds: 1 },
          },
        ]),
      /spec\.pools\[0\]\.failure\.retryBackoffMaxSeconds: Invalid value.*must be greater than or equal to failure\.retryBackoffSeconds/,
    ],
    [
      'a pool failure policy with maxAttempts 0',
      (s) => (s.pools = [{ name: 'large', match: { minBytes: 1 }, failure: { maxAttempts: 0 } }]),
      /spec\.pools\[0\]\.failure\.maxAttempts.*greater than or equal to 1/,
    ],
  ];

  it.each(badInputs)(
    'rejects %s with a message naming the field',
    async (_name, mutate, expected) => {
      const message = await rejection(ns.name, withSpec(mutate));
      expect(message).toMatch(expected);
    },
  );

  it('rejects bad input through kubectl too, naming the field', () => {
    const sd = withSpec((s) => (s.maxWorkers = 1));
    const result = kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(sd) });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(
      'spec.maxWorkers must be greater than or equal to spec.minWorkers',
    );
  });

  it('fills in the same pool defaults on the server as withDefaults() does locally', async () => {
    const sd = withSpec((s) => {
      s.backpressure = {};
      s.pools = [
        { name: 'large', match: { minBytes: 1048576 }, worker: { image: 'w:2', command: ['w'] } },
        { name: 'typed', match: { predicate: { name: 'rdf:type', value: 'v-s:Document' } } },
      ];
    });
    const created = (await createSd(ns.name, sd)) as { spec: ReturnType<typeof withDefaults> };
    expect(created.spec).toEqual(withDefaults(sd.spec));
    expect(created.spec.pools?.[0]).toMatchObject({ minWorkers: 1, targetBacklogPerWorker: 1000 });
    expect(created.spec.pools?.[0]?.worker?.sleepEmptySeconds).toBe(0.5);
  });

  it('leaves failure unset unless given, and fills in its defaults on the server as withDefaults() does', async () => {
    const plain = (await createSd(ns.name, minimalSample())) as { spec: Record<string, unknown> };
    expect(plain.spec['failure']).toBeUndefined();
    const sd = withSpec((s) => {
      s.failure = {};
      s.pools = [
        { name: 'large', match: { minBytes: 1 }, failure: { policy: 'Block' } },
        { name: 'typed', match: { messageType: 'doc' } },
      ];
    });
    sd.metadata.name = 'failing';
    const created = (await createSd(ns.name, sd)) as { spec: ReturnType<typeof withDefaults> };
    expect(created.spec).toEqual(withDefaults(sd.spec));
    expect(created.spec.failure).toEqual({
      policy: 'DeadLetter',
      maxAttempts: 5,
      retryBackoffSeconds: 1,
      retryBackoffMaxSeconds: 300,
    });
    expect(created.spec.pools?.[0]?.failure).toEqual({
      policy: 'Block',
      maxAttempts: 5,
      retryBackoffSeconds: 1,
      retryBackoffMaxSeconds: 300,
    });
    expect(created.spec.pools?.[1]?.failure).toBeUndefined();
  });

  it('refuses an edit of a field naming where messages are, and allows edits that move nothing', async () => {
    const sd = minimalSample();
    sd.metadata.name = 'fixed';
    const big = { name: 'big', minWorkers: 1, match: { minBytes: 1024 } };
    const small = { name: 'small', minWorkers: 1, match: { belowBytes: 10 } };
    sd.spec.pools = [{ ...big, subQueuePrefix: 'big-q' }, small];
    await createSd(ns.name, sd);
    const patch = (spec: object) =>
      kubectl([
        'patch',
        '-n',
        ns.name,
        'sd/fixed',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ spec }),
      ]);
    const refused: [object, string][] = [
      [
        { queue: { consumerName: 'other' } },
        'spec.queue.consumerName: Forbidden: queue.consumerName cannot be changed once set: a new consumer reads the main queue from its first message',
      ],
      [{ queue: { mainQueue: 'other' } }, 'queue.mainQueue cannot be changed once set'],
      [
        { queue: { subQueuePrefix: 'other' } },
        "spec.queue.subQueuePrefix: Forbidden: queue.subQueuePrefix cannot be changed once set: the shard queues' backlog would stay where no worker reads it",
      ],
      [
        { queue: { veda: { basePath: '/elsewhere' } } },
        'queue.veda.basePath cannot be changed once set',
      ],
      [
        { queue: { veda: { workerBasePath: '/elsewhere' } } },
        'queue.veda.workerBasePath cannot be changed once set',
      ],
      [
        { queue: { backend: 'nats', veda: null, nats: { url: 'nats://n:4222' } } },
        'queue.backend cannot be changed once set',
      ],
      [
        { pools: [{ ...big, subQueuePrefix: 'other' }, small] },
        'pools[].subQueuePrefix cannot be changed once set',
      ],
      [
        // Left out (<prefix>-small) and then set: the pool's shard queues move all the same.
        {
          pools: [
            { ...big, subQueuePrefix: 'big-q' },
            { ...small, subQueuePrefix: 'small-q' },
          ],
        },
        'pools[].subQueuePrefix cannot be set or removed once the pool exists',
      ],
      [
        { pools: [big, small] },
        'pools[].subQueuePrefix cannot be set or removed once the pool exists',
      ],
    ];
    for (const [spec, message] of refused) {
      const result = patch(spec);
      expect(result.status, JSON.stringify(spec)).not.toBe(0);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toContain('delete this one with deletionPolicy Drain once it is empty');
    }
    // The default prefix spelled out, a claim where there was none, other fields: allowed.
    const defaultPrefix = `${sd.spec.queue.mainQueue}-shard`;
    expect(patch({ queue: { subQueuePrefix: defaultPrefix } }).status).toBe(0);
    expect(patch({ queue: { veda: { persistentVolumeClaim: 'queues' } } }).status).toBe(0);
    expect(patch({ minWorkers: 6, strategy: 'LeastLoaded' }).status).toBe(0);
    const changed = patch({ queue: { veda: { persistentVolumeClaim: 'other' } } });
    expect(changed.status).not.toBe(0);
    expect(changed.stderr).toContain(
      'queue.veda.persistentVolumeClaim cannot be changed or removed once set',
    );
    const removed = patch({ queue: { veda: { persistentVolumeClaim: null } } });
    expect(removed.status).not.toBe(0);
  });

  it('lets `kubectl scale sd/NAME --replicas=8` set spec.minWorkers', async () => {
    await createSd(ns.name, minimalSample());
    kubectlOk(['scale', '-n', ns.name, 'sd/minimal', '--replicas=8']);
    const sd = (await customObjects().getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns.name,
      plural: PLURAL,
      name: 'minimal',
    })) as { spec: { minWorkers: number } };
    expect(sd.spec.minWorkers).toBe(8);
  });
});
