import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LeaderElectionLostError } from '../../../../src/operator/runtime/errors.ts';
import { LeaderElector } from '../../../../src/operator/runtime/leader-election.ts';
import type { LeaseLock } from '../../../../src/operator/runtime/lease-lock.ts';
import { FakeClock } from './fake-clock.ts';
import { MemoryLease } from './memory-lease.ts';

function elector(
  name: string,
  lock: LeaseLock,
  clock: FakeClock,
  events: string[],
  registry?: Registry,
) {
  return new LeaderElector({
    lock,
    identity: name,
    clock,
    random: () => 0,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    ...(registry ? { registry } : {}),
    onStartedLeading: () => void events.push(`${name} started`),
    onStoppedLeading: (lost) =>
      void events.push(
        `${name} stopped${lost instanceof LeaderElectionLostError ? ' (lost)' : ''}`,
      ),
  });
}

/** Advances in small steps, failing if both ever lead at once. */
async function run(clock: FakeClock, ms: number, electors: LeaderElector[]): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    await clock.advance(100);
    expect(electors.filter((e) => e.isLeader()).length).toBeLessThanOrEqual(1);
  }
}

describe('LeaderElector', () => {
  it('elects one of two, and reports it in leader_election_master_status', async () => {
    const clock = new FakeClock();
    const lease = new MemoryLease();
    const events: string[] = [];
    const registry = new Registry();
    const a = elector('a', lease.lockFor(), clock, events, registry);
    const b = elector('b', lease.lockFor(), clock, events);
    a.start();
    await run(clock, 500, [a, b]);
    b.start();
    await run(clock, 30_000, [a, b]);
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    expect(b.leader()).toBe('a');
    expect(events).toEqual(['a started']);
    const status = await registry.getSingleMetric('leader_election_master_status')?.get();
    expect(status?.values[0]?.value).toBe(1);
    await b.stop();
    await a.stop();
  });

  it('hands over at once when the leader stops and releases the lease', async () => {
    const clock = new FakeClock();
    const lease = new MemoryLease();
    const events: string[] = [];
    const a = elector('a', lease.lockFor(), clock, events);
    const b = elector('b', lease.lockFor(), clock, events);
    a.start();
    await run(clock, 500, [a, b]);
    b.start();
    await run(clock, 5_000, [a, b]);
    await a.stop();
    expect(lease.current?.record.holderIdentity).toBe('');
    await run(clock, 2_500, [a, b]);
    expect(b.isLeader()).toBe(true);
    expect(events).toEqual(['a started', 'a stopped', 'b started']);
    await b.stop();
  });

  it('gives up releasing the lease after the renew deadline when the API server does not answer', async () => {
    const clock = new FakeClock();
    const lease = new MemoryLease();
    const events: string[] = [];
    let stalled = false;
    const lock = lease.lockFor();
    const stalling: LeaseLock = {
      ...lock,
      // A stalled API server: the request is sent and never answered.
      update: (record, resourceVersion) =>
        stalled ? new Promise(() => {}) : lock.update(record, resourceVersion),
    };
    const a = elector('a', stalling, clock, events);
    a.start();
    await run(clock, 500, [a]);
    expect(a.isLeader()).toBe(true);
    stalled = true;
    let stopped = false;
    const stopping = a.stop().then(() => (stopped = true));
    await clock.advance(9_000);
    expect(stopped).toBe(false);
    await clock.advance(1_000);
    await stopping;
    expect(stopped).toBe(true);
    // Not released: it expires on its own.
    expect(lease.current?.record.holderIdentity).toBe('a');
  });

  it('after a crash (no release), waits out the lease duration before taking over', async () => {
    const clock = new FakeClock();
    const lease = new MemoryLease();
    const events: string[] = [];
    const a = elector('a', lease.lockFor(), clock, events);
    const b = elector('b', lease.lockFor(), clock, events);
    a.start();
    b.start();
    await run(clock, 4_000, [a, b]);
    await a.stop({ release: false });
    const lastRenew = lease.current?.record.renewTime ?? 0;
    await run(clock, lastRenew + 13_000 - clock.now(), [a, b]);
    expect(b.isLeader()).toBe(false);
    await run(clock, 6_000, [a, b]);
    expect(b.isLeader()).toBe(true);
    await b.stop();
  });

  it('steps down when it cannot renew before the deadline, before anyone else may lead', async () => {
    const clock = new FakeClock();
    const lease = new MemoryLease();
    const events: string[] = [];
    let cut = false;
    const a = elector(
      'a',
      lease.lockFor(() => cut),
      clock,
      events,
    );
    const b = elector('b', lease.lockFor(), clock, events);
    a.start();
    await run(clock, 500, [a, b]);
    b.start();
    await run(clock, 4_000, [a, b]);
    cut = true;
    await run(clock, 30_000, [a, b]);
    expect(events).toEqual(['a started', 'a stopped (lost)', 'b started']);
    expect(a.isLeader()).toBe(false);
    expect(b.isLeader()).toBe(true);
    await a.stop();
    await b.stop();
  });

  it('dates a renewal from when its slow read returned, so it never takes a lease its holder still leads by', async () => {
    const clock = new FakeClock();
    const lease = new MemoryLease();
    const events: string[] = [];
    let cut = false;
    const a = elector(
      'a',
      lease.lockFor(() => cut),
      clock,
      events,
    );
    const plain = lease.lockFor();
    let slow = true;
    const b = elector(
      'b',
      {
        ...plain,
        // b's first read takes 9 s and returns the renewal a made near its end; right after
        // that, a loses the API server, and leads on until its renew deadline.
        get: async () => {
          if (!slow) return plain.get();
          slow = false;
          await new Promise<void>((resolve) => clock.setTimeout(resolve, 9_000));
          const seen = await plain.get();
          cut = true;
          return seen;
        },
      },
      clock,
      events,
    );
    a.start();
    await run(clock, 500, [a, b]);
    b.start();
    await run(clock, 40_000, [a, b]);
    expect(events).toEqual(['a started', 'a stopped (lost)', 'b started']);
    await a.stop();
    await b.stop();
  });

  it('rejects timings where the renew deadline is not shorter than the lease', () => {
    expect(
      () =>
        new LeaderElector({
          lock: new MemoryLease().lockFor(),
          leaseDurationMs: 10_000,
          renewDeadlineMs: 10_000,
          onStartedLeading: () => {},
          onStoppedLeading: () => {},
        }),
    ).toThrow(/leaseDuration must be greater than renewDeadline/);
  });
});
