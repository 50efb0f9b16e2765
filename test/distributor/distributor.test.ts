import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { DistributorConfig } from '../../src/config/index.ts';
import {
  QueueConnectionClosedError,
  QueueFullError,
  type QueueBackend,
  type QueueWriter,
} from '../../src/queue/index.ts';
import {
  PROTOCOL_STEPS,
  failpointFromSpec,
  type Distributor,
} from '../../src/distributor/index.ts';
import { eventually } from '../harness/eventually.ts';
import { bench, countDeliveries, ids, runUntil, type Bench } from './helpers.ts';

let b: Bench;
afterEach(async () => b?.cleanup());

/** `inner` whose writers are what `wrap` makes of each (given the writer and its queue). */
function withWriters(
  inner: QueueBackend,
  wrap: (writer: QueueWriter, queue: string) => Partial<QueueWriter>,
): QueueBackend {
  return {
    ...inner,
    kind: inner.kind,
    backlog: inner.backlog.bind(inner),
    openConsumer: inner.openConsumer.bind(inner),
    close: inner.close.bind(inner),
    async openWriter(queue, options) {
      const writer = await inner.openWriter(queue, options);
      return {
        queue: writer.queue,
        append: (m) => writer.append(m),
        mark: () => writer.mark(),
        countSince: (m) => writer.countSince(m),
        close: () => writer.close(),
        flush: () => writer.flush(),
        ...wrap(writer, queue),
      };
    },
  };
}

/** A shard backend whose writers fail their first `failures` flushes, as a full disk would. */
function failingFlushes(inner: QueueBackend, failures: { left: number }): QueueBackend {
  return withWriters(inner, (writer, queue) => ({
    async flush() {
      if (failures.left > 0) {
        failures.left--;
        throw new QueueFullError(`injected: no space left writing ${queue}`);
      }
      return writer.flush();
    },
  }));
}

/**
 * A distributor running over `b`'s queues whose turn stops at the flush of shard queue
 * `queue` until `open()`: what is asked of it meanwhile waits behind that batch.
 */
async function heldAtFlushOf(
  bench: Bench,
  queue: string,
  config?: DistributorConfig,
): Promise<{ d: Distributor; open: () => void; stop: () => Promise<void> }> {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let reached = false;
  const d = await bench.distributor({
    ...(config ? { config } : {}),
    shardBackend: withWriters(bench.backend(bench.shardDir), (writer, name) =>
      name === queue
        ? {
            async flush() {
              reached = true;
              await gate;
              return writer.flush();
            },
          }
        : {},
    ),
  });
  const halt = new AbortController();
  const running = d.run(halt.signal);
  await eventually(async () => expect(reached).toBe(true));
  return {
    d,
    open,
    stop: async () => {
      halt.abort();
      await running;
    },
  };
}

describe('the distributor loop', () => {
  it('moves every message into exactly one shard, byte-identical, and commits the main queue', async () => {
    b = await bench();
    const messages = ids(95);
    await b.produce(messages);
    const d = await b.distributor();
    await runUntil(d, async () => (await b.committedMain()) === 0);
    const report = countDeliveries(await b.shardContents(), messages);
    expect(report).toEqual({ delivered: 95, lost: [], duplicated: [], unexpected: [] });
  });

  it('keeps the order of the main queue within each shard', async () => {
    b = await bench({ strategy: 'RoundRobin' });
    const messages = ids(40);
    await b.produce(messages);
    await runUntil(await b.distributor(), async () => (await b.committedMain()) === 0);
    for (const list of (await b.shardContents()).values()) expect(list).toEqual([...list].sort());
  });

  it('spreads a batch over idle shards instead of flooding the first one', async () => {
    b = await bench({ strategy: 'ZeroLoadFirst', batchSize: 100 });
    await b.produce(ids(100));
    await runUntil(await b.distributor(), async () => (await b.committedMain()) === 0);
    const sizes = [...(await b.shardContents()).values()].map((l) => l.length);
    expect(sizes).toEqual([25, 25, 25, 25]);
  });

  it('retries a failed shard write and never moves the main position past it', async () => {
    b = await bench();
    const messages = ids(30);
    await b.produce(messages);
    const failures = { left: 5 };
    const d = await b.distributor({
      shardBackend: failingFlushes(b.backend(b.shardDir), failures),
    });
    await runUntil(d, async () => (await b.committedMain()) === 0);
    expect(failures.left).toBe(0);
    expect(countDeliveries(await b.shardContents(), messages)).toMatchObject({
      delivered: 30,
      lost: [],
      duplicated: [],
    });
    const counted = (await d.metrics.writeFailures.get()).values;
    expect(counted.reduce((sum, v) => sum + v.value, 0)).toBe(5);
    expect(b.logs.some((l) => l.msg === 'shard write failed; retrying, nothing is skipped')).toBe(
      true,
    );
  });

  it('leaves the main position where it was while writes keep failing, and a restart delivers exactly once', async () => {
    b = await bench();
    const messages = ids(25);
    await b.produce(messages);
    const failing = await b.distributor({
      shardBackend: failingFlushes(b.backend(b.shardDir), { left: Infinity }),
    });
    const stop = new AbortController();
    const running = failing.run(stop.signal);
    await new Promise((r) => setTimeout(r, 100));
    expect(await b.committedMain()).toBe(25);
    stop.abort();
    await running;
    await failing.close();
    const healthy = await b.distributor();
    await runUntil(healthy, async () => (await b.committedMain()) === 0);
    expect(countDeliveries(await b.shardContents(), messages)).toEqual({
      delivered: 25,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
  });

  it.each(PROTOCOL_STEPS)('delivers exactly once when a batch is interrupted %s', async (step) => {
    b = await bench();
    const messages = ids(57);
    await b.produce(messages);
    // The second batch crashes at this step; the distributor is then opened again.
    const crashing = await b.distributor({ failpoint: failpointFromSpec(`${step}:2:throw`) });
    await expect(runUntil(crashing, async () => false)).rejects.toThrow(/failpoint/);
    await crashing.close();
    const restarted = await b.distributor();
    await runUntil(restarted, async () => (await b.committedMain()) === 0);
    expect(countDeliveries(await b.shardContents(), messages)).toEqual({
      delivered: 57,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
  });

  it('keeps every key on one shard with KeyHash and key_field naming a JSON field', async () => {
    b = await bench({ strategy: 'KeyHash', keyField: 'customer', batchSize: 7 });
    const messages = Array.from({ length: 60 }, (_, i) =>
      JSON.stringify({ customer: `c-${i % 6}`, n: i }),
    );
    await b.produce(messages);
    await runUntil(await b.distributor(), async () => (await b.committedMain()) === 0);
    const shardOf = new Map<string, Set<number>>();
    for (const [shard, list] of await b.shardContents()) {
      for (const text of list) {
        const customer = (JSON.parse(text) as { customer: string }).customer;
        shardOf.set(customer, (shardOf.get(customer) ?? new Set()).add(shard));
      }
    }
    expect(shardOf.size).toBe(6);
    for (const shards of shardOf.values()) expect(shards.size).toBe(1);
  });

  it('finishes the batch in flight and commits when stopped', async () => {
    b = await bench({ batchSize: 50 });
    await b.produce(ids(50));
    const d = await b.distributor();
    await runUntil(d, async () => (await b.committedMain()) < 50);
    expect(await b.committedMain()).toBe(0);
  });

  it('reports per-shard load as /load does', async () => {
    b = await bench();
    await b.produce(ids(20));
    const d = await b.distributor();
    await runUntil(d, async () => (await b.committedMain()) === 0);
    await d.refreshLoad();
    const report = d.loadReport();
    expect(report.shards.map((s) => s.index)).toEqual([0, 1, 2, 3]);
    expect(report.shards.reduce((sum, s) => sum + s.dispatched, 0)).toBe(20);
    expect(
      report.shards.every(
        (s) => s.live && s.state === 'live' && s.queue.startsWith('individuals-flow-shard-'),
      ),
    ).toBe(true);
    expect(report.mainLag).toBe(0);
    expect(Date.parse(report.updatedAt)).toBeGreaterThan(0);
  });
});

describe('a live change of the shard set', () => {
  it('pauses with no live shard, keeping messages in the main queue, and resumes', async () => {
    b = await bench({ minWorkers: 2 });
    await b.produce(ids(5, 'a'));
    const d = await b.distributor();
    await runUntil(d, async () => (await b.committedMain()) === 0);
    await d.applyConfig({
      ...b.config,
      dispatcher: { ...b.config.dispatcher, minWorkers: 0, drainingShards: [0, 1] },
    });
    await b.produce(ids(5, 'b'));
    const stop = new AbortController();
    const running = d.run(stop.signal);
    await eventually(() =>
      expect(b.logs.some((l) => l.msg.startsWith('no live shard'))).toBe(true),
    );
    expect(await b.committedMain()).toBe(5);
    stop.abort();
    await running;
    await d.applyConfig({ ...b.config, dispatcher: { ...b.config.dispatcher, minWorkers: 2 } });
    await runUntil(d, async () => (await b.committedMain()) === 0);
    const all = [...(await b.shardContents(2)).values()].flat();
    expect(all.sort()).toEqual([...ids(5, 'a'), ...ids(5, 'b')].sort());
  });

  it('starts sending to new shards and stops sending to removed ones, which drain', async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 2 });
    await b.produce(ids(10, 'a'));
    const registry = new Registry();
    const d = await b.distributor({ registry });
    await runUntil(d, async () => (await b.committedMain()) === 0);
    await d.applyConfig({ ...b.config, dispatcher: { ...b.config.dispatcher, minWorkers: 3 } });
    await b.produce(ids(9, 'b'));
    await runUntil(d, async () => (await b.committedMain()) === 0);
    let contents = await b.shardContents(3);
    expect(contents.get(2)?.filter((id) => id.startsWith('b'))).toHaveLength(3);

    await d.applyConfig({
      ...b.config,
      dispatcher: { ...b.config.dispatcher, minWorkers: 2, drainingShards: [2] },
    });
    expect(d.loadReport().shards.find((s) => s.index === 2)?.state).toBe('draining');
    await b.produce(ids(10, 'c'));
    await runUntil(d, async () => (await b.committedMain()) === 0);
    contents = await b.shardContents(3);
    expect(contents.get(2)?.some((id) => id.startsWith('c'))).toBe(false);

    // The shard's worker empties it: the distributor reports it drained.
    const worker = await b
      .backend(b.shardDir)
      .openConsumer('individuals-flow-shard-2', b.config.dispatcher.consumerName);
    const rest = await worker.read(100);
    await worker.commit(rest.next);
    await d.applyConfig({
      ...b.config,
      dispatcher: { ...b.config.dispatcher, minWorkers: 2, drainingShards: [2] },
    });
    expect(d.loadReport().shards.find((s) => s.index === 2)?.state).toBe('drained');

    // Dropped from the config once drained: gone from /load and from /metrics, where a
    // backlog gauge left behind would describe a shard that no longer exists.
    const shardSeries = async (index: number) =>
      (await registry.getMetricsAsJSON()).flatMap((m) =>
        m.values.filter((v) => v.labels['shard'] === String(index)).map(() => m.name),
      );
    expect(await shardSeries(2)).toEqual(
      expect.arrayContaining([
        'shard_distributor_shard_backlog',
        'shard_distributor_dispatched_total',
      ]),
    );
    await d.applyConfig({ ...b.config, dispatcher: { ...b.config.dispatcher, minWorkers: 2 } });
    expect(d.loadReport().shards.map((s) => s.index)).toEqual([0, 1]);
    expect(await shardSeries(2)).toEqual([]);
    expect(await shardSeries(1)).toContain('shard_distributor_shard_backlog');
  });

  it('takes a shard out only between batches: one already on its way there is counted, not reported drained past', async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 2 });
    await b.produce(ids(2));
    const { d, open, stop } = await heldAtFlushOf(b, 'individuals-flow-shard-1');

    // Shard 1 is taken out while the batch's write to it is under way, its queue still empty:
    // were the change applied now, the shard would be measured empty and reported drained, and
    // the message landing after that would be left where no worker reads.
    const applied = d.applyConfig({
      ...b.config,
      dispatcher: { ...b.config.dispatcher, minWorkers: 1, drainingShards: [1] },
    });
    await Promise.race([applied, new Promise((resolve) => setTimeout(resolve, 500))]);
    open();
    await applied;
    await eventually(async () => expect(await b.committedMain()).toBe(0));
    await stop();

    expect((await b.shardContents(2)).get(1)).toEqual(['m-000001']);
    await d.refreshLoad();
    expect(d.loadReport().shards.find((s) => s.index === 1)).toMatchObject({
      state: 'draining',
      backlog: 1,
    });
  });

  it('stops with the error when a shard write finds its connection closed for good, rather than retry for ever', async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 2 });
    await b.produce(ids(2));
    const gone = new QueueConnectionClosedError(
      'the NATS client closed its connection to nats://127.0.0.1:4222 for good: Authorization Violation',
    );
    const d = await b.distributor({
      shardBackend: withWriters(b.backend(b.shardDir), () => ({
        countSince: () => Promise.reject(gone),
        flush: () => Promise.reject(gone),
      })),
    });
    await expect(runUntil(d, async () => false, 5_000)).rejects.toBe(gone);
    expect(await b.committedMain()).toBe(2);
  });

  it('sets moving shards on the config applied last, never undoing a change queued before them', async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
    const shardSet = (minWorkers: number, drainingShards: number[]): DistributorConfig => ({
      ...b.config,
      dispatcher: { ...b.config.dispatcher, minWorkers, drainingShards },
    });
    // A message on each of the 3 shards first: shard 2 has a backlog to move.
    await b.produce(ids(3, 'x'));
    const first = await b.distributor();
    await runUntil(first, async () => (await b.committedMain()) === 0);
    await first.close();
    await b.produce(ids(2));
    // Shard 2 dropped from the INI (run mode stops its worker).
    const { d, open, stop } = await heldAtFlushOf(b, 'individuals-flow-shard-1', shardSet(2, []));

    // Behind the turn: the INI edited again (shard 1 dropped too, shard 2 listed in
    // draining_shards, so run mode gives it its worker back), then run mode's moving list for
    // shard 2, worked out before that edit was applied.
    const edited = d.applyConfig(shardSet(1, [2]));
    const moving = d.applyMoving(new Map([['default', [2]]]));
    open();
    await Promise.all([edited, moving]);
    await stop();

    // The edit stays, and shard 2, whose worker runs again, is not moved under it.
    expect(d.loadReport().shards.map((s) => [s.index, s.state, s.moving])).toEqual([
      [0, 'live', false],
      [1, 'draining', false],
      [2, 'draining', false],
    ]);
  });

  it('says at start which shard queues the INI no longer lists still hold messages', async () => {
    b = await bench({ strategy: 'RoundRobin', minWorkers: 3 });
    await b.produce(ids(9));
    const first = await b.distributor();
    await runUntil(first, async () => (await b.committedMain()) === 0);
    await first.close();

    // Its worker had rejected one message, waiting in its retry queue.
    const retries = await b.backend(b.shardDir).openWriter('individuals-flow-shard-2-retry');
    await retries.append([Buffer.from('a reject in its envelope')]);
    await retries.flush();
    await retries.close();

    // Restarted with fewer shards: shard 2 and its 3 + 1 messages are no longer in the INI.
    await b.distributor({
      config: { ...b.config, dispatcher: { ...b.config.dispatcher, minWorkers: 2 } },
    });
    const stranded = b.logs
      .filter((l) => l.msg.startsWith('a shard queue the INI no longer lists'))
      .sort((x, y) => String(x.queue).localeCompare(String(y.queue)));
    expect(stranded).toEqual([
      expect.objectContaining({
        level: 'warn',
        pool: 'default',
        shard: 2,
        queue: 'individuals-flow-shard-2',
        backlog: 3,
      }),
      expect.objectContaining({
        level: 'warn',
        shard: 2,
        queue: 'individuals-flow-shard-2-retry',
        backlog: 1,
      }),
    ]);
  });
});
