import { Counter, type Registry } from 'prom-client';

export type RejectOutcome = 'retry' | 'dead_letter' | 'dropped' | 'blocked';

export interface WorkerMetrics {
  /** Rejected messages by shard queue and what became of them. */
  readonly rejected: Counter<'queue' | 'outcome'>;
}

const REJECTED = 'shard_distributor_worker_rejected_total';

/** Registers the metrics on `registry` (reusing them if already there); without one they are kept unregistered. */
export function workerMetrics(registry?: Registry): WorkerMetrics {
  const existing = registry?.getSingleMetric(REJECTED);
  const rejected =
    existing instanceof Counter
      ? (existing as Counter<'queue' | 'outcome'>)
      : new Counter({
          name: REJECTED,
          help: 'Messages a worker handler rejected, by shard queue and outcome (retry, dead_letter, dropped, blocked).',
          labelNames: ['queue', 'outcome'],
          registers: registry ? [registry] : [],
        });
  return { rejected };
}
