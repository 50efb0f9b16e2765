import { DEFAULT_POOL_NAME, type DistributorConfig } from '../config/index.ts';
import type { Distributor } from '../distributor/index.ts';
import type { Logger } from '../observability/index.ts';
import { workerKey, type Supervisor } from '../supervisor/index.ts';

/**
 * How `run` mode drains, checked every second, in every pool alike. A shard dropped from the
 * INI loses its worker at once (the supervisor stops it), so the distributor moves its
 * backlog to the pool's live shards (the pool's moving_shards). A shard listed in
 * draining_shards keeps its worker until that worker has emptied it. Either way, a drained
 * shard's worker is retired.
 */
export class RunModeDrain {
  private applied: DistributorConfig;
  private readonly distributor: Distributor;
  private readonly supervisor: Supervisor;
  private readonly log: Logger;
  private busy = false;

  constructor(
    config: DistributorConfig,
    distributor: Distributor,
    supervisor: Supervisor,
    log: Logger,
  ) {
    this.applied = config;
    this.distributor = distributor;
    this.supervisor = supervisor;
    this.log = log;
  }

  /** The INI as the distributor last applied it (its moving lists are ours to add). */
  configApplied(config: DistributorConfig): void {
    this.applied = config;
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const running = new Set(this.supervisor.workers().map(workerKey));
      // Shard indices count per pool: a shard is known by (pool, index).
      const shards = this.distributor
        .loadReport()
        .shards.map((s) => ({ ...s, pool: s.pool ?? DEFAULT_POOL_NAME }));
      for (const shard of shards) {
        if (
          shard.state === 'drained' &&
          running.has(workerKey({ pool: shard.pool, shard: shard.index }))
        )
          void this.supervisor.retire(shard.index, shard.pool);
      }
      const kept = this.keptDraining();
      const wanted = new Map<string, number[]>();
      const moving = new Map<string, number[]>();
      for (const name of kept.keys()) {
        wanted.set(name, []);
        moving.set(name, []);
      }
      for (const s of shards) {
        const keep = kept.get(s.pool);
        // A pool the applied INI lacks (removed, waiting for a restart) has no moving list to set.
        if (keep === undefined) continue;
        const key = workerKey({ pool: s.pool, shard: s.index });
        if (s.state === 'draining' && !keep.has(s.index) && !running.has(key))
          wanted.get(s.pool)?.push(s.index);
        if (s.moving) moving.get(s.pool)?.push(s.index);
      }
      const changed = [...wanted].filter(
        ([pool, list]) => list.join(',') !== (moving.get(pool) ?? []).join(','),
      );
      if (changed.length === 0) return;
      for (const [pool, list] of changed) {
        this.log.info(
          { pool, shards: list },
          'workers of removed shards stopped; moving their backlog to live shards',
        );
      }
      await this.distributor.applyMoving(wanted);
    } finally {
      this.busy = false;
    }
  }

  /** Per pool of the applied INI, the shards it lists in draining_shards (they keep their workers). */
  private keptDraining(): Map<string, ReadonlySet<number>> {
    return new Map<string, ReadonlySet<number>>([
      [DEFAULT_POOL_NAME, new Set(this.applied.dispatcher.drainingShards)],
      ...this.applied.pools.map((p): [string, ReadonlySet<number>] => [
        p.name,
        new Set(p.drainingShards),
      ]),
    ]);
  }
}
