import { describe, expect, it } from 'vitest';
import {
  defaultConfig,
  restartKeys,
  withLaunchKeys,
  withLiveKeys,
} from '../../../src/config/index.ts';

describe('what a running distributor can apply from a changed INI', () => {
  const base = defaultConfig();

  it('takes the shard set, strategy and batch tuning live', () => {
    const next = {
      ...base,
      dispatcher: {
        ...base.dispatcher,
        minWorkers: 9,
        drainingShards: [9, 10],
        strategy: 'KeyHash' as const,
        batchSize: 7,
      },
    };
    expect(restartKeys(base, next)).toEqual([]);
    expect(withLiveKeys(base, next).dispatcher).toMatchObject({
      minWorkers: 9,
      drainingShards: [9, 10],
      strategy: 'KeyHash',
      batchSize: 7,
    });
  });

  it('names every other change as needing a restart, and keeps the running value', () => {
    const next = {
      ...base,
      dispatcher: { ...base.dispatcher, basePath: '/elsewhere', metricsPort: 1234 },
      worker: { ...base.worker, subQueuePrefix: 'other', sleepEmptySec: 3 },
    };
    expect(restartKeys(base, next)).toEqual([
      '[dispatcher] base_path',
      '[dispatcher] metrics_port',
      '[worker] sub_queue_prefix',
    ]);
    expect(withLiveKeys(base, next).dispatcher.basePath).toBe(base.dispatcher.basePath);
  });

  it("gives the workers' launcher the live keys and the worker command, never a key the distributor keeps", () => {
    const next = {
      ...base,
      dispatcher: { ...base.dispatcher, minWorkers: 6, mainQueueName: 'other-flow' },
      worker: {
        ...base.worker,
        workerBasePath: '/elsewhere',
        subQueuePrefix: 'other',
        workerModule: 'python3 -m new.worker',
        sleepEmptySec: 3,
      },
    };
    const launched = withLaunchKeys(base, next);
    expect(launched.dispatcher.minWorkers).toBe(6);
    expect(launched.dispatcher.mainQueueName).toBe(base.dispatcher.mainQueueName);
    expect(launched.worker).toEqual({
      ...base.worker,
      workerModule: 'python3 -m new.worker',
      sleepEmptySec: 3,
    });
  });
});
