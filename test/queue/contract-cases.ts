import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../harness/eventually.ts';
import {
  QueueClosedError,
  QueuePositionError,
  type QueueBackend,
  type QueueConsumer,
  type QueueMessage,
} from '../../src/queue/index.ts';

/** A fresh, empty backend for one test, and how to dispose of it. */
export interface ContractSubject {
  readonly backend: QueueBackend;
  /** Opens a second backend on the same storage: a restarted process. */
  reopen(): Promise<QueueBackend>;
  cleanup(): Promise<void>;
}

async function readAll(consumer: QueueConsumer, batch = 10): Promise<QueueMessage[]> {
  const out: QueueMessage[] = [];
  for (;;) {
    const { messages } = await consumer.read(batch);
    if (messages.length === 0) return out;
    out.push(...messages);
  }
}

function texts(prefix: string, count: number, from = 1): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(`${prefix}-${from + i}`));
}

function bodies(messages: readonly QueueMessage[]): string[] {
  return messages.map((m) => m.data.toString('utf8'));
}

/**
 * What every backend must do, through the QueueBackend interface only. Queue names are
 * plain (letters, digits, dashes) so that every backend can hold them.
 */
export function queueContract(name: string, make: () => Promise<ContractSubject>): void {
  describe(`${name}: queue contract`, () => {
    let s: ContractSubject;
    beforeEach(async () => {
      s = await make();
    });
    afterEach(async () => {
      await s.cleanup();
    });

    it('delivers every appended message once, in order and byte for byte', async () => {
      const writer = await s.backend.openWriter('q-0');
      const consumer = await s.backend.openConsumer('q-0', 'worker');
      const payloads = [
        Buffer.from('plain'),
        Buffer.alloc(0),
        Buffer.from([0, 255, 13, 10, 0x4d, 0x53, 0x47, 32, 0]),
        Buffer.alloc(4096, 7),
        ...texts('m', 300),
      ];
      await writer.append(payloads);
      await writer.flush();
      const got = await readAll(consumer, 64);
      expect(got.map((m) => m.data)).toEqual(payloads);
      expect((await consumer.read(10)).messages).toEqual([]);
    });

    it('shows nothing of a batch until flush', async () => {
      const writer = await s.backend.openWriter('q-0');
      const consumer = await s.backend.openConsumer('q-0', 'worker');
      await writer.append(texts('m', 3));
      expect(await consumer.hasNew()).toBe(false);
      expect((await consumer.read(10)).messages).toEqual([]);
      await writer.flush();
      // A hint, not a read: JetStream counts a consumer's pending messages a moment after it
      // stores them, so nats may say false for a few milliseconds after the flush.
      await eventually(async () => expect(await consumer.hasNew()).toBe(true), {
        timeoutMs: 5_000,
        intervalMs: 5,
      });
      expect(bodies(await readAll(consumer))).toEqual(['m-1', 'm-2', 'm-3']);
    });

    it('waits for new messages: false after maxWaitMs when idle, true soon after a flush', async () => {
      const writer = await s.backend.openWriter('q-0');
      const consumer = await s.backend.openConsumer('q-0', 'worker');
      let started = Date.now();
      expect(await consumer.waitForNew(300)).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);

      const waiting = consumer.waitForNew(20_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await writer.append(texts('m', 3));
      started = Date.now();
      await writer.flush();
      expect(await waiting).toBe(true);
      expect(Date.now() - started).toBeLessThan(2_000);
      // Once, in order, and again after a rewind.
      expect(bodies(await readAll(consumer))).toEqual(['m-1', 'm-2', 'm-3']);
      await consumer.rewind();
      const again = await readAll(consumer);
      expect(bodies(again)).toEqual(['m-1', 'm-2', 'm-3']);
      await consumer.commit(again.at(-1)!.position);
      expect(await consumer.backlog()).toBe(0);
      expect(await consumer.waitForNew(50)).toBe(false);
    });

    it('ends a wait promptly on abort, and loses nothing by it', async () => {
      const writer = await s.backend.openWriter('q-0');
      const consumer = await s.backend.openConsumer('q-0', 'worker');
      const stop = new AbortController();
      const started = Date.now();
      const waiting = consumer.waitForNew(20_000, stop.signal);
      setTimeout(() => stop.abort(), 100);
      expect(await waiting).toBe(false);
      expect(Date.now() - started).toBeLessThan(1_000);
      // Already aborted: no wait at all (nats may say true once: it rewinds the dropped pull).
      await consumer.waitForNew(20_000, stop.signal);
      expect(Date.now() - started).toBeLessThan(1_000);
      await writer.append(texts('m', 2));
      await writer.flush();
      expect(await consumer.waitForNew(5_000)).toBe(true);
      expect(bodies(await readAll(consumer))).toEqual(['m-1', 'm-2']);
    });

    it('gives batch positions that chain: from, each message, next', async () => {
      const writer = await s.backend.openWriter('q-0');
      const consumer = await s.backend.openConsumer('q-0', 'worker');
      await writer.append(texts('m', 5));
      await writer.flush();
      const first = await consumer.read(2);
      const second = await consumer.read(10);
      expect(first.from).toEqual(consumer.committed());
      expect(first.next).toEqual(first.messages.at(-1)?.position);
      expect(second.from).toEqual(first.next);
      expect(second.next).toEqual(second.messages.at(-1)?.position);
      const empty = await consumer.read(10);
      expect(empty.messages).toEqual([]);
      expect(empty.from).toEqual(second.next);
      expect(empty.next).toEqual(second.next);
    });

    it('resumes after the committed position when the consumer is opened again', async () => {
      const writer = await s.backend.openWriter('q-0');
      await writer.append(texts('m', 6));
      await writer.flush();
      const consumer = await s.backend.openConsumer('q-0', 'worker');
      const batch = await consumer.read(4);
      await consumer.commit(batch.messages[1]!.position);
      expect(consumer.committed()).toEqual(batch.messages[1]!.position);
      await consumer.close();

      const other = await s.reopen();
      const again = await other.openConsumer('q-0', 'worker');
      expect(again.committed()).toEqual(batch.messages[1]!.position);
      expect(bodies(await readAll(again))).toEqual(['m-3', 'm-4', 'm-5', 'm-6']);
    });

    it('reads again what was read but not committed after rewind', async () => {
      const writer = await s.backend.openWriter('q-0');
      const consumer = await s.backend.openConsumer('q-0', 'worker');
      await writer.append(texts('m', 5));
      await writer.flush();
      const batch = await consumer.read(3);
      await consumer.commit(batch.messages[0]!.position);
      await consumer.read(10);
      await consumer.rewind();
      expect(bodies(await readAll(consumer))).toEqual(['m-2', 'm-3', 'm-4', 'm-5']);
    });

    it('accepts a committed position that was read by an earlier process (from a journal)', async () => {
      const writer = await s.backend.openWriter('q-0');
      await writer.append(texts('m', 5));
      await writer.flush();
      const first = await s.backend.openConsumer('q-0', 'worker');
      const batch = await first.read(3);
      const stored = JSON.parse(JSON.stringify(batch.next));
      await first.close();

      const other = await s.reopen();
      const consumer = await other.openConsumer('q-0', 'worker');
      await consumer.commit(stored);
      expect(consumer.committed()).toEqual(stored);
      expect(bodies(await readAll(consumer))).toEqual(['m-4', 'm-5']);
    });

    it('keeps consumers of one queue and of different queues apart', async () => {
      const a = await s.backend.openWriter('q-0');
      const b = await s.backend.openWriter('q-1');
      await a.append(texts('a', 3));
      await b.append(texts('b', 2));
      await a.flush();
      await b.flush();
      const one = await s.backend.openConsumer('q-0', 'one');
      const two = await s.backend.openConsumer('q-0', 'two');
      const same = await s.backend.openConsumer('q-1', 'one');
      const read = await one.read(10);
      await one.commit(read.next);
      expect(bodies(await readAll(two))).toEqual(['a-1', 'a-2', 'a-3']);
      expect(bodies(await readAll(same))).toEqual(['b-1', 'b-2']);
    });

    it('counts the backlog as what is not committed, from inside and outside', async () => {
      const writer = await s.backend.openWriter('q-0');
      const consumer = await s.backend.openConsumer('q-0', 'worker');
      await writer.append(texts('m', 7));
      await writer.flush();
      expect(await consumer.backlog()).toBe(7);
      expect(await s.backend.backlog('q-0', 'worker')).toBe(7);
      const batch = await consumer.read(5);
      expect(await consumer.backlog()).toBe(7);
      await consumer.commit(batch.messages[2]!.position);
      expect(await consumer.backlog()).toBe(4);
      expect(await s.backend.backlog('q-0', 'worker')).toBe(4);
      await consumer.commit(batch.next);
      expect(await s.backend.backlog('q-0', 'worker')).toBe(2);
    });

    it('inspects a queue: messages held, every consumer with its backlog', async () => {
      const writer = await s.backend.openWriter('q-0');
      await writer.append(texts('m', 6));
      await writer.flush();
      const worker = await s.backend.openConsumer('q-0', 'worker');
      await worker.commit((await worker.read(2)).next);
      const stat = await s.backend.inspect('q-0');
      expect(stat).toMatchObject({ queue: 'q-0', backend: s.backend.kind, messages: 6 });
      expect(stat.consumers.map((c) => [c.name, c.backlog])).toEqual([['worker', 4]]);
    });

    it('peeks at what a consumer reads next, moving nothing and registering nothing', async () => {
      const writer = await s.backend.openWriter('q-0');
      await writer.append(texts('m', 5));
      await writer.flush();
      const worker = await s.backend.openConsumer('q-0', 'worker');
      await worker.commit((await worker.read(2)).next);
      expect((await s.backend.peek('q-0', 2, 'worker')).map(String)).toEqual(['m-3', 'm-4']);
      expect((await s.backend.peek('q-0', 10)).map(String)).toEqual([
        'm-1',
        'm-2',
        'm-3',
        'm-4',
        'm-5',
      ]);
      expect(await s.backend.backlog('q-0', 'worker')).toBe(3);
      expect((await s.backend.inspect('q-0')).consumers.map((c) => c.name)).toEqual(['worker']);
      expect(bodies((await worker.read(10)).messages)).toEqual(['m-3', 'm-4', 'm-5']);
    });

    it('counts a consumer that never read the queue from the oldest message', async () => {
      const writer = await s.backend.openWriter('q-0');
      await writer.append(texts('m', 4));
      await writer.flush();
      expect(await s.backend.backlog('q-0', 'nobody')).toBe(4);
    });

    it('reports its durable mark and counts what was flushed since an earlier mark, across restarts', async () => {
      let writer = await s.backend.openWriter('q-0');
      const empty = writer.mark();
      await writer.append(texts('a', 5));
      expect(writer.mark()).toEqual(empty);
      const first = await writer.flush();
      expect(writer.mark()).toEqual(first);
      await writer.close();

      const other = await s.reopen();
      writer = await other.openWriter('q-0');
      expect(writer.mark()).toEqual(first);
      await writer.append(texts('b', 2));
      await writer.flush();
      expect(await writer.countSince(empty)).toBe(7);
      expect(await writer.countSince(JSON.parse(JSON.stringify(first)))).toBe(2);
      expect(await writer.countSince(writer.mark())).toBe(0);
    });

    it('rejects a position or mark of another queue', async () => {
      const a = await s.backend.openWriter('q-0');
      const b = await s.backend.openWriter('q-1');
      await a.append(texts('a', 1));
      await a.flush();
      const consumer = await s.backend.openConsumer('q-1', 'worker');
      const other = await s.backend.openConsumer('q-0', 'worker');
      const { next } = await other.read(1);
      await expect(consumer.commit(next)).rejects.toBeInstanceOf(QueuePositionError);
      await expect(b.countSince(a.mark())).rejects.toBeInstanceOf(QueuePositionError);
    });

    it('refuses to be used after close', async () => {
      const writer = await s.backend.openWriter('q-0');
      const consumer = await s.backend.openConsumer('q-0', 'worker');
      await writer.close();
      await consumer.close();
      await expect(writer.append(texts('m', 1))).rejects.toBeInstanceOf(QueueClosedError);
      await expect(consumer.read(1)).rejects.toBeInstanceOf(QueueClosedError);
      await s.backend.close();
      await expect(s.backend.openConsumer('q-0', 'worker')).rejects.toBeInstanceOf(
        QueueClosedError,
      );
    });
  });
}
