import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dlqCommand } from '../../../src/cli/dlq-command.ts';
import { decodeEnvelope, encodeEnvelope } from '../../../src/queue/index.ts';
import { runWorker, type MessageHandler } from '../../../src/worker/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { NatsServer } from '../../harness/nats-server.ts';
import { natsHarness, pause, texts, writeTo } from '../nats/helpers.ts';
import { CONSUMER, SHARD, workerOn } from './backends.ts';

// A worker (and `dlq replay`) on nats keeps no journal: what it stored before dying
// uncommitted is found again when it runs again, even after the streams' duplicate window,
// and not stored twice.
describe('nats moves run again after the duplicate window', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('replays a dead letter once when `dlq replay` died after storing it and is run again', async () => {
    const h = await natsHarness(server, {
      duplicateWindowMs: 1_000,
      // Default subject prefixes, so the INI naming the streams reaches the same subjects.
      mainSubjectPrefix: undefined,
      shardSubjectPrefix: undefined,
    });
    const dir = await mkdtemp(join(tmpdir(), 'sd-dlq-late-'));
    try {
      const ini = join(dir, 'sd.ini');
      const { url, mainStream, shardStream } = h.options;
      await writeFile(
        ini,
        [
          '[dispatcher]',
          'main_queue_name = flow',
          'backend = nats',
          '[nats]',
          `url = ${url}`,
          `main_stream = ${mainStream}`,
          `shard_stream = ${shardStream}`,
          '',
        ].join('\n'),
      );
      const letter = (payload: string) =>
        encodeEnvelope(
          {
            reason: 'bad',
            attempts: 1,
            shard: SHARD,
            pool: 'default',
            firstFailedAt: '2025-01-01T00:00:00.000Z',
            lastFailedAt: '2025-01-01T00:00:00.000Z',
            kind: 'rejected',
          },
          Buffer.from(payload),
        );
      await writeTo(h.backend, `${SHARD}-dlq`, [letter('a-1'), letter('a-2')]);
      const replay = (failpoint?: (name: string) => void) =>
        dlqCommand(
          ['replay', '--config', ini],
          {},
          { write: () => undefined, ...(failpoint ? { failpoint } : {}) },
        );
      const crash = new Error('crash after-flush');
      await expect(
        replay((name) => {
          if (name === 'after-flush') throw crash;
        }),
      ).rejects.toBe(crash);
      await pause(2_000);
      expect(await replay()).toBe(0);
      const replayed = await h.backend.peek('flow-replay', 100);
      expect(replayed.map(String)).toEqual(['a-1', 'a-2']);
    } finally {
      await h.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
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
            ...workerOn(h.backend, handler, controller.signal, new Registry()),
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
