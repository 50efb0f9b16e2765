import { describe, expect, it } from 'vitest';
import { LABEL_DISTRIBUTOR } from '../../../../src/api/index.ts';
import {
  ANNOTATION_CONFIG_HASH,
  distributorDeploymentFor,
} from '../../../../src/operator/desired/index.ts';
import { expectPlainJson, expectRestricted, natsWithTls, sample, withSpec } from './samples.ts';

const options = {
  defaultImage: 'ghcr.io/veda-project/shard-distributor:9.9.9',
  configHash: 'abc123',
};

function build(name: Parameters<typeof sample>[0] = 'full') {
  const deployment = distributorDeploymentFor(sample(name), options);
  const pod = deployment.spec!.template.spec!;
  const container = pod.containers[0]!;
  return { deployment, pod, container };
}

describe('distributorDeploymentFor', () => {
  it('runs exactly one distributor and never two at once', () => {
    const { deployment } = build();
    expect(deployment).toMatchObject({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'full-distributor', namespace: 'team-a' },
      spec: { replicas: 1, strategy: { type: 'Recreate' } },
    });
  });

  it('is owned by the ShardDistributor and carries its label', () => {
    const { deployment } = build();
    expect(deployment.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ uid: 'uid-full', controller: true }),
    ]);
    expect(deployment.metadata?.labels?.[LABEL_DISTRIBUTOR]).toBe('full');
  });

  it('selects its own pods by labels the pod template carries', () => {
    const { deployment } = build();
    expect(deployment.spec?.template.metadata?.labels).toMatchObject(
      deployment.spec!.selector.matchLabels!,
    );
  });

  it('puts the config hash in the pod template so a change rolls the pod', () => {
    const { deployment } = build();
    expect(deployment.spec?.template.metadata?.annotations).toEqual({
      [ANNOTATION_CONFIG_HASH]: 'abc123',
    });
  });

  it('runs the distributor command on the mounted INI', () => {
    const { container, pod } = build();
    expect(container.name).toBe('distributor');
    expect(container.command).toBeUndefined();
    expect(container.args).toEqual([
      'distributor',
      '--config',
      '/etc/shard-distributor/veda-queue-shard-distributor.ini',
    ]);
    expect(container.volumeMounts).toContainEqual({
      name: 'config',
      mountPath: '/etc/shard-distributor',
      readOnly: true,
    });
    expect(pod.volumes).toContainEqual({ name: 'config', configMap: { name: 'full-config' } });
  });

  it('sets LOG_LEVEL from distributor.logLevel, and nothing when it is unset', () => {
    const debug = withSpec(sample('full'), (spec) => void (spec.distributor.logLevel = 'debug'));
    expect(
      distributorDeploymentFor(debug, options).spec!.template.spec!.containers[0]!.env,
    ).toEqual([{ name: 'LOG_LEVEL', value: 'debug' }]);
    const unset = withSpec(sample('full'), (spec) => void delete spec.distributor.logLevel);
    expect(
      distributorDeploymentFor(unset, options).spec!.template.spec!.containers[0],
    ).not.toHaveProperty('env');
  });

  it('uses the spec image, else the operator image', () => {
    expect(build('full').container.image).toBe('ghcr.io/veda-project/shard-distributor:0.1.0');
    expect(build('minimal').container.image).toBe(options.defaultImage);
  });

  it('mounts the queue claim once when both paths are the same', () => {
    const { container, pod } = build();
    expect(pod.volumes).toContainEqual({
      name: 'queue',
      persistentVolumeClaim: { claimName: 'veda-queue' },
    });
    expect(container.volumeMounts?.filter((m) => m.name === 'queue')).toEqual([
      { name: 'queue', mountPath: '/var/lib/veda/queue' },
    ]);
  });

  it('mounts the claim at both paths when they differ', () => {
    const sd = withSpec(sample('full'), (spec) => {
      spec.queue.veda!.basePath = '/data/main';
      spec.queue.veda!.workerBasePath = '/data/shards';
    });
    const container = distributorDeploymentFor(sd, options).spec!.template.spec!.containers[0]!;
    expect(container.volumeMounts?.filter((m) => m.name === 'queue')).toEqual([
      { name: 'queue', mountPath: '/data/main' },
      { name: 'queue', mountPath: '/data/shards' },
    ]);
  });

  it('falls back to a scratch directory when no claim is named', () => {
    const { pod } = build('minimal');
    expect(pod.volumes).toContainEqual({ name: 'queue', emptyDir: {} });
  });

  it('gives a writable /tmp on the read-only root filesystem', () => {
    const { container, pod } = build();
    expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: {} });
  });

  it('exposes the metrics port and probes /healthz and /readyz on it', () => {
    const sd = withSpec(sample('full'), (spec) => void (spec.distributor.metricsPort = 9555));
    const container = distributorDeploymentFor(sd, options).spec!.template.spec!.containers[0]!;
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: 9555, protocol: 'TCP' }]);
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 9555 });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 9555 });
    expect(container.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 9555 });
  });

  it('passes resources on as quantities', () => {
    expect(build().container.resources).toEqual({
      requests: { cpu: '100m', memory: '64Mi' },
      limits: { memory: '256Mi' },
    });
    expect(build('minimal').container.resources).toBeUndefined();
  });

  it('mounts the NATS credentials Secret and no queue volume for nats', () => {
    const { container, pod } = build('nats');
    expect(pod.volumes?.map((v) => v.name)).toEqual(['config', 'tmp', 'nats-credentials']);
    expect(pod.volumes).toContainEqual({
      name: 'nats-credentials',
      secret: { secretName: 'nats-creds', items: [{ key: 'user.creds', path: 'user.creds' }] },
    });
    expect(container.volumeMounts).toContainEqual({
      name: 'nats-credentials',
      mountPath: '/var/run/secrets/shard-distributor/nats',
      readOnly: true,
    });
  });

  it('mounts the queue.nats.tls Secret keys read-only, each at its fixed file name', () => {
    const pod = distributorDeploymentFor(natsWithTls('all'), options).spec!.template.spec!;
    expect(pod.volumes?.map((v) => v.name)).toEqual([
      'config',
      'tmp',
      'nats-credentials',
      'nats-tls',
    ]);
    expect(pod.volumes).toContainEqual({
      name: 'nats-tls',
      projected: {
        sources: [
          { secret: { name: 'nats-ca', items: [{ key: 'ca.pem', path: 'ca.crt' }] } },
          { secret: { name: 'nats-client', items: [{ key: 'client.pem', path: 'tls.crt' }] } },
          { secret: { name: 'nats-client', items: [{ key: 'client-key.pem', path: 'tls.key' }] } },
        ],
      },
    });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({
      name: 'nats-tls',
      mountPath: '/var/run/secrets/shard-distributor/nats-tls',
      readOnly: true,
    });
    expectRestricted(pod);
    expectPlainJson(pod);
  });

  it('mounts only the CA when queue.nats.tls names only caSecret, and nothing without tls', () => {
    const pod = distributorDeploymentFor(natsWithTls('caOnly'), options).spec!.template.spec!;
    expect(pod.volumes?.find((v) => v.name === 'nats-tls')).toEqual({
      name: 'nats-tls',
      projected: {
        sources: [{ secret: { name: 'nats-ca', items: [{ key: 'ca.pem', path: 'ca.crt' }] } }],
      },
    });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({
      name: 'nats-tls',
      mountPath: '/var/run/secrets/shard-distributor/nats-tls',
      readOnly: true,
    });
    expectRestricted(pod);
    const { pod: plain, container } = build('nats');
    expect(JSON.stringify(plain.volumes)).not.toContain('nats-tls');
    expect(JSON.stringify(container.volumeMounts)).not.toContain('nats-tls');
  });

  it.each(['minimal', 'full', 'nats'] as const)('meets the restricted standard (%s)', (name) => {
    const { pod } = build(name);
    expectRestricted(pod);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('is plain JSON', () => {
    expectPlainJson(build().deployment);
    expectPlainJson(build('nats').deployment);
  });
});
