import { Counter, Gauge, type Registry } from 'prom-client';

export interface SupervisorMetrics {
  readonly restarts: Counter<'pool' | 'shard'>;
  readonly running: Gauge;
}

function reuse<T>(registry: Registry | undefined, name: string, make: () => T): T {
  const existing = registry?.getSingleMetric(name);
  return existing ? (existing as T) : make();
}

/** Registers the metrics on `registry` (reusing them if already there); without one they are kept unregistered. */
export function supervisorMetrics(registry?: Registry): SupervisorMetrics {
  const registers = registry ? [registry] : [];
  return {
    restarts: reuse(
      registry,
      'shard_distributor_worker_restarts_total',
      () =>
        new Counter({
          name: 'shard_distributor_worker_restarts_total',
          help: 'Worker processes started again after they exited or failed to start, by pool (default: the top-level one) and shard.',
          labelNames: ['pool', 'shard'],
          registers,
        }),
    ),
    running: reuse(
      registry,
      'shard_distributor_workers_running',
      () =>
        new Gauge({
          name: 'shard_distributor_workers_running',
          help: 'Worker processes running now.',
          registers,
        }),
    ),
  };
}
