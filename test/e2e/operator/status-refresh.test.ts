import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, useNamespace } from '../support.ts';
import {
  boundClaim,
  createSd,
  getSd,
  LocalDistributor,
  sdManifest,
  sdWithCondition,
  useOperator,
} from './support.ts';

const REQUEUE_SECONDS = 20;

// Its own operator: the requeue is long and there is no short resync, so what wakes a
// reconcile besides them shows in the count.
const op = useOperator('status', { extraArgs: ['--requeue-seconds', String(REQUEUE_SECONDS)] });

describe('the status under traffic', () => {
  const ns = useNamespace('status');
  let distributor: LocalDistributor | undefined;
  let other: LocalDistributor | undefined;
  beforeEach(async () => boundClaim(ns.name));
  afterEach(async () => {
    await distributor?.stop();
    await other?.stop();
    distributor = other = undefined;
  });

  /**
   * The operator's log lines with `msg` for `name`'s key: it also reconciles other files'
   * ShardDistributors.
   */
  function logLines(name: string, msg: string): string[] {
    return op.operator
      .output()
      .split('\n')
      .filter((l) => l.includes(`"key":"${ns.name}/${name}"`) && l.includes(`"msg":"${msg}"`));
  }

  /** The requeue the operator's log gives `name`'s last reconcile; undefined before one. */
  function lastRequeueMs(name: string): number | undefined {
    const lines = logLines(name, 'reconciled');
    const match = /"requeueAfterMs":(\d+)/.exec(lines.at(-1) ?? '');
    return match ? Number(match[1]) : undefined;
  }

  it('does not wake the operator when it writes it: reconciles follow the requeue, and the backlog still shows', async () => {
    await createSd(ns.name, sdManifest('busy', { minWorkers: 2 }));
    const local = await LocalDistributor.start(ns.name, 'busy', op.book);
    distributor = local;
    await sdWithCondition(ns.name, 'busy', 'Ready', { status: 'True' }, 60_000);

    // Nobody consumes the shards, and messages keep coming: the backlog the status carries
    // changes all the time, so every reconcile has a new status to write. The window holds
    // at least one requeue, the one reconcile that should come.
    const reconciles = () => logLines('busy', 'reconciling').length;
    const before = reconciles();
    let produced = 0;
    for (const end = Date.now() + (REQUEUE_SECONDS + 2) * 1_000; Date.now() < end;) {
      await local.produce([0, 1, 2].map((i) => `busy-${produced}-${i}`));
      produced += 3;
    }
    const during = reconciles() - before;
    // Two requeues at most. Woken by its own status writes, each requeue started a chain of
    // reconciles that lasted as long as the backlog kept moving between two of them.
    expect(during).toBeLessThanOrEqual(4);
    await eventually(
      async () => expect((await getSd(ns.name, 'busy')).status?.backlog).toBe(produced),
      { timeoutMs: (REQUEUE_SECONDS + 20) * 1_000 },
    );
  }, 180_000);

  it('is looked at again at least as often as the HPA syncs (15 s) when it autoscales', async () => {
    await createSd(ns.name, sdManifest('steady', { minWorkers: 1 }));
    await createSd(ns.name, sdManifest('elastic', { minWorkers: 1, maxWorkers: 3 }));
    distributor = await LocalDistributor.start(ns.name, 'steady', op.book);
    other = await LocalDistributor.start(ns.name, 'elastic', op.book);
    await sdWithCondition(ns.name, 'steady', 'Ready', { status: 'True' }, 60_000);
    await sdWithCondition(ns.name, 'elastic', 'Ready', { status: 'True' }, 60_000);
    // Steady, both: the requeue is the operator's --requeue-seconds, clamped to 15 s for the
    // one whose status (backlog) drives its worker count.
    await eventually(() => expect(lastRequeueMs('steady')).toBe(REQUEUE_SECONDS * 1_000), {
      timeoutMs: 30_000,
    });
    await eventually(() => expect(lastRequeueMs('elastic')).toBe(15_000), { timeoutMs: 30_000 });
  }, 120_000);
});
