import type { Logger } from '../observability/index.ts';
import {
  decodeEnvelope,
  type QueueConsumer,
  type QueueMessage,
  type QueuePosition,
  type ReadBatch,
} from '../queue/index.ts';

/**
 * A removed shard's retry queue read as its worker's consumer, each message unwrapped to the
 * payload its envelope carries: what the distributor moves to a live shard is the original
 * message, which that shard's worker handles as new (its attempts start again, at once).
 * The retry queue is the stopped worker's own, so it cannot go to another worker's retry
 * queue: each of those has one writer. Every read of the same position gives the same bytes,
 * so a batch journalled from here is recognised when a crash makes it re-read.
 */
export class RetrySource implements QueueConsumer {
  private readonly consumer: QueueConsumer;
  private readonly log: Logger;

  constructor(consumer: QueueConsumer, log: Logger) {
    this.consumer = consumer;
    this.log = log;
  }

  get queue(): string {
    return this.consumer.queue;
  }

  get name(): string {
    return this.consumer.name;
  }

  async read(max: number): Promise<ReadBatch> {
    const batch = await this.consumer.read(max);
    return { ...batch, messages: batch.messages.map((m) => this.unwrapped(m)) };
  }

  commit(position: QueuePosition): Promise<void> {
    return this.consumer.commit(position);
  }

  committed(): QueuePosition {
    return this.consumer.committed();
  }

  rewind(): Promise<void> {
    return this.consumer.rewind();
  }

  hasNew(): Promise<boolean> {
    return this.consumer.hasNew();
  }

  waitForNew(maxWaitMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.consumer.waitForNew(maxWaitMs, signal);
  }

  backlog(): Promise<number> {
    return this.consumer.backlog();
  }

  close(): Promise<void> {
    return this.consumer.close();
  }

  private unwrapped(message: QueueMessage): QueueMessage {
    try {
      return { ...message, data: decodeEnvelope(message.data).payload };
    } catch (error) {
      // Only the worker writes its retry queue, always in envelopes: this is damage. The bytes
      // move as they are rather than be dropped; the live worker sees what was there.
      this.log.warn(
        { err: error, queue: this.queue, position: message.position },
        'a retry queue message is not an envelope; moved as it is',
      );
      return message;
    }
  }
}
