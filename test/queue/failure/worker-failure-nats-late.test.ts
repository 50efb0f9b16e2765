import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/observability/index.ts';
import { decodeEnvelope } from '../../../src/queue/index.ts';
import { runWorker, type MessageHandler } from '../../../src/worker/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { NatsServer } from '../../harness/nats-server.ts';
import { natsHarness, pause, texts, writeTo } from '../nats/helpers.ts';

const SHARD = 'flow-shard-0';
const CONSUMER = 'worker';

// A worker on nats keeps no journal: a reject it stored before dying uncommitted is found
// again at its restart, even after the streams' duplicate window, and not stored twice.
describe('a nats worker restarted after the duplicate window', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  for (const target of ['retry', 'dlq'] as const) {
    it(`moves a reject to the ${target} queue once`, async () => {
      const h = await natsHarness(server, { duplicateWindowMs: 1_000 });
      try {
        await writeTo(h.backend, SHARD, texts('m', 3));
        const handler: MessageHandler = (message) =>
          Buffer.from(message).toString() === 'm-2' ? { reject: 'bad' } : undefined;
        const run = (controller: AbortController, failpoint?: (name: string) => void) =>
          runWorker({
            backend: h.backend,
            queue: SHARD,
            consumer: CONSUMER,
            handler,
            sleepEmptySec: 0.02,
            batchSize: 4,
            signal: controller.signal,
            log: silentLogger,
            registry: new Registry(),
            failure: {
              policy: 'DeadLetter',
              maxAttempts: target === 'retry' ? 5 : 1,
              retryBackoffSec: 60,
              retryBackoffMaxSec: 60,
              pool: 'default',
            },
            ...(failpoint ? { failpoint } : {}),
          });
        // Dies after the reject is stored, before the shard's commit.
        const crash = new Error('crash after-flush');
        await expect(
          run(new AbortController(), (name) => {
            if (name === 'after-flush') throw crash;
          }),
        ).rejects.toBe(crash);
        await pause(2_000);

        const controller = new AbortController();
        const done = run(controller);
        await eventually(async () => expect(await h.backend.backlog(SHARD, CONSUMER)).toBe(0));
        controller.abort();
        await done;
        const moved = await h.backend.peek(`${SHARD}-${target}`, 100);
        expect(moved.map((m) => decodeEnvelope(m).payload.toString())).toEqual(['m-2']);
      } finally {
        await h.cleanup();
      }
    });
  }
});
