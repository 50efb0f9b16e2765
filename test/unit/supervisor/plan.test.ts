import { describe, expect, it } from 'vitest';
import { defaultConfig, type DistributorConfig } from '../../../src/config/index.ts';
import {
  WorkerCommandError,
  desiredWorkers,
  planWorkers,
  type CurrentWorker,
} from '../../../src/supervisor/index.ts';

function config(
  minWorkers: number,
  drainingShards: number[] = [],
  worker: Partial<DistributorConfig['worker']> = {},
): DistributorConfig {
  const base = defaultConfig();
  return {
    ...base,
    dispatcher: { ...base.dispatcher, minWorkers, drainingShards },
    worker: {
      ...base.worker,
      workerModule: 'worker',
      workerArgsTemplate: '--sub {sub_queue_name}',
      subQueuePrefix: 'q',
      ...worker,
    },
  };
}

const running = (shard: number, stopping = false): CurrentWorker => ({
  shard,
  argv: ['worker', '--sub', `q-${shard}`],
  stopping,
});

describe('desiredWorkers', () => {
  it('wants one worker per live shard with its rendered argv', () => {
    expect(desiredWorkers(config(2), new Set())).toEqual([
      { shard: 0, argv: ['worker', '--sub', 'q-0'] },
      { shard: 1, argv: ['worker', '--sub', 'q-1'] },
    ]);
  });

  it('keeps a quoted argument with a space as one argument', () => {
    const [first] = desiredWorkers(
      config(1, [], { workerModule: "'/opt/my worker/run'", workerArgsTemplate: '--x "a b"' }),
      new Set(),
    );
    expect(first?.argv).toEqual(['/opt/my worker/run', '--x', 'a b']);
  });

  it('keeps the worker of a draining shard until it is retired', () => {
    expect(desiredWorkers(config(1, [3, 2]), new Set()).map((w) => w.shard)).toEqual([0, 2, 3]);
    expect(desiredWorkers(config(1, [3, 2]), new Set([3])).map((w) => w.shard)).toEqual([0, 2]);
  });

  it('never drops a live shard, even one retired earlier', () => {
    expect(desiredWorkers(config(2), new Set([1])).map((w) => w.shard)).toEqual([0, 1]);
  });

  it('refuses an empty worker command with SD_ERR_WORKER_COMMAND', () => {
    const empty = config(1, [], { workerModule: '', workerArgsTemplate: '' });
    expect(() => desiredWorkers(empty, new Set())).toThrow(WorkerCommandError);
    expect(() => desiredWorkers(empty, new Set())).toThrow(
      expect.objectContaining({ code: 'SD_ERR_WORKER_COMMAND' }),
    );
  });
});

describe('planWorkers', () => {
  const desired = (...shards: number[]) =>
    desiredWorkers(config(0, shards), new Set()).filter((w) => shards.includes(w.shard));

  it('starts every desired worker when none runs', () => {
    expect(planWorkers(desired(0, 1), [])).toEqual({
      start: desired(0, 1),
      stop: [],
    });
  });

  it('does nothing when what runs is what is desired', () => {
    expect(planWorkers(desired(0, 1), [running(1), running(0)])).toEqual({ start: [], stop: [] });
  });

  it('starts the new shards and stops the ones no longer desired', () => {
    expect(planWorkers(desired(0, 2), [running(0), running(1)])).toEqual({
      start: desired(2),
      stop: [{ shard: 1, reason: 'not-desired' }],
    });
  });

  it('replaces a worker started with another argv', () => {
    const old: CurrentWorker = { shard: 0, argv: ['worker', '--sub', 'old-0'], stopping: false };
    expect(planWorkers(desired(0), [old])).toEqual({
      start: [],
      stop: [{ shard: 0, reason: 'argv-changed' }],
    });
  });

  it('leaves a stopping worker alone and starts its shard again only after it is gone', () => {
    expect(planWorkers(desired(0), [running(0, true), running(1, true)])).toEqual({
      start: [],
      stop: [],
    });
    expect(planWorkers(desired(0), [running(1, true)])).toEqual({ start: desired(0), stop: [] });
  });
});
