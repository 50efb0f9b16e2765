import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../../../src/observability/index.ts';
import type { QueueBackend, QueueConsumer, QueueMessage } from '../../../src/queue/index.ts';
import { createNatsBackend, type NatsBackendOptions } from '../../../src/queue/nats/index.ts';
import type { NatsServer } from '../../harness/nats-server.ts';
import type { ContractSubject } from '../contract-cases.ts';

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface NatsHarness extends ContractSubject {
  readonly options: NatsBackendOptions;
  readonly logs: LogLine[];
  /** Another backend (own connection) on the same streams, with extra options. */
  backendWith(extra?: Partial<NatsBackendOptions>): Promise<QueueBackend>;
}

let next = 0;

/** Streams and subjects of their own for each test, on one shared server (as BullMQ names a queue per test). */
export async function natsHarness(
  server: NatsServer,
  extra: Partial<NatsBackendOptions> = {},
): Promise<NatsHarness> {
  const id = `t${process.pid}x${++next}`;
  const logs: LogLine[] = [];
  const logger: Logger = createLogger(
    { level: 'debug' },
    { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
  );
  const options: NatsBackendOptions = {
    url: server.url,
    mainStream: `SD_MAIN_${id}`,
    shardStream: `SD_SHARDS_${id}`,
    mainQueue: 'main',
    mainSubjectPrefix: `sd.${id}.main`,
    shardSubjectPrefix: `sd.${id}.shard`,
    logger,
    registry: new Registry(),
    requestTimeoutMs: 5_000,
    ...extra,
  };
  const backends: QueueBackend[] = [];
  const backendWith = async (more: Partial<NatsBackendOptions> = {}): Promise<QueueBackend> => {
    const backend = await createNatsBackend({ ...options, ...more });
    backends.push(backend);
    return backend;
  };
  const backend = await backendWith();
  return {
    backend,
    options,
    logs,
    backendWith,
    reopen: () => backendWith(),
    async cleanup() {
      for (const b of backends) await b.close();
    },
  };
}

/** `<prefix>-<from>` … : message bodies whose order and count a test can read back. */
export const texts = (prefix: string, count: number, from = 1): Buffer[] =>
  Array.from({ length: count }, (_, i) => Buffer.from(`${prefix}-${from + i}`));

export const bodies = (messages: readonly QueueMessage[]): string[] =>
  messages.map((m) => m.data.toString('utf8'));

export const pause = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Reads batches until one comes back empty. */
export async function readAll(consumer: QueueConsumer, batch = 10): Promise<QueueMessage[]> {
  const out: QueueMessage[] = [];
  for (;;) {
    const { messages } = await consumer.read(batch);
    if (messages.length === 0) return out;
    out.push(...messages);
  }
}
