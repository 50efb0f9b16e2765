import type { Logger } from '../observability/index.ts';
import type { QueueBackend, QueueConsumer } from '../queue/index.ts';
import type { DistributorMetrics } from './metrics.ts';
import { retryQueueOf, type BackpressureConfig } from '../config/index.ts';
import { BackpressureGate, type PoolPressure } from './backpressure.ts';
import { DEFAULT_POOL } from './pool-shards.ts';
import type { Shard, ShardState, ShardTable } from './shard-table.ts';
import { StuckDetector } from './stuck-detector.ts';

/** The `/load` document the operator reads (status, autoscaling, drain, backpressure). */
export interface LoadReport {
  shards: {
    /** The worker pool; absent for the default pool. `index` counts within the pool. */
    pool?: string;
    index: number;
    queue: string;
    backlog: number;
    dispatched: number;
    live: boolean;
    state: ShardState;
    /** Its backlog is being moved to live shards (moving_shards; its worker is stopped). */
    moving: boolean;
    stuck: boolean;
    /** A draining shard's retry queue backlog, when it has one: it keeps the shard draining. */
    retryBacklog?: number;
  }[];
  mainLag: number;
  /** Pools whose limits hold the main queue now (empty: none). */
  backpressure: PoolPressure[];
  updatedAt: string;
}

/** One pool as the tracker measures it. */
export interface TrackedPool {
  readonly shards: ShardTable;
  readonly limits: BackpressureConfig | undefined;
}

export interface LoadTrackerOptions {
  /** The pools, default first; read at every measurement (the set is fixed per process). */
  pools: () => readonly TrackedPool[];
  backend: QueueBackend;
  metrics: DistributorMetrics;
  /** The consumer name the workers read their shard as (`{src}`). */
  workerConsumer: string;
  stuckAfterMs: number;
  now: () => number;
  log: Logger;
  /** Minimum time between two measurements of every shard (default 50 ms). */
  intervalMs?: number;
}

/**
 * Measures shard backlogs (pushed − popped by the worker), keeps them current between
 * measurements with what was dispatched, detects stuck shards, moves draining shards to
 * drained, weighs backpressure, and publishes it all as metrics and as the /load report.
 */
export class LoadTracker {
  private readonly options: LoadTrackerOptions;
  private readonly gate: BackpressureGate;
  private stuckAfterMs: number;
  /** Per pool: shard indices count within a pool. */
  private readonly stuck = new Map<string, StuckDetector>();
  private mainLag = 0;
  private measuredAt = 0;
  private updatedAt = new Date(0).toISOString();

  constructor(options: LoadTrackerOptions) {
    this.options = options;
    this.stuckAfterMs = options.stuckAfterMs;
    this.gate = new BackpressureGate(options.metrics, options.log);
  }

  setStuckAfter(ms: number): void {
    this.stuckAfterMs = ms;
    this.stuck.clear();
  }

  /**
   * Drops the metric series of shards gone from the config (drained, then removed): a gauge
   * left behind would report a backlog or a stuck worker of a shard that no longer exists.
   */
  forget(removed: readonly Shard[]): void {
    const { metrics } = this.options;
    for (const shard of removed) {
      const labels = labelsOf(shard);
      for (const series of [
        metrics.shardBacklog,
        metrics.shardStuck,
        metrics.dispatched,
        metrics.moved,
      ])
        series.remove(labels);
    }
  }

  /** Counts dispatched messages at once, so the next batch's strategy sees them. */
  dispatched(shard: Shard, count: number): void {
    shard.backlog += count;
    shard.dispatched += count;
    this.options.metrics.dispatched.inc(labelsOf(shard), count);
  }

  /** Pools whose limits hold the main queue, as last weighed. */
  backpressure(): PoolPressure[] {
    return this.gate.active();
  }

  /** Measures when the last measurement is older than the interval; says whether it did. */
  async refreshIfDue(main: QueueConsumer): Promise<boolean> {
    if (this.options.now() - this.measuredAt < (this.options.intervalMs ?? 50)) return false;
    await this.refresh(main);
    return true;
  }

  async refresh(main: QueueConsumer): Promise<void> {
    const { metrics, now } = this.options;
    const at = now();
    this.measuredAt = at;
    const pools = this.options.pools();
    // Every reading at once: on nats each is a request to the server, one after another they
    // were a round trip per shard every refresh.
    const [mainLag] = await Promise.all([
      main.backlog(),
      ...pools.map((pool) => this.measure(pool.shards, at)),
    ]);
    this.mainLag = mainLag;
    this.updatedAt = new Date(at).toISOString();
    const all = pools.flatMap((p) => p.shards.all());
    metrics.mainLag.set(this.mainLag);
    metrics.backlogTotal.set(all.reduce((sum, s) => sum + s.backlog, 0));
    metrics.liveShards.set(all.filter((s) => s.state === 'live').length);
    metrics.drainingShards.set(all.filter((s) => s.state === 'draining').length);
    this.weighPressure();
  }

  /**
   * Weighs backpressure from what is known now (the last measurement plus what was dispatched
   * since): cheap, so the loop does it before every read of the main queue.
   */
  weighPressure(): void {
    this.gate.update(
      this.options.pools().map((p) => ({
        pool: p.shards.pool,
        live: p.shards.live(),
        diskBytes: p.shards.diskBytes(),
        limits: p.limits,
      })),
      this.options.now(),
    );
  }

  private async measure(table: ShardTable, at: number): Promise<void> {
    const { backend, metrics, workerConsumer, log } = this.options;
    let detector = this.stuck.get(table.pool);
    if (!detector) {
      detector = new StuckDetector({ stuckAfterMs: this.stuckAfterMs });
      this.stuck.set(table.pool, detector);
    }
    const shards = table.all();
    const readings = await Promise.all(
      shards.map((shard) => backend.backlog(shard.queue, workerConsumer)),
    );
    // Only a draining shard's retry queue matters here: a live worker keeps reading its own.
    const retries = await Promise.all(
      shards.map((shard) =>
        shard.state === 'draining' ? backend.backlog(retryQueueOf(shard.queue), workerConsumer) : 0,
      ),
    );
    for (const [i, shard] of shards.entries()) {
      const measured = readings[i]!;
      shard.retryBacklog = retries[i]!;
      // What the worker popped since the last reading: the backlog we knew (dispatches
      // included) minus what is left.
      shard.popped += Math.max(0, shard.backlog - measured);
      shard.backlog = measured;
      const wasStuck = shard.stuck;
      shard.stuck = detector.observe({
        index: shard.index,
        backlog: measured,
        popped: shard.popped,
        atMs: at,
      });
      if (shard.stuck !== wasStuck) {
        log[shard.stuck ? 'warn' : 'info'](
          { pool: shard.pool, shard: shard.index, queue: shard.queue, backlog: measured },
          shard.stuck ? 'shard is stuck: backlog but nothing popped' : 'shard is moving again',
        );
      }
      if (shard.state === 'draining' && measured === 0 && shard.retryBacklog === 0) {
        shard.state = 'drained';
        log.info({ pool: shard.pool, shard: shard.index, queue: shard.queue }, 'shard drained');
      }
      const labels = labelsOf(shard);
      metrics.shardBacklog.set(labels, measured);
      metrics.shardStuck.set(labels, shard.stuck ? 1 : 0);
    }
  }

  report(): LoadReport {
    return {
      shards: this.options.pools().flatMap((p) =>
        p.shards.all().map((s) => ({
          ...(s.pool === DEFAULT_POOL ? {} : { pool: s.pool }),
          index: s.index,
          queue: s.queue,
          backlog: s.backlog,
          dispatched: s.dispatched,
          live: s.state === 'live',
          state: s.state,
          moving: s.state === 'draining' && s.moving,
          stuck: s.stuck,
          ...(s.retryBacklog > 0 ? { retryBacklog: s.retryBacklog } : {}),
        })),
      ),
      mainLag: this.mainLag,
      backpressure: this.gate.active(),
      updatedAt: this.updatedAt,
    };
  }
}

/** Metric labels of a shard: the pool, the index within it, and the queue. */
export function labelsOf(shard: Shard): { pool: string; shard: string; queue: string } {
  return { pool: shard.pool, shard: String(shard.index), queue: shard.queue };
}
