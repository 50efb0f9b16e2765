import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  defaultNatsConfig,
  type DistributorConfig,
} from '../../src/config/index.ts';
import { Distributor } from '../../src/distributor/index.ts';
import { silentLogger } from '../../src/observability/index.ts';
import { createNatsBackend, type QueueBackend } from '../../src/queue/index.ts';
import { NatsServer } from '../harness/nats-server.ts';
import { countDeliveries, ids, readShards } from './helpers.ts';

// On nats an idle distributor waits with a pull that has an expiry: a message wakes it at
// once however long sleep_empty_sec is, and a stop does not wait for the pull to expire.

let server: NatsServer;
beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  await server?.dispose();
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('the idle distributor on the nats backend', () => {
  it('dispatches a message at once after a long idle time, and stops promptly', async () => {
    const id = `W${process.pid}`;
    const base = defaultConfig();
    const config: DistributorConfig = {
      ...base,
      dispatcher: {
        ...base.dispatcher,
        backend: 'nats',
        mainQueueName: `main${id}`,
        minWorkers: 2,
      },
      // A poll would sleep up to 30 s between looks.
      worker: { ...base.worker, subQueuePrefix: `shard${id}`, sleepEmptySec: 30 },
      nats: {
        ...defaultNatsConfig(server.url),
        mainStream: `MAIN_${id}`,
        shardStream: `SHARDS_${id}`,
      },
    };
    const open = (): Promise<QueueBackend> =>
      createNatsBackend({ ...config.nats!, mainQueue: config.dispatcher.mainQueueName });
    const main = await open();
    const shards = await open();
    const audit = await open();
    const writer = await main.openWriter(config.dispatcher.mainQueueName);
    const distributor = await Distributor.open({
      config,
      mainBackend: main,
      shardBackend: shards,
      registry: new Registry(),
      log: silentLogger,
      idleMinMs: 1,
    });
    const stop = new AbortController();
    const running = distributor.run(stop.signal);
    const expected = ids(3);
    const dispatched = async (count: number): Promise<number> => {
      const started = Date.now();
      for (;;) {
        const contents = await readShards(audit, config.worker.subQueuePrefix, 2);
        const total = [...contents.values()].reduce((n, list) => n + list.length, 0);
        if (total >= count) return Date.now() - started;
        if (Date.now() - started > 20_000) throw new Error(`${total} of ${count} dispatched`);
        await pause(10);
      }
    };
    try {
      await writer.append([Buffer.from(expected[0]!)]);
      await writer.flush();
      await dispatched(1);
      // Idle long enough for a backoff poll to sleep seconds between looks.
      await pause(3_000);
      await writer.append([Buffer.from(expected[1]!)]);
      await writer.flush();
      expect(await dispatched(2)).toBeLessThan(500);
      await pause(1_500);
      await writer.append([Buffer.from(expected[2]!)]);
      await writer.flush();
      expect(await dispatched(3)).toBeLessThan(500);

      await pause(300);
      const stopping = Date.now();
      stop.abort();
      await running;
      expect(Date.now() - stopping).toBeLessThan(500);
      const report = countDeliveries(
        await readShards(audit, config.worker.subQueuePrefix, 2),
        expected,
      );
      expect(report).toEqual({ delivered: 3, lost: [], duplicated: [], unexpected: [] });
      expect(
        await main.backlog(config.dispatcher.mainQueueName, config.dispatcher.consumerName),
      ).toBe(0);
    } finally {
      stop.abort();
      await running.catch(() => undefined);
      await distributor.close();
      for (const backend of [main, shards, audit]) await backend.close();
    }
  });
});
