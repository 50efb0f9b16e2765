import { readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { DistributorConfig } from '../../src/config/index.ts';
import {
  BatchJournal,
  PROTOCOL_STEPS,
  failpointFromSpec,
  type Distributor,
} from '../../src/distributor/index.ts';
import { MoveJournal } from '../../src/queue/index.ts';
import { runWorker } from '../../src/worker/index.ts';
import { eventually } from '../harness/eventually.ts';
import {
  bench,
  countDeliveries,
  ids,
  MAIN,
  PREFIX,
  rejectsWaiting,
  runUntil,
  takeAsWorker,
  type Bench,
} from './helpers.ts';

let b: Bench;
afterEach(async () => b?.cleanup());

const SHARD_2 = `${PREFIX}-2`;

/** Shard 2 removed (its worker stopped): it drains, and its backlog is moved. */
function moving(config: DistributorConfig): DistributorConfig {
  return {
    ...config,
    dispatcher: { ...config.dispatcher, minWorkers: 2, drainingShards: [2], movingShards: [2] },
  };
}

function workerTakes(bench: Bench, shard: number, count: number): Promise<string[]> {
  const { consumerName } = bench.config.dispatcher;
  return takeAsWorker(bench.backend(bench.shardDir), `${PREFIX}-${shard}`, consumerName, count);
}

function workerBacklog(bench: Bench, shard: number): Promise<number> {
  return bench
    .backend(bench.shardDir)
    .backlog(`${PREFIX}-${shard}`, bench.config.dispatcher.consumerName);
}

function stateOf(d: Distributor, shard: number) {
  return d.loadReport().shards.find((s) => s.index === shard);
}

/** 3 live shards filled round-robin from `messages`; the distributor is closed afterwards. */
async function distributedToThreeShards(messages: readonly string[]): Promise<void> {
  await b.produce(messages);
  const d = await b.distributor();
  await runUntil(d, async () => (await b.committedMain()) === 0);
  await d.close();
}

/**
 * Every id exactly once across what shard 2's worker took before the move and what shards
 * 0 and 1 hold now (shard 2's queue itself keeps its records: the move commits its consumer).
 */
async function audit(takenByWorker: readonly string[], expected: readonly string[]) {
  const contents = await b.shardContents(3);
  return countDeliveries(
    new Map([
      [0, contents.get(0) ?? []],
      [1, contents.get(1) ?? []],
      [2, [...takenByWorker]],
    ]),
    expected,
  );
}

const RETRY_2 = `${SHARD_2}-retry`;

/** Where shard 2's worker keeps its move journal (beside the shard queues). */
function journalOf2(): string {
  return MoveJournal.forWorker(b.shardDir, SHARD_2, b.config.dispatcher.consumerName).file;
}

function retryBacklog(bench: Bench): Promise<number> {
  return bench.backend(bench.shardDir).backlog(RETRY_2, bench.config.dispatcher.consumerName);
}

/** The queue the log says a crashed batch was finished (or found committed) from. */
function recoverySource(): unknown {
  return b.logs.find(
    (l) =>
      l.msg === 'finished a batch interrupted by a crash' ||
      l.msg === 'interrupted batch was already committed; journal cleared',
  )?.source;
}

/** A move killed at the third `step`, then a distributor run until shard 2 is drained. */
async function crashedThenRestarted(step: string): Promise<void> {
  const crashing = await b.distributor({
    config: moving(b.config),
    failpoint: failpointFromSpec(`${step}:3:throw`),
  });
  await expect(runUntil(crashing, async () => false)).rejects.toThrow(/failpoint/);
  await crashing.close();
  const restarted = await b.distributor({ config: moving(b.config) });
  await runUntil(restarted, async () => stateOf(restarted, 2)?.state === 'drained');
}

/**
 * `messages` spread over 2 shards, then shard 1 removed while no shard is live: the loop has
 * opened its queue to move it and moved nothing, and is stopped there.
 */
async function movingWithNoShardLive(messages: readonly string[]): Promise<Distributor> {
  b = await bench({ strategy: 'RoundRobin', minWorkers: 2 });
  await b.produce(messages);
  const d = await b.distributor();
  await runUntil(d, async () => (await b.committedMain()) === 0);
  await d.applyConfig({
    ...b.config,
    dispatcher: {
      ...b.config.dispatcher,
      minWorkers: 0,
      drainingShards: [0, 1],
      movingShards: [1],
    },
  });
  const stop = new AbortController();
  const running = d.run(stop.signal);
  await eventually(() => expect(b.logs.some((l) => l.msg.startsWith('no live shard'))).toBe(true));
  stop.abort();
  await running;
  return d;
}

describe('moving the backlog of a removed shard', () => {
  it('moves every message of the shard to live shards exactly once and reports it drained', async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
    const messages = ids(90);
    await b.produce(messages);
    const d = await b.distributor();
    await runUntil(d, async () => (await b.committedMain()) === 0);
    const before = await b.shardContents(3);
    const taken = await workerTakes(b, 2, 7);

    await d.applyConfig(moving(b.config));
    expect(stateOf(d, 2)).toMatchObject({ state: 'draining', moving: true, backlog: 23 });
    await runUntil(d, async () => stateOf(d, 2)?.state === 'drained');

    expect(await workerBacklog(b, 2)).toBe(0);
    expect(await audit(taken, messages)).toEqual({
      delivered: 90,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
    const after = await b.shardContents(3);
    expect(after.get(2)).toEqual(before.get(2));
    // Bytes unchanged, and each live shard keeps the order it received them in.
    const moved = before.get(2)?.slice(7) ?? [];
    const landed = [...(after.get(0) ?? []), ...(after.get(1) ?? [])].filter((m) =>
      moved.includes(m),
    );
    expect(landed.sort()).toEqual([...moved].sort());
    expect(stateOf(d, 2)).toMatchObject({ state: 'drained', moving: false });
    expect(await d.metrics.moved.get()).toMatchObject({
      values: [
        expect.objectContaining({
          value: 23,
          labels: { pool: 'default', shard: '2', queue: SHARD_2 },
        }),
      ],
    });
    expect(
      b.logs.some((l) => l.msg === 'moving the backlog of a removed shard to live shards'),
    ).toBe(true);
  });

  it('takes turns with the main queue: one main batch, then one batch of each moving shard', async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
    const first = ids(60, 'a');
    await distributedToThreeShards(first);
    const later = ids(40, 'b');
    await b.produce(later);
    const journal = BatchJournal.forQueue(b.mainDir, MAIN, b.config.dispatcher.consumerName);
    const sources: string[] = [];
    const d = await b.distributor({
      config: moving(b.config),
      failpoint: (step) => {
        if (step === 'after-journal')
          sources.push(
            (JSON.parse(readFileSync(journal.file, 'utf8')) as { source: string }).source,
          );
      },
    });
    await runUntil(
      d,
      async () => (await b.committedMain()) === 0 && stateOf(d, 2)?.state === 'drained',
    );
    // 40 main messages and 20 in shard 2, batches of 10.
    expect(sources).toEqual([MAIN, SHARD_2, MAIN, SHARD_2, MAIN, MAIN]);
    expect(await audit([], [...first, ...later])).toEqual({
      delivered: 100,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
  });

  it('lets the strategy see the backlog of the live shards it moves to', async () => {
    b = await bench({ strategy: 'LeastLoaded', minWorkers: 3 });
    await distributedToThreeShards(ids(60));
    const before = await b.shardContents(3);
    // Shard 0's worker empties it; shard 1 keeps a backlog of 20.
    await workerTakes(b, 0, 20);
    const d = await b.distributor({ config: moving(b.config) });
    await runUntil(d, async () => stateOf(d, 2)?.state === 'drained');
    const after = await b.shardContents(3);
    expect(after.get(1)).toEqual(before.get(1));
    expect(after.get(0)).toEqual([...(before.get(0) ?? []), ...(before.get(2) ?? [])]);
    expect(stateOf(d, 0)?.backlog).toBe(20);
  });

  it('moves nothing while no shard is live, then moves to the first live one', async () => {
    const messages = ids(30);
    const d = await movingWithNoShardLive(messages);
    expect(await workerBacklog(b, 1)).toBe(15);
    await d.applyConfig({
      ...b.config,
      dispatcher: { ...b.config.dispatcher, minWorkers: 1, drainingShards: [1], movingShards: [1] },
    });
    await runUntil(d, async () => stateOf(d, 1)?.state === 'drained');
    const contents = await b.shardContents(2);
    expect([...(contents.get(0) ?? [])].sort()).toEqual(messages);
  });

  it("lets go of a removed shard's queue as soon as a config makes it live again, before its worker may start", async () => {
    const d = await movingWithNoShardLive(ids(30));

    // Back again: once /load says shard 1 is not moved, the operator starts its worker, which
    // reads the queue as the same consumer. The distributor has let go of it by then.
    await d.applyConfig(b.config);
    expect(stateOf(d, 1)).toMatchObject({ state: 'live', moving: false });
    expect(b.logs.filter((l) => l.msg === 'stopped moving a shard').map((l) => l.queue)).toEqual([
      `${PREFIX}-1`,
    ]);
  });

  it.each(PROTOCOL_STEPS)('moves exactly once when a move is interrupted %s', async (step) => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
    const messages = ids(90);
    await distributedToThreeShards(messages);
    const taken = await workerTakes(b, 2, 4);
    // The main queue is empty, so every step reached is a move's; the third time falls in a
    // later batch (append and flush come once per live shard of a batch).
    await crashedThenRestarted(step);
    expect(await audit(taken, messages)).toEqual({
      delivered: 90,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
    if (step !== 'after-clear') {
      expect(recoverySource()).toBe(SHARD_2);
    }
  });

  it('finishes a main-queue batch from a journal that names no source (written before moves)', async () => {
    b = await bench();
    const messages = ids(35);
    await b.produce(messages);
    const crashing = await b.distributor({ failpoint: failpointFromSpec('after-append:2:throw') });
    await expect(runUntil(crashing, async () => false)).rejects.toThrow(/failpoint/);
    await crashing.close();
    const journal = BatchJournal.forQueue(b.mainDir, MAIN, b.config.dispatcher.consumerName);
    const { source, ...older } = JSON.parse(await readFile(journal.file, 'utf8')) as {
      source?: string;
    };
    expect(source).toBe(MAIN);
    await writeFile(journal.file, JSON.stringify(older));

    const restarted = await b.distributor();
    await runUntil(restarted, async () => (await b.committedMain()) === 0);
    expect(countDeliveries(await b.shardContents(), messages)).toEqual({
      delivered: 35,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
    expect(b.logs.some((l) => l.msg === 'finished a batch interrupted by a crash')).toBe(true);
  });

  it("moves the rejects waiting in the stopped worker's retry queue, unwrapped, and is drained only then", async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
    const messages = ids(60);
    await distributedToThreeShards(messages);
    // Shard 2's worker took its 20 and rejected 5 of them, which wait for a retry.
    const taken = await workerTakes(b, 2, 20);
    const rejected = taken.slice(0, 5);
    await rejectsWaiting(b.backend(b.shardDir), SHARD_2, rejected);
    const before = await b.shardContents(3);

    const d = await b.distributor({ config: moving(b.config) });
    expect(stateOf(d, 2)).toMatchObject({ state: 'draining', backlog: 0, retryBacklog: 5 });
    await runUntil(d, async () => stateOf(d, 2)?.state === 'drained');

    expect(await retryBacklog(b)).toBe(0);
    const after = await b.shardContents(3);
    // The original payloads, not their envelopes, reach the live shards, each once.
    const landed = [0, 1].flatMap((i) => (after.get(i) ?? []).slice(before.get(i)?.length ?? 0));
    expect(landed.sort()).toEqual([...rejected].sort());
    expect(await audit(taken.slice(5), messages)).toEqual({
      delivered: 60,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
    expect(
      b.logs.some(
        (l) => l.msg === "moving the retry queue of a removed shard's worker to live shards",
      ),
    ).toBe(true);
    expect(await d.metrics.moved.get()).toMatchObject({
      values: [
        expect.objectContaining({
          value: 5,
          labels: { pool: 'default', shard: '2', queue: SHARD_2 },
        }),
      ],
    });
  });

  it('keeps a draining shard whose running worker still has rejects to retry from being drained', async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
    await distributedToThreeShards(ids(30));
    const taken = await workerTakes(b, 2, 10);
    await rejectsWaiting(b.backend(b.shardDir), SHARD_2, taken.slice(0, 2));
    // Draining, not moving: its worker runs, and is removed once the shard is drained.
    const d = await b.distributor({
      config: {
        ...b.config,
        dispatcher: { ...b.config.dispatcher, minWorkers: 2, drainingShards: [2] },
      },
    });
    await d.refreshLoad();
    expect(stateOf(d, 2)).toMatchObject({ state: 'draining', backlog: 0, retryBacklog: 2 });
    // Its worker handles the two retries.
    await takeAsWorker(b.backend(b.shardDir), RETRY_2, b.config.dispatcher.consumerName, 2);
    await d.refreshLoad();
    expect(stateOf(d, 2)?.state).toBe('drained');
    expect(stateOf(d, 2)).not.toHaveProperty('retryBacklog');
    await d.close();
  });

  it.each(['after-journal', 'after-append', 'after-flush', 'after-commit'] as const)(
    "finishes the stopped worker's move of rejects killed %s before moving its shard: each message once",
    async (step) => {
      b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
      const messages = ids(60);
      await distributedToThreeShards(messages);
      // Shard 2's worker handles its 20 in one batch, rejects 5, and dies while moving them to
      // its retry queue: its journal names the batch, its consumer is not committed.
      const handled: string[] = [];
      const rejected: string[] = [];
      const crash = new Error(`kill -9 ${step}`);
      await expect(
        runWorker({
          backend: b.backend(b.shardDir),
          queue: SHARD_2,
          consumer: b.config.dispatcher.consumerName,
          batchSize: 20,
          sleepEmptySec: 0.02,
          signal: new AbortController().signal,
          failure: {
            policy: 'DeadLetter',
            maxAttempts: 3,
            retryBackoffSec: 3600,
            retryBackoffMaxSec: 3600,
            journalDir: b.shardDir,
          },
          handler: (message) => {
            const id = Buffer.from(message).toString();
            if (rejected.length + handled.length < 5) rejected.push(id);
            else handled.push(id);
            return rejected.at(-1) === id ? { reject: 'downstream unavailable' } : undefined;
          },
          failpoint: (name) => {
            if (name === step) throw crash;
          },
        }),
      ).rejects.toBe(crash);
      expect(await workerBacklog(b, 2)).toBe(step === 'after-commit' ? 0 : 20);
      const before = await b.shardContents(3);

      const d = await b.distributor({ config: moving(b.config) });
      await runUntil(d, async () => {
        await d.refreshLoad();
        return stateOf(d, 2)?.state === 'drained';
      });

      // The worker's batch is committed as it would have been: its handled 15 stay handled,
      // its 5 rejects reach the live shards once, through its retry queue.
      expect(await workerBacklog(b, 2)).toBe(0);
      expect(await retryBacklog(b)).toBe(0);
      const after = await b.shardContents(3);
      const landed = [0, 1].flatMap((i) => (after.get(i) ?? []).slice(before.get(i)?.length ?? 0));
      expect(landed.sort()).toEqual([...rejected].sort());
      expect(await audit(handled, messages)).toEqual({
        delivered: 60,
        lost: [],
        duplicated: [],
        unexpected: [],
      });
      expect(
        b.logs.find((l) => l.msg === "finished the stopped worker's interrupted move of rejects"),
      ).toMatchObject({
        shard: 2,
        source: SHARD_2,
        messages: 20,
        result: step === 'after-commit' ? 'already-committed' : 'finished',
      });
      expect(await new MoveJournal(journalOf2()).read()).toBeUndefined();
    },
  );

  it("holds a removed shard whose stopped worker's move journal names another queue, until it is moved aside", async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
    const messages = ids(30);
    await distributedToThreeShards(messages);
    const file = journalOf2();
    await writeFile(
      file,
      JSON.stringify({
        version: 1,
        source: `${PREFIX}-1`,
        from: {},
        next: {},
        count: 1,
        digest: '',
        targets: [],
      }),
    );
    const d = await b.distributor({ config: moving(b.config) });
    const stop = new AbortController();
    const running = d.run(stop.signal);
    const refused = () =>
      b.logs.filter(
        (l) =>
          l.msg ===
          "a removed shard is not moved: its stopped worker's move journal cannot be finished",
      );
    await eventually(() => expect(refused()).toHaveLength(1));
    await sleep(200);
    expect(await workerBacklog(b, 2)).toBe(10);
    expect(refused()).toHaveLength(1);
    expect(String((refused()[0]?.['err'] as { message?: string })?.message)).toContain(
      `${file} of shard 2's stopped worker names queue ${PREFIX}-1`,
    );
    await rename(file, `${file}.aside`);
    await eventually(() => expect(stateOf(d, 2)?.state).toBe('drained'));
    stop.abort();
    await running;
    expect(await audit([], messages)).toEqual({
      delivered: 30,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
  });

  it.each(PROTOCOL_STEPS)('moves a retry queue exactly once when interrupted %s', async (step) => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
    const messages = ids(90);
    await distributedToThreeShards(messages);
    const taken = await workerTakes(b, 2, 30);
    const rejected = taken.slice(0, 25);
    await rejectsWaiting(b.backend(b.shardDir), SHARD_2, rejected);
    // Shard 2's queue is empty: every step reached is the retry queue's (batches of 10).
    await crashedThenRestarted(step);
    expect(await retryBacklog(b)).toBe(0);
    expect(await audit(taken.slice(25), messages)).toEqual({
      delivered: 90,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
    if (step !== 'after-clear') {
      expect(recoverySource()).toBe(RETRY_2);
    }
  });
});
