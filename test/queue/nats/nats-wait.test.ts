import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NatsServer } from '../../harness/nats-server.ts';
import { bodies, natsHarness, pause, readAll, texts, type NatsHarness } from './helpers.ts';

// waitForNew on nats is a pull with `expires` (a long poll): the server answers the moment a
// message is stored, and that delivered message must come out of the next read, once.

let server: NatsServer;
let raw: NatsConnection;
let jsm: JetStreamManager;
beforeAll(async () => {
  server = await NatsServer.start();
  raw = await connect({ servers: server.url });
  jsm = await jetstreamManager(raw);
});
afterAll(async () => {
  await raw?.close();
  await server?.dispose();
});

describe('nats waitForNew: a pull with expiry', () => {
  let h: NatsHarness;
  beforeEach(async () => {
    h = await natsHarness(server);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const consumerInfo = () => jsm.consumers.info(h.options.mainStream, 'main_distributor');

  it('wakes an idle reader at once when a message is stored, without polling', async () => {
    const writer = await h.backend.openWriter('main');
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const waiting = consumer.waitForNew(30_000);
    await pause(300);
    const before = await consumerInfo();
    // One pull waits on the server: no info requests, no repeated pulls.
    expect(before.num_waiting).toBe(1);
    await writer.append(texts('m', 1));
    const stored = Date.now();
    await writer.flush();
    expect(await waiting).toBe(true);
    expect(Date.now() - stored).toBeLessThan(500);
    // Delivered, not acknowledged: still in the backlog until committed.
    const after = await consumerInfo();
    expect(after.num_waiting).toBe(0);
    expect(after.num_ack_pending).toBe(1);
    expect(after.ack_floor.stream_seq).toBe(0);
    expect(await consumer.backlog()).toBe(1);
    expect(await consumer.hasNew()).toBe(true);
    expect(await consumer.waitForNew(30_000)).toBe(true);
  });

  it('returns false when the expiry passes with nothing stored, and leaves no pull behind', async () => {
    await h.backend.openWriter('main');
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const started = Date.now();
    expect(await consumer.waitForNew(400)).toBe(false);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(350);
    expect(took).toBeLessThan(3_000);
    expect((await consumerInfo()).num_waiting).toBe(0);
    expect((await consumer.read(10)).messages).toEqual([]);
  });

  it('hands the waited message out first, then the rest, in order, once; and again after rewind', async () => {
    const writer = await h.backend.openWriter('main');
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const waiting = consumer.waitForNew(30_000);
    await pause(100);
    await writer.append(texts('m', 1));
    await writer.flush();
    expect(await waiting).toBe(true);
    await writer.append(texts('m', 4, 2));
    await writer.flush();

    const first = await consumer.read(2);
    expect(bodies(first.messages)).toEqual(['m-1', 'm-2']);
    expect(first.from).toEqual(consumer.committed());
    expect(first.next).toEqual(first.messages[1]!.position);
    expect(bodies(await readAll(consumer))).toEqual(['m-3', 'm-4', 'm-5']);

    await consumer.rewind();
    const again = await readAll(consumer);
    expect(bodies(again)).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5']);
    await consumer.commit(again.at(-1)!.position);
    expect(await consumer.backlog()).toBe(0);
    expect((await consumerInfo()).ack_floor.stream_seq).toBe(5);
  });

  it('gives a waited message back on rewind before it was read', async () => {
    const writer = await h.backend.openWriter('main');
    const consumer = await h.backend.openConsumer('main', 'distributor');
    await writer.append(texts('m', 2));
    await writer.flush();
    const batch = await consumer.read(1);
    await consumer.commit(batch.next);
    expect(bodies(batch.messages)).toEqual(['m-1']);
    expect(await consumer.waitForNew(5_000)).toBe(true);
    await consumer.rewind();
    expect(bodies(await readAll(consumer))).toEqual(['m-2']);
  });

  it('leaves a waited but unread message to the next reader when closed', async () => {
    const writer = await h.backend.openWriter('main');
    const dying = await h.backendWith();
    const consumer = await dying.openConsumer('main', 'distributor');
    const waiting = consumer.waitForNew(30_000);
    await pause(100);
    await writer.append(texts('m', 3));
    await writer.flush();
    expect(await waiting).toBe(true);
    await consumer.close();
    await dying.close();

    const next = await h.backend.openConsumer('main', 'distributor');
    expect(bodies(await readAll(next))).toEqual(['m-1', 'm-2', 'm-3']);
  });

  it('ends a pending wait at once on abort or close, and the next read loses nothing', async () => {
    const writer = await h.backend.openWriter('main');
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const stop = new AbortController();
    const waiting = consumer.waitForNew(30_000, stop.signal);
    await pause(200);
    let started = Date.now();
    stop.abort();
    expect(await waiting).toBe(false);
    expect(Date.now() - started).toBeLessThan(200);
    await writer.append(texts('m', 2));
    await writer.flush();
    expect(bodies(await readAll(consumer))).toEqual(['m-1', 'm-2']);

    const closing = consumer.waitForNew(30_000);
    await pause(200);
    started = Date.now();
    await consumer.close();
    expect(await closing).toBe(false);
    expect(Date.now() - started).toBeLessThan(200);
  });

  it('loses nothing when an abort races a delivery', async () => {
    const writer = await h.backend.openWriter('main');
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const seen: string[] = [];
    const rounds = 20;
    for (let i = 1; i <= rounds; i++) {
      const stop = new AbortController();
      const waiting = consumer.waitForNew(30_000, stop.signal);
      await pause(20);
      await writer.append(texts('m', 1, i));
      const flushed = writer.flush();
      // Abort while the server is delivering: the message may be in flight to the dropped pull.
      setTimeout(() => stop.abort(), i % 3);
      await flushed;
      await waiting;
      const batch = await consumer.read(10);
      seen.push(...bodies(batch.messages));
      if (batch.messages.length > 0) await consumer.commit(batch.next);
    }
    seen.push(...bodies(await readAll(consumer)));
    expect(seen).toEqual(texts('m', rounds).map(String));
  });

  it('moves every message exactly once through waits and reads while a producer writes', async () => {
    const writer = await h.backend.openWriter('main');
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const total = 400;
    const producing = (async () => {
      for (let sent = 0; sent < total;) {
        const count = Math.min(total - sent, 1 + (sent % 7));
        await writer.append(texts('m', count, sent + 1));
        await writer.flush();
        sent += count;
        if (sent % 3 === 0) await pause(5);
      }
    })();
    const seen: string[] = [];
    let waits = 0;
    let rewinds = 0;
    while (seen.length < total) {
      const batch = await consumer.read(16);
      if (batch.messages.length === 0) {
        waits += 1;
        expect(await consumer.waitForNew(10_000)).toBe(true);
        continue;
      }
      // Now and then give back an uncommitted batch: it must come again, whole and in order.
      if (batch.messages.length > 1 && rewinds < 10 && seen.length % 5 === 0) {
        rewinds += 1;
        await consumer.rewind();
        continue;
      }
      seen.push(...bodies(batch.messages));
      await consumer.commit(batch.next);
    }
    await producing;
    expect(waits).toBeGreaterThan(0);
    expect(seen).toEqual(texts('m', total).map(String));
    expect(await consumer.waitForNew(200)).toBe(false);
    expect(await consumer.backlog()).toBe(0);
    expect((await consumerInfo()).ack_floor.stream_seq).toBe(total);
  });
});
