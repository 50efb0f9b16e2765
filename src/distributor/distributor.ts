import type { Registry } from 'prom-client';
import { restartKeys, withLiveKeys, type DistributorConfig } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import {
  messageIdOf,
  QueueNotFoundError,
  type QueueBackend,
  type QueueConsumer,
  type QueueMessage,
  type QueuePosition,
  type ReadBatch,
} from '../queue/index.ts';
import { Backoff, sleep } from './backoff.ts';
import { noFailpoint, type Failpoint } from './failpoints.ts';
import { batchDigest, type BatchJournal, type JournalEntry } from './journal.ts';
import { JournalMismatchError } from './errors.ts';
import { LoadTracker, type LoadReport } from './load.ts';
import { distributorMetrics, type DistributorMetrics } from './metrics.ts';
import { ShardTable } from './shard-table.ts';
import {
  createStrategy,
  firstKeyOf,
  keyFromHeader,
  keyFromJsonField,
  keyFromVedaIndividual,
  type Strategy,
} from './strategies/index.ts';

export interface DistributorOptions {
  config: DistributorConfig;
  /** Where the main queue is (veda: the base path; nats: the server). */
  mainBackend: QueueBackend;
  /** Where the shard queues are (veda: the worker base path; nats: the same server). */
  shardBackend: QueueBackend;
  registry: Registry;
  log: Logger;
  /** The batch journal (veda); a backend that drops replayed writes itself (nats) needs none. */
  journal?: BatchJournal;
  failpoint?: Failpoint;
  random?: () => number;
  now?: () => number;
  /** Delays of the write retry and of the idle poll, for tests. */
  retryMinMs?: number;
  retryMaxMs?: number;
  idleMinMs?: number;
}

/**
 * The fan-out loop: read a batch from the main queue → choose a shard per message →
 * (journal) → append to the shard queues → make them durable → commit the main position.
 * A failed write is retried with backoff and never skipped; a crash at any step is finished
 * from the journal at the next start, so every message lands in exactly one shard once.
 */
export class Distributor {
  readonly metrics: DistributorMetrics;
  private config: DistributorConfig;
  private readonly options: DistributorOptions;
  private readonly log: Logger;
  private readonly shards: ShardTable;
  private readonly load: LoadTracker;
  private readonly failpoint: Failpoint;
  private strategy: Strategy;
  private main!: QueueConsumer;
  private started = false;

  private constructor(options: DistributorOptions) {
    this.options = options;
    this.config = options.config;
    this.log = options.log;
    this.failpoint = options.failpoint ?? noFailpoint;
    this.metrics = distributorMetrics(options.registry);
    this.shards = new ShardTable(options.shardBackend, options.config);
    this.strategy = this.makeStrategy(options.config);
    this.load = new LoadTracker({
      shards: this.shards,
      backend: options.shardBackend,
      metrics: this.metrics,
      workerConsumer: options.config.dispatcher.consumerName,
      stuckAfterMs: options.config.dispatcher.stuckAfterSec * 1000,
      now: options.now ?? Date.now,
      log: options.log,
    });
  }

  /** Opens the main consumer and the shard writers, and finishes a batch a crash interrupted. */
  static async open(options: DistributorOptions, signal?: AbortSignal): Promise<Distributor> {
    const distributor = new Distributor(options);
    distributor.main = await distributor.openMain(signal);
    await distributor.shards.apply(options.config);
    await distributor.recover();
    await distributor.load.refresh(distributor.main);
    distributor.started = true;
    return distributor;
  }

  /**
   * The main queue may not exist yet (its producer starts later): wait for it, saying so once,
   * rather than exit and crash-loop.
   */
  private async openMain(signal?: AbortSignal): Promise<QueueConsumer> {
    const { mainQueueName, consumerName } = this.config.dispatcher;
    const wait = new Backoff(this.options.idleMinMs ?? 100, 5_000);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.options.mainBackend.openConsumer(mainQueueName, consumerName);
      } catch (error) {
        if (!(error instanceof QueueNotFoundError) || signal?.aborted) throw error;
        if (attempt === 1)
          this.log.warn(
            { queue: mainQueueName, reason: error.message },
            'waiting for the main queue to appear',
          );
        await sleep(wait.next(), signal);
      }
    }
  }

  private makeStrategy(config: DistributorConfig): Strategy {
    const { strategy, keyField } = config.dispatcher;
    // key_field names a header (nats) or a top-level field of a JSON payload; without it the
    // key is the Veda individual's URI.
    const keyOf = keyField
      ? firstKeyOf(keyFromHeader(keyField), keyFromJsonField(keyField))
      : keyFromVedaIndividual;
    return createStrategy(strategy, { random: this.options.random ?? Math.random, keyOf });
  }

  /** Runs until the signal fires; the batch in flight is finished and committed first. */
  async run(signal: AbortSignal): Promise<void> {
    const idle = new Backoff(
      this.options.idleMinMs ?? 5,
      Math.max(5, this.config.worker.sleepEmptySec * 1000),
    );
    let paused = false;
    while (!signal.aborted) {
      if (this.shards.live().length === 0) {
        // min_workers = 0 (the operator drains a ShardDistributor being deleted): the main
        // queue keeps every message until a live shard exists again.
        if (!paused)
          this.log.warn('no live shard: distribution paused, the main queue keeps its messages');
        paused = true;
        await this.load.refreshIfDue(this.main);
        await sleep(idle.next(), signal);
        continue;
      }
      if (paused) this.log.info('live shards again: distribution resumed');
      paused = false;
      const batch = await this.main.read(this.config.dispatcher.batchSize);
      if (batch.messages.length === 0) {
        if (!samePosition(batch.next, this.main.committed())) await this.main.commit(batch.next);
        await this.waitForMessages(idle, signal);
        continue;
      }
      idle.reset();
      await this.moveBatch(batch, signal);
    }
    this.log.info({ committed: this.main.committed() }, 'distributor stopped');
  }

  private async waitForMessages(idle: Backoff, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !(await this.main.hasNew())) {
      await this.load.refreshIfDue(this.main);
      await sleep(idle.next(), signal);
    }
  }

  private async moveBatch(batch: ReadBatch, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const data = batch.messages.map((m) => m.data);
    const assignment = this.strategy.assign(
      batch.messages.map((m) =>
        m.headers ? { data: m.data, headers: m.headers } : { data: m.data },
      ),
      this.shards.views(),
    );
    const groups = groupByShard(assignment);
    const entry: JournalEntry = {
      version: 1,
      from: batch.from,
      next: batch.next,
      count: data.length,
      digest: batchDigest(data),
      assignment,
      shards: [...groups.keys()].map((index) => {
        const shard = this.shards.get(index);
        if (!shard?.writer) throw new Error(`shard ${index} has no writer`);
        return { index, queue: shard.queue, mark: shard.writer.mark() };
      }),
    };
    await this.options.journal?.write(entry);
    this.failpoint('after-journal');
    await this.writeShards(entry, batch.messages, signal);
    if (signal.aborted && !(await this.allWritten(entry, batch.messages))) return;
    await this.main.commit(batch.next);
    this.failpoint('after-commit');
    await this.options.journal?.clear();
    this.failpoint('after-clear');
    for (const [index, indices] of groups) this.load.dispatched(index, indices.length);
    this.metrics.batchSize.observe(data.length);
    this.metrics.commitLatency.observe((performance.now() - started) / 1000);
    await this.load.refreshIfDue(this.main);
  }

  /**
   * Appends each shard's part of the batch and flushes it. On a failure the shard's writer is
   * reopened and only what is not yet durable (countSince the journalled mark) is written
   * again, after a backoff — until it succeeds or the distributor is stopped.
   */
  private async writeShards(
    entry: JournalEntry,
    messages: readonly QueueMessage[],
    signal: AbortSignal,
    recovering = false,
  ): Promise<void> {
    const retry = new Backoff(this.options.retryMinMs ?? 100, this.options.retryMaxMs ?? 5_000);
    for (const target of entry.shards) {
      const mine = messages.filter((_, i) => entry.assignment[i] === target.index);
      const own = mine.map((m) => m.data);
      // The main-queue position names a message for good: a deduplicating backend stores a
      // replay of it once, whichever shard the replay is sent to.
      const ids = mine.map((m) => messageIdOf(m.position));
      let writer = await this.shards.writerFor(target.index, target.queue);
      for (let attempt = 1; ; attempt++) {
        try {
          // A first attempt starts from the mark just taken; only a retry or a recovery can
          // find part of the batch already durable.
          const done = attempt === 1 && !recovering ? 0 : await writer.countSince(target.mark);
          if (done < own.length) {
            await writer.append(own.slice(done), { ids: ids.slice(done) });
            this.failpoint('after-append');
            await writer.flush();
          }
          this.failpoint('after-flush');
          break;
        } catch (error) {
          if (isFailpoint(error)) throw error;
          const code = (error as { code?: string }).code ?? 'unknown';
          this.metrics.writeFailures.inc({ queue: target.queue, code });
          this.log.error(
            { err: error, queue: target.queue, attempt },
            'shard write failed; retrying, nothing is skipped',
          );
          if (signal.aborted) return;
          await sleep(retry.next(), signal);
          if (signal.aborted) return;
          writer = await this.reopen(target.index, target.queue);
        }
      }
    }
  }

  private async reopen(index: number, queue: string) {
    try {
      return await this.shards.reopenWriter(index);
    } catch {
      return this.shards.writerFor(index, queue);
    }
  }

  private async allWritten(
    entry: JournalEntry,
    messages: readonly QueueMessage[],
  ): Promise<boolean> {
    for (const target of entry.shards) {
      const expected = messages.filter((_, i) => entry.assignment[i] === target.index).length;
      const writer = await this.shards.writerFor(target.index, target.queue);
      if ((await writer.countSince(target.mark)) < expected) return false;
    }
    return true;
  }

  /** Finishes the batch a crash interrupted: the journal says which message goes where. */
  private async recover(): Promise<void> {
    const entry = await this.options.journal?.read();
    if (!entry) return;
    const committed = this.main.committed();
    if (samePosition(committed, entry.next)) {
      await this.options.journal?.clear();
      this.log.info(
        { next: entry.next },
        'interrupted batch was already committed; journal cleared',
      );
      return;
    }
    if (!samePosition(committed, entry.from)) {
      throw new JournalMismatchError(
        `the batch journal starts at ${JSON.stringify(entry.from)} but the main queue consumer is at ${JSON.stringify(committed)}; ` +
          'someone moved the consumer: check the pop file, then move the journal aside',
      );
    }
    const batch = await this.main.read(entry.count);
    const data = batch.messages.map((m) => m.data);
    if (data.length !== entry.count || batchDigest(data) !== entry.digest) {
      throw new JournalMismatchError(
        `re-reading the interrupted batch gave ${data.length} messages that differ from the ${entry.count} journalled; ` +
          'the main queue changed under the distributor: move the journal aside to resume from the committed position',
      );
    }
    await this.writeShards(entry, batch.messages, new AbortController().signal, true);
    await this.main.commit(entry.next);
    await this.options.journal?.clear();
    for (const [index, indices] of groupByShard(entry.assignment))
      this.load.dispatched(index, indices.length);
    this.metrics.recoveredBatches.inc();
    this.log.warn(
      { messages: entry.count, shards: entry.shards.map((s) => s.queue) },
      'finished a batch interrupted by a crash',
    );
  }

  /** Applies a changed INI: the shard set and the strategy change live; the rest needs a restart. */
  async applyConfig(next: DistributorConfig): Promise<void> {
    const restartNeeded = restartKeys(this.config, next);
    if (restartNeeded.length > 0) {
      this.log.warn(
        { keys: restartNeeded },
        'config change needs a restart to apply; keeping the running values',
      );
    }
    const merged = withLiveKeys(this.config, next);
    const change = await this.shards.apply(merged);
    if (
      merged.dispatcher.strategy !== this.config.dispatcher.strategy ||
      merged.dispatcher.keyField !== this.config.dispatcher.keyField
    ) {
      this.strategy = this.makeStrategy(merged);
    }
    this.config = merged;
    this.load.setStuckAfter(merged.dispatcher.stuckAfterSec * 1000);
    this.log.info({ ...change, live: this.shards.live().map((s) => s.index) }, 'shard set applied');
    await this.load.refresh(this.main);
  }

  /** Measures every shard's backlog now (the loop does it at most every 250 ms). */
  async refreshLoad(): Promise<void> {
    await this.load.refresh(this.main);
  }

  loadReport(): LoadReport {
    return this.load.report();
  }

  get ready(): boolean {
    return this.started;
  }

  async close(): Promise<void> {
    await this.main.close();
    await this.shards.close();
  }
}

function groupByShard(assignment: readonly number[]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  assignment.forEach((shard, i) => {
    const list = groups.get(shard);
    if (list) list.push(i);
    else groups.set(shard, [i]);
  });
  return groups;
}

function samePosition(a: QueuePosition, b: QueuePosition): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function isFailpoint(error: unknown): boolean {
  return (error as { code?: string })?.code === 'SD_ERR_FAILPOINT';
}
