import type { BackpressureConfig } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import type { DistributorMetrics } from './metrics.ts';
import type { Shard } from './shard-table.ts';

export type PressureReason = 'BacklogLimit' | 'DiskLimit';

/** A pool whose live shards are all at a limit: the main queue is not read meanwhile. */
export interface PoolPressure {
  readonly pool: string;
  readonly reason: PressureReason;
  /** For a person: which limit, and how far. */
  readonly message: string;
  /** When this pool came under pressure (ISO 8601). */
  readonly since: string;
}

/** What the gate needs to know of one pool at a load measurement. */
export interface PoolLoad {
  readonly pool: string;
  readonly live: readonly Pick<Shard, 'backlog'>[];
  /** Bytes its shard queues use on disk; undefined when the backend cannot say (nats). */
  readonly diskBytes: number | undefined;
  readonly limits: BackpressureConfig | undefined;
}

/**
 * Whether one pool is full: every live shard at or over the backlog limit, or the pool's
 * queues at or over the disk limit. A limit of 0 is off; a pool without live shards is not
 * full (distribution is paused for it by other means). Pure.
 */
export function pressureOf(
  load: Omit<PoolLoad, 'pool'>,
): { reason: PressureReason; message: string } | undefined {
  const { live, diskBytes, limits } = load;
  if (limits === undefined || live.length === 0) return undefined;
  if (limits.maxDiskBytes > 0 && diskBytes !== undefined && diskBytes >= limits.maxDiskBytes) {
    return {
      reason: 'DiskLimit',
      message: `shard queues use ${diskBytes} bytes on disk, limit ${limits.maxDiskBytes}`,
    };
  }
  const cap = limits.maxBacklogPerShard;
  if (cap > 0 && live.every((s) => s.backlog >= cap)) {
    const least = Math.min(...live.map((s) => s.backlog));
    return {
      reason: 'BacklogLimit',
      message: `every live shard holds at least ${least} messages, limit ${cap} per shard`,
    };
  }
  return undefined;
}

/**
 * Backpressure across pools. The main queue is one ordered stream, so a message for a full
 * pool holds the ones behind it: while any pool is full the distributor reads nothing from
 * the main queue (which keeps every message) instead of filling the disk. Says so once per
 * change in the log, and always in a gauge and the /load report.
 */
export class BackpressureGate {
  private readonly pressed = new Map<string, PoolPressure>();
  private readonly metrics: DistributorMetrics;
  private readonly log: Logger;

  constructor(metrics: DistributorMetrics, log: Logger) {
    this.metrics = metrics;
    this.log = log;
  }

  update(pools: readonly PoolLoad[], nowMs: number): void {
    for (const load of pools) {
      const pressure = pressureOf(load);
      const before = this.pressed.get(load.pool);
      this.metrics.backpressure.set({ pool: load.pool }, pressure ? 1 : 0);
      if (pressure === undefined) {
        if (before) {
          this.pressed.delete(load.pool);
          this.log.info({ pool: load.pool }, 'backpressure released: reading the main queue again');
        }
        continue;
      }
      const since =
        before?.reason === pressure.reason ? before.since : new Date(nowMs).toISOString();
      this.pressed.set(load.pool, { pool: load.pool, ...pressure, since });
      if (before?.reason !== pressure.reason) {
        this.log.warn(
          { pool: load.pool, reason: pressure.reason, detail: pressure.message },
          'backpressure: pool is full, holding the main queue (nothing is lost)',
        );
      }
    }
    for (const pool of this.pressed.keys()) {
      if (!pools.some((p) => p.pool === pool)) this.pressed.delete(pool);
    }
  }

  /** Pools under pressure now, in pool order of the last update. */
  active(): PoolPressure[] {
    return [...this.pressed.values()];
  }
}
