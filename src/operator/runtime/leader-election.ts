import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import { silentLogger, type Logger } from '../../observability/index.ts';
import { sleep, systemClock, type Clock, type TimerHandle } from './clock.ts';
import { LeaderElectionLostError, RuntimeConfigError } from './errors.ts';
import type { LeaseLock, LeaseRecord, ObservedLease } from './lease-lock.ts';
import { runtimeMetrics, type RuntimeMetrics } from './metrics.ts';

export interface LeaderElectorOptions {
  lock: LeaseLock;
  /** This replica's name in the Lease; unique per process. Default: hostname (the pod name) + a random suffix. */
  identity?: string;
  /** How long a holder's claim lasts after its last renew. Default 15 s. */
  leaseDurationMs?: number;
  /** The leader steps down if it could not renew for this long. Default 10 s. */
  renewDeadlineMs?: number;
  /** Between attempts to acquire or renew. Default 2 s. */
  retryPeriodMs?: number;
  /** Called when this replica becomes leader; the signal fires when it stops being leader. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /**
   * Called when it stops leading, and awaited before the Lease is released: stop every
   * write here. `lost` is set when leadership was lost rather than given up.
   */
  onStoppedLeading: (lost: LeaderElectionLostError | undefined) => void | Promise<void>;
  onNewLeader?: (identity: string) => void;
  log?: Logger;
  registry?: Registry;
  clock?: Clock;
  random?: () => number;
}

/** A unique identity: in a pod the hostname is the pod name. */
export function defaultIdentity(): string {
  return `${hostname()}_${randomUUID().slice(0, 8)}`;
}

/**
 * Leader election on a coordination.k8s.io Lease, as client-go does it: acquire a Lease
 * that is free or whose holder has not renewed within leaseDuration, renew every
 * retryPeriod with optimistic concurrency (a 409 is a lost race), step down when renewing
 * failed for renewDeadline (< leaseDuration, so the old leader stops before anyone else
 * may start), and on a graceful stop release the Lease so a standby takes over at once.
 */
export class LeaderElector {
  readonly identity: string;
  private readonly lock: LeaseLock;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly options: LeaderElectorOptions;
  private readonly log: Logger;
  private readonly metrics: RuntimeMetrics | undefined;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private leading: AbortController | undefined;
  private observed: ObservedLease | undefined;
  /** Local time when `observed` last changed: expiry is judged on our clock, never the holder's. */
  private observedAt = 0;
  private lastLeader = '';

  constructor(options: LeaderElectorOptions) {
    this.options = options;
    this.lock = options.lock;
    this.identity = options.identity ?? defaultIdentity();
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs)) {
      throw new RuntimeConfigError(
        'leader election: leaseDuration must be greater than renewDeadline',
      );
    }
    if (!(this.renewDeadlineMs > this.retryPeriodMs * 1.2)) {
      throw new RuntimeConfigError(
        'leader election: renewDeadline must be greater than 1.2 × retryPeriod',
      );
    }
    this.log = (options.log ?? silentLogger).child({
      lease: this.lock.description,
      identity: this.identity,
    });
    this.metrics = options.registry ? runtimeMetrics(options.registry) : undefined;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.metrics?.leaderStatus.set({ name: this.lock.description }, 0);
  }

  isLeader(): boolean {
    return this.leading !== undefined;
  }

  /** The holder last seen in the Lease ('' when free or unknown). */
  leader(): string {
    return this.lastLeader;
  }

  start(): void {
    if (this.loop || this.stopping.signal.aborted) return;
    this.loop = this.run();
  }

  /**
   * Stops competing. A leader first stops leading (awaiting onStoppedLeading), then — unless
   * `release: false`, which behaves like a crash — clears the Lease for a fast handover.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopping.abort();
    await this.loop;
    await this.stepDown(undefined);
    if (options.release ?? true) await this.release();
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted && !this.leading) {
      if (await this.attempt()) {
        await this.becomeLeader();
        break;
      }
      await sleep(this.clock, this.retryPeriodMs * (1 + 0.2 * this.random()), signal);
    }
    let lastRenew = this.clock.now();
    while (!signal.aborted && this.leading) {
      await sleep(this.clock, this.retryPeriodMs, signal);
      if (signal.aborted) break;
      const attemptAt = this.clock.now();
      if (await this.attempt(lastRenew + this.renewDeadlineMs - attemptAt)) {
        lastRenew = attemptAt;
        continue;
      }
      const holder = this.observed?.record.holderIdentity ?? '';
      if (holder !== '' && holder !== this.identity) {
        await this.stepDown(
          new LeaderElectionLostError(this.lock.description, this.identity, `taken by ${holder}`),
        );
      } else if (this.clock.now() >= lastRenew + this.renewDeadlineMs) {
        await this.stepDown(
          new LeaderElectionLostError(
            this.lock.description,
            this.identity,
            'renew deadline exceeded',
          ),
        );
      }
    }
  }

  /** One try, given up (as a failure) after `timeoutMs` so a hung request cannot outlive the deadline. */
  private async attempt(timeoutMs = this.renewDeadlineMs): Promise<boolean> {
    if (timeoutMs <= 0) return false;
    const timeout = new AbortController();
    try {
      return await Promise.race([
        this.tryAcquireOrRenew(),
        sleep(this.clock, timeoutMs, timeout.signal).then(() => false),
      ]);
    } catch (error) {
      this.log.warn({ err: error }, 'could not acquire or renew the lease');
      return false;
    } finally {
      timeout.abort();
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const desired = (previous: LeaseRecord | undefined): LeaseRecord => {
      const ours = previous?.holderIdentity === this.identity;
      return {
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        acquireTime: ours && previous ? previous.acquireTime : now,
        renewTime: now,
        leaseTransitions: (previous?.leaseTransitions ?? 0) + (ours || !previous ? 0 : 1),
      };
    };
    const current = await this.lock.get();
    if (!current) {
      return this.accept(await this.lock.create(desired(undefined)));
    }
    this.observe(current);
    const { holderIdentity, leaseDurationSeconds } = current.record;
    const heldByOther = holderIdentity !== '' && holderIdentity !== this.identity;
    if (heldByOther && this.observedAt + leaseDurationSeconds * 1000 > now) return false;
    return this.accept(await this.lock.update(desired(current.record), current.resourceVersion));
  }

  private accept(written: ObservedLease | undefined): boolean {
    if (!written) return false;
    this.observe(written);
    // Written while stopping: not leading, but stop() sees the record and releases it.
    return !(this.stopping.signal.aborted && !this.leading);
  }

  private observe(lease: ObservedLease): void {
    if (lease.resourceVersion !== this.observed?.resourceVersion) {
      this.observed = lease;
      // When the answer came, not when the request left (as client-go): a renewal seen at the
      // end of a slow GET must not be dated to its start, or the lease looks seconds older
      // than it is and is taken while its holder still leads.
      this.observedAt = this.clock.now();
    }
    const holder = lease.record.holderIdentity;
    if (holder !== this.lastLeader) {
      this.lastLeader = holder;
      if (holder !== '') {
        this.log.info({ leader: holder }, 'new leader observed');
        this.options.onNewLeader?.(holder);
      }
    }
  }

  private async becomeLeader(): Promise<void> {
    this.leading = new AbortController();
    this.metrics?.leaderStatus.set({ name: this.lock.description }, 1);
    this.log.info('started leading');
    try {
      await this.options.onStartedLeading(this.leading.signal);
    } catch (error) {
      this.log.error({ err: error }, 'onStartedLeading threw');
    }
  }

  private async stepDown(lost: LeaderElectionLostError | undefined): Promise<void> {
    const leading = this.leading;
    if (!leading) return;
    this.leading = undefined;
    leading.abort();
    this.metrics?.leaderStatus.set({ name: this.lock.description }, 0);
    if (lost) this.log.error({ err: lost }, 'leadership lost');
    else this.log.info('stopped leading');
    try {
      await this.options.onStoppedLeading(lost);
    } catch (error) {
      this.log.error({ err: error }, 'onStoppedLeading threw');
    }
  }

  /**
   * Clears the Lease for a fast handover, for at most the renew deadline (as client-go bounds
   * it): an API server that stopped answering would otherwise hold the stop for minutes, past
   * the pod's grace period. Unreleased, the Lease expires on its own.
   */
  private async release(): Promise<void> {
    const observed = this.observed;
    if (!observed || observed.record.holderIdentity !== this.identity) return;
    const now = this.clock.now();
    let timer: TimerHandle | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = this.clock.setTimeout(() => resolve('late'), this.renewDeadlineMs);
    });
    try {
      const released = this.lock.update(
        {
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: observed.record.leaseTransitions,
        },
        observed.resourceVersion,
      );
      released.catch(() => undefined); // settles after a timeout too; already reported then
      if ((await Promise.race([released, late])) === 'late') {
        this.log.warn(
          { waitedMs: this.renewDeadlineMs },
          'could not release the lease in time; it expires on its own',
        );
        return;
      }
      this.log.info('lease released');
    } catch (error) {
      this.log.warn({ err: error }, 'could not release the lease; it expires on its own');
    } finally {
      if (timer !== undefined) this.clock.clearTimeout(timer);
    }
  }
}
