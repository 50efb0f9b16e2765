import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { defaultConfig, type DistributorConfig } from '../../src/config/index.ts';
import { BatchJournal, Distributor, type DistributorOptions } from '../../src/distributor/index.ts';
import { createLogger, type Logger } from '../../src/observability/index.ts';
import { createVedaBackend, encodeEnvelope, type QueueBackend } from '../../src/queue/index.ts';

export const MAIN = 'individuals-flow';
export const PREFIX = 'individuals-flow-shard';

export interface Bench {
  dir: string;
  mainDir: string;
  shardDir: string;
  config: DistributorConfig;
  logs: { level: string; msg: string; [k: string]: unknown }[];
  log: Logger;
  backend(dir: string): QueueBackend;
  /** A distributor over the bench's queues; pass options to override. */
  distributor(options?: Partial<DistributorOptions>): Promise<Distributor>;
  produce(messages: readonly string[]): Promise<void>;
  /** Every message in every shard queue, read from the start by a fresh consumer. */
  shardContents(shards?: number): Promise<Map<number, string[]>>;
  committedMain(): Promise<number>;
  cleanup(): Promise<void>;
}

export function configWith(
  mainDir: string,
  shardDir: string,
  overrides: Partial<DistributorConfig['dispatcher']> = {},
): DistributorConfig {
  const base = defaultConfig();
  return {
    ...base,
    dispatcher: {
      ...base.dispatcher,
      basePath: mainDir,
      durable: false,
      batchSize: 10,
      ...overrides,
    },
    worker: {
      ...base.worker,
      workerBasePath: shardDir,
      subQueuePrefix: PREFIX,
      sleepEmptySec: 0.02,
    },
  };
}

export async function bench(
  overrides: Partial<DistributorConfig['dispatcher']> = {},
): Promise<Bench> {
  const dir = await mkdtemp(join(tmpdir(), 'sd-dist-'));
  const mainDir = join(dir, 'main');
  const shardDir = join(dir, 'shards');
  const logs: Bench['logs'] = [];
  const log = createLogger(
    { level: 'debug' },
    { write: (line: string) => void logs.push(JSON.parse(line)) },
  );
  const opened: QueueBackend[] = [];
  const backend = (path: string) => {
    const b = createVedaBackend({ basePath: path, durable: false, logger: log });
    opened.push(b);
    return b;
  };
  const config = configWith(mainDir, shardDir, overrides);
  const distributors: Distributor[] = [];
  return {
    dir,
    mainDir,
    shardDir,
    config,
    logs,
    log,
    backend,
    async distributor(options = {}) {
      const d = await Distributor.open({
        config,
        mainBackend: backend(mainDir),
        shardBackend: backend(shardDir),
        registry: new Registry(),
        log,
        journal: BatchJournal.forQueue(mainDir, MAIN, config.dispatcher.consumerName),
        retryMinMs: 1,
        retryMaxMs: 5,
        idleMinMs: 1,
        ...options,
      });
      distributors.push(d);
      return d;
    },
    async produce(messages) {
      const writer = await backend(mainDir).openWriter(MAIN);
      await writer.append(messages.map((m) => Buffer.from(m)));
      await writer.flush();
      await writer.close();
    },
    async shardContents(shards = config.dispatcher.minWorkers) {
      const result = new Map<number, string[]>();
      const reader = backend(shardDir);
      for (let i = 0; i < shards; i++) {
        const consumer = await reader
          .openConsumer(`${PREFIX}-${i}`, `audit-${Date.now()}-${Math.random()}`)
          .catch(() => undefined);
        const list: string[] = [];
        for (;;) {
          const batch = await consumer?.read(1000);
          if (!batch || batch.messages.length === 0) break;
          list.push(...batch.messages.map((m) => m.data.toString()));
        }
        await consumer?.close();
        result.set(i, list);
      }
      return result;
    },
    async committedMain() {
      return backend(mainDir).backlog(MAIN, config.dispatcher.consumerName);
    },
    async cleanup() {
      for (const d of distributors) await d.close().catch(() => undefined);
      for (const b of opened) await b.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs the distributor until `until` holds, then stops it as SIGTERM would. */
export async function runUntil(
  d: Distributor,
  until: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const stop = new AbortController();
  let failure: unknown;
  const running = d.run(stop.signal).catch((error: unknown) => {
    failure = error;
  });
  const deadline = Date.now() + timeoutMs;
  try {
    while (failure === undefined && !(await until())) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the distributor');
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    stop.abort();
    await running;
  }
  if (failure !== undefined) throw failure;
}

export function ids(n: number, prefix = 'm'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(6, '0')}`);
}

/** Asserts every id is in exactly one shard exactly once; returns counts for the report. */
export function countDeliveries(contents: Map<number, string[]>, expected: readonly string[]) {
  const seen = new Map<string, number>();
  for (const list of contents.values())
    for (const id of list) seen.set(id, (seen.get(id) ?? 0) + 1);
  const lost = expected.filter((id) => !seen.has(id));
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  const wanted = new Set(expected);
  const unexpected = [...seen.keys()].filter((id) => !wanted.has(id));
  return { delivered: seen.size, lost, duplicated, unexpected };
}

/** What a shard's worker takes: `count` messages of `queue` read and committed as `consumer`. */
export async function takeAsWorker(
  backend: QueueBackend,
  queue: string,
  consumer: string,
  count: number,
): Promise<string[]> {
  const worker = await backend.openConsumer(queue, consumer);
  const batch = await worker.read(count);
  await worker.commit(batch.next);
  await worker.close();
  return batch.messages.map((m) => m.data.toString());
}

/** Every message in shard queues `<prefix>-0 … <prefix>-(count-1)`, read from the start by an `audit` consumer. */
export async function readShards(
  backend: QueueBackend,
  prefix: string,
  count: number,
): Promise<Map<number, string[]>> {
  const result = new Map<number, string[]>();
  for (let i = 0; i < count; i++) {
    const consumer = await backend.openConsumer(`${prefix}-${i}`, 'audit');
    const list: string[] = [];
    for (;;) {
      const batch = await consumer.read(500);
      if (batch.messages.length === 0) break;
      list.push(...batch.messages.map((m) => m.data.toString()));
    }
    await consumer.close();
    result.set(i, list);
  }
  return result;
}

/**
 * What a shard's stopped worker left in its retry queue `<shardQueue>-retry`: `payloads`, each
 * rejected once and in its envelope, not due for an hour.
 */
export async function rejectsWaiting(
  backend: QueueBackend,
  shardQueue: string,
  payloads: readonly string[],
): Promise<void> {
  const at = new Date().toISOString();
  const writer = await backend.openWriter(`${shardQueue}-retry`);
  await writer.append(
    payloads.map((p) =>
      encodeEnvelope(
        {
          reason: 'downstream unavailable',
          attempts: 1,
          shard: shardQueue,
          pool: 'default',
          firstFailedAt: at,
          lastFailedAt: at,
          notBefore: new Date(Date.now() + 3_600_000).toISOString(),
          kind: 'rejected',
        },
        Buffer.from(p),
      ),
    ),
  );
  await writer.flush();
  await writer.close();
}
