import type { DistributorConfig } from '../config/index.ts';
import type { Distributor } from '../distributor/index.ts';
import type { Logger } from '../observability/index.ts';
import type { Supervisor } from '../supervisor/index.ts';

/**
 * How `run` mode drains, checked every second. A shard dropped from the INI loses its worker
 * at once (the supervisor stops it), so the distributor moves its backlog to the live shards
 * (moving_shards). A shard listed in draining_shards keeps its worker until that worker has
 * emptied it. Either way, a drained shard's worker is retired.
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

  /** The INI as the distributor last applied it (its moving list is ours to add). */
  configApplied(config: DistributorConfig): void {
    this.applied = config;
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const running = new Set(this.supervisor.workers().map((w) => w.shard));
      const kept = new Set(this.applied.dispatcher.drainingShards);
      // The supervisor's workers are the default pool's (shard indices count per pool).
      const shards = this.distributor.loadReport().shards.filter((s) => s.pool === undefined);
      for (const shard of shards) {
        if (shard.state === 'drained' && running.has(shard.index))
          void this.supervisor.retire(shard.index);
      }
      const wanted = shards
        .filter((s) => s.state === 'draining' && !kept.has(s.index) && !running.has(s.index))
        .map((s) => s.index);
      const moving = shards.filter((s) => s.moving).map((s) => s.index);
      if (wanted.join(',') === moving.join(',')) return;
      this.log.info(
        { shards: wanted },
        'workers of removed shards stopped; moving their backlog to live shards',
      );
      await this.distributor.applyConfig({
        ...this.applied,
        dispatcher: { ...this.applied.dispatcher, movingShards: wanted },
      });
    } finally {
      this.busy = false;
    }
  }
}
