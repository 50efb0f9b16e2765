import { describe, expect, it } from 'vitest';
import {
  InvalidSpecError,
  poolSubQueuePrefixOf,
  subQueuePrefixOf,
  withDefaults,
  withSpecDefaults,
  type ShardDistributor,
} from '../../../src/api/index.ts';

const minimal = {
  queue: { mainQueue: 'individuals-flow' },
  worker: { image: 'worker:1', command: ['python3', '-m', 'worker.queue_worker'] },
};

describe('withDefaults', () => {
  it('fills in every default of the schema', () => {
    const spec = withDefaults(minimal);
    expect(spec).toEqual({
      queue: {
        backend: 'veda',
        mainQueue: 'individuals-flow',
        consumerName: 'queue-shard-distributor',
      },
      minWorkers: 4,
      targetBacklogPerWorker: 1000,
      strategy: 'ZeroLoadFirst',
      deletionPolicy: 'Drain',
      worker: {
        image: 'worker:1',
        command: ['python3', '-m', 'worker.queue_worker'],
        argsTemplate: [
          '--base',
          '{worker_base_path}',
          '--sub',
          '{sub_queue_name}',
          '--src',
          '{src}',
          '--sleep-empty',
          '{sleep_empty_sec}',
        ],
        sleepEmptySeconds: 0.5,
      },
      distributor: { batchSize: 100, metricsPort: 9464, placement: 'Standalone' },
    });
  });

  it('keeps what the user set', () => {
    const spec = withDefaults({ ...minimal, minWorkers: 9, strategy: 'KeyHash' });
    expect(spec.minWorkers).toBe(9);
    expect(spec.strategy).toBe('KeyHash');
  });

  it('does not change its input', () => {
    const input = structuredClone(minimal);
    withDefaults(input);
    expect(input).toEqual(minimal);
  });

  it('rejects a bad spec with the path of the field', () => {
    expect(() => withDefaults({ ...minimal, minWorkers: -3 })).toThrow(InvalidSpecError);
    expect(() => withDefaults({ ...minimal, minWorkers: -3 })).toThrow(/spec\.minWorkers/);
    expect(() => withDefaults({ ...minimal, strategy: 'Fastest' })).toThrow(/spec\.strategy/);
  });

  it('names shard queues <mainQueue>-shard-<i> unless a prefix is given', () => {
    expect(subQueuePrefixOf(withDefaults(minimal))).toBe('individuals-flow-shard');
    expect(
      subQueuePrefixOf(
        withDefaults({ ...minimal, queue: { mainQueue: 'q', subQueuePrefix: 'p' } }),
      ),
    ).toBe('p');
  });

  describe('pools', () => {
    const withPool = (pool: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      withDefaults({
        ...minimal,
        ...extra,
        pools: [{ name: 'large', match: { minBytes: 1 }, ...pool }],
      });

    it('fills in a pool’s defaults and leaves what falls back to the top level unset', () => {
      const [pool] = withPool({}).pools!;
      expect(pool).toEqual({
        name: 'large',
        match: { minBytes: 1 },
        minWorkers: 1,
        targetBacklogPerWorker: 1000,
      });
    });

    it('fills in the defaults of a pool’s own worker and limits', () => {
      const [pool] = withPool({
        worker: { image: 'big:1', command: ['big'] },
        backpressure: { maxDiskBytes: 5 },
      }).pools!;
      expect(pool!.worker).toMatchObject({
        sleepEmptySeconds: 0.5,
        argsTemplate: expect.any(Array),
      });
      expect(pool!.backpressure).toEqual({ maxBacklogPerShard: 0, maxDiskBytes: 5 });
      expect(withPool({}, { backpressure: {} }).backpressure).toEqual({
        maxBacklogPerShard: 0,
        maxDiskBytes: 0,
      });
    });

    it('names a pool’s shard queues <default prefix>-<pool> unless it has a prefix', () => {
      const spec = withPool({}, { queue: { mainQueue: 'q', subQueuePrefix: 'p' } });
      expect(poolSubQueuePrefixOf(spec, spec.pools![0]!)).toBe('p-large');
      const own = withPool({ subQueuePrefix: 'big' });
      expect(poolSubQueuePrefixOf(own, own.pools![0]!)).toBe('big');
    });

    it.each([
      ['a name that is not a DNS label', { name: 'Large_Pool' }, /spec\.pools\.0\.name/],
      ['a name longer than 40', { name: 'p'.repeat(41) }, /spec\.pools\.0\.name/],
      ['a header name with =', { match: { header: { name: 'a=b', value: 'c' } } }, /header\.name/],
      ['an empty header value', { match: { header: { name: 'a', value: '' } } }, /header\.value/],
      ['a negative size', { match: { minBytes: -1 } }, /minBytes/],
      ['a pool without a match', { match: undefined }, /spec\.pools\.0\.match/],
    ])('rejects %s with the path of the field', (_what, pool, path) => {
      expect(() => withPool(pool)).toThrow(path);
    });
  });
});

describe('withSpecDefaults', () => {
  it('fills in what a ShardDistributor stored under an older CRD leaves out, and keeps the rest', () => {
    const stored = withDefaults(minimal) as Record<string, unknown>;
    delete stored['deletionPolicy'];
    const sd = {
      apiVersion: 'shards.veda.dev/v1alpha1',
      kind: 'ShardDistributor',
      metadata: { name: 'old', generation: 3 },
      spec: { ...stored, minWorkers: 7 },
    } as ShardDistributor;
    const filled = withSpecDefaults(sd);
    // Unset, the deletion would not drain: "not Drain" read as Abandon.
    expect(filled.spec.deletionPolicy).toBe('Drain');
    expect(filled.spec.minWorkers).toBe(7);
    expect(filled.metadata).toBe(sd.metadata);
    expect(sd.spec.deletionPolicy).toBeUndefined();
  });
});
