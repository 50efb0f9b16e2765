import { describe, expect, it } from 'vitest';
import { LABEL_DISTRIBUTOR, LABEL_SHARD } from '../../../../src/api/index.ts';
import {
  configFor,
  distributorDeploymentFor,
  poolsOf,
  workerArgvFor,
  workerDeploymentFor,
  workerSelectorLabels,
} from '../../../../src/operator/desired/index.ts';
import { expectPlainJson, expectRestricted, natsWithTls, sample, withSpec } from './samples.ts';

const full = sample('full');

function podOf(deployment: ReturnType<typeof workerDeploymentFor>) {
  return deployment.spec!.template.spec!;
}

describe('workerArgvFor', () => {
  it('renders the template for each shard', () => {
    expect(workerArgvFor(full, 3)).toEqual({
      command: ['python3', '-m', 'worker.queue_worker'],
      args: [
        '--base',
        '/var/lib/veda/queue',
        '--sub',
        'individuals-flow-shard-3',
        '--src',
        'queue-shard-distributor',
        '--sleep-empty',
        '0.5',
      ],
    });
    expect(workerArgvFor(full, 0).args[3]).toBe('individuals-flow-shard-0');
  });

  it('fills a placeholder inside a larger argument', () => {
    const sd = withSpec(full, (spec) => {
      spec.worker.argsTemplate = [
        '--queue={sub_queue_name}',
        '{worker_base_path}/{sub_queue_name}.log',
      ];
    });
    expect(workerArgvFor(sd, 1).args).toEqual([
      '--queue=individuals-flow-shard-1',
      '/var/lib/veda/queue/individuals-flow-shard-1.log',
    ]);
  });

  it('keeps an argument with spaces and quotes as one argument', () => {
    const sd = withSpec(full, (spec) => {
      spec.worker.command = ['/opt/my worker/bin', 'say "hi"'];
      spec.worker.argsTemplate = ["it's {src}", '', '$(rm -rf /)'];
    });
    expect(workerArgvFor(sd, 0)).toEqual({
      command: ['/opt/my worker/bin', 'say "hi"'],
      args: ["it's queue-shard-distributor", '', '$(rm -rf /)'],
    });
  });
});

describe('workerDeploymentFor', () => {
  const deployment = workerDeploymentFor(full, 2);
  const pod = podOf(deployment);
  const container = pod.containers[0]!;

  it('is one Deployment of one pod per shard, replaced rather than rolled', () => {
    expect(deployment).toMatchObject({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'full-worker-2', namespace: 'team-a' },
      spec: { replicas: 1, strategy: { type: 'Recreate' } },
    });
  });

  it('labels the Deployment and its pods with the ShardDistributor and the shard', () => {
    for (const labels of [
      deployment.metadata?.labels,
      deployment.spec?.template.metadata?.labels,
    ]) {
      expect(labels).toMatchObject({ [LABEL_DISTRIBUTOR]: 'full', [LABEL_SHARD]: '2' });
    }
    expect(deployment.spec?.selector.matchLabels).toEqual(workerSelectorLabels(full, 2));
    expect(deployment.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'ShardDistributor', uid: 'uid-full', controller: true }),
    ]);
  });

  it('runs the worker command with the shard argv, no shell', () => {
    expect(container).toMatchObject({
      name: 'worker',
      image: 'ghcr.io/veda-project/queue-worker:1.0',
      ...workerArgvFor(full, 2),
    });
  });

  it('passes env through, secrets by reference, after the default failure policy', () => {
    expect(container.env).toEqual([
      { name: 'SD_POOL', value: 'default' },
      { name: 'SD_FAILURE_POLICY', value: 'DeadLetter' },
      { name: 'SD_MAX_ATTEMPTS', value: '5' },
      { name: 'SD_RETRY_BACKOFF_SEC', value: '1' },
      { name: 'SD_RETRY_BACKOFF_MAX_SEC', value: '300' },
      { name: 'VEDA_LOG_LEVEL', value: 'info' },
      { name: 'VEDA_TOKEN', valueFrom: { secretKeyRef: { name: 'veda-worker', key: 'token' } } },
    ]);
  });

  it('mounts the queue claim at the worker base path only', () => {
    const sd = withSpec(full, (spec) => {
      spec.queue.veda!.basePath = '/data/main';
      spec.queue.veda!.workerBasePath = '/data/shards';
    });
    const pod = podOf(workerDeploymentFor(sd, 0));
    expect(pod.containers[0]!.volumeMounts).toEqual([
      { name: 'queue', mountPath: '/data/shards' },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(pod.volumes).toContainEqual({
      name: 'queue',
      persistentVolumeClaim: { claimName: 'veda-queue' },
    });
  });

  it('mounts no queue volume for nats: the credentials Secret instead, its one key, read-only', () => {
    const pod = podOf(workerDeploymentFor(sample('nats'), 0));
    expect(pod.volumes).toEqual([
      {
        name: 'nats-credentials',
        secret: { secretName: 'nats-creds', items: [{ key: 'user.creds', path: 'user.creds' }] },
      },
      { name: 'tmp', emptyDir: {} },
    ]);
    expect(pod.containers[0]!.volumeMounts).toEqual([
      {
        name: 'nats-credentials',
        mountPath: '/var/run/secrets/shard-distributor/nats',
        readOnly: true,
      },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expectRestricted(pod);
  });

  it('tells a nats worker where its shard queue is, as SD_NATS_* variables after the failure policy', () => {
    const env = podOf(workerDeploymentFor(sample('nats'), 0)).containers[0]!.env ?? [];
    expect(env.slice(5)).toEqual([
      { name: 'SD_NATS_URL', value: 'nats://nats.messaging.svc:4222' },
      { name: 'SD_NATS_MAIN_STREAM', value: 'SD_MAIN' },
      { name: 'SD_NATS_SHARD_STREAM', value: 'SD_SHARDS' },
      {
        name: 'SD_NATS_CREDENTIALS_FILE',
        value: '/var/run/secrets/shard-distributor/nats/user.creds',
      },
      { name: 'SD_MAIN_QUEUE', value: 'orders' },
    ]);
    // worker.env may give workers a connection of their own (say, narrower credentials).
    const own = withSpec(sample('nats'), (spec) => {
      spec.worker.env = [{ name: 'SD_NATS_CREDENTIALS_FILE', value: '/creds/worker.creds' }];
    });
    const ownEnv = podOf(workerDeploymentFor(own, 0)).containers[0]!.env ?? [];
    expect(ownEnv.filter((e) => e.name === 'SD_NATS_CREDENTIALS_FILE')).toEqual([
      { name: 'SD_NATS_CREDENTIALS_FILE', value: '/creds/worker.creds' },
    ]);
    // Veda workers get none.
    expect(container.env?.some((e) => e.name.startsWith('SD_NATS_'))).toBe(false);
  });

  it('gives nats workers credentials of their own when the spec names them, and the distributor keeps its', () => {
    const sd = withSpec(sample('nats'), (spec) => {
      spec.queue.nats!.workerCredentialsSecret = { name: 'nats-worker', key: 'worker.creds' };
    });
    const pod = podOf(workerDeploymentFor(sd, 0));
    expect(pod.volumes).toContainEqual({
      name: 'nats-credentials',
      secret: { secretName: 'nats-worker', items: [{ key: 'worker.creds', path: 'worker.creds' }] },
    });
    expect(JSON.stringify(pod.volumes)).not.toContain('nats-creds');
    expect(pod.containers[0]!.env).toContainEqual({
      name: 'SD_NATS_CREDENTIALS_FILE',
      value: '/var/run/secrets/shard-distributor/nats/worker.creds',
    });
    const distributor = distributorDeploymentFor(sd, { defaultImage: 'sd:1', configHash: 'h' })
      .spec!.template.spec!;
    expect(distributor.volumes).toContainEqual({
      name: 'nats-credentials',
      secret: { secretName: 'nats-creds', items: [{ key: 'user.creds', path: 'user.creds' }] },
    });
    expect(configFor(sd, { liveShards: 1, drainingShards: [] }).nats?.credentialsFile).toBe(
      '/var/run/secrets/shard-distributor/nats/user.creds',
    );
  });

  it('mounts the queue.nats.tls Secret keys read-only and names the files in SD_NATS_TLS_*', () => {
    const pod = podOf(workerDeploymentFor(natsWithTls('all'), 0));
    expect(pod.volumes).toEqual([
      {
        name: 'nats-credentials',
        secret: { secretName: 'nats-creds', items: [{ key: 'user.creds', path: 'user.creds' }] },
      },
      {
        name: 'nats-tls',
        projected: {
          sources: [
            { secret: { name: 'nats-ca', items: [{ key: 'ca.pem', path: 'ca.crt' }] } },
            { secret: { name: 'nats-client', items: [{ key: 'client.pem', path: 'tls.crt' }] } },
            {
              secret: { name: 'nats-client', items: [{ key: 'client-key.pem', path: 'tls.key' }] },
            },
          ],
        },
      },
      { name: 'tmp', emptyDir: {} },
    ]);
    const container = pod.containers[0]!;
    expect(container.volumeMounts).toEqual([
      {
        name: 'nats-credentials',
        mountPath: '/var/run/secrets/shard-distributor/nats',
        readOnly: true,
      },
      {
        name: 'nats-tls',
        mountPath: '/var/run/secrets/shard-distributor/nats-tls',
        readOnly: true,
      },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(container.env?.slice(5)).toEqual([
      { name: 'SD_NATS_URL', value: 'nats://nats.messaging.svc:4222' },
      { name: 'SD_NATS_MAIN_STREAM', value: 'SD_MAIN' },
      { name: 'SD_NATS_SHARD_STREAM', value: 'SD_SHARDS' },
      {
        name: 'SD_NATS_CREDENTIALS_FILE',
        value: '/var/run/secrets/shard-distributor/nats/user.creds',
      },
      { name: 'SD_NATS_TLS_CA_FILE', value: '/var/run/secrets/shard-distributor/nats-tls/ca.crt' },
      {
        name: 'SD_NATS_TLS_CERT_FILE',
        value: '/var/run/secrets/shard-distributor/nats-tls/tls.crt',
      },
      {
        name: 'SD_NATS_TLS_KEY_FILE',
        value: '/var/run/secrets/shard-distributor/nats-tls/tls.key',
      },
      { name: 'SD_MAIN_QUEUE', value: 'orders' },
    ]);
    expectRestricted(pod);
    expectPlainJson(pod);
  });

  it('gives nats workers only the CA when queue.nats.tls names only caSecret', () => {
    const sd = natsWithTls('caOnly');
    const pod = podOf(workerDeploymentFor(sd, 1));
    expect(pod.volumes).toContainEqual({
      name: 'nats-tls',
      projected: {
        sources: [{ secret: { name: 'nats-ca', items: [{ key: 'ca.pem', path: 'ca.crt' }] } }],
      },
    });
    const container = pod.containers[0]!;
    expect(container.volumeMounts).toContainEqual({
      name: 'nats-tls',
      mountPath: '/var/run/secrets/shard-distributor/nats-tls',
      readOnly: true,
    });
    const tlsEnv = container.env?.filter((e) => e.name.startsWith('SD_NATS_TLS_'));
    expect(tlsEnv).toEqual([
      { name: 'SD_NATS_TLS_CA_FILE', value: '/var/run/secrets/shard-distributor/nats-tls/ca.crt' },
    ]);
    expectRestricted(pod);
    // Every pool's workers connect too.
    const pooled = withSpec(sd, (spec) => {
      spec.pools = [{ name: 'big', match: { minBytes: 1024 } } as any];
    });
    const pools = poolsOf(pooled);
    expect(pools.map((p) => p.name)).toEqual(['default', 'big']);
    for (const pool of pools) {
      const env = podOf(workerDeploymentFor(pooled, 0, { pool })).containers[0]!.env;
      expect(env?.filter((e) => e.name.startsWith('SD_NATS_TLS_'))).toEqual(tlsEnv);
    }
    // Without tls: no volume, no mount, no variable.
    const plain = podOf(workerDeploymentFor(sample('nats'), 0));
    expect(JSON.stringify(plain)).not.toMatch(/nats-tls|SD_NATS_TLS_/);
  });

  it('applies the pod template overrides', () => {
    expect(deployment.spec?.template.metadata?.annotations).toEqual({
      'prometheus.io/scrape': 'false',
    });
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
  });

  it.each(['minimal', 'full', 'nats', 'sidecar'] as const)(
    'meets the restricted standard (%s)',
    (name) => {
      expectRestricted(podOf(workerDeploymentFor(sample(name), 1)));
    },
  );

  it('is plain JSON', () => {
    expectPlainJson(deployment);
    expectPlainJson(workerDeploymentFor(sample('minimal'), 0));
  });
});

describe('pod template overrides', () => {
  const hostile = withSpec(full, (spec) => {
    spec.worker.podTemplate = {
      metadata: {
        labels: { [LABEL_SHARD]: '9', [LABEL_DISTRIBUTOR]: 'other', team: 'payments' },
        annotations: {
          note: 'kept',
          'container.apparmor.security.beta.kubernetes.io/worker': 'unconfined',
          'container.apparmor.security.beta.kubernetes.io/log-shipper': 'localhost/shipper',
        },
      },
      spec: {
        hostNetwork: true,
        hostPID: true,
        restartPolicy: 'Never',
        serviceAccountName: 'payments-worker',
        tolerations: [{ key: 'dedicated', operator: 'Exists' }],
        securityContext: {
          runAsNonRoot: false,
          runAsUser: 0,
          runAsGroup: 3000,
          fsGroup: 2000,
          seccompProfile: { type: 'Unconfined' },
          appArmorProfile: { type: 'Unconfined' },
          windowsOptions: { hostProcess: true, runAsUserName: 'worker' },
        },
        containers: [
          {
            name: 'worker',
            image: 'evil:latest',
            command: ['/bin/sh', '-c', 'curl evil'],
            lifecycle: { preStop: { exec: { command: ['/bin/drain'] } } },
            env: [
              { name: 'VEDA_LOG_LEVEL', value: 'debug' },
              { name: 'EXTRA', value: '1' },
            ],
            securityContext: {
              privileged: true,
              allowPrivilegeEscalation: true,
              readOnlyRootFilesystem: false,
              capabilities: { add: ['SYS_ADMIN'] },
              seccompProfile: { type: 'Unconfined' },
              appArmorProfile: { type: 'Unconfined' },
              windowsOptions: { hostProcess: true },
            },
          },
          {
            name: 'log-shipper',
            image: 'shipper:1',
            securityContext: {
              runAsUser: 0,
              appArmorProfile: { type: 'Localhost', localhostProfile: 'shipper' },
            },
          },
        ],
        initContainers: [
          {
            name: 'setup',
            image: 'setup:1',
            securityContext: { appArmorProfile: { type: 'Unconfined' } },
          },
        ],
        volumes: [
          { name: 'queue', hostPath: { path: '/' } },
          { name: 'cache', emptyDir: {} },
        ],
      },
    };
  });
  const deployment = workerDeploymentFor(hostile, 4);
  const template = deployment.spec!.template;
  const pod = template.spec!;
  const worker = pod.containers.find((c) => c.name === 'worker')!;

  it('keeps the user additions', () => {
    expect(template.metadata?.labels?.['team']).toBe('payments');
    expect(template.metadata?.annotations).toEqual({
      note: 'kept',
      'container.apparmor.security.beta.kubernetes.io/log-shipper': 'localhost/shipper',
    });
    expect(pod.serviceAccountName).toBe('payments-worker');
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Exists' }]);
    expect(pod.securityContext?.fsGroup).toBe(2000);
    expect(pod.securityContext?.runAsGroup).toBe(3000);
    expect(worker.lifecycle?.preStop?.exec?.command).toEqual(['/bin/drain']);
    expect(worker.env?.map((e) => e.name).filter((n) => !n.startsWith('SD_'))).toEqual([
      'VEDA_LOG_LEVEL',
      'VEDA_TOKEN',
      'EXTRA',
    ]);
    expect(pod.containers.map((c) => c.name)).toEqual(['worker', 'log-shipper']);
    expect(pod.volumes?.map((v) => v.name)).toEqual(['queue', 'tmp', 'cache']);
  });

  it('cannot change the labels the selectors and status depend on', () => {
    expect(template.metadata?.labels).toMatchObject({
      [LABEL_SHARD]: '4',
      [LABEL_DISTRIBUTOR]: 'full',
    });
    expect(template.metadata?.labels).toMatchObject(deployment.spec!.selector.matchLabels!);
  });

  it('cannot replace what we set on the worker container or the queue volume', () => {
    expect(worker.image).toBe('ghcr.io/veda-project/queue-worker:1.0');
    expect(worker.command).toEqual(['python3', '-m', 'worker.queue_worker']);
    expect(worker.env?.find((e) => e.name === 'VEDA_LOG_LEVEL')?.value).toBe('info');
    expect(pod.volumes?.find((v) => v.name === 'queue')).toEqual({
      name: 'queue',
      persistentVolumeClaim: { claimName: 'veda-queue' },
    });
  });

  it('cannot drop the restricted security context, on any container', () => {
    expectRestricted(pod);
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.restartPolicy).toBeUndefined();
  });

  it('drops unconfined AppArmor and hostProcess, keeping a Localhost profile', () => {
    expect(pod.securityContext?.appArmorProfile).toBeUndefined();
    expect(pod.securityContext?.windowsOptions).toEqual({ runAsUserName: 'worker' });
    expect(worker.securityContext?.appArmorProfile).toBeUndefined();
    expect(worker.securityContext?.windowsOptions).toBeUndefined();
    expect(pod.initContainers?.[0]?.securityContext?.appArmorProfile).toBeUndefined();
    expect(pod.containers[1]?.securityContext?.appArmorProfile).toEqual({
      type: 'Localhost',
      localhostProfile: 'shipper',
    });
  });

  it('leaves the token to the named ServiceAccount', () => {
    expect(pod.serviceAccountName).toBe('payments-worker');
    expect(pod).not.toHaveProperty('automountServiceAccountToken');
    expectPlainJson(deployment);
  });
});

describe('the worker ServiceAccount token', () => {
  const automount = (podSpec?: Record<string, unknown>) =>
    podOf(
      workerDeploymentFor(
        withSpec(full, (spec) => {
          if (podSpec === undefined) delete spec.worker.podTemplate;
          else spec.worker.podTemplate = { spec: podSpec };
        }),
        0,
      ),
    ).automountServiceAccountToken;

  it('is not mounted by default, as workers talk to no API server', () => {
    expect(automount()).toBe(false);
    expect(automount({ nodeSelector: { a: 'b' } })).toBe(false);
    expect(podOf(workerDeploymentFor(sample('minimal'), 0)).automountServiceAccountToken).toBe(
      false,
    );
  });

  it('follows an explicit podTemplate value, with or without a ServiceAccount', () => {
    expect(automount({ automountServiceAccountToken: true })).toBe(true);
    expect(automount({ automountServiceAccountToken: false, serviceAccountName: 'sa' })).toBe(
      false,
    );
    expect(automount({ automountServiceAccountToken: true, serviceAccountName: 'sa' })).toBe(true);
  });

  it('is left to the ServiceAccount a podTemplate names', () => {
    expect(automount({ serviceAccountName: 'sa' })).toBeUndefined();
    expect(automount({ serviceAccount: 'sa' })).toBeUndefined();
  });
});
