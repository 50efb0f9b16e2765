import type { Registry } from 'prom-client';
import { ItemExponentialBackoff } from './backoff.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';
import { runtimeMetrics, trackInFlight, type RuntimeMetrics } from './metrics.ts';

export interface WorkQueueOptions {
  /** The `name` label of the workqueue_* metrics; a controller uses its own name. */
  name: string;
  /** Where the workqueue_* metrics go; none are kept without one. */
  registry?: Registry;
  clock?: Clock;
  /** Per-key failure backoff; defaults to 5 ms → 1000 s. */
  backoff?: ItemExponentialBackoff;
}

/**
 * client-go's rate-limited work queue, keyed by `namespace/name`:
 * - a key added many times before it is taken is processed once (dirty set);
 * - a key is never handed to two workers at once: added while processing, it is queued
 *   again only when `done` is called;
 * - `addRateLimited` delays a key by its own exponential backoff, which only `forget` resets;
 * - `addAfter` schedules a key; of several schedules for one key the earliest wins.
 */
export class WorkQueue {
  readonly name: string;
  private readonly clock: Clock;
  private readonly backoff: ItemExponentialBackoff;
  private readonly metrics: RuntimeMetrics | undefined;
  private readonly untrack: () => void;
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  /** key → when its processing started */
  private readonly processing = new Map<string, number>();
  /** key → when it became dirty, for workqueue_queue_duration_seconds */
  private readonly addedAt = new Map<string, number>();
  private readonly delayed = new Map<string, { readyAt: number; timer: TimerHandle }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly drainWaiters: Array<() => void> = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
    this.backoff = options.backoff ?? new ItemExponentialBackoff();
    this.metrics = options.registry ? runtimeMetrics(options.registry) : undefined;
    this.untrack = options.registry
      ? trackInFlight(options.registry, {
          name: this.name,
          now: () => this.clock.now(),
          processingSince: () => [...this.processing.values()],
        })
      : () => {};
    this.metrics?.queueDepth.set({ name: this.name }, 0);
    // Counters exist from the start, at 0 (see Controller).
    this.metrics?.queueAdds.inc({ name: this.name }, 0);
    this.metrics?.queueRetries.inc({ name: this.name }, 0);
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics?.queueAdds.inc({ name: this.name });
    this.dirty.add(key);
    this.addedAt.set(key, this.clock.now());
    // A key being processed goes back into the queue when its worker calls done().
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const readyAt = this.clock.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending) {
      if (pending.readyAt <= readyAt) return;
      this.clock.clearTimeout(pending.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref?.();
    this.delayed.set(key, { readyAt, timer });
  }

  /** Adds the key after its backoff and counts one more failure for it. */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.metrics?.queueRetries.inc({ name: this.name });
    this.addAfter(key, this.backoff.when(key));
  }

  /** The key succeeded: its next failure starts again from the base delay. */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  numRequeues(key: string): number {
    return this.backoff.numRequeues(key);
  }

  /** Waits for the next key; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    if (this.queue.length > 0) return Promise.resolve(this.take());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The worker finished the key (success or not); a re-add meanwhile queues it again. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.metrics?.workDuration.observe({ name: this.name }, (this.clock.now() - started) / 1000);
    if (this.dirty.has(key) && !this.shuttingDown) this.enqueue(key);
    if (this.processing.size === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  /** Keys waiting to be taken (not counting delayed or in-process ones). */
  len(): number {
    return this.queue.length;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  /**
   * Stops handing out keys at once — queued and delayed keys are dropped — and wakes every
   * waiting `get()` with undefined. Keys already taken may still call `done`.
   */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) this.clock.clearTimeout(timer);
    this.delayed.clear();
    this.queue.length = 0;
    this.dirty.clear();
    this.addedAt.clear();
    this.metrics?.queueDepth.set({ name: this.name }, 0);
    for (const resolve of this.waiters.splice(0)) resolve(undefined);
    this.untrack();
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Resolves once no key is being processed. */
  drain(): Promise<void> {
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private enqueue(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.queue.push(key);
      waiter(this.take());
      return;
    }
    this.queue.push(key);
    this.metrics?.queueDepth.set({ name: this.name }, this.queue.length);
  }

  private take(): string {
    const key = this.queue.shift() as string;
    const now = this.clock.now();
    this.metrics?.queueDepth.set({ name: this.name }, this.queue.length);
    this.dirty.delete(key);
    this.processing.set(key, now);
    const added = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (added !== undefined) {
      this.metrics?.queueDuration.observe({ name: this.name }, (now - added) / 1000);
    }
    return key;
  }
}
