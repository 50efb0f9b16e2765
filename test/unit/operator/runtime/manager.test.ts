import { describe, expect, it } from 'vitest';
import { Controller } from '../../../../src/operator/runtime/controller.ts';
import { LeaderElectionLostError } from '../../../../src/operator/runtime/errors.ts';
import { Informer } from '../../../../src/operator/runtime/informer.ts';
import { Manager } from '../../../../src/operator/runtime/manager.ts';
import { eventually } from '../../../harness/eventually.ts';
import { FakeApi } from './fake-api.ts';
import { FakeClock } from './fake-clock.ts';
import { MemoryLease } from './memory-lease.ts';

function parts() {
  const api = new FakeApi();
  api.put('a', {}, false);
  const informer = new Informer({ listerWatcher: api, resyncMs: 0 });
  const reconciled: string[] = [];
  const controller = new Controller({ name: 'm', reconcile: (key) => void reconciled.push(key) });
  controller.watch(informer);
  return { api, informer, controller, reconciled };
}

describe('Manager', () => {
  it('is ready once its informers have listed, and then reconciles (no election)', async () => {
    const { informer, controller, reconciled } = parts();
    const manager = new Manager().addInformer(informer).addController(controller);
    expect(manager.readyz()).toMatch(/informers not synced: configmaps/);
    await manager.start();
    expect(manager.readyz()).toBeUndefined();
    expect(manager.healthz()).toBeUndefined();
    expect(manager.isLeader()).toBe(true);
    await eventually(() => expect(reconciled).toEqual(['ns/a']));
    await manager.stop();
    expect(controller.running).toBe(false);
  });

  it('stops reconciling, turns unhealthy and rejects done() when leadership is lost', async () => {
    const { informer, controller } = parts();
    const clock = new FakeClock();
    let cut = false;
    const lease = new MemoryLease();
    const manager = new Manager({
      leaderElection: {
        lock: lease.lockFor(() => cut),
        identity: 'me',
        clock,
        random: () => 0,
      },
    })
      .addInformer(informer)
      .addController(controller);
    const done = manager.done();
    done.catch(() => undefined);
    await manager.start();
    await clock.advance(100);
    expect(manager.isLeader()).toBe(true);
    expect(controller.running).toBe(true);
    cut = true;
    await clock.advance(20_000);
    await expect(done).rejects.toBeInstanceOf(LeaderElectionLostError);
    expect(manager.isLeader()).toBe(false);
    expect(controller.running).toBe(false);
    expect(manager.healthz()).toMatch(/renew deadline exceeded/);
    await manager.stop();
  });
});
