import { describe, expect, it } from 'vitest';
import { isSemanticSubset } from '../../../../src/operator/reconciler/semantic-subset.ts';

const container = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  image: `${name}:1`,
  ...extra,
});

describe('isSemanticSubset', () => {
  it('ignores what the server added, and compares quantities by value', () => {
    expect(
      isSemanticSubset(
        { spec: { replicas: 1, resources: { cpu: '0.5' } } },
        { spec: { replicas: 1, resources: { cpu: '500m' }, paused: false }, status: {} },
      ),
    ).toBe(true);
    expect(isSemanticSubset({ spec: { replicas: 1 } }, { spec: { replicas: 2 } })).toBe(false);
  });

  it('matches keyed list items by key, whatever else the list holds and in any order', () => {
    // A sidecar host: its own init container and volumes around ours.
    const ours = { initContainers: [container('distributor')], volumes: [{ name: 'config' }] };
    const host = {
      initContainers: [container('prepare-data'), container('distributor', { tty: false })],
      volumes: [
        { name: 'data', emptyDir: {} },
        { name: 'config', configMap: {} },
      ],
    };
    expect(isSemanticSubset(ours, host)).toBe(true);
    // Someone's env var beside ours.
    const env = [{ name: 'A', value: '1' }];
    expect(isSemanticSubset({ env }, { env: [{ name: 'FOO', value: 'bar' }, ...env] })).toBe(true);
    // Ours changed or gone: not held.
    expect(isSemanticSubset({ env }, { env: [{ name: 'A', value: '2' }] })).toBe(false);
    expect(isSemanticSubset({ env }, { env: [{ name: 'FOO', value: 'bar' }] })).toBe(false);
    expect(isSemanticSubset({ env }, {})).toBe(false);
  });

  it('keys mounts by path and ports by number and protocol', () => {
    // One volume mounted at two paths.
    const mounts = [
      { name: 'queue', mountPath: '/a' },
      { name: 'queue', mountPath: '/b' },
    ];
    expect(isSemanticSubset({ mounts }, { mounts: [...mounts].reverse() })).toBe(true);
    expect(isSemanticSubset({ mounts }, { mounts: [mounts[0]] })).toBe(false);
    const ports = [{ containerPort: 9464 }];
    expect(isSemanticSubset({ ports }, { ports: [{ containerPort: 9464, protocol: 'TCP' }] })).toBe(
      true,
    );
    expect(isSemanticSubset({ ports }, { ports: [{ containerPort: 9464, protocol: 'UDP' }] })).toBe(
      false,
    );
  });

  it('matches any other list item by item, at the same length', () => {
    expect(isSemanticSubset({ args: ['a', 'b'] }, { args: ['a', 'b'] })).toBe(true);
    expect(isSemanticSubset({ args: ['a', 'b'] }, { args: ['b', 'a'] })).toBe(false);
    expect(isSemanticSubset({ args: ['a'] }, { args: ['a', 'b'] })).toBe(false);
    expect(isSemanticSubset({ args: [] }, { args: ['a'] })).toBe(false);
    const tolerations = [{ key: 'k', operator: 'Exists' }];
    expect(isSemanticSubset({ tolerations }, { tolerations: [...tolerations, { key: 'x' }] })).toBe(
      false,
    );
  });
});
