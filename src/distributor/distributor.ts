import type { Registry } from 'prom-client';
import { restartKeys, withLiveKeys, type DistributorConfig } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import {
  QueueError,
  QueueNotFoundError,
  type QueueBackend,
  type QueueConsumer,
  type ReadBatch,
} from '../queue/index.ts';
import { Backoff, sleep } from './backoff.ts';
import { BatchProtocol, samePosition } from './batch-protocol.ts';
import { noFailpoint, type Failpoint } from './failpoints.ts';
import type { BatchJournal } from './journal.ts';
import { LoadTracker, type LoadReport } from './load.ts';
import { distributorMetrics, type DistributorMetrics } from './metrics.ts';
import { ShardMoves } from './shard-moves.ts';
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
 * Between main batches it moves the backlog of removed shards whose workers are stopped
 * (moving_shards) to live shards, one batch per shard, with the same protocol. A failed write
 * is retried with backoff and never skipped; a crash at any step is finished from the
 * journal at the next start, so every message lands in exactly one live shard once.
 */
export class Distributor {
  readonly metrics: DistributorMetrics;
  private config: DistributorConfig;
  private readonly options: DistributorOptions;
  private readonly log: Logger;
  private readonly shards: ShardTable;
  private readonly load: LoadTracker;
  private readonly protocol: BatchProtocol;
  private readonly moves: ShardMoves;
  private strategy: Strategy;
  private main!: QueueConsumer;
  private started = false;
  /** Set after a failed batch or recovery: rewind and finish the journal before going on. */
  private recoveryPending = false;

  private constructor(options: DistributorOptions) {
    this.options = options;
    this.config = options.config;
    this.log = options.log;
    this.metrics = distributorMetrics(options.registry);
    this.shards = new ShardTable(options.shardBackend, options.config);
    this.strategy = this.makeStrategy(options.config);
    const { consumerName, mainQueueName, stuckAfterSec } = options.config.dispatcher;
    this.load = new LoadTracker({
      shards: this.shards,
      backend: options.shardBackend,
      metrics: this.metrics,
      workerConsumer: consumerName,
      stuckAfterMs: stuckAfterSec * 1000,
      now: options.now ?? Date.now,
      log: options.log,
    });
    this.protocol = new BatchProtocol({
      shards: this.shards,
      load: this.load,
      metrics: this.metrics,
      log: options.log,
      ...(options.journal ? { journal: options.journal } : {}),
      failpoint: options.failpoint ?? noFailpoint,
      mainQueue: mainQueueName,
      retryMinMs: options.retryMinMs ?? 100,
      retryMaxMs: options.retryMaxMs ?? 5_000,
    });
    this.moves = new ShardMoves({
      shards: this.shards,
      backend: options.shardBackend,
      workerConsumer: consumerName,
      log: options.log,
    });
  }

  /** Opens the main consumer and the shard writers, and finishes a batch a crash interrupted. */
  static async open(options: DistributorOptions, signal?: AbortSignal): Promise<Distributor> {
    const distributor = new Distributor(options);
    distributor.main = await distributor.openMain(signal);
    await distributor.shards.apply(options.config);
    try {
      await distributor.recover();
    } catch (error) {
      // A full disk, say: the loop finishes the batch once it can, rather than crash-loop.
      if (!isRetryable(error)) throw error;
      distributor.recoveryPending = true;
      distributor.log.error({ err: error }, 'cannot finish the interrupted batch yet; retrying');
    }
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
        const missing = error instanceof QueueNotFoundError;
        if ((!missing && !isRetryable(error)) || signal?.aborted) throw error;
        if (attempt === 1)
          this.log.warn(
            { queue: mainQueueName, reason: (error as Error).message },
            missing
              ? 'waiting for the main queue to appear'
              : 'cannot open the main queue yet; retrying',
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
    const retry = new Backoff(this.options.retryMinMs ?? 100, this.options.retryMaxMs ?? 5_000);
    while (!signal.aborted) {
      try {
        if (this.recoveryPending) await this.resume();
        paused = await this.turn(idle, paused, signal);
        retry.reset();
      } catch (error) {
        if (!isRetryable(error) || signal.aborted) throw error;
        // A read, the journal or a commit failed (a full disk, a lost server): nothing was
        // skipped; start again from what is committed, finishing the journalled batch.
        this.recoveryPending = true;
        this.metrics.writeFailures.inc({ queue: 'any', code: (error as QueueError).code });
        this.log.error(
          { err: error },
          'queue operation failed; retrying from the committed positions',
        );
        await sleep(retry.next(), signal);
      }
    }
    this.log.info({ committed: this.main.committed() }, 'distributor stopped');
  }

  /** After a failure: forget what was read but not committed, and finish a journalled batch. */
  private async resume(): Promise<void> {
    await this.main.rewind();
    await this.moves.reset();
    await this.recover();
    this.recoveryPending = false;
    this.log.info({ committed: this.main.committed() }, 'resumed after a queue failure');
  }

  /** One turn of the loop; returns whether distribution is paused (no live shard). */
  private async turn(idle: Backoff, paused: boolean, signal: AbortSignal): Promise<boolean> {
    {
      await this.moves.sync();
      if (this.shards.live().length === 0) {
        // min_workers = 0 (the operator drains a ShardDistributor being deleted): the main
        // queue and the moving shards keep every message until a live shard exists again.
        if (!paused)
          this.log.warn('no live shard: distribution paused, the main queue keeps its messages');
        await this.refreshIfDue();
        await sleep(idle.next(), signal);
        return true;
      }
      if (paused) this.log.info('live shards again: distribution resumed');
      // Fair turns: one batch of the main queue, then one of each moving shard.
      let moved = await this.step(this.main, signal);
      for (const source of this.moves.pending()) {
        if (signal.aborted) break;
        const got = await this.step(source.consumer, signal);
        source.empty = !got;
        moved ||= got;
      }
      if (moved) idle.reset();
      else await this.waitForMessages(idle, signal);
      return false;
    }
  }

  /** Reads one batch of `source` and moves it; says whether there was anything to move. */
  private async step(source: QueueConsumer, signal: AbortSignal): Promise<boolean> {
    const batch: ReadBatch = await source.read(this.config.dispatcher.batchSize);
    if (batch.messages.length === 0) {
      if (!samePosition(batch.next, source.committed())) await source.commit(batch.next);
      return false;
    }
    await this.protocol.move(source, batch, this.strategy, signal);
    await this.refreshIfDue();
    return true;
  }

  private async waitForMessages(idle: Backoff, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !this.moves.hasWork() && !(await this.main.hasNew())) {
      await this.refreshIfDue();
      await sleep(idle.next(), signal);
    }
  }

  private async refreshIfDue(): Promise<void> {
    if (await this.load.refreshIfDue(this.main)) this.moves.rearm();
  }

  /**
   * Finishes the batch a crash interrupted. The journal names the queue it was read from: the
   * main queue (also when it names none: a journal from before moves), or a moving shard's
   * queue, re-read as the workers' consumer.
   */
  private async recover(): Promise<void> {
    const entry = await this.options.journal?.read();
    if (!entry) return;
    if (entry.source === undefined || entry.source === this.main.queue) {
      await this.protocol.finish(entry, this.main);
      return;
    }
    const source = await this.options.shardBackend.openConsumer(
      entry.source,
      this.config.dispatcher.consumerName,
    );
    try {
      await this.protocol.finish(entry, source);
    } finally {
      await source.close();
    }
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
    this.log.info(
      {
        ...change,
        live: this.shards.live().map((s) => s.index),
        moving: this.shards.moving().map((s) => s.index),
      },
      'shard set applied',
    );
    await this.refreshLoad();
  }

  /** Measures every shard's backlog now (the loop does it at most every 250 ms). */
  async refreshLoad(): Promise<void> {
    await this.load.refresh(this.main);
    this.moves.rearm();
  }

  loadReport(): LoadReport {
    return this.load.report();
  }

  get ready(): boolean {
    return this.started;
  }

  async close(): Promise<void> {
    await this.moves.close();
    await this.main.close();
    await this.shards.close();
  }
}

function isRetryable(error: unknown): boolean {
  return error instanceof QueueError && error.retryable;
}
