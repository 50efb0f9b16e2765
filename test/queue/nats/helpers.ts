import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../../../src/observability/index.ts';
import { QueueError, type QueueBackend } from '../../../src/queue/index.ts';
import { createNatsBackend, type NatsBackendOptions } from '../../../src/queue/nats/index.ts';
import type { NatsServer } from '../../harness/nats-server.ts';
import type { ContractSubject } from '../contract-cases.ts';
import type { LogLine } from '../helpers.ts';

// The queue tests' own helpers, for the nats tests to import from one place.
export { bodies, readAll, texts, writeTo, type LogLine } from '../helpers.ts';

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

export const pause = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What a caller does with a retryable queue error (a server restarting): try again, a
 * bounded number of times, `pauseMs` apart.
 */
export async function retrying<T>(
  step: () => Promise<T>,
  { attempts = 50, pauseMs = 0 }: { attempts?: number; pauseMs?: number } = {},
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await step();
    } catch (err) {
      if (!(err instanceof QueueError && err.retryable) || i >= attempts) throw err;
      if (pauseMs > 0) await pause(pauseMs);
    }
  }
}
