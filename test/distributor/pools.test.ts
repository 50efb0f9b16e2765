import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  defaultNatsConfig,
  type DistributorConfig,
  type PoolConfig,
} from '../../src/config/index.ts';
import {
  BatchJournal,
  Distributor,
  PROTOCOL_STEPS,
  failpointFromSpec,
  replayQueueName,
  type DistributorOptions,
} from '../../src/distributor/index.ts';
import { createLogger } from '../../src/observability/index.ts';
import {
  createNatsBackend,
  createVedaBackend,
  decodeEnvelope,
  type QueueBackend,
} from '../../src/queue/index.ts';
import { defaultSubjectPrefix } from '../../src/queue/nats/options.ts';
import { eventually } from '../harness/eventually.ts';
import { NatsServer } from '../harness/nats-server.ts';
import { countDeliveries, readShards, runUntil, takeAsWorker } from './helpers.ts';

/**
 * Worker pools in the fan-out loop, on both backends: routing by size and by type, each
 * pool's shards, backpressure that holds the main queue without losing anything, and a
 * crash at every step of a batch that spans pools.
 */

const BACKENDS = ['veda', 'nats'] as const;
type BackendKind = (typeof BACKENDS)[number];

let server: NatsServer;
let dir: string;
beforeAll(async () => {
  server = await NatsServer.start();
  dir = await mkdtemp(join(tmpdir(), 'sd-pools-'));
});
afterAll(async () => {
  await server?.dispose();
  await rm(dir, { recursive: true, force: true });
});

interface World {
  readonly config: DistributorConfig;
  readonly backend: QueueBackend;
  /** The metrics text of the last distributor opened. */
  metrics(): Promise<string>;
  distributor(options?: Partial<DistributorOptions>): Promise<Distributor>;
  produce(messages: readonly string[], queue?: string): Promise<void>;
  mainLag(): Promise<number>;
  /** Every message of a pool's shard queues, read from the start by an audit consumer. */
  contents(prefix: string, shards: number): Promise<Map<number, string[]>>;
  cleanup(): Promise<void>;
}

function pool(name: string, prefix: string, extra: Partial<PoolConfig>): PoolConfig {
  return {
    name,
    match: {},
    minWorkers: 2,
    drainingShards: [],
    strategy: 'RoundRobin',
    subQueuePrefix: prefix,
    workerModule: 'worker',
    workerArgsTemplate: '',
    backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
    ...extra,
  };
}

let run = 0;
let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

async function open(kind: BackendKind, pools: (prefix: string) => PoolConfig[]): Promise<World> {
  const id = `p${process.pid}n${++run}`;
  const base = defaultConfig();
  const prefix = `shard${id}`;
  const log = createLogger({ level: 'warn' });
  const root = join(dir, id);
  const config: DistributorConfig = {
    ...base,
    dispatcher: {
      ...base.dispatcher,
      backend: kind,
      basePath: root,
      mainQueueName: `main${id}`,
      minWorkers: 2,
      strategy: 'RoundRobin',
      batchSize: 10,
      durable: kind === 'nats',
    },
    worker: { ...base.worker, workerBasePath: root, subQueuePrefix: prefix, sleepEmptySec: 0.02 },
    ...(kind === 'nats'
      ? {
          nats: {
            ...defaultNatsConfig(server.url),
            mainStream: `MAIN_${id}`,
            shardStream: `SHARDS_${id}`,
          },
        }
      : {}),
    pools: pools(prefix),
  };
  let registry = new Registry();
  const backends: QueueBackend[] = [];
  const backend = async (): Promise<QueueBackend> => {
    const b =
      kind === 'nats'
        ? await createNatsBackend({
            ...config.nats!,
            mainQueue: config.dispatcher.mainQueueName,
            logger: log,
          })
        : createVedaBackend({ basePath: root, durable: false, logger: log });
    backends.push(b);
    return b;
  };
  const shared = await backend();
  const running: Distributor[] = [];
  return {
    config,
    backend: shared,
    metrics: () => registry.metrics(),
    async distributor(options = {}) {
      const b = await backend();
      registry = new Registry();
      const d = await Distributor.open({
        config,
        mainBackend: b,
        shardBackend: b,
        registry,
        log,
        ...(kind === 'veda'
          ? {
              journal: BatchJournal.forQueue(
                root,
                config.dispatcher.mainQueueName,
                config.dispatcher.consumerName,
              ),
            }
          : {}),
        retryMinMs: 1,
        retryMaxMs: 5,
        idleMinMs: 1,
        ...options,
      });
      running.push(d);
      return d;
    },
    async produce(messages, queue = config.dispatcher.mainQueueName) {
      const writer = await shared.openWriter(queue);
      await writer.append(messages.map((m) => Buffer.from(m)));
      await writer.flush();
      await writer.close();
    },
    mainLag: () => shared.backlog(config.dispatcher.mainQueueName, config.dispatcher.consumerName),
    contents: (queuePrefix, shards) => readShards(shared, queuePrefix, shards),
    async cleanup() {
      for (const d of running) await d.close().catch(() => undefined);
      for (const b of backends) await b.close().catch(() => undefined);
    },
  };
}

/** `id|type|padding`: a message of `bytes` bytes with a JSON-free, greppable shape. */
function message(id: string, bytes: number, type = 'doc'): string {
  const head = JSON.stringify({ id, type, pad: '' });
  return JSON.stringify({ id, type, pad: 'x'.repeat(Math.max(0, bytes - head.length)) });
}

function parse(text: string): { id: string; type: string; bytes: number } {
  const { id, type } = JSON.parse(text) as { id: string; type: string };
  return { id, type, bytes: Buffer.byteLength(text) };
}

function flatten(...maps: Map<number, string[]>[]): string[] {
  return maps.flatMap((m) => [...m.values()].flat());
}

describe.each(BACKENDS)('worker pools on the %s backend', (kind) => {
  it('routes by type first, then by size tier, the rest to the default pool, each message exactly once', async () => {
    world = await open(kind, (prefix) => [
      pool('images', `${prefix}-images`, { match: { messageType: 'image' } }),
      pool('large', `${prefix}-large`, { match: { minBytes: 300 }, minWorkers: 3 }),
    ]);
    const { config } = world;
    const messages = Array.from({ length: 90 }, (_, i) =>
      message(`m${i}`, i % 3 === 0 ? 500 : 100, i % 5 === 0 ? 'image' : 'doc'),
    );
    await world.produce(messages);
    await runUntil(await world.distributor(), async () => (await world!.mainLag()) === 0);

    const images = await world.contents(`${config.worker.subQueuePrefix}-images`, 2);
    const large = await world.contents(`${config.worker.subQueuePrefix}-large`, 3);
    const small = await world.contents(config.worker.subQueuePrefix, 2);
    expect(
      flatten(images)
        .map(parse)
        .every((m) => m.type === 'image'),
    ).toBe(true);
    expect(
      flatten(large)
        .map(parse)
        .every((m) => m.type !== 'image' && m.bytes >= 300),
    ).toBe(true);
    expect(
      flatten(small)
        .map(parse)
        .every((m) => m.type !== 'image' && m.bytes < 300),
    ).toBe(true);
    // Every shard of every pool took part (round robin within the pool).
    for (const shards of [images, large, small])
      for (const list of shards.values()) expect(list.length).toBeGreaterThan(0);
    expect(countDeliveries(new Map([[0, flatten(images, large, small)]]), messages)).toEqual({
      delivered: 90,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
  });

  it('sends the messages of a pool scaled to zero (being removed) to the next rule or the default pool', async () => {
    world = await open(kind, (prefix) => [
      pool('large', `${prefix}-large`, { match: { minBytes: 300 }, minWorkers: 0 }),
    ]);
    const { config } = world;
    const messages = Array.from({ length: 20 }, (_, i) => message(`m${i}`, i % 2 ? 400 : 100));
    await world.produce(messages);
    await runUntil(await world.distributor(), async () => (await world!.mainLag()) === 0);
    const small = await world.contents(config.worker.subQueuePrefix, 2);
    expect(countDeliveries(small, messages)).toEqual({
      delivered: 20,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
  });

  it('moves a stopped shard of a pool being removed to where its messages go now, each once', async () => {
    // The pool was taken out of the spec while shard 1 was stopped mid-scale-down: the pool has
    // no live shard and never will, so shard 1's backlog goes to the default pool.
    world = await open(kind, (prefix) => [
      pool('large', `${prefix}-large`, {
        match: { minBytes: 300 },
        minWorkers: 0,
        drainingShards: [0, 1],
        movingShards: [1],
      }),
    ]);
    const { config, backend } = world;
    const large = `${config.worker.subQueuePrefix}-large`;
    const stranded = Array.from({ length: 25 }, (_, i) => message(`s${i}`, 400));
    await world.produce([]);
    await world.produce(stranded, `${large}-1`);
    await world.produce([message('kept', 400)], `${large}-0`);
    await runUntil(
      await world.distributor(),
      async () => (await backend.backlog(`${large}-1`, config.dispatcher.consumerName)) === 0,
    );
    const small = await world.contents(config.worker.subQueuePrefix, 2);
    expect(countDeliveries(small, stranded)).toEqual({
      delivered: 25,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
    // Shard 0's worker still runs: its queue is its own to drain.
    expect(await backend.backlog(`${large}-0`, config.dispatcher.consumerName)).toBe(1);
  });

  it('reports each pool in /load and its metrics labelled with the pool', async () => {
    world = await open(kind, (prefix) => [
      pool('large', `${prefix}-large`, { match: { minBytes: 300 } }),
    ]);
    await world.produce([message('a', 100), message('b', 400), message('c', 400)]);
    const d = await world.distributor();
    await runUntil(d, async () => (await world!.mainLag()) === 0);
    await d.refreshLoad();
    const report = d.loadReport();
    expect(report.shards.map((s) => [s.pool ?? 'default', s.index, s.dispatched])).toEqual([
      ['default', 0, 1],
      ['default', 1, 0],
      ['large', 0, 1],
      ['large', 1, 1],
    ]);
    expect(report.backpressure).toEqual([]);
    const text = await world.metrics();
    expect(text).toMatch(
      /shard_distributor_dispatched_total\{pool="large",shard="1",queue="[^"]+-large-1"\} 1/,
    );
  });

  it('holds the main queue while every shard of a pool is at its backlog limit, and loses nothing', async () => {
    world = await open(kind, (prefix) => [
      pool('large', `${prefix}-large`, {
        match: { minBytes: 300 },
        backpressure: { maxBacklogPerShard: 4, maxDiskBytes: 0 },
      }),
    ]);
    const { config } = world;
    const messages = Array.from({ length: 60 }, (_, i) => message(`m${i}`, i % 2 === 0 ? 400 : 50));
    await world.produce(messages);
    const d = await world.distributor();
    const stop = new AbortController();
    const running = d.run(stop.signal);
    const largePrefix = `${config.worker.subQueuePrefix}-large`;
    try {
      // Held: the large pool is full and the main queue stops moving with messages left.
      await waitFor(async () => d.loadReport().backpressure.length === 1);
      expect(d.loadReport().backpressure[0]).toMatchObject({
        pool: 'large',
        reason: 'BacklogLimit',
      });
      const lag = await world.mainLag();
      expect(lag).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 300));
      expect(await world.mainLag()).toBe(lag);
      const held = await world.contents(largePrefix, 2);
      // At most one batch past the limit per shard: checked between batches.
      for (const list of held.values()) expect(list.length).toBeLessThanOrEqual(4 + 10);
      expect(await world.metrics()).toMatch(/shard_distributor_backpressure\{pool="large"\} 1/);

      // The workers of the large pool catch up: the distributor reads on, to the end.
      const taken: string[] = [];
      await waitFor(async () => {
        for (const i of [0, 1]) {
          taken.push(
            ...(await takeAsWorker(
              world!.backend,
              `${largePrefix}-${i}`,
              config.dispatcher.consumerName,
              100,
            )),
          );
        }
        return (await world!.mainLag()) === 0;
      });
      await waitFor(async () => {
        await d.refreshLoad();
        return d.loadReport().backpressure.length === 0;
      });
      const large = await world.contents(largePrefix, 2);
      const small = await world.contents(config.worker.subQueuePrefix, 2);
      expect(
        countDeliveries(new Map([[0, [...flatten(large), ...flatten(small)]]]), messages),
      ).toEqual({ delivered: 60, lost: [], duplicated: [], unexpected: [] });
      expect(taken.length).toBeLessThanOrEqual(flatten(large).length);
    } finally {
      stop.abort();
      await running;
    }
  });

  it('dead-letters messages past their deadline to their pool’s dead-letter queue instead of a shard', async () => {
    world = await open(kind, (prefix) => [
      pool('large', `${prefix}-large`, { match: { minBytes: 300 } }),
    ]);
    const { config } = world;
    const past = Date.now() - 60_000;
    const future = Date.now() + 3_600_000;
    const messages = Array.from({ length: 40 }, (_, i) => {
      const deadline = i % 5 === 0 ? past : i % 5 === 1 ? future : undefined;
      const body = { id: `m${i}`, type: 'doc', ...(deadline ? { deadline } : {}) };
      const pad = 'x'.repeat(i % 2 ? 400 : 10);
      return JSON.stringify({ ...body, pad });
    });
    await world.produce(messages);
    const d = await world.distributor();
    await runUntil(d, async () => (await world!.mainLag()) === 0);

    const prefix = config.worker.subQueuePrefix;
    const smallDead = await readRaw(world.backend, `${prefix}-dlq`);
    const largeDead = await readRaw(world.backend, `${prefix}-large-dlq`);
    const expired = messages.filter((_, i) => i % 5 === 0);
    const unwrapped = [...smallDead, ...largeDead].map((bytes) => decodeEnvelope(bytes));
    expect(unwrapped.map((e) => Buffer.from(e.payload).toString()).sort()).toEqual(
      [...expired].sort(),
    );
    expect(
      unwrapped.every((e) => e.header.kind === 'expired' && /deadline/.test(e.header.reason)),
    ).toBe(true);
    expect(largeDead.length).toBe(expired.filter((m) => m.length >= 300).length);
    const large = await world.contents(`${prefix}-large`, 2);
    const small = await world.contents(prefix, 2);
    expect(
      countDeliveries(
        new Map([
          [
            0,
            [
              ...flatten(large),
              ...flatten(small),
              ...unwrapped.map((e) => Buffer.from(e.payload).toString()),
            ],
          ],
        ]),
        messages,
      ),
    ).toEqual({ delivered: 40, lost: [], duplicated: [], unexpected: [] });
    expect(await world.metrics()).toMatch(/shard_distributor_expired_total\{pool="large"\} 4/);
  });

  it.each(PROTOCOL_STEPS)(
    'routes replayed dead letters like the main queue, exactly once, when interrupted %s',
    async (step) => {
      world = await open(kind, (prefix) => [
        pool('large', `${prefix}-large`, { match: { minBytes: 300 } }),
      ]);
      const { config } = world;
      const main = Array.from({ length: 12 }, (_, i) => message(`main${i}`, i % 2 ? 100 : 400));
      const replayed = Array.from({ length: 33 }, (_, i) => message(`dl${i}`, i % 3 ? 100 : 400));
      await world.produce(main);
      // What `dlq replay` writes: the original payloads, in the replay queue beside the shards.
      await world.produce(replayed, replayQueueName(config.dispatcher.mainQueueName));
      const crashing = await world.distributor({
        failpoint: failpointFromSpec(`${step}:3:throw`),
      });
      await expect(runUntil(crashing, async () => false)).rejects.toThrow(/failpoint/);
      await crashing.close();
      const replayLag = () =>
        world!.backend.backlog(
          replayQueueName(config.dispatcher.mainQueueName),
          config.dispatcher.consumerName,
        );
      await runUntil(
        await world.distributor(),
        async () => (await world!.mainLag()) === 0 && (await replayLag()) === 0,
      );
      const large = await world.contents(`${config.worker.subQueuePrefix}-large`, 2);
      const small = await world.contents(config.worker.subQueuePrefix, 2);
      expect(flatten(large).every((m) => parse(m).bytes >= 300)).toBe(true);
      expect(flatten(small).every((m) => parse(m).bytes < 300)).toBe(true);
      expect(
        countDeliveries(new Map([[0, [...flatten(large), ...flatten(small)]]]), [
          ...main,
          ...replayed,
        ]),
      ).toEqual({ delivered: 45, lost: [], duplicated: [], unexpected: [] });
    },
  );

  it.each(PROTOCOL_STEPS)(
    'delivers exactly once when a batch spanning two pools is interrupted %s',
    async (step) => {
      world = await open(kind, (prefix) => [
        pool('large', `${prefix}-large`, { match: { minBytes: 300 } }),
      ]);
      const { config } = world;
      const messages = Array.from({ length: 47 }, (_, i) => message(`m${i}`, i % 3 ? 100 : 400));
      await world.produce(messages);
      const crashing = await world.distributor({
        failpoint: failpointFromSpec(`${step}:2:throw`),
      });
      await expect(runUntil(crashing, async () => false)).rejects.toThrow(/failpoint/);
      await crashing.close();
      await runUntil(await world.distributor(), async () => (await world!.mainLag()) === 0);
      const large = await world.contents(`${config.worker.subQueuePrefix}-large`, 2);
      const small = await world.contents(config.worker.subQueuePrefix, 2);
      expect(flatten(large).every((m) => parse(m).bytes >= 300)).toBe(true);
      expect(flatten(small).every((m) => parse(m).bytes < 300)).toBe(true);
      expect(
        countDeliveries(new Map([[0, [...flatten(large), ...flatten(small)]]]), messages),
      ).toEqual({ delivered: 47, lost: [], duplicated: [], unexpected: [] });
    },
  );
});

/** Every message of one queue, as stored, read from the start by an audit consumer. */
async function readRaw(backend: QueueBackend, queue: string): Promise<Uint8Array[]> {
  const consumer = await backend.openConsumer(queue, 'audit');
  const all: Uint8Array[] = [];
  try {
    for (;;) {
      const batch = await consumer.read(500);
      if (batch.messages.length === 0) return all;
      all.push(...batch.messages.map((m) => m.data));
    }
  } finally {
    await consumer.close();
  }
}

/** Until `condition` holds (tests wait, never sleep, for what they expect to happen). */
function waitFor(condition: () => Promise<boolean>): Promise<void> {
  return eventually(
    async () => {
      if (!(await condition())) throw new Error('not yet');
    },
    { timeoutMs: 20_000, intervalMs: 20 },
  );
}

describe('headers on the nats backend', () => {
  it('keeps each message headers on its shard, routes by the type header, and copies no JetStream header', async () => {
    world = await open('nats', (prefix) => [
      pool('images', `${prefix}-images`, { match: { messageType: 'image' } }),
    ]);
    const { config, backend } = world;
    const count = 20;
    // Published as a producer would, straight to the main subject, with JetStream headers
    // meant for that publish: copied, Nats-Expected-Stream (the main stream) would fail every
    // publish to a shard, and the producer's Nats-Msg-Id would collide across shards.
    const nc = await connect({ servers: server.url });
    try {
      const js = jetstream(nc);
      for (let i = 0; i < count; i++) {
        const h = i % 4 === 3 ? undefined : headers();
        h?.set('type', i % 2 === 0 ? 'image' : 'doc');
        h?.set('X-Trace', `trace-${i}`);
        h?.set('Nats-Expected-Stream', config.nats!.mainStream);
        h?.set('Nats-Msg-Id', `producer-${i}`);
        await js.publish(
          `${defaultSubjectPrefix(config.nats!.mainStream)}.${config.dispatcher.mainQueueName}`,
          `h${i}`,
          h ? { headers: h } : {},
        );
      }
    } finally {
      await nc.close();
    }
    await runUntil(await world.distributor(), async () => (await world!.mainLag()) === 0);

    const seen = new Map<string, { pool: string; headers: Record<string, string> | undefined }>();
    const prefixes = {
      images: `${config.worker.subQueuePrefix}-images`,
      default: config.worker.subQueuePrefix,
    };
    for (const [poolName, prefix] of Object.entries(prefixes)) {
      for (let shard = 0; shard < 2; shard++) {
        const consumer = await backend.openConsumer(`${prefix}-${shard}`, 'audit');
        const batch = await consumer.read(100);
        for (const m of batch.messages)
          seen.set(m.data.toString(), {
            pool: poolName,
            headers: m.headers ? { ...m.headers } : undefined,
          });
        await consumer.close();
      }
    }
    expect(seen.size).toBe(count);
    for (let i = 0; i < count; i++) {
      const got = seen.get(`h${i}`)!;
      if (i % 4 === 3) {
        expect(got.pool).toBe('default');
        expect(Object.keys(got.headers ?? {}).filter((k) => !k.startsWith('Nats-'))).toEqual([]);
        continue;
      }
      expect(got.pool).toBe(i % 2 === 0 ? 'images' : 'default');
      expect(got.headers).toMatchObject({
        type: i % 2 === 0 ? 'image' : 'doc',
        'X-Trace': `trace-${i}`,
      });
      expect(got.headers?.['Nats-Expected-Stream']).toBeUndefined();
      expect(got.headers?.['Nats-Msg-Id']).not.toBe(`producer-${i}`);
    }
  });
});
