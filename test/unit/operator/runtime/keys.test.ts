import { describe, expect, it } from 'vitest';
import {
  labelKey,
  objectKey,
  ownerKey,
  ownKey,
  splitKey,
} from '../../../../src/operator/runtime/keys.ts';

const owner = { apiVersion: 'shards.veda.dev/v1alpha1', kind: 'ShardDistributor' };

function owned(refs: Array<Record<string, unknown>>, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x-worker-0', namespace: 'team', labels, ownerReferences: refs as never },
  };
}

const controllerRef = {
  apiVersion: 'shards.veda.dev/v1alpha1',
  kind: 'ShardDistributor',
  name: 'x',
  uid: 'u1',
  controller: true,
};

describe('keys', () => {
  it('keys namespaced objects as namespace/name and cluster-scoped ones as name', () => {
    expect(objectKey({ metadata: { name: 'a', namespace: 'ns' } })).toBe('ns/a');
    expect(objectKey({ metadata: { name: 'node-1' } })).toBe('node-1');
    expect(ownKey({ metadata: { name: 'a', namespace: 'ns' } })).toEqual(['ns/a']);
  });

  it('splits a key back', () => {
    expect(splitKey('ns/a')).toEqual({ namespace: 'ns', name: 'a' });
    expect(splitKey('node-1')).toEqual({ namespace: undefined, name: 'node-1' });
  });

  it('maps an owned object to its controlling owner, in the object’s namespace', () => {
    expect(ownerKey(owner)(owned([controllerRef]))).toEqual(['team/x']);
  });

  it('follows the controller reference whatever the owner’s version', () => {
    const v1 = { ...controllerRef, apiVersion: 'shards.veda.dev/v1' };
    expect(ownerKey(owner)(owned([v1]))).toEqual(['team/x']);
  });

  it('ignores references that are not the controller, of another kind or of another group', () => {
    const map = ownerKey(owner);
    expect(map(owned([{ ...controllerRef, controller: false }]))).toEqual([]);
    expect(map(owned([{ ...controllerRef, controller: undefined }]))).toEqual([]);
    expect(map(owned([{ ...controllerRef, kind: 'ReplicaSet', apiVersion: 'apps/v1' }]))).toEqual(
      [],
    );
    expect(map(owned([{ ...controllerRef, apiVersion: 'other.example/v1alpha1' }]))).toEqual([]);
    expect(map(owned([]))).toEqual([]);
    expect(map({ metadata: { name: 'bare', namespace: 'team' } })).toEqual([]);
  });

  it('picks the controller among several owner references', () => {
    const other = { ...controllerRef, name: 'y', controller: false };
    expect(ownerKey(owner)(owned([other, controllerRef]))).toEqual(['team/x']);
  });

  it('maps through a label when asked to', () => {
    const map = labelKey('shards.veda.dev/distributor');
    expect(map(owned([], { 'shards.veda.dev/distributor': 'x' }))).toEqual(['team/x']);
    expect(map(owned([], {}))).toEqual([]);
  });
});
