import { jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  QueueFullError,
  QueueNotFoundError,
  unstoredOf,
  type QueueBackend,
  type QueueMessage,
} from '../../../src/queue/index.ts';
import { QueueConflictError, messageIdOf } from '../../../src/queue/nats/index.ts';
import type { NatsWriter } from '../../../src/queue/nats/writer.ts';
import { eventually } from '../../harness/eventually.ts';
import { NatsServer } from '../../harness/nats-server.ts';
import { queueContract } from '../contract-cases.ts';
import { bodies, natsHarness, readAll, texts, writeTo, type NatsHarness } from './helpers.ts';

let server: NatsServer;
let raw: NatsConnection;
beforeAll(async () => {
  server = await NatsServer.start();
  raw = await connect({ servers: server.url });
});
afterAll(async () => {
  await raw?.close();
  await server?.dispose();
});

queueContract('nats', () => natsHarness(server));

describe('nats backend', () => {
  let h: NatsHarness;
  beforeEach(async () => {
    h = await natsHarness(server);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('keeps the main queue in the main stream and shard queues in the shard stream', async () => {
    const main = await h.backend.openWriter('main');
    const shard = await h.backend.openWriter('main-shard-0');
    await main.append(texts('m', 2));
    await shard.append(texts('s', 3));
    await main.flush();
    await shard.flush();
    const jsm = await jetstreamManager(raw);
    const mainInfo = await jsm.streams.info(h.options.mainStream, { subjects_filter: '>' });
    const shardInfo = await jsm.streams.info(h.options.shardStream, { subjects_filter: '>' });
    expect(mainInfo.state.subjects).toEqual({ [`${h.options.mainSubjectPrefix}.main`]: 2 });
    expect(shardInfo.state.subjects).toEqual({
      [`${h.options.shardSubjectPrefix}.main-shard-0`]: 3,
    });
    expect(shardInfo.config.duplicate_window).toBeGreaterThanOrEqual(120_000_000_000);
    expect(shardInfo.config.discard).toBe('new');
  });

  it('stores the headers given with each message, and refuses a headers list of another length', async () => {
    const writer = await h.backend.openWriter('main-shard-0');
    await writer.append(texts('s', 2), { headers: [{ 'X-Trace': 't1' }, undefined] });
    await writer.flush();
    await expect(writer.append(texts('x', 2), { headers: [undefined] })).rejects.toThrow(
      /append got 2 messages but 1 headers/,
    );
    const got = await readAll(await h.backend.openConsumer('main-shard-0', 'audit'));
    expect(got.map((m) => m.headers?.['X-Trace'])).toEqual(['t1', undefined]);
  });

  it('gives what a dead consumer read and never committed to the next one at once', async () => {
    const writer = await h.backend.openWriter('main');
    await writer.append(texts('m', 8));
    await writer.flush();
    const dying = await h.backendWith();
    const first = await dying.openConsumer('main', 'distributor');
    const batch = await first.read(5);
    await first.commit(batch.messages[1]!.position);
    // The process dies: its connection goes away without any ack of m-3..m-5.
    await dying.close();

    const consumer = await h.backend.openConsumer('main', 'distributor');
    expect(bodies((await consumer.read(100)).messages)).toEqual([
      'm-3',
      'm-4',
      'm-5',
      'm-6',
      'm-7',
      'm-8',
    ]);
  });

  it('does not hand out a message twice when JetStream redelivers it after ack_wait', async () => {
    const backend = await h.backendWith({ ackWaitMs: 1_000 });
    const writer = await backend.openWriter('main');
    await writer.append(texts('m', 3));
    await writer.flush();
    const consumer = await backend.openConsumer('main', 'distributor');
    const batch = await consumer.read(10);
    expect(bodies(batch.messages)).toEqual(['m-1', 'm-2', 'm-3']);
    const jsm = await jetstreamManager(raw);
    const again: QueueMessage[] = [];
    await eventually(
      async () => {
        again.push(...(await consumer.read(10)).messages);
        const info = await jsm.consumers.info(h.options.mainStream, 'main_distributor');
        if (info.num_redelivered < 3) throw new Error(`${info.num_redelivered} redelivered`);
      },
      { description: 'JetStream redelivering the held messages' },
    );
    expect(again).toEqual([]);
    await consumer.commit(batch.next);
    expect(await backend.backlog('main', 'distributor')).toBe(0);
  });

  it('drops a replayed publish with the same msgID, even when it goes to another shard', async () => {
    const source = await h.backend.openWriter('main');
    await source.append(texts('m', 4));
    await source.flush();
    const main = await h.backend.openConsumer('main', 'distributor');
    const batch = await main.read(10);
    const ids = batch.messages.map((m) => messageIdOf(m.position));
    expect(new Set(ids).size).toBe(4);

    const shard0 = (await h.backend.openWriter('main-shard-0')) as NatsWriter;
    await shard0.append(
      batch.messages.slice(0, 3).map((m) => m.data),
      { ids: ids.slice(0, 3) },
    );
    await shard0.flush();
    // The distributor restarts before its commit and routes the whole batch differently.
    const restarted = await h.backendWith();
    const shard1 = (await restarted.openWriter('main-shard-1')) as NatsWriter;
    const before = shard1.mark();
    await shard1.append(
      batch.messages.map((m) => m.data),
      { ids },
    );
    await shard1.flush();
    expect(await shard1.countSince(before)).toBe(1);

    const w0 = await restarted.openConsumer('main-shard-0', 'worker');
    const w1 = await restarted.openConsumer('main-shard-1', 'worker');
    expect(bodies(await readAll(w0))).toEqual(['m-1', 'm-2', 'm-3']);
    expect(bodies(await readAll(w1))).toEqual(['m-4']);
  });

  describe('copies stored before a restart, found after any downtime', () => {
    /**
     * Six main messages, the first two committed. Before a crash the distributor had stored
     * copies of batch 1–2 (committed) and of batch 3–5 (not; its shards stored 3, 5 and 4 in
     * that order), between a copy of another source's message and messages without an id.
     */
    async function crashedRun(backend: QueueBackend) {
      await writeTo(backend, 'main', texts('m', 6));
      const main = await backend.openConsumer('main', 'distributor');
      const { messages } = await main.read(6);
      await main.commit(messages[1]!.position);
      const idOf = (i: number) => messageIdOf(messages[i - 1]!.position);
      const copy = async (queue: string, ...which: number[]) => {
        const writer = await backend.openWriter(queue);
        await writer.append(
          which.map((i) => messages[i - 1]!.data),
          { ids: which.map(idOf) },
        );
        await writer.flush();
      };
      await copy('main-shard-0', 1, 2);
      await writeTo(backend, 'main-shard-1', texts('worker-retry', 2));
      await copy('main-shard-1', 3, 5);
      const other = await backend.openWriter('main-shard-2');
      await other.append(texts('moved', 1), { ids: ['main-shard-7:SD_SHARDS:99'] });
      await other.flush();
      await copy('main-shard-0', 4);
      return { idOf, committed: messages[1]!.position, fifth: messages[4]!.position };
    }

    it('names the copies of messages after the committed position, and stops at a committed one', async () => {
      const { idOf, committed, fifth } = await crashedRun(h.backend);
      expect(await h.backend.copiedAfter!(committed)).toEqual(new Set([idOf(3), idOf(4), idOf(5)]));
      // Had batch 3–5 been committed too, nothing would be left to skip.
      expect(await h.backend.copiedAfter!(fifth)).toEqual(new Set());
    });

    it('tells copies of the main stream from those of its earlier incarnation, with or without an epoch in their ids', async () => {
      await writeTo(h.backend, 'main', texts('old', 3));
      const first = await h.backend.openConsumer('main', 'distributor');
      const old = (await first.read(3)).messages;
      await first.close();
      // Copied by a version whose ids carried no epoch, and by this one.
      const unmarked = (seq: number) => `main:${h.options.mainStream}:${seq}`;
      const copies = await h.backend.openWriter('main-shard-0');
      await copies.append(texts('old', 2), { ids: [messageIdOf(old[1]!.position), unmarked(1)] });
      await copies.flush();
      // Deleted and created again: its messages are numbered from 1 again.
      await (await jetstreamManager(raw)).streams.delete(h.options.mainStream);
      const backend = await h.backendWith({});
      await writeTo(backend, 'main', texts('new', 3));
      const main = await backend.openConsumer('main', 'distributor');
      const fresh = (await main.read(3)).messages;
      expect(fresh.map((m) => m.position['seq'])).toEqual([1, 2, 3]);
      // The newest old copy's id has no epoch: it was stored before this stream existed.
      expect(await backend.copiedAfter!(main.committed())).toEqual(new Set());
      // Copies of this incarnation are found whichever form their ids take (the unmarked one
      // of a sequence not copied before: JetStream's duplicate window would drop a second).
      const now = await backend.openWriter('main-shard-1');
      await now.append(texts('new', 2), { ids: [unmarked(3), messageIdOf(fresh[1]!.position)] });
      await now.flush();
      expect(await backend.copiedAfter!(main.committed())).toEqual(
        new Set([unmarked(3), messageIdOf(fresh[1]!.position)]),
      );
    });

    it('finds none in an empty shard stream', async () => {
      await writeTo(h.backend, 'main', texts('m', 1));
      const main = await h.backend.openConsumer('main', 'distributor');
      expect(await h.backend.copiedAfter!(main.committed())).toEqual(new Set());
    });

    it('reads them one by one from a shard stream without direct gets', async () => {
      const shardStream = `${h.options.shardStream}_NODIRECT`;
      const jsm = await jetstreamManager(raw);
      await jsm.streams.add({
        name: shardStream,
        subjects: [`${h.options.shardSubjectPrefix}x.>`],
        allow_direct: false,
      });
      const backend = await h.backendWith({
        shardStream,
        shardSubjectPrefix: `${h.options.shardSubjectPrefix}x`,
      });
      const { idOf, committed } = await crashedRun(backend);
      expect(await backend.copiedAfter!(committed)).toEqual(new Set([idOf(3), idOf(4), idOf(5)]));
    });
  });

  it('reports backlog as pending plus read-but-unacknowledged, without creating consumers', async () => {
    const writer = await h.backend.openWriter('main-shard-0');
    expect(await h.backend.backlog('main-shard-0', 'worker')).toBe(0);
    await writer.append(texts('m', 10));
    await writer.flush();
    expect(await h.backend.backlog('main-shard-0', 'worker')).toBe(10);
    expect(await h.backend.backlog('main-shard-0', 'worker', { startAt: 'current' })).toBe(0);
    const jsm = await jetstreamManager(raw);
    const names: string[] = [];
    for await (const c of jsm.consumers.list(h.options.shardStream)) names.push(c.name);
    expect(names).toEqual([]);

    const consumer = await h.backend.openConsumer('main-shard-0', 'worker');
    const batch = await consumer.read(4);
    // Four read and, a full batch, four more pulled ahead: all delivered, unacknowledged.
    await eventually(async () => {
      const info = await jsm.consumers.info(h.options.shardStream, 'main-shard-0_worker');
      expect([info.num_pending, info.num_ack_pending]).toEqual([2, 8]);
    });
    expect(await h.backend.backlog('main-shard-0', 'worker')).toBe(10);
    await consumer.commit(batch.next);
    expect(await h.backend.backlog('main-shard-0', 'worker')).toBe(6);
  });

  it('starts a new consumer after the last message when asked for current', async () => {
    const writer = await h.backend.openWriter('main');
    await writer.append(texts('old', 3));
    await writer.flush();
    const consumer = await h.backend.openConsumer('main', 'late', { startAt: 'current' });
    expect((await consumer.read(10)).messages).toEqual([]);
    await writer.append(texts('new', 2));
    await writer.flush();
    // A no_wait pull right after the publish ack can find the consumer not yet told of the
    // new messages (seen once in CI): an empty read means "nothing yet", so read until they come.
    const got: string[] = [];
    await eventually(async () => {
      got.push(...bodies(await readAll(consumer)));
      expect(got).toEqual(['new-1', 'new-2']);
    });
  });

  it('reads foreign messages on the main subject as opaque bytes, whatever their headers', async () => {
    const subject = `${h.options.mainSubjectPrefix}.main`;
    const js = (await jetstreamManager(raw)).jetstream();
    const odd = headers();
    odd.set('Nats-Msg-Id', 'main:1');
    odd.set('X-Binary', 'a\u0001b');
    await js.publish(subject, new Uint8Array([0, 1, 2]), { headers: odd });
    // Same msgID again: the producer's own replay, dropped by JetStream, never seen.
    await js.publish(subject, new Uint8Array([9]), { headers: odd });
    await js.publish(`${h.options.mainSubjectPrefix}.other`, 'not ours');
    await js.publish(subject, new Uint8Array());
    await js.publish(subject, 'HMSG x 1 2\r\n\r\n');
    const consumer = await h.backend.openConsumer('main', 'distributor');
    const got = await readAll(consumer);
    expect(got.map((m) => [...m.data])).toEqual([
      [0, 1, 2],
      [],
      [...Buffer.from('HMSG x 1 2\r\n\r\n')],
    ]);
    // Headers come through for routing (KeyHash key_field), the odd one included.
    expect(got[0]!.headers).toMatchObject({ 'Nats-Msg-Id': 'main:1', 'X-Binary': 'a\u0001b' });
    expect(got[1]!.headers).toBeUndefined();
    await consumer.commit(got.at(-1)!.position);
    expect(await consumer.backlog()).toBe(0);
  });

  it('throws QueueFullError when the stream refuses messages, and a later flush stores each once', async () => {
    const jsm = await jetstreamManager(raw);
    await jsm.streams.add({
      name: h.options.shardStream + '_SMALL',
      subjects: [`${h.options.shardSubjectPrefix}x.>`],
      max_msgs: 5,
      discard: 'new',
    });
    const backend = await h.backendWith({
      shardStream: h.options.shardStream + '_SMALL',
      shardSubjectPrefix: `${h.options.shardSubjectPrefix}x`,
    });
    const writer = await backend.openWriter('main-shard-0');
    await writer.append(texts('m', 8));
    const error = await writer.flush().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as QueueFullError).retryable).toBe(true);
    await jsm.streams.update(h.options.shardStream + '_SMALL', { max_msgs: 100 });
    await writer.flush();
    const consumer = await backend.openConsumer('main-shard-0', 'worker');
    expect(bodies(await readAll(consumer))).toEqual(texts('m', 8).map((b) => b.toString()));
  });

  it('says by id what a batch stored with a hole left out: a count would take the hole for the end', async () => {
    const jsm = await jetstreamManager(raw);
    const stream = h.options.shardStream + '_HOLE';
    await jsm.streams.add({
      name: stream,
      subjects: [`${h.options.shardSubjectPrefix}h.>`],
      max_msg_size: 200,
      allow_direct: true,
    });
    const backend = await h.backendWith({
      shardStream: stream,
      shardSubjectPrefix: `${h.options.shardSubjectPrefix}h`,
    });
    const writer = await backend.openWriter('main-shard-0');
    const start = writer.mark();
    // The fifth is too big for the stream: refused alone, the three after it are stored.
    const batch = [...texts('s', 4), Buffer.from('L'.repeat(300)), ...texts('t', 3)];
    const ids = batch.map((_, i) => `hole-${i}`);
    await writer.append(batch, { ids });
    await expect(writer.flush()).rejects.toThrow();

    // What a retry sees, on a writer opened again.
    const again = await backend.openWriter('main-shard-0');
    expect(await again.countSince(start)).toBe(7);
    expect(await unstoredOf(again, start, ids)).toEqual([4]);

    await jsm.streams.update(stream, { max_msg_size: 1024 });
    await again.append([batch[4]!], { ids: [ids[4]!] });
    await again.flush();
    const consumer = await backend.openConsumer('main-shard-0', 'worker');
    expect(bodies(await readAll(consumer)).sort()).toEqual(batch.map(String).sort());
  });

  it('refuses an existing stream whose retention would drop messages the queues still need', async () => {
    const jsm = await jetstreamManager(raw);
    const stream = h.options.shardStream + '_INTEREST';
    await jsm.streams.add({
      name: stream,
      subjects: [`${h.options.shardSubjectPrefix}i.>`],
      retention: 'interest',
    });
    const error = await h
      .backendWith({ shardStream: stream, shardSubjectPrefix: `${h.options.shardSubjectPrefix}i` })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueConflictError);
    expect((error as Error).message).toContain(`stream ${stream} has retention interest`);
  });

  it('refuses a durable consumer of the same name that reads another subject', async () => {
    const jsm = await jetstreamManager(raw);
    await jsm.consumers.add(h.options.shardStream, {
      durable_name: 'main-shard-0_worker',
      filter_subject: `${h.options.shardSubjectPrefix}.elsewhere`,
      ack_policy: 'all',
    });
    await expect(h.backend.openConsumer('main-shard-0', 'worker')).rejects.toBeInstanceOf(
      QueueConflictError,
    );
  });

  it('throws QueueNotFoundError when its stream was deleted', async () => {
    const consumer = await h.backend.openConsumer('main-shard-0', 'worker');
    const jsm = await jetstreamManager(raw);
    await jsm.streams.delete(h.options.shardStream);
    await expect(consumer.backlog()).rejects.toBeInstanceOf(QueueNotFoundError);
    await expect(h.backend.backlog('main-shard-0', 'worker')).rejects.toBeInstanceOf(
      QueueNotFoundError,
    );
  });

  it('rejects queue and consumer names that cannot be subject tokens', async () => {
    await expect(h.backend.openWriter('a.b')).rejects.toBeInstanceOf(RangeError);
    await expect(h.backend.openConsumer('q', 'x*')).rejects.toBeInstanceOf(RangeError);
  });
});
