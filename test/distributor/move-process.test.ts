import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  defaultNatsConfig,
  renderIni,
  type DistributorConfig,
} from '../../src/config/index.ts';
import { PROTOCOL_STEPS } from '../../src/distributor/index.ts';
import { createNatsBackend, type QueueBackend } from '../../src/queue/index.ts';
import { eventually } from '../harness/eventually.ts';
import { NatsServer } from '../harness/nats-server.ts';
import {
  bench,
  countDeliveries,
  ids,
  PREFIX,
  runUntil,
  takeAsWorker,
  type Bench,
  readShards,
  rejectsWaiting,
} from './helpers.ts';
import { distributorProcess, loggedPort } from './process-helpers.ts';

/** Shard 2 removed and its worker stopped: it drains, and its backlog is moved. */
function moving(config: DistributorConfig): DistributorConfig {
  return {
    ...config,
    dispatcher: { ...config.dispatcher, minWorkers: 2, drainingShards: [2], movingShards: [2] },
  };
}

/** Every id exactly once across what shard 2's worker took and what shards 0 and 1 hold. */
function audit(
  contents: Map<number, string[]>,
  takenByWorker: readonly string[],
  expected: readonly string[],
) {
  return countDeliveries(
    new Map([
      [0, contents.get(0) ?? []],
      [1, contents.get(1) ?? []],
      [2, [...takenByWorker]],
    ]),
    expected,
  );
}

const RECOVERED =
  /"source":"([^"]+)"[^\n]*"msg":"(finished a batch interrupted by a crash|interrupted batch was already committed; journal cleared)"/;

describe('the distributor process moving a removed shard (veda)', () => {
  let b: Bench;
  afterEach(async () => b?.cleanup());

  it.each(PROTOCOL_STEPS)('moves exactly once when killed -9 %s', async (step) => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
    const messages = ids(90);
    await b.produce(messages);
    const filler = await b.distributor();
    await runUntil(filler, async () => (await b.committedMain()) === 0);
    await filler.close();
    const { consumerName } = b.config.dispatcher;
    const shards = b.backend(b.shardDir);
    const taken = await takeAsWorker(shards, `${PREFIX}-2`, consumerName, 4);

    const file = join(b.dir, 'veda-queue-shard-distributor.ini');
    const config = moving(b.config);
    await writeFile(
      file,
      renderIni({ ...config, dispatcher: { ...config.dispatcher, durable: true } }),
    );
    const crashing = distributorProcess(file, { SD_FAILPOINT: `${step}:3` });
    expect((await crashing.exited).signal).toBe('SIGKILL');

    const survivor = distributorProcess(file);
    try {
      const port = await loggedPort(survivor.output);
      await eventually(
        async () => {
          const load = (await (await fetch(`http://127.0.0.1:${port}/load`)).json()) as {
            shards: { index: number; state: string }[];
          };
          expect(load.shards.find((s) => s.index === 2)?.state).toBe('drained');
        },
        { timeoutMs: 30_000 },
      );
    } finally {
      survivor.child.kill('SIGTERM');
    }
    const exit = await survivor.exited;
    expect(exit.code).toBe(0);
    expect(await shards.backlog(`${PREFIX}-2`, consumerName)).toBe(0);
    expect(audit(await b.shardContents(3), taken, messages)).toEqual({
      delivered: 90,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
    if (step !== 'after-clear') expect(RECOVERED.exec(exit.output)?.[1]).toBe(`${PREFIX}-2`);
  });
});

describe('the distributor process moving a removed shard (nats)', () => {
  let server: NatsServer;
  let dir: string;
  beforeAll(async () => {
    server = await NatsServer.start();
    dir = await mkdtemp(join(tmpdir(), 'sd-move-nats-'));
  });
  afterAll(async () => {
    await server?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  /** Streams and queues of their own per test (`tag`): the server is shared. */
  function natsConfig(tag = 'M'): DistributorConfig {
    const id = `R${process.pid}${tag}`;
    const base = defaultConfig();
    return {
      ...base,
      dispatcher: {
        ...base.dispatcher,
        backend: 'nats',
        mainQueueName: `main${id}`,
        minWorkers: 3,
        strategy: 'RoundRobin',
        batchSize: 10,
      },
      worker: { ...base.worker, subQueuePrefix: `shard${id}` },
      nats: {
        ...defaultNatsConfig(server.url),
        mainStream: `MAIN_${id}`,
        shardStream: `SHARDS_${id}`,
      },
    };
  }

  function contents(
    backend: QueueBackend,
    config: DistributorConfig,
  ): Promise<Map<number, string[]>> {
    return readShards(backend, config.worker.subQueuePrefix, 3);
  }

  /**
   * `messages` produced to the main queue and distributed by a distributor process on
   * `config`, stopped once the main queue is empty; `file` holds the INI.
   */
  async function distributed(
    backend: QueueBackend,
    config: DistributorConfig,
    messages: readonly string[],
    file: string,
  ): Promise<void> {
    const { mainQueueName, consumerName } = config.dispatcher;
    const producer = await backend.openWriter(mainQueueName);
    await producer.append(messages.map((m) => Buffer.from(m)));
    await producer.flush();
    await writeFile(file, renderIni(config));
    const filler = distributorProcess(file);
    await eventually(
      async () => expect(await backend.backlog(mainQueueName, consumerName)).toBe(0),
      { timeoutMs: 30_000 },
    );
    filler.child.kill('SIGTERM');
    expect((await filler.exited).code).toBe(0);
  }

  /**
   * Shard 2 moved by a distributor process killed -9 at its third flush, then by one that runs
   * until `queue` (shard 2's, or its retry queue) is empty as the workers' consumer.
   */
  async function crashedThenDrained(
    backend: QueueBackend,
    config: DistributorConfig,
    file: string,
    queue: string,
  ): Promise<void> {
    await writeFile(file, renderIni(moving(config)));
    const crashing = distributorProcess(file, { SD_FAILPOINT: 'after-flush:3' });
    expect((await crashing.exited).signal).toBe('SIGKILL');
    const survivor = distributorProcess(file);
    const { consumerName } = config.dispatcher;
    await eventually(async () => expect(await backend.backlog(queue, consumerName)).toBe(0), {
      timeoutMs: 30_000,
    });
    survivor.child.kill('SIGTERM');
    expect((await survivor.exited).code).toBe(0);
  }

  it('moves exactly once when killed -9 after-flush: JetStream drops the replayed publishes', async () => {
    const config = natsConfig();
    const { mainQueueName, consumerName } = config.dispatcher;
    const shard2 = `${config.worker.subQueuePrefix}-2`;
    const backend = await createNatsBackend({ ...config.nats!, mainQueue: mainQueueName });
    try {
      const messages = ids(90, 'n');
      const file = join(dir, 'move.ini');
      await distributed(backend, config, messages, file);
      const taken = await takeAsWorker(backend, shard2, consumerName, 4);
      expect(taken.length).toBeGreaterThan(0);

      await crashedThenDrained(backend, config, file, shard2);
      expect(audit(await contents(backend, config), taken, messages)).toEqual({
        delivered: 90,
        lost: [],
        duplicated: [],
        unexpected: [],
      });
    } finally {
      await backend.close();
    }
  });

  it("moves the stopped worker's retry queue exactly once when killed -9 after-flush", async () => {
    const config = natsConfig('Q');
    const { mainQueueName, consumerName } = config.dispatcher;
    const shard2 = `${config.worker.subQueuePrefix}-2`;
    const retry2 = `${shard2}-retry`;
    const backend = await createNatsBackend({ ...config.nats!, mainQueue: mainQueueName });
    try {
      const messages = ids(90, 'r');
      const file = join(dir, 'move-retry.ini');
      await distributed(backend, config, messages, file);
      // Shard 2's worker took all 30 and rejected 12, waiting in its retry queue.
      const taken = await takeAsWorker(backend, shard2, consumerName, 30);
      expect(taken).toHaveLength(30);
      const rejected = taken.slice(0, 12);
      await rejectsWaiting(backend, shard2, rejected);

      // Batches of 10 from the retry queue alone, flushed to 2 live shards: the third flush
      // is in its second batch.
      await crashedThenDrained(backend, config, file, retry2);
      expect(audit(await contents(backend, config), taken.slice(12), messages)).toEqual({
        delivered: 90,
        lost: [],
        duplicated: [],
        unexpected: [],
      });
    } finally {
      await backend.close();
    }
  });
});
