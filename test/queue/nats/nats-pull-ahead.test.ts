import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { QueueTimeoutError, type QueueMessage } from '../../../src/queue/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { NatsServer } from '../../harness/nats-server.ts';
import {
  bodies,
  natsHarness,
  pause,
  readAll,
  retrying,
  texts,
  type NatsHarness,
} from './helpers.ts';

// A read that fills its batch pulls the next one at once; pipelined commits confirm an
// acknowledgement while the next batch moves. Either way a message is handed out in order and
// once per reading, and what was pulled or committed without confirmation is never lost.

// A server of its own: one test stops it.
let server: NatsServer;
let raw: NatsConnection;
let jsm: JetStreamManager;
beforeAll(async () => {
  server = await NatsServer.start();
  raw = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  jsm = await jetstreamManager(raw);
});
afterAll(async () => {
  await raw?.close();
  await server?.dispose();
});

describe('nats pull ahead and pipelined commits', () => {
  let h: NatsHarness;
  beforeEach(async () => {
    h = await natsHarness(server);
  });
  afterEach(async () => {
    if (!server.running) await server.restart();
    await h.cleanup();
  });

  const consumerInfo = () => jsm.consumers.info(h.options.mainStream, 'main_distributor');
  const gapWarnings = () => h.logs.filter((l) => l.msg.startsWith('unexpected delivery'));

  async function produce(count: number): Promise<void> {
    const writer = await h.backend.openWriter('main');
    await writer.append(texts('m', count));
    await writer.flush();
  }

  it('pulls the next batch as soon as a read fills its batch, and hands it out next', async () => {
    await produce(30);
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const first = await consumer.read(10);
    expect(bodies(first.messages)).toEqual(texts('m', 10).map(String));
    // Before any other call: the next ten are already delivered (and unacknowledged).
    await eventually(async () => expect((await consumerInfo()).num_ack_pending).toBe(20), {
      description: 'the pull ahead delivered',
    });
    await consumer.commit(first.next);
    expect((await consumerInfo()).ack_floor.stream_seq).toBe(10);
    expect(bodies((await consumer.read(10)).messages)).toEqual(texts('m', 10, 11).map(String));
    expect(bodies(await readAll(consumer))).toEqual(texts('m', 10, 21).map(String));
    expect(gapWarnings()).toEqual([]);
  });

  it('leaves what it pulled ahead to the next reader when it dies, nothing lost or doubled', async () => {
    await produce(30);
    const dying = await h.backendWith();
    const first = await dying.openConsumer('main', 'distributor');
    const batch = await first.read(10);
    await first.commit(batch.next);
    // Read, not committed; and ten more pulled ahead behind it.
    expect(bodies((await first.read(10)).messages)).toEqual(texts('m', 10, 11).map(String));
    await eventually(async () => expect((await consumerInfo()).num_ack_pending).toBe(20), {
      description: 'the pull ahead delivered',
    });
    await dying.close();

    const next = await h.backend.openConsumer('main', 'distributor');
    const rest = await readAll(next);
    expect(bodies(rest)).toEqual(texts('m', 20, 11).map(String));
    await next.commit(rest.at(-1)!.position);
    expect(await next.backlog()).toBe(0);
  });

  it('rewinds to the committed position with a pull ahead in flight, without a gap or a repeat', async () => {
    await produce(200);
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const committed: string[] = [];
    for (let round = 0; committed.length < 200; round++) {
      const batch = await consumer.read(10);
      expect(batch.messages.length).toBeGreaterThan(0);
      expect(batch.from).toEqual(consumer.committed());
      if (round % 2 === 0) {
        // Given back while the pull ahead is on its way: the reset must not race it.
        await consumer.rewind();
        continue;
      }
      committed.push(...bodies(batch.messages));
      await consumer.commit(batch.next);
    }
    expect(committed).toEqual(texts('m', 200).map(String));
    expect((await consumer.read(10)).messages).toEqual([]);
    expect(await consumer.backlog()).toBe(0);
    expect(gapWarnings()).toEqual([]);
  });

  it('hands out pulled-ahead messages once when JetStream redelivers them after ack_wait', async () => {
    const backend = await h.backendWith({ ackWaitMs: 1_000 });
    await produce(20);
    const consumer = await backend.openConsumer('main', 'distributor');
    const first = await consumer.read(10);
    // m-11..m-20 are pulled ahead; they outlive ack_wait unacknowledged.
    await pause(1_500);
    await consumer.commit(first.next);
    const second = await consumer.read(10);
    expect(bodies(second.messages)).toEqual(texts('m', 10, 11).map(String));
    const again: QueueMessage[] = [];
    await eventually(
      async () => {
        again.push(...(await consumer.read(10)).messages);
        const info = await consumerInfo();
        // Redelivered: more deliveries than the twenty messages.
        if (info.delivered.consumer_seq < 30) {
          throw new Error(`${info.delivered.consumer_seq} deliveries`);
        }
      },
      { description: 'JetStream redelivering the pulled-ahead messages' },
    );
    expect(again).toEqual([]);
    await consumer.commit(second.next);
    expect((await consumer.read(10)).messages).toEqual([]);
    expect(await consumer.backlog()).toBe(0);
    expect(gapWarnings()).toEqual([]);
  });

  it('confirms a pipelined commit by close: the next reader starts after it', async () => {
    const backend = await h.backendWith({ pipelineCommits: true });
    await produce(12);
    const consumer = await backend.openConsumer('main', 'distributor');
    const batch = await consumer.read(10);
    await consumer.commit(batch.next);
    expect(consumer.committed()).toEqual(batch.next);
    await consumer.close();
    expect((await consumerInfo()).ack_floor.stream_seq).toBe(10);

    const next = await h.backend.openConsumer('main', 'distributor');
    expect(bodies(await readAll(next))).toEqual(['m-11', 'm-12']);
  });

  it('fails the next call when a pipelined acknowledgement is lost, and gives back its batch', async () => {
    const backend = await h.backendWith({ pipelineCommits: true, requestTimeoutMs: 1_000 });
    await produce(20);
    const consumer = await backend.openConsumer('main', 'distributor');
    const batch = await consumer.read(10);
    await server.stop();
    // Pipelined: the commit does not wait for the server that is not there.
    const started = Date.now();
    await consumer.commit(batch.next);
    expect(Date.now() - started).toBeLessThan(500);
    // Going idle confirms it: unconfirmed, with no server to ask, that is a retryable timeout.
    const idle = await consumer.waitForNew(100).catch((e: unknown) => e);
    expect(idle).toBeInstanceOf(QueueTimeoutError);
    await server.restart();
    await retrying(() => consumer.rewind(), { pauseMs: 100 });
    // Where the server's ack floor is now (the acknowledgement may have been sent on
    // reconnect, or not): reading on from there gives every later message, once, in order.
    // The test's own connection reconnects on its own schedule: ask until it answers.
    const floor = (await eventually(() => consumerInfo(), { timeoutMs: 15_000 })).ack_floor
      .stream_seq;
    expect([0, 10]).toContain(floor);
    expect(consumer.committed()).toEqual({ ...batch.next, seq: floor });
    const rest = await retrying(() => readAll(consumer), { pauseMs: 100 });
    expect(bodies(rest)).toEqual(texts('m', 20 - floor, floor + 1).map(String));
    await consumer.commit(rest.at(-1)!.position);
    await consumer.close();
    expect((await consumerInfo()).ack_floor.stream_seq).toBe(20);
  });

  it('acks again a committed batch redelivered because its acknowledgement was lost: nothing stays pending', async () => {
    const backend = await h.backendWith({ pipelineCommits: true, ackWaitMs: 1_000 });
    await produce(10);
    const consumer = await backend.openConsumer('main', 'distributor');
    const batch = await consumer.read(10);
    // The pipelined acknowledgement of this commit never reaches the server (lost in a
    // reconnect); as a removed shard's last batch, no later commit confirms it.
    const request = vi.spyOn(Object.getPrototypeOf(raw) as NatsConnection, 'request');
    request.mockImplementationOnce(() => Promise.reject(new Error('injected: connection lost')));
    await consumer.commit(batch.next);
    request.mockRestore();
    expect((await consumerInfo()).ack_floor.stream_seq).toBe(0);

    // The mover reads on, as the distributor does a source until it is drained: the
    // redelivery after ack_wait is not handed out again, and it is acknowledged.
    await eventually(
      async () => {
        expect((await consumer.read(10)).messages).toEqual([]);
        expect(await backend.backlog('main', 'distributor')).toBe(0);
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    expect((await consumerInfo()).ack_floor.stream_seq).toBe(10);
    await consumer.close();
  });
});
