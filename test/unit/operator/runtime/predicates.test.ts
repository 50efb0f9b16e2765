import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { specOrMetadataChanged } from '../../../../src/operator/runtime/index.ts';

function sd(
  resourceVersion: string,
  metadata: Record<string, unknown> = {},
  status: Record<string, unknown> = {},
): KubernetesObject {
  return {
    apiVersion: 'shards.veda.dev/v1alpha1',
    kind: 'ShardDistributor',
    metadata: {
      name: 'orders',
      namespace: 'default',
      generation: 3,
      labels: { team: 'a' },
      annotations: { note: 'x' },
      finalizers: ['shards.veda.dev/drain'],
      resourceVersion,
      ...metadata,
    },
    status,
  } as KubernetesObject;
}

describe('specOrMetadataChanged', () => {
  it('lets a status-only update pass by: the backlog written to the status wakes no reconcile', () => {
    expect(specOrMetadataChanged(sd('1', {}, { backlog: 10 }), sd('2', {}, { backlog: 11 }))).toBe(
      false,
    );
  });

  it('passes a new generation (a spec edit, or a scale through the subresource)', () => {
    expect(specOrMetadataChanged(sd('1'), sd('2', { generation: 4 }))).toBe(true);
  });

  it('passes metadata a reconcile acts on: labels, annotations, finalizers, a deletion', () => {
    expect(specOrMetadataChanged(sd('1'), sd('2', { labels: { team: 'b' } }))).toBe(true);
    expect(specOrMetadataChanged(sd('1'), sd('2', { annotations: {} }))).toBe(true);
    expect(specOrMetadataChanged(sd('1'), sd('2', { finalizers: [] }))).toBe(true);
    expect(
      specOrMetadataChanged(sd('1'), sd('2', { deletionTimestamp: '2026-11-24T12:00:00Z' })),
    ).toBe(true);
  });

  it('passes a resync: the same version delivered again', () => {
    expect(specOrMetadataChanged(sd('7'), sd('7'))).toBe(true);
  });
});
