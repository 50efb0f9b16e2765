import { describe, expect, it } from 'vitest';
import { parseIni } from '../../../../src/config/index.ts';
import {
  configHash,
  configFor,
  desiredObjects,
  renderedIni,
} from '../../../../src/operator/desired/index.ts';
import { sample } from './samples.ts';

describe('a scale-down that moves the removed shards backlog', () => {
  const sd = sample('minimal');
  const plan = { liveShards: 2, drainingShards: [2, 3], stoppedShards: [2, 3], movingShards: [3] };

  it('keeps the removed shards Deployments with no pods', () => {
    const replicas = desiredObjects(sd, {
      defaultImage: 'img',
      shardSet: plan,
    }).workerDeployments.map((d) => [d.metadata?.name, d.spec?.replicas]);
    expect(replicas).toEqual([
      ['minimal-worker-0', 1],
      ['minimal-worker-1', 1],
      ['minimal-worker-2', 0],
      ['minimal-worker-3', 0],
    ]);
  });

  it('tells the distributor which shards to move, without rolling it', () => {
    const ini = parseIni(renderedIni(sd, plan), { file: 'ConfigMap', env: {} });
    expect(ini.dispatcher).toMatchObject({
      minWorkers: 2,
      drainingShards: [2, 3],
      movingShards: [3],
    });
    expect(configHash(configFor(sd, plan))).toBe(
      configHash(configFor(sd, { liveShards: 4, drainingShards: [] })),
    );
  });

  it('keeps workers running when draining without stopping them (deletion)', () => {
    const workers = desiredObjects(sd, {
      defaultImage: 'img',
      shardSet: { liveShards: 0, drainingShards: [0, 1] },
    }).workerDeployments;
    expect(workers.map((d) => d.spec?.replicas)).toEqual([1, 1]);
  });
});
