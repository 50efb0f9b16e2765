import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { LABEL_DISTRIBUTOR, LABEL_SHARD } from '../../../../src/api/index.ts';
import { desiredObjects } from '../../../../src/operator/desired/index.ts';
import { expectPlainJson, expectRestricted, SAMPLES, sample } from './samples.ts';

const options = { defaultImage: 'sd:1', shardSet: { liveShards: 3, drainingShards: [4] } };

function build(name: (typeof SAMPLES)[number]) {
  return desiredObjects(sample(name), {
    ...options,
    ...(name === 'sidecar' ? { hostPodLabels: { app: 'veda-server' } } : {}),
  });
}

describe('desiredObjects', () => {
  it.each(SAMPLES)('owns and labels every object it applies (%s)', (name) => {
    const desired = build(name);
    expect(desired.owned.length).toBeGreaterThan(0);
    for (const object of desired.owned) {
      expect(object.metadata?.ownerReferences).toEqual([
        expect.objectContaining({ uid: `uid-${name}`, controller: true }),
      ]);
      expect(object.metadata?.labels?.[LABEL_DISTRIBUTOR]).toBe(sample(name).metadata.name);
      expect(object.metadata?.namespace).toBe('team-a');
      expectPlainJson(object);
    }
  });

  it('keeps a worker for every live and every draining shard', () => {
    const desired = build('full');
    expect(desired.workerDeployments.map((d) => d.metadata?.labels?.[LABEL_SHARD])).toEqual([
      '0',
      '1',
      '2',
      '4',
    ]);
  });

  it('announces the draining shards in the INI', () => {
    const ini = Object.values(build('full').configMap.data ?? {})[0];
    expect(ini).toMatch(/^min_workers = 3$/m);
    expect(ini).toMatch(/^draining_shards = 4$/m);
  });

  it('builds a distributor Deployment for Standalone and a sidecar for Sidecar', () => {
    const standalone = build('full');
    expect(standalone.distributorDeployment?.metadata?.name).toBe('full-distributor');
    expect(standalone.sidecar).toBeUndefined();
    const sidecar = build('sidecar');
    expect(sidecar.distributorDeployment).toBeUndefined();
    expect(sidecar.sidecar?.object.metadata.name).toBe('veda-server');
    expect(sidecar.sidecar?.fieldManager).toBe('shard-distributor-sidecar-veda-sidecar');
    expect(sidecar.owned.map((o) => o.kind)).not.toContain('StatefulSet');
  });

  it('applies the config before the Deployments that read it', () => {
    expect(build('full').owned.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
      'ConfigMap/full-config',
      'Deployment/full-distributor',
      'Deployment/full-worker-0',
      'Deployment/full-worker-1',
      'Deployment/full-worker-2',
      'Deployment/full-worker-4',
      'Service/full-metrics',
    ]);
  });

  it('stamps the same config hash on the distributor whatever the shard set', () => {
    const a = build('full');
    const b = desiredObjects(sample('full'), {
      ...options,
      shardSet: { liveShards: 8, drainingShards: [] },
    });
    expect(b.configMap.data).not.toEqual(a.configMap.data);
    expect(b.distributorDeployment?.spec?.template.metadata?.annotations).toEqual(
      a.distributorDeployment?.spec?.template.metadata?.annotations,
    );
  });

  it.each(SAMPLES)('gives every pod the restricted security context (%s)', (name) => {
    const desired = build(name);
    const deployments = desired.owned.filter((o): o is V1Deployment => o.kind === 'Deployment');
    for (const d of deployments) expectRestricted(d.spec!.template.spec!);
    if (desired.sidecar?.object.spec)
      expectRestricted(desired.sidecar.object.spec.template.spec, false);
  });
});
