import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * controller-runtime's metric names and labels, so its Grafana dashboards work unchanged.
 * One set per registry: every controller, queue and elector registered there shares it.
 */
export interface RuntimeMetrics {
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  readonly activeWorkers: Gauge<'controller'>;
  readonly maxConcurrentReconciles: Gauge<'controller'>;
  readonly queueDepth: Gauge<'name'>;
  readonly queueAdds: Counter<'name'>;
  readonly queueRetries: Counter<'name'>;
  readonly queueDuration: Histogram<'name'>;
  readonly workDuration: Histogram<'name'>;
  readonly unfinishedWork: Gauge<'name'>;
  readonly longestRunningProcessor: Gauge<'name'>;
  readonly leaderStatus: Gauge<'name'>;
}

/** Lets a queue report its in-flight work when /metrics is scraped. */
export interface InFlightSource {
  readonly name: string;
  /** Start times (clock ms) of the items being processed right now. */
  processingSince(): number[];
  now(): number;
}

const byRegistry = new WeakMap<
  Registry,
  { metrics: RuntimeMetrics; sources: Set<InFlightSource> }
>();

// controller-runtime's buckets: 5 ms … 60 s for reconciles; for the queue its
// ExponentialBuckets(10e-9, 10, 12), 10 ns … 1000 s.
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1,
  1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
const QUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000];

export function runtimeMetrics(registry: Registry): RuntimeMetrics {
  return entry(registry).metrics;
}

/** Registers a queue whose unfinished work is sampled at scrape time; returns the undo. */
export function trackInFlight(registry: Registry, source: InFlightSource): () => void {
  const { sources } = entry(registry);
  sources.add(source);
  return () => sources.delete(source);
}

function entry(registry: Registry) {
  let found = byRegistry.get(registry);
  if (!found) {
    const sources = new Set<InFlightSource>();
    found = { metrics: create(registry, sources), sources };
    byRegistry.set(registry, found);
  }
  return found;
}

function create(registry: Registry, sources: Set<InFlightSource>): RuntimeMetrics {
  const registers = [registry];
  return {
    reconcileTotal: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    }),
    reconcileTime: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: RECONCILE_BUCKETS,
      registers,
    }),
    activeWorkers: new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'],
      registers,
    }),
    maxConcurrentReconciles: new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: ['name'],
      registers,
    }),
    queueAdds: new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: ['name'],
      registers,
    }),
    queueRetries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name'],
      registers,
    }),
    queueDuration: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['name'],
      buckets: QUEUE_BUCKETS,
      registers,
    }),
    workDuration: new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames: ['name'],
      buckets: QUEUE_BUCKETS,
      registers,
    }),
    unfinishedWork: new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: 'How many seconds of work has been done that is in progress and has not been observed by work_duration',
      labelNames: ['name'],
      registers,
      collect() {
        for (const s of sources) {
          const now = s.now();
          const total = s.processingSince().reduce((sum, since) => sum + (now - since), 0);
          this.set({ name: s.name }, total / 1000);
        }
      },
    }),
    longestRunningProcessor: new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running',
      labelNames: ['name'],
      registers,
      collect() {
        for (const s of sources) {
          const now = s.now();
          const longest = s.processingSince().reduce((max, since) => Math.max(max, now - since), 0);
          this.set({ name: s.name }, longest / 1000);
        }
      },
    }),
    leaderStatus: new Gauge({
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
      labelNames: ['name'],
      registers,
    }),
  };
}
