import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe } from 'vitest';
import { silentLogger } from '../../../src/observability/index.ts';
import type { QueueBackend } from '../../../src/queue/index.ts';
import type { MessageHandler, RunWorkerOptions } from '../../../src/worker/index.ts';
import { NatsServer } from '../../harness/nats-server.ts';
import { harness, writeTo } from '../helpers.ts';
import { natsHarness, type NatsHarness } from '../nats/helpers.ts';

/** One backend under test: a fresh place for queues, and a way to read one whole. */
export interface Subject {
  readonly kind: 'veda' | 'nats';
  readonly backend: QueueBackend;
  /** veda: the directory of the queues (and the worker's journal). */
  readonly dir?: string;
  /** nats: the harness (its options build an INI). */
  readonly nats?: NatsHarness;
  /** Every message of `queue`, oldest first (none when it does not exist). */
  contents(queue: string): Promise<Buffer[]>;
  write(queue: string, messages: readonly Buffer[]): Promise<void>;
  cleanup(): Promise<void>;
}

async function contentsOf(backend: QueueBackend, queue: string): Promise<Buffer[]> {
  try {
    return await backend.peek(queue, 10_000);
  } catch (err) {
    if ((err as { code?: string }).code === 'SD_ERR_QUEUE_NOT_FOUND') return [];
    throw err;
  }
}

/** Runs `cases` against veda (a temp dir) and nats (the test nats-server), as BullMQ does per queue. */
export function onBothBackends(cases: (subject: () => Promise<Subject>) => void): void {
  describe('veda', () => {
    cases(async () => {
      const h = await harness();
      return {
        kind: 'veda',
        backend: h.backend,
        dir: h.dir,
        contents: (queue) => contentsOf(h.backend, queue),
        write: (queue, messages) => writeTo(h.backend, queue, messages),
        cleanup: () => h.cleanup(),
      };
    });
  });
  describe('nats', () => {
    let server: NatsServer;
    beforeAll(async () => {
      server = await NatsServer.start();
    });
    afterAll(async () => {
      await server?.dispose();
    });
    cases(async () => {
      // Default subject prefixes, so an INI naming the streams reaches the same subjects.
      const h = await natsHarness(server, {
        mainSubjectPrefix: undefined,
        shardSubjectPrefix: undefined,
      });
      return {
        kind: 'nats',
        backend: h.backend,
        nats: h,
        contents: (queue) => contentsOf(h.backend, queue),
        write: (queue, messages) => writeTo(h.backend, queue, messages),
        cleanup: () => h.cleanup(),
      };
    });
  });
}

/** The shard the failure tests' worker reads, and its consumer. */
export const SHARD = 'flow-shard-0';
export const CONSUMER = 'worker';

/** A failure test's worker on `backend`: shard SHARD as CONSUMER, quick polls, small batches. */
export function workerOn(
  backend: QueueBackend,
  handler: MessageHandler,
  signal: AbortSignal,
  registry: Registry,
): Omit<RunWorkerOptions, 'failure'> {
  return {
    backend,
    queue: SHARD,
    consumer: CONSUMER,
    handler,
    sleepEmptySec: 0.02,
    batchSize: 4,
    signal,
    log: silentLogger,
    registry,
  };
}
