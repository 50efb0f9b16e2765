import type { KubernetesObject } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../../observability/index.ts';
import { exponentialDelay, withJitter } from './backoff.ts';
import { sleep, systemClock, type Clock, type TimerHandle } from './clock.ts';
import { ResourceExpiredError, WatchRequestError } from './errors.ts';
import { keyFor, objectKey } from './keys.ts';
import type { ListerWatcher, WatchEvent, WatchHandle } from './list-watch.ts';

export interface InformerHandler<T extends KubernetesObject = KubernetesObject> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  listerWatcher: ListerWatcher;
  log?: Logger;
  clock?: Clock;
  /** Re-emit every cached object as an update this often (0 = never). Default 10 min. */
  resyncMs?: number;
  /** Restart a watch that brought no event or bookmark for this long. Default 5 min. */
  watchdogMs?: number;
  /** Reconnect backoff after failures: base, doubling, capped. Default 200 ms → 30 s. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /** Server-side watch timeout; client-go's 5–10 min spread by default. */
  watchTimeoutSeconds?: () => number;
  random?: () => number;
}

interface WatchOutcome {
  error: Error | undefined;
  expired: boolean;
  /** Brought at least one event or lasted a while: the next failure starts the backoff afresh. */
  healthy: boolean;
}

/** A watch that ended after this long was not a tight failure loop. */
const HEALTHY_WATCH_MS = 1_000;

/**
 * List, then watch from the list's resourceVersion, keeping a cache keyed `namespace/name`.
 * Unlike client-node's informer it never gives up: a 410 relists (emitting deletes for what
 * vanished), any other failure reconnects from the last resourceVersion with backoff, a
 * watchdog restarts a watch gone silent, and a resync re-emits the cache for level-based
 * reconcilers.
 */
export class Informer<T extends KubernetesObject = KubernetesObject> {
  readonly description: string;
  private readonly lw: ListerWatcher;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly resyncMs: number;
  private readonly watchdogMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly pageSize: number;
  private readonly watchTimeoutSeconds: () => number;
  private readonly random: () => number;
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly syncWaiters: Array<() => void> = [];
  private readonly stopping = new AbortController();
  private resourceVersion = '';
  private synced = false;
  private loop: Promise<void> | undefined;
  private stopWatch: (() => void) | undefined;
  private resyncTimer: TimerHandle | undefined;

  constructor(options: InformerOptions) {
    this.lw = options.listerWatcher;
    this.description = options.listerWatcher.description;
    this.log = (options.log ?? silentLogger).child({ informer: this.description });
    this.clock = options.clock ?? systemClock;
    this.resyncMs = options.resyncMs ?? 10 * 60_000;
    this.watchdogMs = options.watchdogMs ?? 5 * 60_000;
    this.backoffBaseMs = options.backoffBaseMs ?? 200;
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.pageSize = options.pageSize ?? 500;
    this.random = options.random ?? Math.random;
    this.watchTimeoutSeconds =
      options.watchTimeoutSeconds ?? (() => Math.floor(300 * (1 + this.random())));
  }

  /** Handlers added after the first sync are told about every cached object first. */
  addHandler(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
    if (this.synced) for (const obj of this.cache.values()) this.call(handler, 'onAdd', obj);
  }

  start(): void {
    if (this.loop || this.stopping.signal.aborted) return;
    this.loop = this.run();
    this.scheduleResync();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.stopWatch?.();
    if (this.resyncTimer) this.clock.clearTimeout(this.resyncTimer);
    await this.loop;
    for (const resolve of this.syncWaiters.splice(0)) resolve();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves after the first complete list (false if stopped before). */
  waitForSync(): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopping.signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.syncWaiters.push(() => resolve(this.synced));
    });
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(keyFor(namespace, name));
  }

  getByKey(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  /** The resourceVersion the next watch would start from. */
  lastResourceVersion(): string {
    return this.resourceVersion;
  }

  private async run(): Promise<void> {
    let failures = 0;
    let quickExpiries = 0;
    let needList = true;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      if (needList) {
        try {
          await this.relist();
          needList = false;
        } catch (error) {
          if (signal.aborted) break;
          failures += 1;
          this.log.warn({ err: error, failures }, 'list failed; retrying');
          await sleep(this.clock, this.delay(failures), signal);
          continue;
        }
      }
      const outcome = await this.watchOnce();
      if (signal.aborted) break;
      if (outcome.healthy) {
        failures = 0;
        quickExpiries = 0;
      }
      if (outcome.expired) {
        needList = true;
        this.log.info({ resourceVersion: this.resourceVersion }, 'watch expired; relisting');
        // Relist at once, unless list → watch → 410 keeps repeating.
        if (!outcome.healthy && ++quickExpiries > 1) failures += 1;
      } else if (outcome.error) {
        failures += 1;
        this.log.warn({ err: outcome.error, failures }, 'watch failed; reconnecting');
      } else if (!outcome.healthy) {
        failures += 1;
      }
      if (failures > 0) await sleep(this.clock, this.delay(failures), signal);
    }
    for (const resolve of this.syncWaiters.splice(0)) resolve();
  }

  private delay(failures: number): number {
    const base = exponentialDelay(failures - 1, this.backoffBaseMs, this.backoffMaxMs);
    return withJitter(base, 0.5, this.random);
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let token: string | undefined;
    let resourceVersion: string;
    do {
      const page = await this.lw.list({
        limit: this.pageSize,
        ...(token ? { continue: token } : {}),
        signal: this.stopping.signal,
      });
      items.push(...(page.items as T[]));
      resourceVersion = page.resourceVersion;
      token = page.continue;
    } while (token && !this.stopping.signal.aborted);
    if (this.stopping.signal.aborted) return;
    this.replace(items, resourceVersion);
  }

  private replace(items: T[], resourceVersion: string): void {
    const fresh = new Map(items.map((obj) => [objectKey(obj), obj] as const));
    for (const [key, old] of this.cache) {
      if (fresh.has(key)) continue;
      this.cache.delete(key);
      this.emit('onDelete', old);
    }
    for (const [key, obj] of fresh) {
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.emit('onAdd', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
        this.emit('onUpdate', old, obj);
      }
    }
    this.resourceVersion = resourceVersion;
    this.log.debug({ resourceVersion, objects: fresh.size }, 'listed');
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  private watchOnce(): Promise<WatchOutcome> {
    return new Promise((resolve) => {
      const startedAt = this.clock.now();
      let sawEvent = false;
      let expired = false;
      let eventError: Error | undefined;
      let finished = false;
      let stopWanted = false;
      const current: { handle?: WatchHandle } = {};
      let watchdog: TimerHandle | undefined;
      const stop = () => {
        stopWanted = true;
        current.handle?.stop();
      };
      const armWatchdog = () => {
        if (watchdog) this.clock.clearTimeout(watchdog);
        if (finished) return;
        watchdog = this.clock.setTimeout(() => {
          this.log.warn({ silentForMs: this.watchdogMs }, 'watch silent too long; restarting it');
          stop();
        }, this.watchdogMs);
        watchdog.unref?.();
      };
      const onEvent = (event: WatchEvent) => {
        if (finished || stopWanted) return;
        armWatchdog();
        if (event.type === 'ERROR') {
          const status = event.object;
          if (status.code === 410) expired = true;
          else
            eventError = new WatchRequestError(
              `watch ${this.description}`,
              status.code,
              status.message ?? 'ERROR event',
            );
          stop();
          return;
        }
        sawEvent = true;
        const rv = event.object.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (event.type === 'ADDED' || event.type === 'MODIFIED') this.upsert(event.object as T);
        else if (event.type === 'DELETED') this.remove(event.object as T);
      };
      const onDone = (error?: Error) => {
        if (finished) return;
        finished = true;
        if (watchdog) this.clock.clearTimeout(watchdog);
        this.stopWatch = undefined;
        resolve({
          error: error ?? eventError,
          expired: expired || error instanceof ResourceExpiredError,
          healthy: sawEvent || this.clock.now() - startedAt >= HEALTHY_WATCH_MS,
        });
      };
      this.stopWatch = stop;
      armWatchdog();
      current.handle = this.lw.watch(
        { resourceVersion: this.resourceVersion, timeoutSeconds: this.watchTimeoutSeconds() },
        onEvent,
        onDone,
      );
      if (stopWanted || this.stopping.signal.aborted) current.handle.stop();
    });
  }

  private upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    if (old) this.emit('onUpdate', old, obj);
    else this.emit('onAdd', obj);
  }

  private remove(obj: T): void {
    const key = objectKey(obj);
    this.cache.delete(key);
    this.emit('onDelete', obj);
  }

  private scheduleResync(): void {
    if (this.resyncMs <= 0 || this.stopping.signal.aborted) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      if (this.synced) for (const obj of this.cache.values()) this.emit('onUpdate', obj, obj);
      this.scheduleResync();
    }, this.resyncMs);
    this.resyncTimer.unref?.();
  }

  private emit(kind: 'onAdd' | 'onDelete', obj: T): void;
  private emit(kind: 'onUpdate', oldObj: T, newObj: T): void;
  private emit(kind: keyof InformerHandler<T>, a: T, b?: T): void {
    for (const handler of this.handlers) this.call(handler, kind, a, b);
  }

  private call(handler: InformerHandler<T>, kind: keyof InformerHandler<T>, a: T, b?: T): void {
    try {
      if (kind === 'onUpdate') handler.onUpdate?.(a, b ?? a);
      else handler[kind]?.(a);
    } catch (error) {
      this.log.error({ err: error, event: kind, key: objectKey(a) }, 'informer handler threw');
    }
  }
}
