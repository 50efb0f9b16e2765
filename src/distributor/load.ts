import type { Logger } from '../observability/index.ts';
import type { QueueBackend, QueueConsumer } from '../queue/index.ts';
import type { DistributorMetrics } from './metrics.ts';
import type { ShardState, ShardTable } from './shard-table.ts';
import { StuckDetector } from './stuck-detector.ts';

/** The `/load` document the operator reads (status, autoscaling, drain). */
export interface LoadReport {
  shards: {
    index: number;
    queue: string;
    backlog: number;
    dispatched: number;
    live: boolean;
    state: ShardState;
    /** Its backlog is being moved to live shards (moving_shards; its worker is stopped). */
    moving: boolean;
    stuck: boolean;
  }[];
  mainLag: number;
  updatedAt: string;
}

export interface LoadTrackerOptions {
  shards: ShardTable;
  backend: QueueBackend;
  metrics: DistributorMetrics;
  /** The consumer name the workers read their shard as (`{src}`). */
  workerConsumer: string;
  stuckAfterMs: number;
  now: () => number;
  log: Logger;
  /** Minimum time between two measurements of every shard (default 250 ms). */
  intervalMs?: number;
}

/**
 * Measures shard backlogs (pushed − popped by the worker), keeps them current between
 * measurements with what was dispatched, detects stuck shards, moves draining shards to
 * drained, and publishes it all as metrics and as the /load report.
 */
export class LoadTracker {
  private readonly options: LoadTrackerOptions;
  private stuck: StuckDetector;
  private mainLag = 0;
  private measuredAt = 0;
  private updatedAt = new Date(0).toISOString();

  constructor(options: LoadTrackerOptions) {
    this.options = options;
    this.stuck = new StuckDetector({ stuckAfterMs: options.stuckAfterMs });
  }

  setStuckAfter(ms: number): void {
    this.stuck = new StuckDetector({ stuckAfterMs: ms });
  }

  /** Counts dispatched messages at once, so the next batch's strategy sees them. */
  dispatched(index: number, count: number): void {
    const shard = this.options.shards.get(index);
    if (!shard) return;
    shard.backlog += count;
    shard.dispatched += count;
    this.options.metrics.dispatched.inc({ shard: String(index), queue: shard.queue }, count);
  }

  /** Measures when the last measurement is older than the interval; says whether it did. */
  async refreshIfDue(main: QueueConsumer): Promise<boolean> {
    if (this.options.now() - this.measuredAt < (this.options.intervalMs ?? 50)) return false;
    await this.refresh(main);
    return true;
  }

  async refresh(main: QueueConsumer): Promise<void> {
    const { shards, backend, metrics, workerConsumer, now, log } = this.options;
    const at = now();
    this.measuredAt = at;
    for (const shard of shards.all()) {
      const measured = await backend.backlog(shard.queue, workerConsumer);
      // What the worker popped since the last reading: the backlog we knew (dispatches
      // included) minus what is left.
      shard.popped += Math.max(0, shard.backlog - measured);
      shard.backlog = measured;
      const wasStuck = shard.stuck;
      shard.stuck = this.stuck.observe({
        index: shard.index,
        backlog: measured,
        popped: shard.popped,
        atMs: at,
      });
      if (shard.stuck !== wasStuck) {
        log[shard.stuck ? 'warn' : 'info'](
          { shard: shard.index, queue: shard.queue, backlog: measured },
          shard.stuck ? 'shard is stuck: backlog but nothing popped' : 'shard is moving again',
        );
      }
      if (shard.state === 'draining' && measured === 0) {
        shard.state = 'drained';
        log.info({ shard: shard.index, queue: shard.queue }, 'shard drained');
      }
      const labels = { shard: String(shard.index), queue: shard.queue };
      metrics.shardBacklog.set(labels, measured);
      metrics.shardStuck.set(labels, shard.stuck ? 1 : 0);
    }
    this.mainLag = await main.backlog();
    this.updatedAt = new Date(at).toISOString();
    const all = shards.all();
    metrics.mainLag.set(this.mainLag);
    metrics.backlogTotal.set(all.reduce((sum, s) => sum + s.backlog, 0));
    metrics.liveShards.set(all.filter((s) => s.state === 'live').length);
    metrics.drainingShards.set(all.filter((s) => s.state === 'draining').length);
  }

  report(): LoadReport {
    return {
      shards: this.options.shards.all().map((s) => ({
        index: s.index,
        queue: s.queue,
        backlog: s.backlog,
        dispatched: s.dispatched,
        live: s.state === 'live',
        state: s.state,
        moving: s.state === 'draining' && s.moving,
        stuck: s.stuck,
      })),
      mainLag: this.mainLag,
      updatedAt: this.updatedAt,
    };
  }
}
