import { describe, expect, it } from 'vitest';
import {
  DesiredStateError,
  distributorSidecarFor,
  SIDECAR_CONFIG_HASH_ENV,
  sidecarFieldManager,
  sidecarRemovalFor,
} from '../../../../src/operator/desired/index.ts';
import { expectPlainJson, expectRestricted, natsWithTls, sample, withSpec } from './samples.ts';

const sd = sample('sidecar');
const options = { defaultImage: 'ghcr.io/veda-project/shard-distributor:9.9.9', configHash: 'h1' };

describe('distributorSidecarFor', () => {
  const applied = distributorSidecarFor(sd, options);
  const container = applied.spec!.template.spec.initContainers[0]!;

  it('holds only the host identity and our own list entries', () => {
    expect(Object.keys(applied).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    expect(applied.metadata).toEqual({ name: 'veda-server', namespace: 'team-a' });
    expect(applied.kind).toBe('StatefulSet');
    expect(Object.keys(applied.spec!)).toEqual(['template']);
    expect(Object.keys(applied.spec!.template)).toEqual(['spec']);
    expect(Object.keys(applied.spec!.template.spec).sort()).toEqual(['initContainers', 'volumes']);
    expect(applied.spec!.template.spec.initContainers.map((c) => c.name)).toEqual([
      'sd-veda-sidecar',
    ]);
    expect(applied.spec!.template.spec.volumes.map((v) => v.name)).toEqual([
      'sd-veda-sidecar-config',
      'sd-veda-sidecar-tmp',
    ]);
    expectPlainJson(applied);
  });

  it('never makes the ShardDistributor an owner of the host', () => {
    expect(JSON.stringify(applied)).not.toContain('ownerReferences');
  });

  it('is a native sidecar: an init container that restarts always', () => {
    expect(container.restartPolicy).toBe('Always');
    expect(container.image).toBe(options.defaultImage);
    expect(container.args).toEqual([
      'distributor',
      '--config',
      '/etc/shard-distributor/veda-queue-shard-distributor.ini',
    ]);
  });

  it("mounts the host's queue volume by name, and our config", () => {
    expect(container.volumeMounts).toEqual([
      { name: 'sd-veda-sidecar-config', mountPath: '/etc/shard-distributor', readOnly: true },
      { name: 'veda-data', mountPath: '/opt/veda/data/queue' },
      { name: 'sd-veda-sidecar-tmp', mountPath: '/tmp' },
    ]);
    expect(applied.spec!.template.spec.volumes).toContainEqual({
      name: 'sd-veda-sidecar-config',
      configMap: { name: 'veda-sidecar-config' },
    });
  });

  it('has no readiness probe, so the host stays in its Services', () => {
    expect(container.readinessProbe).toBeUndefined();
    expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
  });

  it('carries the config hash in its own environment, not in a shared annotation', () => {
    expect(container.env).toEqual([{ name: SIDECAR_CONFIG_HASH_ENV, value: 'h1' }]);
    const other = distributorSidecarFor(sd, { ...options, configHash: 'h2' });
    expect(other.spec!.template.spec.initContainers[0]!.env).toEqual([
      { name: SIDECAR_CONFIG_HASH_ENV, value: 'h2' },
    ]);
  });

  it('sets LOG_LEVEL from distributor.logLevel beside the config hash', () => {
    const debug = withSpec(sd, (spec) => void (spec.distributor.logLevel = 'debug'));
    expect(
      distributorSidecarFor(debug, options).spec!.template.spec.initContainers[0]!.env,
    ).toEqual([
      { name: 'LOG_LEVEL', value: 'debug' },
      { name: SIDECAR_CONFIG_HASH_ENV, value: 'h1' },
    ]);
  });

  it('meets the restricted standard at container level', () => {
    expectRestricted(applied.spec!.template.spec, false);
  });

  it('mounts the queue.nats.tls Secret keys under a volume name of its own in the host pod', () => {
    const nats = withSpec(sd, (spec) => {
      spec.queue.backend = 'nats';
      delete spec.queue.veda;
      spec.queue.nats = { url: 'nats://nats:4222' } as any;
    });
    const applied = distributorSidecarFor(natsWithTls('caOnly', nats), options);
    const pod = applied.spec!.template.spec;
    expect(pod.volumes).toContainEqual({
      name: 'sd-veda-sidecar-nats-tls',
      projected: {
        sources: [{ secret: { name: 'nats-ca', items: [{ key: 'ca.pem', path: 'ca.crt' }] } }],
      },
    });
    expect(pod.initContainers[0]!.volumeMounts).toContainEqual({
      name: 'sd-veda-sidecar-nats-tls',
      mountPath: '/var/run/secrets/shard-distributor/nats-tls',
      readOnly: true,
    });
    expectRestricted(pod, false);
  });

  it('refuses a veda sidecar without the host volume name', () => {
    const bad = withSpec(sd, (spec) => void delete spec.queue.veda!.volumeName);
    expect(() => distributorSidecarFor(bad, options)).toThrow(/queue\.veda\.volumeName/);
  });

  it('refuses a standalone ShardDistributor', () => {
    expect(() => distributorSidecarFor(sample('full'), options)).toThrow(DesiredStateError);
  });
});

describe('sidecarRemovalFor', () => {
  it('names the old host and holds none of our fields', () => {
    expect(sidecarRemovalFor(sd, { kind: 'Deployment', name: 'old-host' })).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'old-host', namespace: 'team-a' },
    });
  });
});

describe('sidecarFieldManager', () => {
  it('is one per ShardDistributor, so two sharing a host do not take each other’s fields', () => {
    const other = { ...sd, metadata: { ...sd.metadata, name: 'second' } };
    expect(sidecarFieldManager(sd)).not.toBe(sidecarFieldManager(other));
  });
});
