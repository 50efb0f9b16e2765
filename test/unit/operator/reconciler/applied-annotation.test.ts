import { describe, expect, it } from 'vitest';
import {
  ANNOTATION_APPLIED,
  appliedAnnotationOf,
  FIELD_MANAGER,
} from '../../../../src/operator/reconciler/kube.ts';

describe('appliedAnnotationOf', () => {
  it('gives each field manager its own key, so two ShardDistributors on one host never take it from each other', () => {
    expect(appliedAnnotationOf(FIELD_MANAGER)).toBe(ANNOTATION_APPLIED);
    const a = appliedAnnotationOf('shard-distributor-sidecar-orders');
    const b = appliedAnnotationOf('shard-distributor-sidecar-payments');
    expect(new Set([ANNOTATION_APPLIED, a, b]).size).toBe(3);
    expect(appliedAnnotationOf('shard-distributor-sidecar-orders')).toBe(a);
    // A valid annotation key whatever the manager's length: prefix/name, name ≤ 63 characters.
    for (const key of [a, appliedAnnotationOf(`shard-distributor-sidecar-${'x'.repeat(100)}`)]) {
      const [prefix, name] = key.split('/');
      expect(prefix).toBe('shards.veda.dev');
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/);
      expect(name!.length).toBeLessThanOrEqual(63);
    }
  });
});
