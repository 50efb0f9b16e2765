import { describe, expect, it } from 'vitest';
import { LABEL_COMPONENT, LABEL_DISTRIBUTOR, LABEL_SHARD } from '../../../../src/api/index.ts';
import {
  configMapName,
  DesiredStateError,
  distributorName,
  labelsFor,
  metricsServiceName,
  ownerReferenceFor,
  selectorFor,
  workerLabels,
  workerName,
  workerSelectorLabels,
} from '../../../../src/operator/desired/index.ts';
import { sample } from './samples.ts';

const sd = sample('full');

describe('child names', () => {
  it('derives every child name from the ShardDistributor name', () => {
    expect(configMapName(sd)).toBe('full-config');
    expect(distributorName(sd)).toBe('full-distributor');
    expect(workerName(sd, 0)).toBe('full-worker-0');
    expect(workerName(sd, 11)).toBe('full-worker-11');
    expect(metricsServiceName(sd)).toBe('full-metrics');
  });
});

describe('labels and selectors', () => {
  it('labels every child with its ShardDistributor and component', () => {
    expect(labelsFor(sd, 'config')).toMatchObject({
      [LABEL_DISTRIBUTOR]: 'full',
      [LABEL_COMPONENT]: 'config',
      'app.kubernetes.io/instance': 'full',
    });
  });

  it('labels a worker with its shard index as a string', () => {
    expect(workerLabels(sd, 7)).toMatchObject({
      [LABEL_DISTRIBUTOR]: 'full',
      [LABEL_COMPONENT]: 'worker',
      [LABEL_SHARD]: '7',
    });
  });

  it('selects a worker Deployment by labels its pods carry', () => {
    expect(workerLabels(sd, 2)).toMatchObject(workerSelectorLabels(sd, 2));
  });

  it('gives status.selector matching every worker pod and no other', () => {
    const selector = Object.fromEntries(
      selectorFor(sd)
        .split(',')
        .map((term) => term.split('=') as [string, string]),
    );
    expect(selector).toEqual({ [LABEL_DISTRIBUTOR]: 'full', [LABEL_COMPONENT]: 'worker' });
    for (const shard of [0, 5]) expect(workerLabels(sd, shard)).toMatchObject(selector);
    expect(labelsFor(sd, 'distributor')).not.toMatchObject(selector);
  });
});

describe('ownerReferenceFor', () => {
  it('makes the ShardDistributor the controlling owner', () => {
    expect(ownerReferenceFor(sd)).toEqual({
      apiVersion: 'shards.veda.dev/v1alpha1',
      kind: 'ShardDistributor',
      name: 'full',
      uid: 'uid-full',
      controller: true,
      blockOwnerDeletion: true,
    });
  });

  it('refuses an object without a uid', () => {
    const { uid: _uid, ...metadata } = sd.metadata;
    expect(() => ownerReferenceFor({ ...sd, metadata })).toThrow(DesiredStateError);
  });
});
