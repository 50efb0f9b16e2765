import type { Registry } from 'prom-client';
import {
  restartKeys,
  shardQueueOfRetry,
  withLiveKeys,
  type DistributorConfig,
} from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import {
  copiedLookupOf,
  QueueError,
  QueueNotFoundError,
  samePosition,
  type QueueBackend,
  type QueueConsumer,
  type ReadBatch,
  type CachedCopiedLookup,
} from '../queue/index.ts';
import { Backoff, sleep } from './backoff.ts';
import { BatchProtocol, type Route } from './batch-protocol.ts';
import { noFailpoint, type Failpoint } from './failpoints.ts';
import type { BatchJournal } from './journal.ts';
import { LoadTracker, type LoadReport } from './load.ts';
import { distributorMetrics, type DistributorMetrics } from './metrics.ts';
import { PoolLanes, type DeadLetterTarget, type PoolLane } from './pool-lane.ts';
import { DEFAULT_POOL } from './pool-shards.ts';
import { expiredEnvelope } from './dead-letters.ts';
import { Exclusive } from './exclusive.ts';
import { isExpired } from './deadline.ts';
import { ReplaySource } from './replay-source.ts';
import { RetrySource } from './retry-source.ts';
import { PoolRouter } from './routing.ts';
import type { Shard } from './shard-table.ts';

/** The longest single idle wait on the main queue: the load is measured at least this often. */
const MAX_IDLE_WAIT_MS = 1_000;

type TurnOutcome = 'moved' | 'held' | 'paused' | 'empty';

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
 * The fan-out loop: read a batch from the main queue → choose a pool (routing rules) and a
 * shard (the pool's strategy) per message → (journal) → append to the shard queues → make
 * them durable → commit the main position. Between main batches it moves the backlog of
 * removed shards whose workers are stopped (moving_shards) to live shards of the same pool,
 * one batch per shard, with the same protocol. While a pool is full (backpressure) the main
 * queue is not read. A failed write is retried with backoff and never skipped; a crash at any
 * step is finished from the journal at the next start, so every message lands in exactly one
 * live shard once.
 */
export class Distributor {
  readonly metrics: DistributorMetrics;
  private config: DistributorConfig;
  private readonly alreadyCopied: CachedCopiedLookup | undefined;
  private readonly options: DistributorOptions;
  private readonly log: Logger;
  private readonly lanes: PoolLanes;
  private router: PoolRouter;
  private readonly load: LoadTracker;
  private readonly protocol: BatchProtocol;
  private main!: QueueConsumer;
  private readonly replay: ReplaySource;
  /** The pool a held batch waits for (no live shard), logged once per hold. */
  private heldFor: string | undefined;
  private started = false;
  /** Set after a failed batch or recovery: rewind and finish the journal before going on. */
  private recoveryPending = false;
  /** Held by each turn of the loop and by a config change: see applyConfig. */
  private readonly exclusive = new Exclusive();

  private constructor(options: DistributorOptions) {
    this.options = options;
    this.config = options.config;
    this.log = options.log;
    this.metrics = distributorMetrics(options.registry);
    const { consumerName, mainQueueName, stuckAfterSec } = options.config.dispatcher;
    this.lanes = new PoolLanes(
      {
        backend: options.shardBackend,
        workerConsumer: consumerName,
        // A veda worker's move journal sits beside its shard queue (the reference worker's --base).
        ...(options.shardBackend.kind === 'veda'
          ? { workerJournalDir: options.config.worker.workerBasePath }
          : {}),
        random: options.random ?? Math.random,
        log: options.log,
      },
      options.config,
    );
    this.router = routerFor(options.config);
    this.replay = new ReplaySource({
      backend: options.shardBackend,
      mainQueue: mainQueueName,
      consumerName,
      log: options.log,
    });
    this.load = new LoadTracker({
      pools: () => this.lanes.all().map((l) => ({ shards: l.shards, limits: l.policy.limits })),
      backend: options.shardBackend,
      metrics: this.metrics,
      workerConsumer: consumerName,
      stuckAfterMs: stuckAfterSec * 1000,
      now: options.now ?? Date.now,
      log: options.log,
    });
    const alreadyCopied = copiedLookupOf(options.shardBackend);
    this.alreadyCopied = alreadyCopied;
    this.protocol = new BatchProtocol({
      lanes: this.lanes,
      deadLetterWrap: expiredEnvelope(options.now ?? Date.now),
      load: this.load,
      metrics: this.metrics,
      log: options.log,
      ...(options.journal ? { journal: options.journal } : {}),
      ...(alreadyCopied ? { alreadyCopied } : {}),
      failpoint: options.failpoint ?? noFailpoint,
      mainQueue: mainQueueName,
      retryMinMs: options.retryMinMs ?? 100,
      retryMaxMs: options.retryMaxMs ?? 5_000,
    });
  }

  /** Opens the main consumer and the shard writers, and finishes a batch a crash interrupted. */
  static async open(options: DistributorOptions, signal?: AbortSignal): Promise<Distributor> {
    const distributor = new Distributor(options);
    distributor.main = await distributor.openMain(signal);
    await distributor.lanes.apply(options.config);
    await distributor.warnStrandedShards();
    try {
      if (!(await distributor.recover(signal ?? new AbortController().signal))) {
        distributor.recoveryPending = true;
        distributor.log.info(
          'stopped before the interrupted batch was finished; the next start finishes it',
        );
      }
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
   * Shard queues of a pool's prefix that the INI no longer lists, yet hold messages (veda): a
   * restart with a lower min_workers forgets a shard the last run was still draining or
   * moving, and its backlog would wait there with no worker and no mover. Said at start,
   * with what to do; nothing is moved on a guess.
   */
  private async warnStrandedShards(): Promise<void> {
    const backend = this.options.shardBackend;
    const names = (await backend.queues?.().catch(() => undefined)) ?? [];
    for (const lane of this.lanes.all()) {
      const listed = new Set(lane.shards.all().map((s) => s.index));
      const prefix = lane.shards.prefix;
      for (const queue of names) {
        // A shard's queue `<prefix>-<i>`, or its worker's retry queue `<prefix>-<i>-retry`.
        const shardQueue = shardQueueOfRetry(queue) ?? queue;
        const suffix = shardQueue.startsWith(`${prefix}-`)
          ? shardQueue.slice(prefix.length + 1)
          : '';
        if (!/^\d+$/.test(suffix)) continue;
        const index = Number(suffix);
        if (listed.has(index)) continue;
        const backlog = await backend
          .backlog(queue, this.config.dispatcher.consumerName)
          .catch(() => 0);
        if (backlog > 0)
          this.log.warn(
            { pool: lane.name, shard: index, queue, backlog },
            'a shard queue the INI no longer lists holds messages, and nothing reads or moves them: list the shard in draining_shards (its worker drains it) or raise min_workers',
          );
      }
    }
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
            {
              queue: mainQueueName,
              // Where it is looked for: an INI whose base_path the original ignored points elsewhere.
              ...(this.config.dispatcher.backend === 'veda'
                ? { basePath: this.config.dispatcher.basePath }
                : {}),
              reason: (error as Error).message,
            },
            missing
              ? 'waiting for the main queue to appear'
              : 'cannot open the main queue yet; retrying',
          );
        await sleep(wait.next(), signal);
      }
    }
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
        // A config change waits for the turn, the turn for a config change; the idle wait
        // after it holds nothing.
        const outcome = await this.exclusive.run(async () => {
          // Stopped before the journalled batch was finished: it stays for the next start.
          if (this.recoveryPending && !(await this.resume(signal))) return 'empty' as const;
          return this.turn(paused, signal);
        });
        paused = outcome === 'paused';
        retry.reset();
        await this.waitAfter(outcome, idle, signal);
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

  /**
   * After a failure: forget what was read but not committed, and finish a journalled batch.
   * False when `signal` stopped it before the batch was finished.
   */
  private async resume(signal: AbortSignal): Promise<boolean> {
    await this.main.rewind();
    // What was stored but not committed before the failure is not in the answers given so far.
    this.alreadyCopied?.forget();
    for (const lane of this.lanes.all()) await lane.moves.reset();
    await this.replay.reset();
    if (!(await this.recover(signal))) return false;
    this.recoveryPending = false;
    this.log.info({ committed: this.main.committed() }, 'resumed after a queue failure');
    return true;
  }

  /**
   * One turn of the loop: what it moved, 'held' (a pool's limits hold the main queue, or a
   * batch found no live shard of its pool), 'paused' (no live shard at all) or 'empty'.
   */
  private async turn(paused: boolean, signal: AbortSignal): Promise<TurnOutcome> {
    for (const lane of this.lanes.all()) await lane.moves.sync();
    if (this.lanes.all().every((lane) => lane.shards.live().length === 0)) {
      // min_workers = 0 (the operator drains a ShardDistributor being deleted): the main
      // queue and the moving shards keep every message until a live shard exists again.
      if (!paused)
        this.log.warn('no live shard: distribution paused, the main queue keeps its messages');
      return 'paused';
    }
    if (paused) this.log.info('live shards again: distribution resumed');
    // Fair turns: one batch of the main queue (unless a pool is full), then one of each
    // moving shard.
    this.load.weighPressure();
    const pressed = this.load.backpressure().length > 0;
    let moved = false;
    let held = pressed;
    if (!pressed) {
      const outcome = await this.step(this.main, this.routeMain, signal);
      moved = outcome === 'moved';
      held = outcome === 'held';
      const replayed = this.replay.pending();
      if (replayed && !signal.aborted) {
        const again = await this.step(replayed, this.routeMain, signal);
        this.replay.readFound(again !== 'empty');
        moved ||= again === 'moved';
      }
    }
    for (const lane of this.lanes.all()) {
      for (const source of lane.moves.pending()) {
        if (signal.aborted) break;
        const outcome = await this.step(source.consumer, this.routeWithin(lane), signal);
        source.empty = outcome === 'empty';
        moved ||= outcome === 'moved';
      }
    }
    return moved ? 'moved' : held ? 'held' : 'empty';
  }

  /** After a turn: at once if it moved; else a backoff, or until messages come. */
  private async waitAfter(outcome: TurnOutcome, idle: Backoff, signal: AbortSignal): Promise<void> {
    if (outcome === 'moved') {
      idle.reset();
      return;
    }
    if (outcome === 'empty') {
      await this.waitForMessages(idle, signal);
      return;
    }
    await this.exclusive.run(() => this.refreshIfDue());
    await sleep(idle.next(), signal);
  }

  /** Reads one batch of `source` and moves it where `route` says. */
  private async step(
    source: QueueConsumer,
    route: Route,
    signal: AbortSignal,
  ): Promise<'moved' | 'empty' | 'held'> {
    const batch: ReadBatch = await source.read(this.config.dispatcher.batchSize);
    if (batch.messages.length === 0) {
      if (!samePosition(batch.next, source.committed())) await source.commit(batch.next);
      return 'empty';
    }
    const moved = await this.protocol.move(source, batch, route, signal);
    await this.refreshIfDue();
    if (moved && this.heldFor !== undefined) {
      this.log.info({ pool: this.heldFor }, 'pool has live shards again: batch moved');
      this.heldFor = undefined;
    }
    return moved ? 'moved' : 'held';
  }

  /**
   * Main-queue (and replayed) messages: the first pool whose rule matches, else the default
   * pool; a message past its deadline goes to that pool's dead-letter queue instead.
   */
  private readonly routeMain: Route = (messages) => {
    const byPool = new Map<PoolLane, number[]>();
    const targets: (Shard | DeadLetterTarget)[] = new Array(messages.length);
    const now = (this.options.now ?? Date.now)();
    messages.forEach((message, i) => {
      const name = this.router.poolOf(message) ?? DEFAULT_POOL;
      const lane = this.lanes.get(name) ?? this.lanes.get(DEFAULT_POOL)!;
      if (isExpired(message, now)) {
        targets[i] = lane.deadLetters;
        return;
      }
      const list = byPool.get(lane);
      if (list) list.push(i);
      else byPool.set(lane, [i]);
    });
    for (const [lane, indices] of byPool) {
      const chosen = this.assignWithin(
        lane,
        indices.map((i) => messages[i]!),
      );
      if (chosen === undefined) return undefined;
      indices.forEach((messageIndex, k) => (targets[messageIndex] = chosen[k]!));
    }
    return targets;
  };

  /**
   * A moving shard's backlog stays in its pool — unless the pool is being removed (minWorkers
   * 0: it has no live shard, and never will again): then it goes where the pool's messages go
   * now, the next rule or the default pool, as if read from the main queue.
   */
  private routeWithin(lane: PoolLane): Route {
    return (messages) =>
      this.isRetiring(lane) ? this.routeMain(messages) : this.assignWithin(lane, messages);
  }

  private isRetiring(lane: PoolLane): boolean {
    if (lane.name === DEFAULT_POOL) return false;
    return this.config.pools.find((pool) => pool.name === lane.name)?.minWorkers === 0;
  }

  private assignWithin(lane: PoolLane, messages: Parameters<Route>[0]): Shard[] | undefined {
    const live = lane.shards.views();
    if (live.length === 0) {
      if (this.heldFor !== lane.name) {
        this.log.warn(
          { pool: lane.name },
          'a batch has messages for a pool without live shards: held in its queue until one exists',
        );
        this.heldFor = lane.name;
      }
      return undefined;
    }
    return lane.strategy.assign(messages, live).map((index) => lane.shards.get(index)!);
  }

  /**
   * Idle: waits on the main queue itself (nats: a pull with expiry, woken by the first new
   * message), each wait as long as the idle backoff allows and at most MAX_IDLE_WAIT_MS, so
   * the load is measured and moves are picked up between waits; an abort ends a wait at once.
   */
  private async waitForMessages(idle: Backoff, signal: AbortSignal): Promise<void> {
    for (;;) {
      await this.exclusive.run(() => this.refreshIfDue());
      if (
        signal.aborted ||
        this.replay.hasWork() ||
        this.lanes.all().some((lane) => lane.moves.hasWork())
      )
        return;
      const waitMs = Math.min(idle.next(), MAX_IDLE_WAIT_MS);
      if (await this.main.waitForNew(waitMs, signal)) return;
    }
  }

  private async refreshIfDue(): Promise<void> {
    if (await this.load.refreshIfDue(this.main)) {
      this.rearmMoves();
      await this.replay.refresh();
    }
  }

  private rearmMoves(): void {
    for (const lane of this.lanes.all()) lane.moves.rearm();
  }

  /**
   * Finishes the batch a crash interrupted. The journal names the queue it was read from: the
   * main queue (also when it names none: a journal from before moves), or a moving shard's
   * queue or retry queue, re-read as the workers' consumer.
   */
  private async recover(signal: AbortSignal): Promise<boolean> {
    const entry = await this.options.journal?.read();
    if (!entry) return true;
    if (entry.source === undefined || entry.source === this.main.queue) {
      return this.protocol.finish(entry, this.main, signal);
    }
    const opened = await this.options.shardBackend.openConsumer(
      entry.source,
      this.config.dispatcher.consumerName,
    );
    // Re-read as it was read: a retry queue's messages were moved unwrapped.
    const source =
      shardQueueOfRetry(entry.source) === undefined ? opened : new RetrySource(opened, this.log);
    try {
      return await this.protocol.finish(entry, source, signal);
    } finally {
      await source.close();
    }
  }

  /** Applies a changed INI: shard sets, strategies and limits change live; the rest needs a restart. */
  async applyConfig(next: DistributorConfig): Promise<void> {
    // Between turns: a shard drained (or made live) under a batch routed to it would have
    // that batch land in a queue its worker has stopped reading (or read twice).
    await this.exclusive.run(() => this.apply(next));
  }

  /**
   * Sets each pool's moving shards (run mode: removed shards whose workers have stopped), by
   * pool name, on the config applied last when its turn comes — not on one read before it
   * queued: a newer INI applied meanwhile must not be undone by an older shard set.
   */
  async applyMoving(moving: ReadonlyMap<string, readonly number[]>): Promise<void> {
    await this.exclusive.run(() => this.apply(withMoving(this.config, moving)));
  }

  private async apply(next: DistributorConfig): Promise<void> {
    const restartNeeded = restartKeys(this.config, next);
    if (restartNeeded.length > 0) {
      this.log.warn(
        { keys: restartNeeded },
        'config change needs a restart to apply; keeping the running values',
      );
    }
    const merged = withLiveKeys(this.config, next);
    const before = this.lanes.all().flatMap((lane) => lane.shards.all());
    const changes = await this.lanes.apply(merged);
    const after = new Set(this.lanes.all().flatMap((lane) => lane.shards.all()));
    this.load.forget(before.filter((shard) => !after.has(shard)));
    this.router = routerFor(merged);
    this.config = merged;
    this.load.setStuckAfter(merged.dispatcher.stuckAfterSec * 1000);
    // Now, not at the next turn: once /load says a shard is no longer moved, the operator may
    // start its worker, which must not find the distributor still reading its queue.
    for (const lane of this.lanes.all()) await lane.moves.sync();
    for (const lane of this.lanes.all()) {
      this.log.info(
        {
          pool: lane.name,
          ...changes[lane.name],
          live: lane.shards.live().map((s) => s.index),
          moving: lane.shards.moving().map((s) => s.index),
        },
        'shard set applied',
      );
    }
    await this.refreshLoad();
  }

  /** Measures every shard's backlog now (the loop does it at most every 250 ms). */
  async refreshLoad(): Promise<void> {
    await this.load.refresh(this.main);
    this.rearmMoves();
    await this.replay.refresh();
  }

  loadReport(): LoadReport {
    return this.load.report();
  }

  get ready(): boolean {
    return this.started;
  }

  async close(): Promise<void> {
    await this.main.close();
    await this.replay.close();
    await this.lanes.close();
  }
}

/**
 * Rules of the pools that have live shards: a pool scaled to zero (being removed, its shards
 * draining) no longer takes messages, which fall through to the next rule or the default pool
 * instead of holding the main queue for a pool that will not come back.
 */
function routerFor(config: DistributorConfig): PoolRouter {
  return new PoolRouter(config.pools.filter((pool) => pool.minWorkers > 0));
}

/**
 * `config` with each pool's moving_shards set to `moving`'s list for it (none if absent),
 * less the shards `config` itself keeps: live ones, and those its draining_shards lists (run
 * mode gives them their workers back), which a list worked out before it must not move.
 */
function withMoving(
  config: DistributorConfig,
  moving: ReadonlyMap<string, readonly number[]>,
): DistributorConfig {
  const removed = (pool: string, live: number, kept: readonly number[]) =>
    (moving.get(pool) ?? []).filter((shard) => shard >= live && !kept.includes(shard));
  const { dispatcher } = config;
  return {
    ...config,
    dispatcher: {
      ...dispatcher,
      movingShards: removed(DEFAULT_POOL, dispatcher.minWorkers, dispatcher.drainingShards),
    },
    pools: config.pools.map((pool) => ({
      ...pool,
      movingShards: removed(pool.name, pool.minWorkers, pool.drainingShards),
    })),
  };
}

function isRetryable(error: unknown): boolean {
  return error instanceof QueueError && error.retryable;
}
