import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../../src/observability/index.ts';
import {
  createVedaBackend,
  type QueueBackend,
  type QueueConsumer,
  type QueueMessage,
} from '../../src/queue/index.ts';
import type { VedaBackendOptions } from '../../src/queue/index.ts';

export const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'veda-queue-small');

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A temp directory, a backend on it, and what it logged and counted. */
export interface Harness {
  readonly dir: string;
  readonly backend: QueueBackend;
  readonly registry: Registry;
  readonly logs: LogLine[];
  readonly logger: Logger;
  backendWith(options: Partial<VedaBackendOptions>): QueueBackend;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  cleanup(): Promise<void>;
}

export async function harness(
  options: { fixture?: boolean } & Partial<VedaBackendOptions> = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'sd-queue-'));
  if (options.fixture) await cp(FIXTURE, dir, { recursive: true });
  const registry = new Registry();
  const logs: LogLine[] = [];
  const logger = createLogger(
    { level: 'debug' },
    { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
  );
  const backends: QueueBackend[] = [];
  const backendWith = (extra: Partial<VedaBackendOptions>): QueueBackend => {
    const backend = createVedaBackend({
      basePath: dir,
      logger,
      registry,
      durable: false,
      ...options,
      ...extra,
    });
    backends.push(backend);
    return backend;
  };
  const backend = backendWith({});
  return {
    dir,
    backend,
    registry,
    logs,
    logger,
    backendWith,
    async metric(name, labels = {}) {
      const metric = registry.getSingleMetric(`shard_distributor_queue_${name}`);
      if (!metric) return 0;
      const { values } = await metric.get();
      const match = values.find((v) =>
        Object.entries(labels).every(([k, want]) => v.labels[k] === want),
      );
      return match?.value ?? 0;
    },
    async cleanup() {
      for (const b of backends) await b.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Reads until an empty batch; returns every message. */
export async function readAll(consumer: QueueConsumer, batch = 10): Promise<QueueMessage[]> {
  const out: QueueMessage[] = [];
  for (;;) {
    const { messages } = await consumer.read(batch);
    if (messages.length === 0) return out;
    out.push(...messages);
  }
}

export function bodies(messages: readonly QueueMessage[]): string[] {
  return messages.map((m) => m.data.toString('utf8'));
}

/** Appends `messages` to `queue` and makes them visible, as a producer would. */
export async function writeTo(
  backend: QueueBackend,
  queue: string,
  messages: readonly Buffer[],
): Promise<void> {
  const writer = await backend.openWriter(queue);
  await writer.append(messages);
  await writer.flush();
  await writer.close();
}

export function texts(prefix: string, count: number, from = 1): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(`${prefix}-${from + i}`));
}
