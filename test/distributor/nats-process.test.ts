import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { countDeliveries, ids, readShards } from './helpers.ts';
import { distributorProcess } from './process-helpers.ts';

let server: NatsServer;
let dir: string;
beforeAll(async () => {
  server = await NatsServer.start();
  dir = await mkdtemp(join(tmpdir(), 'sd-dist-nats-'));
});
afterAll(async () => {
  await server?.dispose();
  await rm(dir, { recursive: true, force: true });
});

let run = 0;

/** A config on streams of its own, so the cases never see each other's messages. */
function natsConfig(): DistributorConfig {
  const id = `R${process.pid}N${++run}`;
  const base = defaultConfig();
  return {
    ...base,
    dispatcher: { ...base.dispatcher, backend: 'nats', mainQueueName: `main${id}`, batchSize: 10 },
    worker: { ...base.worker, subQueuePrefix: `shard${id}` },
    nats: {
      ...defaultNatsConfig(server.url),
      mainStream: `MAIN_${id}`,
      shardStream: `SHARDS_${id}`,
    },
  };
}

async function backendFor(config: DistributorConfig): Promise<QueueBackend> {
  return createNatsBackend({ ...config.nats!, mainQueue: config.dispatcher.mainQueueName });
}

function shardContents(
  backend: QueueBackend,
  config: DistributorConfig,
): Promise<Map<number, string[]>> {
  return readShards(backend, config.worker.subQueuePrefix, config.dispatcher.minWorkers);
}

/**
 * Produces `messages`, runs a distributor that kills itself at `failpoint`, leaves it down for
 * `downMs`, then runs one until the main queue is empty. Says how many copies the shards held
 * when it crashed and what the second one logged.
 */
async function crashThenRecover(
  config: DistributorConfig,
  backend: QueueBackend,
  messages: readonly string[],
  failpoint: string,
  downMs = 0,
): Promise<{ storedAtCrash: number; output: string }> {
  const file = join(dir, `${config.dispatcher.mainQueueName}.ini`);
  await writeFile(file, renderIni(config));
  const producer = await backend.openWriter(config.dispatcher.mainQueueName);
  await producer.append(messages.map((m) => Buffer.from(m)));
  await producer.flush();
  const crashing = distributorProcess(file, { SD_FAILPOINT: failpoint });
  expect((await crashing.exited).signal).toBe('SIGKILL');
  let storedAtCrash = 0;
  for (let i = 0; i < config.dispatcher.minWorkers; i++)
    storedAtCrash += await backend.backlog(`${config.worker.subQueuePrefix}-${i}`, 'not-yet');
  await new Promise((resolve) => setTimeout(resolve, downMs));

  const survivor = distributorProcess(file);
  await eventually(
    async () =>
      expect(
        await backend.backlog(config.dispatcher.mainQueueName, config.dispatcher.consumerName),
      ).toBe(0),
    { timeoutMs: 30_000 },
  );
  survivor.child.kill('SIGTERM');
  expect((await survivor.exited).code).toBe(0);
  return { storedAtCrash, output: survivor.output() };
}

const everyOnce = (count: number) => ({
  delivered: count,
  lost: [],
  duplicated: [],
  unexpected: [],
});

describe('the distributor process on the nats backend', () => {
  it.each(PROTOCOL_STEPS)('loses and duplicates nothing when killed -9 %s', async (step) => {
    const config = natsConfig();
    const backend = await backendFor(config);
    try {
      const messages = ids(64, step);
      await crashThenRecover(config, backend, messages, `${step}:3`);
      expect(countDeliveries(await shardContents(backend, config), messages)).toEqual(
        everyOnce(64),
      );
    } finally {
      await backend.close();
    }
  });

  it('stores nothing twice when it comes back after the duplicate window', async () => {
    const config = natsConfig();
    // Streams whose duplicate window (1 s) is over before the distributor is back.
    const backend = await createNatsBackend({
      ...config.nats!,
      mainQueue: config.dispatcher.mainQueueName,
      duplicateWindowMs: 1_000,
    });
    try {
      const messages = ids(64, 'late');
      // Killed in its first batch, after some shards stored their copies, before the commit.
      const { storedAtCrash, output } = await crashThenRecover(
        config,
        backend,
        messages,
        'after-flush:3',
        2_000,
      );
      expect(storedAtCrash).toBeGreaterThan(0);
      expect(countDeliveries(await shardContents(backend, config), messages)).toEqual(
        everyOnce(64),
      );
      expect(output).toMatch(/not copied again/);
    } finally {
      await backend.close();
    }
  });

  it('copies every message of a main stream deleted and created again, though its sequences start over', async () => {
    const config = natsConfig();
    const { mainQueueName, consumerName } = config.dispatcher;
    const file = join(dir, `${mainQueueName}.ini`);
    await writeFile(file, renderIni(config));
    /** Produces `messages` on a backend of its own and distributes them with a process. */
    const distribute = async (messages: readonly string[]) => {
      const backend = await backendFor(config);
      try {
        const producer = await backend.openWriter(mainQueueName);
        await producer.append(messages.map((m) => Buffer.from(m)));
        await producer.flush();
        const distributor = distributorProcess(file);
        await eventually(
          async () => expect(await backend.backlog(mainQueueName, consumerName)).toBe(0),
          { timeoutMs: 30_000 },
        );
        distributor.child.kill('SIGTERM');
        expect((await distributor.exited).code).toBe(0);
      } finally {
        await backend.close();
      }
    };
    const before = ids(40, 'old');
    await distribute(before);
    // Deleted with its consumer (a `nats stream rm`, a storage reset) and created again by
    // the next producer, well within the shard stream's duplicate window: its messages are
    // numbered from 1 again, as the ones already copied were.
    const nc = await connect({ servers: server.url });
    try {
      await (await jetstreamManager(nc)).streams.delete(config.nats!.mainStream);
    } finally {
      await nc.close();
    }
    const after = ids(40, 'new');
    await distribute(after);

    const backend = await backendFor(config);
    try {
      expect(countDeliveries(await shardContents(backend, config), [...before, ...after])).toEqual(
        everyOnce(80),
      );
    } finally {
      await backend.close();
    }
  });

  describe('while it runs', () => {
    /**
     * A distributor process on `config` that has copied `first`; `change` is then done to the
     * server, `second` produced, and every message expected in the shards exactly once.
     */
    async function survives(change: (config: DistributorConfig) => Promise<void>) {
      const config = natsConfig();
      const { mainQueueName, consumerName } = config.dispatcher;
      const file = join(dir, `${mainQueueName}.ini`);
      await writeFile(file, renderIni(config));
      const produce = async (messages: readonly string[]) => {
        const backend = await backendFor(config);
        const producer = await backend.openWriter(mainQueueName);
        await producer.append(messages.map((m) => Buffer.from(m)));
        await producer.flush();
        await backend.close();
      };
      const first = ids(30, 'first');
      const second = ids(30, 'second');
      await produce(first);
      const distributor = distributorProcess(file);
      const backend = await backendFor(config);
      try {
        await eventually(
          async () => expect(await backend.backlog(mainQueueName, consumerName)).toBe(0),
          { timeoutMs: 30_000 },
        );
        await change(config);
        await produce(second);
        await eventually(
          async () => {
            const contents = await shardContents(backend, config);
            expect(countDeliveries(contents, [...first, ...second])).toEqual(everyOnce(60));
          },
          { timeoutMs: 30_000 },
        );
      } finally {
        distributor.child.kill('SIGTERM');
        await backend.close();
      }
      expect((await distributor.exited).code).toBe(0);
      return distributor.output();
    }

    const jsmOf = async <T>(work: (jsm: JetStreamManager) => Promise<T>): Promise<T> => {
      const nc = await connect({ servers: server.url });
      try {
        return await work(await jetstreamManager(nc));
      } finally {
        await nc.close();
      }
    };

    it('reads a main stream deleted and created again from its first message', async () => {
      const output = await survives(async (config) => {
        await jsmOf((jsm) => jsm.streams.delete(config.nats!.mainStream));
      });
      expect(output).toMatch(
        /the stream was deleted and created again; reading it from its first message/,
      );
    });

    it('goes on after its committed position when its consumer alone is deleted', async () => {
      const output = await survives(async (config) => {
        const { mainQueueName, consumerName } = config.dispatcher;
        await jsmOf((jsm) =>
          jsm.consumers.delete(config.nats!.mainStream, `${mainQueueName}_${consumerName}`),
        );
      });
      expect(output).toMatch(
        /the consumer was deleted; created again after its committed position/,
      );
    });
  });
});
