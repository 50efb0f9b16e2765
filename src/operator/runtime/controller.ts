import { randomUUID } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { silentLogger, type Logger } from '../../observability/index.ts';
import type { ItemExponentialBackoff } from './backoff.ts';
import { systemClock, type Clock } from './clock.ts';
import type { Informer } from './informer.ts';
import { ownKey, type KeyMapper } from './keys.ts';
import { runtimeMetrics, type RuntimeMetrics } from './metrics.ts';
import type { UpdatePredicate } from './predicates.ts';
import { WorkQueue } from './workqueue.ts';

export interface ReconcileContext {
  /** Carries `controller`, `key` and `reconcileID`: log every line of the reconcile with it. */
  log: Logger;
  reconcileID: string;
  /** Fires when the controller stops (shutdown or lost leadership): stop writing. */
  signal: AbortSignal;
}

export interface ReconcileResult {
  /** Try again after this long; a success, so the failure backoff is forgotten. */
  requeueAfterMs?: number;
  /** Try again with the key's rate-limited backoff, without calling it an error. */
  requeue?: boolean;
}

export type Reconciler = (
  key: string,
  ctx: ReconcileContext,
) => Promise<ReconcileResult | void> | ReconcileResult | void;

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  /** Keys reconciled at once (never the same key twice). Default 1. */
  concurrency?: number;
  log?: Logger;
  registry?: Registry;
  clock?: Clock;
  /** A fresh one per start; defaults to 5 ms → 1000 s per key. */
  backoff?: () => ItemExponentialBackoff;
}

interface Watched {
  informer: Informer;
  map: KeyMapper;
}

/** The `result` label of controller_runtime_reconcile_total. */
const RECONCILE_RESULTS = ['success', 'error', 'requeue', 'requeue_after'] as const;
type ReconcileResultLabel = (typeof RECONCILE_RESULTS)[number];

/**
 * Informer events → keys → a rate-limited work queue → N workers calling `reconcile`.
 * controller-runtime's semantics: an error retries the key with its own exponential
 * backoff, a success forgets it, requeueAfter schedules it again.
 */
export class Controller {
  readonly name: string;
  private readonly reconcile: Reconciler;
  private readonly concurrency: number;
  private readonly log: Logger;
  private readonly registry: Registry | undefined;
  private readonly metrics: RuntimeMetrics | undefined;
  private readonly clock: Clock;
  private readonly makeBackoff: (() => ItemExponentialBackoff) | undefined;
  private readonly watched: Watched[] = [];
  private queue: WorkQueue | undefined;
  private workers: Promise<void>[] = [];
  private abort: AbortController | undefined;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.reconcile = options.reconcile;
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.log = (options.log ?? silentLogger).child({ controller: options.name });
    this.registry = options.registry;
    this.metrics = options.registry ? runtimeMetrics(options.registry) : undefined;
    this.clock = options.clock ?? systemClock;
    this.makeBackoff = options.backoff;
    this.metrics?.maxConcurrentReconciles.set({ controller: this.name }, this.concurrency);
    this.metrics?.activeWorkers.set({ controller: this.name }, 0);
    // Every series from the start, at 0, as controller-runtime does: an alert on
    // increase(…errors_total[10m]) sees the first error only if the series was there before.
    this.metrics?.reconcileErrors.inc({ controller: this.name }, 0);
    for (const result of RECONCILE_RESULTS)
      this.metrics?.reconcileTotal.inc({ controller: this.name, result }, 0);
  }

  /**
   * Enqueues the keys `map` gives for every add, update (old and new) and delete; updates
   * only when `options.updates` passes them.
   */
  watch<T extends KubernetesObject>(
    informer: Informer<T>,
    map: KeyMapper = ownKey,
    options: { updates?: UpdatePredicate } = {},
  ): this {
    const enqueue = (obj: KubernetesObject) => {
      for (const key of map(obj)) this.queue?.add(key);
    };
    const { updates } = options;
    informer.addHandler({
      onAdd: enqueue,
      onUpdate: (oldObj, newObj) => {
        if (updates && !updates(oldObj, newObj)) return;
        enqueue(oldObj);
        enqueue(newObj);
      },
      onDelete: enqueue,
    });
    this.watched.push({ informer: informer as unknown as Informer, map });
    return this;
  }

  get running(): boolean {
    return this.queue !== undefined && !this.queue.isShuttingDown;
  }

  /** Adds a key by hand (tests, or a trigger that is not an informer). */
  enqueue(key: string): void {
    this.queue?.add(key);
  }

  /** Starts the workers and enqueues every object the watched informers already hold. */
  start(): void {
    if (this.running) return;
    this.abort = new AbortController();
    this.queue = new WorkQueue({
      name: this.name,
      clock: this.clock,
      ...(this.registry ? { registry: this.registry } : {}),
      ...(this.makeBackoff ? { backoff: this.makeBackoff() } : {}),
    });
    for (const { informer, map } of this.watched) {
      for (const obj of informer.list()) for (const key of map(obj)) this.queue.add(key);
    }
    const queue = this.queue;
    const signal = this.abort.signal;
    this.workers = Array.from({ length: this.concurrency }, () => this.work(queue, signal));
    this.log.info({ workers: this.concurrency }, 'controller started');
  }

  /** Stops handing out keys at once, aborts running reconciles and waits for them to return. */
  async stop(): Promise<void> {
    if (!this.queue) return;
    this.abort?.abort();
    this.queue.shutDown();
    await Promise.all(this.workers);
    this.workers = [];
    this.log.info('controller stopped');
  }

  private async work(queue: WorkQueue, signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await this.reconcileKey(queue, key, signal);
      } finally {
        queue.done(key);
      }
    }
  }

  private async reconcileKey(queue: WorkQueue, key: string, signal: AbortSignal): Promise<void> {
    const reconcileID = randomUUID();
    const log = this.log.child({ key, reconcileID });
    const labels = { controller: this.name };
    const started = this.clock.now();
    this.metrics?.activeWorkers.inc(labels);
    let result: ReconcileResultLabel;
    try {
      log.debug('reconciling');
      const outcome = (await this.reconcile(key, { log, reconcileID, signal })) ?? {};
      if (outcome.requeueAfterMs !== undefined && outcome.requeueAfterMs > 0) {
        result = 'requeue_after';
        queue.forget(key);
        queue.addAfter(key, outcome.requeueAfterMs);
      } else if (outcome.requeue) {
        result = 'requeue';
        queue.addRateLimited(key);
      } else {
        result = 'success';
        queue.forget(key);
      }
      log.debug(
        {
          result,
          ...(result === 'requeue_after' ? { requeueAfterMs: outcome.requeueAfterMs } : {}),
        },
        'reconciled',
      );
    } catch (error) {
      result = 'error';
      this.metrics?.reconcileErrors.inc(labels);
      queue.addRateLimited(key);
      if (signal.aborted) log.info({ err: error }, 'reconcile interrupted by stop');
      else log.error({ err: error, retries: queue.numRequeues(key) }, 'reconcile failed');
    } finally {
      this.metrics?.activeWorkers.dec(labels);
      this.metrics?.reconcileTime.observe(labels, (this.clock.now() - started) / 1000);
    }
    this.metrics?.reconcileTotal.inc({ ...labels, result });
  }
}
