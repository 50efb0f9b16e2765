import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../../src/observability/index.ts';
import { runWorker } from '../../../src/worker/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { NatsServer } from '../../harness/nats-server.ts';
import { writeTo } from '../helpers.ts';
import { natsHarness } from '../nats/helpers.ts';
import { CONSUMER, SHARD, workerOn } from './backends.ts';

let server: NatsServer;
beforeAll(async () => {
  // A small max_payload: a message that fits the shard, but not once wrapped in an envelope.
  server = await NatsServer.start({ config: 'max_payload: 4096\n' });
});
afterAll(async () => {
  await server?.dispose();
});

it('holds a batch whose reject is too large for the retry queue and handles it again, instead of exiting', async () => {
  const h = await natsHarness(server, {
    mainSubjectPrefix: undefined,
    shardSubjectPrefix: undefined,
  });
  try {
    await writeTo(h.backend, SHARD, [Buffer.alloc(3900, 0x61)]);
    const lines: Record<string, unknown>[] = [];
    const log = createLogger(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line)) },
    );
    let calls = 0;
    const controller = new AbortController();
    const done = runWorker({
      ...workerOn(
        h.backend,
        () => (++calls === 1 ? { reject: 'not yet' } : undefined),
        controller.signal,
        new Registry(),
      ),
      log,
      failure: {
        policy: 'DeadLetter',
        maxAttempts: 3,
        retryBackoffSec: 0.01,
        retryBackoffMaxSec: 0.05,
        pool: 'default',
      },
    });
    // Handled again after the refused move, and accepted then: nothing lost, nothing stuck.
    await eventually(async () => expect(await h.backend.backlog(SHARD, CONSUMER)).toBe(0), {
      timeoutMs: 10_000,
    });
    expect(calls).toBe(2);
    expect(
      lines.filter(
        (l) =>
          l['msg'] ===
          'a reject is too large for its queue; the batch is handled again after the backoff',
      ),
    ).toHaveLength(1);
    controller.abort();
    const report = await done;
    expect(report.rejected).toEqual({ retry: 0, deadLetter: 0, dropped: 0, blocked: 0 });
  } finally {
    await h.cleanup();
  }
});
