import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  QueueTimeoutError,
  type QueueBackend,
  type QueueConsumer,
  type QueueMessage,
} from '../../../src/queue/index.ts';
import { messageIdOf } from '../../../src/queue/nats/index.ts';
import type { NatsWriter } from '../../../src/queue/nats/writer.ts';
import { NatsServer } from '../../harness/nats-server.ts';
import { natsHarness, retrying, texts, type NatsHarness } from './helpers.ts';

// A server of its own: these tests take it away.
let server: NatsServer;
beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  await server?.dispose();
});

async function drain(consumer: QueueConsumer): Promise<QueueMessage[]> {
  const out: QueueMessage[] = [];
  for (;;) {
    const batch = await retrying(() => consumer.read(100));
    if (batch.messages.length === 0) return out;
    out.push(...batch.messages);
    await retrying(() => consumer.commit(batch.next));
  }
}

describe('nats backend across a server restart', () => {
  let h: NatsHarness;
  beforeEach(async () => {
    h = await natsHarness(server, { requestTimeoutMs: 2_000 });
  });
  afterEach(async () => {
    if (!server.running) await server.restart();
    await h.cleanup();
  });

  it('finishes a flush that the server went away in the middle of, storing each message once', async () => {
    const writer = await h.backend.openWriter('main-shard-0');
    await writer.append(texts('a', 200));
    await writer.flush();
    await writer.append(texts('b', 300));
    const flushing = writer.flush();
    await server.restart({ crash: true });
    await flushing;
    // And a crash while publishes are on the wire, wherever they are.
    await writer.append(texts('c', 1000));
    const again = writer.flush();
    await server.restart({ crash: true });
    await again;

    const consumer = await h.backend.openConsumer('main-shard-0', 'worker');
    const got = (await drain(consumer)).map((m) => m.data.toString());
    const want = [...texts('a', 200), ...texts('b', 300), ...texts('c', 1000)].map((b) =>
      b.toString(),
    );
    expect(got.length).toBe(want.length);
    expect(new Set(got)).toEqual(new Set(want));
    expect(await writer.countSince({ ...writer.mark(), seq: 0 })).toBe(1500);
  });

  it('closes within its request timeout when the server has stopped answering', async () => {
    const writer = await h.backend.openWriter('main-shard-0');
    await writer.append(texts('a', 10));
    await writer.flush();
    const consumer = await h.backend.openConsumer('main-shard-0', 'worker');
    await consumer.read(10);
    server.freeze();
    try {
      // Before, the drain waited until the client's pings gave the server up (tens of
      // seconds): a stop outlasted a pod's grace period and ended in SIGKILL.
      let timer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([
        h.backend.close().then(() => 'closed'),
        new Promise((resolve) => (timer = setTimeout(() => resolve('still closing'), 15_000))),
      ]);
      clearTimeout(timer);
      expect(closed).toBe('closed');
    } finally {
      server.freeze(false);
    }
  });

  it('commits a batch read before the restart and loses nothing after it', async () => {
    const writer = await h.backend.openWriter('main');
    await writer.append(texts('m', 300));
    await writer.flush();
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const batch = await consumer.read(100);
    await server.restart({ crash: true });
    await retrying(() => consumer.commit(batch.next));
    const rest = await drain(consumer);
    expect([...batch.messages, ...rest].map((m) => m.data.toString())).toEqual(
      texts('m', 300).map((b) => b.toString()),
    );
    expect(await retrying(() => h.backend.backlog('main', 'distributor'))).toBe(0);
  });

  it('reports a stopped server as a retryable timeout, then reads on from the committed position', async () => {
    const writer = await h.backend.openWriter('main');
    await writer.append(texts('m', 5));
    await writer.flush();
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const batch = await consumer.read(2);
    await consumer.commit(batch.next);
    await consumer.read(1);
    await server.stop();
    const error = await consumer.read(10).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueTimeoutError);
    expect((error as QueueTimeoutError).retryable).toBe(true);
    await expect(consumer.backlog()).rejects.toBeInstanceOf(QueueTimeoutError);
    await server.restart();
    // A failed read rewinds: m-3 was read but not committed, so it comes again.
    const rest = await drain(consumer);
    expect(rest.map((m) => m.data.toString())).toEqual(['m-3', 'm-4', 'm-5']);
  });

  it('moves every message to exactly one shard when the distributor dies mid-batch and the server restarts', async () => {
    const producer = await h.backend.openWriter('main');
    await producer.append(texts('m', 600));
    await producer.flush();

    /** One distributor run: read, route, publish with msgIDs, commit; stops after `batches`. */
    async function distribute(backend: QueueBackend, batches: number, commitLast: boolean) {
      // A restarted distributor retries its start-up too: JetStream may still be recovering.
      const main = await retrying(() => backend.openConsumer('main', 'distributor'));
      const shards: NatsWriter[] = [];
      for (const i of [0, 1, 2]) {
        shards.push((await retrying(() => backend.openWriter(`main-shard-${i}`))) as NatsWriter);
      }
      for (let n = 0; n < batches; n++) {
        const batch = await retrying(() => main.read(50));
        if (batch.messages.length === 0) return;
        // Routing differs between runs (by run and batch), as a load-based strategy may.
        for (const [i, shard] of shards.entries()) {
          const mine = batch.messages.filter((m, k) => (k + n + batches) % 3 === i);
          await shard.append(
            mine.map((m) => m.data),
            { ids: mine.map((m) => messageIdOf(m.position)) },
          );
          await retrying(() => shard.flush());
        }
        if (n === batches - 1 && !commitLast) return;
        await retrying(() => main.commit(batch.next));
      }
    }

    const first = await h.backendWith();
    await distribute(first, 4, false);
    await first.close();
    await server.restart({ crash: true });
    await distribute(await retrying(() => h.backendWith()), 100, true);

    const seen: string[] = [];
    for (const i of [0, 1, 2]) {
      const worker = await retrying(() => h.backend.openConsumer(`main-shard-${i}`, 'worker'));
      seen.push(...(await drain(worker)).map((m) => m.data.toString()));
    }
    expect(seen.length).toBe(600);
    expect(new Set(seen)).toEqual(new Set(texts('m', 600).map((b) => b.toString())));
    expect(await retrying(() => h.backend.backlog('main', 'distributor'))).toBe(0);
  });
});
