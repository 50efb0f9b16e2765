import { resolve } from 'node:path';
import type { Registry } from 'prom-client';
import {
  DEFAULT_POOL_NAME,
  failureEnv,
  natsEnv,
  failureFor,
  type DistributorConfig,
} from '../config/index.ts';
import { silentLogger, type Logger } from '../observability/index.ts';
import { DEFAULT_BACKOFF, nextRestart, type BackoffPolicy } from './backoff.ts';
import { supervisorMetrics, type SupervisorMetrics } from './metrics.ts';
import { SUPERVISOR_ENV, supervisorId, WORKER_BASE_ENV } from './orphans.ts';
import {
  desiredWorkers,
  planWorkers,
  supervisedPools,
  withRunningPools,
  type CurrentWorker,
} from './plan.ts';
import { compareRefs, workerKey, type WorkerKey, type WorkerRef } from './worker-key.ts';
import { defaultSpawn, WorkerProcess, type SpawnFn, type WorkerExit } from './worker-process.ts';

/** Time and timers, injectable so tests can drive them. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface SupervisorOptions {
  readonly config: DistributorConfig;
  readonly log?: Logger;
  readonly spawn?: SpawnFn;
  readonly clock?: Clock;
  /** Source of jitter, in [0, 1). */
  readonly random?: () => number;
  readonly backoff?: Partial<BackoffPolicy>;
  readonly registry?: Registry;
  /** How long a worker stopped by `reconcile` or `retire` gets between SIGTERM and SIGKILL (default 10 s). */
  readonly stopGraceMs?: number;
  /** The workers' environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export type WorkerState = 'running' | 'restarting' | 'stopping';

export interface WorkerStatus {
  /** `default` for the top-level pool. */
  readonly pool: string;
  /** The shard's index within its pool. */
  readonly shard: number;
  readonly state: WorkerState;
  readonly pid: number | undefined;
  readonly argv: readonly string[];
  /** Restarts since the supervisor started. */
  readonly restarts: number;
}

/** A (pool, shard)'s worker over its successive processes, until it is stopped for good. */
interface Slot extends WorkerRef {
  readonly key: WorkerKey;
  readonly argv: readonly string[];
  process: WorkerProcess | undefined;
  failures: number;
  restarts: number;
  restartTimer: unknown;
  killTimers: unknown[];
  stopping: boolean;
  readonly gone: Promise<void>;
  markGone(): void;
}

/**
 * Keeps one worker process per live (and not yet drained) shard of every pool for `run` mode
 * (the default pool's and each `[pool.NAME]`'s, keyed by pool and shard): started from
 * the rendered argv without a shell, reaped on exit, restarted with exponential backoff,
 * stopped with SIGTERM and, after a grace period, SIGKILL. No PID files: the children are
 * ours, and Node reaps them.
 */
export class Supervisor {
  private config: DistributorConfig;
  private readonly log: Logger;
  private readonly spawn: SpawnFn;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly policy: BackoffPolicy;
  private readonly metrics: SupervisorMetrics;
  private readonly stopGraceMs: number;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly supervisorId = supervisorId();
  private readonly cwd: string | undefined;
  private readonly slots = new Map<WorkerKey, Slot>();
  /** Draining shards the distributor reported drained: their workers are no longer wanted. */
  private readonly retired = new Set<WorkerKey>();
  private started = false;
  private shuttingDown = false;

  constructor(options: SupervisorOptions) {
    this.config = options.config;
    // `component` is the command's (run); a second one would repeat the key in each line.
    this.log = (options.log ?? silentLogger).child({ subsystem: 'supervisor' });
    this.spawn = options.spawn ?? defaultSpawn;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.policy = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.metrics = supervisorMetrics(options.registry);
    this.stopGraceMs = options.stopGraceMs ?? 10_000;
    this.env = options.env;
    this.cwd = options.cwd;
    // Fails now, not at the first spawn, on a config whose worker command cannot be rendered.
    desiredWorkers(this.config, this.retired);
  }

  /** Starts a worker for every shard that needs one. */
  start(): void {
    if (this.shuttingDown) return;
    this.started = true;
    this.apply();
  }

  /**
   * Applies a changed config: in every pool, workers for new shards start, workers of shards
   * neither live nor draining (or whose argv changed) are stopped gracefully. The pool set
   * stays the one this supervisor started with (see `withRunningPools`). Throws, changing
   * nothing, when a new worker command cannot be rendered.
   */
  reconcile(next: DistributorConfig): void {
    const config = withRunningPools(this.config, next);
    const names = (c: DistributorConfig) => c.pools.map((p) => p.name).join(',');
    if (names(next) !== names(config)) {
      this.log.warn(
        { running: config.pools.map((p) => p.name), configured: next.pools.map((p) => p.name) },
        'pools added or removed in the config wait for a restart; supervising the running ones',
      );
    }
    const stillDraining = new Set<WorkerKey>();
    for (const pool of supervisedPools(config)) {
      for (const shard of pool.shards.draining) {
        if (!pool.shards.live.includes(shard))
          stillDraining.add(workerKey({ pool: pool.name, shard }));
      }
    }
    const retired = new Set([...this.retired].filter((key) => stillDraining.has(key)));
    desiredWorkers(config, retired);
    this.config = config;
    this.retired.clear();
    for (const key of retired) this.retired.add(key);
    this.apply();
  }

  /**
   * The distributor reports draining shard `shard` of `pool` drained: its worker is stopped
   * gracefully. Resolves once that worker has exited. A live shard, or a shard of a pool this
   * supervisor does not run, is not retired.
   */
  retire(shard: number, pool: string = DEFAULT_POOL_NAME): Promise<void> {
    const found = supervisedPools(this.config).find((p) => p.name === pool);
    if (found === undefined || found.shards.live.includes(shard)) {
      this.log.warn(
        { pool, shard },
        found ? 'live shard not retired' : 'shard of an unknown pool not retired',
      );
      return Promise.resolve();
    }
    const key = workerKey({ pool, shard });
    this.retired.add(key);
    this.apply();
    return this.slots.get(key)?.gone ?? Promise.resolve();
  }

  /**
   * SIGTERM to every worker, SIGKILL to those still there after `graceMs`; no more restarts.
   * Resolves when every worker has exited and been reaped.
   */
  /**
   * From now on a worker that exits stays down, and nothing new starts; those running go on
   * until `stop`. For the graceful stop of `run`: a service manager that signals the whole
   * group (systemd's default) ends the workers first, and they must not come back meanwhile.
   */
  holdRestarts(): void {
    this.shuttingDown = true;
  }

  async stop(graceMs: number): Promise<void> {
    this.shuttingDown = true;
    const slots = [...this.slots.values()];
    for (const slot of slots) this.stopSlot(slot, graceMs, 'shutdown');
    await Promise.all(slots.map((slot) => slot.gone));
  }

  /**
   * SIGKILLs every worker's process group at once, synchronously: for a process that exits
   * without `stop` (a second signal, an uncaught error). Workers run in groups of their own,
   * so nothing else would end them, and a left-over worker would read its shard next to the
   * one the next start runs.
   */
  killAll(): void {
    for (const slot of this.slots.values()) slot.process?.signal('SIGKILL');
  }

  workers(): WorkerStatus[] {
    return [...this.slots.values()].sort(compareRefs).map((slot) => ({
      pool: slot.pool,
      shard: slot.shard,
      state: slot.stopping ? 'stopping' : slot.process?.running ? 'running' : 'restarting',
      pid: slot.process?.pid,
      argv: slot.argv,
      restarts: slot.restarts,
    }));
  }

  private apply(): void {
    if (!this.started || this.shuttingDown) return;
    const desired = desiredWorkers(this.config, this.retired);
    for (const { pool, shard, reason } of planWorkers(desired, this.current()).stop) {
      const key = workerKey({ pool, shard });
      const slot = this.slots.get(key);
      if (slot) this.stopSlot(slot, this.stopGraceMs, this.retired.has(key) ? 'retired' : reason);
    }
    // Workers waiting for a restart were dropped at once: their replacements can start now.
    for (const worker of planWorkers(desired, this.current()).start) {
      const slot = this.newSlot(worker, worker.argv);
      this.slots.set(slot.key, slot);
      this.launch(slot);
    }
  }

  private current(): CurrentWorker[] {
    return [...this.slots.values()].map((s) => ({
      pool: s.pool,
      shard: s.shard,
      argv: s.argv,
      stopping: s.stopping,
    }));
  }

  private newSlot(ref: WorkerRef, argv: readonly string[]): Slot {
    let markGone: () => void = () => undefined;
    const gone = new Promise<void>((resolve) => {
      markGone = resolve;
    });
    return {
      pool: ref.pool,
      shard: ref.shard,
      key: workerKey(ref),
      argv,
      process: undefined,
      failures: 0,
      restarts: 0,
      restartTimer: undefined,
      killTimers: [],
      stopping: false,
      gone,
      markGone,
    };
  }

  private launch(slot: Slot): void {
    const worker = WorkerProcess.start(slot, slot.argv, {
      spawn: this.spawn,
      log: this.log,
      now: () => this.clock.now(),
      env: this.workerEnv(slot.pool),
      cwd: this.cwd,
    });
    slot.process = worker;
    if (worker.pid !== undefined) {
      this.log.info(
        { pool: slot.pool, shard: slot.shard, pid: worker.pid, argv: slot.argv },
        'worker started',
      );
    }
    this.updateRunning();
    worker.exited
      .then((exit) => this.onExit(slot, worker, exit))
      .catch((err: unknown) =>
        this.log.error({ pool: slot.pool, shard: slot.shard, err }, 'worker exit not handled'),
      );
  }

  /**
   * The environment plus the pool's failure policy and, on nats, the connection as `SD_*`
   * variables (the worker SDK reads them): read at each start, so a changed policy reaches a
   * worker when it next starts.
   */
  private workerEnv(pool: string): NodeJS.ProcessEnv {
    const failure = failureFor(this.config, pool === DEFAULT_POOL_NAME ? undefined : pool);
    return {
      ...(this.env ?? process.env),
      ...natsEnv(this.config),
      ...failureEnv(failure, pool),
      // Who started it, over which queues: a worker that outlives this process is found by
      // the next `run` (see orphans.ts).
      [SUPERVISOR_ENV]: this.supervisorId,
      [WORKER_BASE_ENV]: resolve(this.config.worker.workerBasePath),
    };
  }

  private onExit(slot: Slot, worker: WorkerProcess, exit: WorkerExit): void {
    slot.process = undefined;
    for (const timer of slot.killTimers) this.clock.clearTimeout(timer);
    slot.killTimers = [];
    this.updateRunning();
    const uptimeMs = this.clock.now() - worker.startedAt;
    if (exit.error) {
      this.log.error(
        { pool: slot.pool, shard: slot.shard, argv: slot.argv, err: exit.error },
        'worker failed to start',
      );
    } else {
      const fields = {
        pool: slot.pool,
        shard: slot.shard,
        pid: worker.pid,
        code: exit.code,
        signal: exit.signal,
        uptimeMs,
      };
      if (slot.stopping) this.log.info(fields, 'worker exited');
      else this.log.warn({ ...fields, stderr: [...worker.stderrTail] }, 'worker exited');
    }
    if (slot.stopping || this.shuttingDown) {
      this.drop(slot);
      this.apply();
      return;
    }
    const decision = nextRestart(this.policy, slot.failures, uptimeMs, this.random());
    slot.failures = decision.failures;
    this.log.info(
      {
        pool: slot.pool,
        shard: slot.shard,
        delayMs: decision.delayMs,
        failures: decision.failures,
      },
      'worker restart scheduled',
    );
    slot.restartTimer = this.clock.setTimeout(() => {
      slot.restartTimer = undefined;
      if (slot.stopping) return;
      if (this.shuttingDown) {
        this.drop(slot);
        return;
      }
      slot.restarts += 1;
      this.metrics.restarts.inc({ pool: slot.pool, shard: String(slot.shard) });
      this.launch(slot);
    }, decision.delayMs);
  }

  private stopSlot(slot: Slot, graceMs: number, reason: string): void {
    const first = !slot.stopping;
    slot.stopping = true;
    if (slot.restartTimer !== undefined) {
      this.clock.clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
    }
    const worker = slot.process;
    if (!worker) {
      this.drop(slot);
      return;
    }
    if (first) {
      this.log.info(
        { pool: slot.pool, shard: slot.shard, pid: worker.pid, reason, graceMs },
        'stopping worker',
      );
      worker.signal('SIGTERM');
    }
    // A later, shorter deadline (shutdown during a drain stop) adds its own timer.
    slot.killTimers.push(
      this.clock.setTimeout(() => {
        if (!worker.running) return;
        this.log.warn(
          { pool: slot.pool, shard: slot.shard, pid: worker.pid, graceMs },
          'worker ignored SIGTERM, killing',
        );
        worker.signal('SIGKILL');
      }, graceMs),
    );
  }

  private drop(slot: Slot): void {
    if (this.slots.get(slot.key) === slot) this.slots.delete(slot.key);
    slot.markGone();
  }

  private updateRunning(): void {
    let running = 0;
    for (const slot of this.slots.values()) if (slot.process?.running) running += 1;
    this.metrics.running.set(running);
  }
}
