import type { Logger } from '../observability/index.ts';
import { QueueNotFoundError, type QueueBackend, type QueueConsumer } from '../queue/index.ts';

const LOOK_INTERVAL_MS = 1_000;

/** The queue `shard-distributor dlq replay` fills: `<main queue>-replay`, beside the shard queues. */
export function replayQueueName(mainQueue: string): string {
  return `${mainQueue}-replay`;
}

/**
 * Dead letters put back by `dlq replay`: a second source the loop reads like the main queue
 * (same routing, same journalled protocol), so each replayed message lands in one shard once.
 * The queue exists only after a first replay; until then it is looked for at each load
 * measurement.
 */
export class ReplaySource {
  readonly queue: string;
  private readonly backend: QueueBackend;
  private readonly consumerName: string;
  private readonly log: Logger;
  private current: QueueConsumer | undefined;
  /** The last read found nothing: not read again until it has something new. */
  private empty = false;
  /** When the queue was last looked for or checked for news (replays are rare: not every load refresh). */
  private lookedAt = Number.NEGATIVE_INFINITY;

  constructor(options: {
    backend: QueueBackend;
    mainQueue: string;
    consumerName: string;
    log: Logger;
  }) {
    this.backend = options.backend;
    this.queue = replayQueueName(options.mainQueue);
    this.consumerName = options.consumerName;
    this.log = options.log;
  }

  /** The consumer to read now, if the queue exists and may hold messages. */
  pending(): QueueConsumer | undefined {
    return this.empty ? undefined : this.current;
  }

  hasWork(): boolean {
    return this.current !== undefined && !this.empty;
  }

  /** After a read: whether it found nothing. */
  readFound(anything: boolean): void {
    this.empty = !anything;
  }

  /**
   * At a load measurement, at most once a second: open the queue once it exists; re-arm when
   * it has new messages.
   */
  async refresh(): Promise<void> {
    if (this.current && !this.empty) return;
    const now = Date.now();
    if (now - this.lookedAt < LOOK_INTERVAL_MS) return;
    this.lookedAt = now;
    if (!this.current) {
      try {
        this.current = await this.backend.openConsumer(this.queue, this.consumerName);
        this.empty = false;
        this.log.info({ queue: this.queue }, 'reading replayed dead letters');
      } catch (error) {
        if (!(error instanceof QueueNotFoundError)) throw error;
      }
      return;
    }
    if (this.empty && (await this.current.hasNew())) this.empty = false;
  }

  /** After a failure: reopened at the next refresh, from its committed position. */
  async reset(): Promise<void> {
    await this.current?.close().catch(() => undefined);
    this.current = undefined;
    this.lookedAt = Number.NEGATIVE_INFINITY;
  }

  async close(): Promise<void> {
    await this.current?.close();
    this.current = undefined;
  }
}
