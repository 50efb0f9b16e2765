import { readFileSync } from 'node:fs';
import type { V1PodSpec } from '@kubernetes/client-node';
import { expect } from 'vitest';
import { parse } from 'yaml';
import {
  withDefaults,
  type ShardDistributor,
  type ShardDistributorSpec,
} from '../../../../src/api/index.ts';

export const SAMPLES = ['minimal', 'full', 'nats', 'sidecar', 'pools'] as const;
export type SampleName = (typeof SAMPLES)[number];

/** A sample from config/samples as the API server would hand it to the operator. */
export function sample(name: SampleName): ShardDistributor {
  const file = new URL(
    `../../../../config/samples/shards_v1alpha1_sharddistributor_${name}.yaml`,
    import.meta.url,
  );
  const doc = parse(readFileSync(file, 'utf8')) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string };
    spec: unknown;
  };
  return {
    apiVersion: doc.apiVersion,
    kind: doc.kind,
    metadata: { ...doc.metadata, namespace: 'team-a', uid: `uid-${name}`, generation: 3 },
    spec: withDefaults(doc.spec),
  };
}

/** A copy of `sd` with its spec changed by `change` (and defaults applied again). */
export function withSpec(
  sd: ShardDistributor,
  change: (spec: ShardDistributorSpec) => void,
): ShardDistributor {
  const spec = structuredClone(sd.spec);
  change(spec);
  return { ...sd, metadata: { ...sd.metadata }, spec: withDefaults(spec) };
}

/** Every field the restricted Pod Security Standard asks of a pod and all its containers. */
export function expectRestricted(pod: Partial<V1PodSpec>, podLevel = true): void {
  if (podLevel) {
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    expect(pod.securityContext?.runAsUser).not.toBe(0);
  }
  expect(pod.hostNetwork).toBeUndefined();
  expect(pod.hostPID).toBeUndefined();
  expect(pod.hostIPC).toBeUndefined();
  const containers = [...(pod.containers ?? []), ...(pod.initContainers ?? [])];
  expect(containers.length).toBeGreaterThan(0);
  for (const c of containers) {
    expect(c.securityContext, c.name).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext?.privileged, c.name).toBeUndefined();
    expect(c.securityContext?.runAsUser, c.name).not.toBe(0);
    expect(c.securityContext?.capabilities?.add, c.name).toBeUndefined();
  }
}

/** What survives the trip to the API server as JSON is exactly what was built. */
export function expectPlainJson(value: unknown): void {
  expect(JSON.parse(JSON.stringify(value))).toStrictEqual(value);
}

/**
 * queue.nats.tls with all three keys (the client pair in one Secret, the CA in another, under
 * key names other than the files they become), or with the CA alone.
 */
export const NATS_TLS = {
  all: {
    caSecret: { name: 'nats-ca', key: 'ca.pem' },
    certSecret: { name: 'nats-client', key: 'client.pem' },
    keySecret: { name: 'nats-client', key: 'client-key.pem' },
  },
  caOnly: { caSecret: { name: 'nats-ca', key: 'ca.pem' } },
} as const;

/** The nats sample with queue.nats.tls set to NATS_TLS[which]. */
export function natsWithTls(which: keyof typeof NATS_TLS, base: ShardDistributor = sample('nats')) {
  return withSpec(base, (spec) => {
    spec.queue.nats!.tls = structuredClone(NATS_TLS[which]);
  });
}
