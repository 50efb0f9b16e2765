import { describe, expect, it } from 'vitest';
import {
  DesiredStateError,
  distributorDeploymentFor,
  metricsServiceFor,
} from '../../../../src/operator/desired/index.ts';
import { expectPlainJson, sample, withSpec } from './samples.ts';

describe('metricsServiceFor', () => {
  it('selects the standalone distributor pod', () => {
    const sd = sample('full');
    const service = metricsServiceFor(sd);
    const podLabels = distributorDeploymentFor(sd, { defaultImage: 'x', configHash: 'h' }).spec
      ?.template.metadata?.labels;
    expect(service).toMatchObject({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'full-metrics', namespace: 'team-a' },
      spec: { type: 'ClusterIP' },
    });
    expect(podLabels).toMatchObject(service.spec!.selector!);
    expect(service.metadata?.ownerReferences?.[0]?.uid).toBe('uid-full');
    expectPlainJson(service);
  });

  it('reaches a distributor that is not ready too: its /load says why, where no endpoint says nothing', () => {
    expect(metricsServiceFor(sample('full')).spec?.publishNotReadyAddresses).toBe(true);
    expect(
      metricsServiceFor(sample('sidecar'), { hostPodLabels: { app: 'veda-server' } }).spec
        ?.publishNotReadyAddresses,
    ).toBe(true);
  });

  it('serves the metrics port', () => {
    const sd = withSpec(sample('full'), (spec) => void (spec.distributor.metricsPort = 9600));
    expect(metricsServiceFor(sd).spec?.ports).toEqual([
      { name: 'metrics', port: 9600, targetPort: 9600, protocol: 'TCP' },
    ]);
  });

  it('selects the host workload pods for a sidecar', () => {
    const service = metricsServiceFor(sample('sidecar'), {
      hostPodLabels: { app: 'veda-server' },
    });
    expect(service.spec?.selector).toEqual({ app: 'veda-server' });
  });

  it('refuses a sidecar placement without the host pod labels', () => {
    expect(() => metricsServiceFor(sample('sidecar'))).toThrow(DesiredStateError);
    expect(() => metricsServiceFor(sample('sidecar'), { hostPodLabels: {} })).toThrow(
      DesiredStateError,
    );
  });
});
