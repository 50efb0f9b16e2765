import { describe, expect, it } from 'vitest';
import type { ShardDistributorSpec } from '../../../../src/api/index.ts';
import { CONFIG_FILE_NAME, parseIni } from '../../../../src/config/index.ts';
import {
  configFor,
  configHash,
  configMapFor,
  type ShardPlan,
} from '../../../../src/operator/desired/index.ts';
import { expectPlainJson, sample, withSpec } from './samples.ts';

const sd = sample('full');
const plan: ShardPlan = { liveShards: 4, drainingShards: [] };

function hashWith(change: (spec: ShardDistributorSpec) => void, shards = plan): string {
  return configHash(configFor(withSpec(sd, change), shards));
}

describe('configMapFor', () => {
  it('holds the rendered INI under the file name the distributor reads', () => {
    const cm = configMapFor(sd, plan);
    expect(cm).toMatchObject({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'full-config', namespace: 'team-a' },
    });
    expect(Object.keys(cm.data ?? {})).toEqual([CONFIG_FILE_NAME]);
    expect(parseIni(cm.data?.[CONFIG_FILE_NAME] ?? '', { env: {} })).toEqual(configFor(sd, plan));
    expect(cm.metadata?.ownerReferences?.[0]?.uid).toBe('uid-full');
    expectPlainJson(cm);
  });
});

describe('configHash', () => {
  const base = configHash(configFor(sd, plan));

  it('is a short hex string and the same for the same config', () => {
    expect(base).toMatch(/^[0-9a-f]{16}$/);
    expect(configHash(configFor(sample('full'), plan))).toBe(base);
  });

  it.each<[string, (spec: ShardDistributorSpec) => void]>([
    ['the main queue', (s) => void (s.queue.mainQueue = 'other-flow')],
    ['the consumer name', (s) => void (s.queue.consumerName = 'other-consumer')],
    ['the shard queue prefix', (s) => void (s.queue.subQueuePrefix = 'other-shard')],
    ['the base path', (s) => void (s.queue.veda!.basePath = '/data/main')],
    ['the worker base path', (s) => void (s.queue.veda!.workerBasePath = '/data/shards')],
    ['the metrics port', (s) => void (s.distributor.metricsPort = 9500)],
  ])('changes with %s, which needs a new distributor process', (_what, change) => {
    expect(hashWith(change)).not.toBe(base);
  });

  it('changes with the backend', () => {
    const nats = sample('nats');
    const other = withSpec(nats, (s) => void (s.queue.nats!.url = 'nats://elsewhere:4222'));
    expect(configHash(configFor(other, plan))).not.toBe(configHash(configFor(nats, plan)));
    expect(configHash(configFor(nats, plan))).not.toBe(base);
  });

  it.each<[string, (spec: ShardDistributorSpec) => void]>([
    ['the strategy', (s) => void (s.strategy = 'LeastLoaded')],
    ['the batch size', (s) => void (s.distributor.batchSize = 500)],
    ['the worker command', (s) => void (s.worker.command = ['/bin/worker'])],
    ['the worker arguments', (s) => void (s.worker.argsTemplate = ['{sub_queue_name}'])],
    ['the worker sleep', (s) => void (s.worker.sleepEmptySeconds = 2)],
    ['maxWorkers', (s) => void (s.maxWorkers = 32)],
  ])('stays with %s, which the distributor applies live or never reads', (_what, change) => {
    expect(hashWith(change)).toBe(base);
  });

  it('stays when shards are added or start draining', () => {
    expect(configHash(configFor(sd, { liveShards: 9, drainingShards: [] }))).toBe(base);
    expect(configHash(configFor(sd, { liveShards: 2, drainingShards: [2, 3] }))).toBe(base);
  });
});
