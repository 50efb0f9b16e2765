import { describe, expect, it } from 'vitest';
import { InvalidSpecError, subQueuePrefixOf, withDefaults } from '../../../src/api/index.ts';

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
});
