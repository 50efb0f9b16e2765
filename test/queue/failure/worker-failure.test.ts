import { Registry } from 'prom-client';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { decodeEnvelope } from '../../../src/queue/index.ts';
import {
  runWorker,
  WorkerHandlerError,
  WorkerInfrastructureError,
  type MessageHandler,
  type RunWorkerOptions,
  type WorkerFailureOptions,
} from '../../../src/worker/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { texts } from '../helpers.ts';
import { CONSUMER, onBothBackends, SHARD, workerOn, type Subject } from './backends.ts';

const RETRY = `${SHARD}-retry`;
const DLQ = `${SHARD}-dlq`;

const text = (data: Uint8Array): string => Buffer.from(data).toString();

onBothBackends((subject) => {
  let s: Subject;
  let registry: Registry;
  beforeEach(async () => {
    s = await subject();
    registry = new Registry();
  });
  afterEach(async () => {
    await s.cleanup();
  });

  function failure(extra: Partial<WorkerFailureOptions> = {}): WorkerFailureOptions {
    return {
      policy: 'DeadLetter',
      maxAttempts: 3,
      retryBackoffSec: 0.01,
      retryBackoffMaxSec: 0.05,
      pool: 'default',
      ...(s.dir === undefined ? {} : { journalDir: s.dir }),
      ...extra,
    };
  }

  function start(
    handler: MessageHandler,
    controller: AbortController,
    extra: Partial<RunWorkerOptions> = {},
  ) {
    return runWorker({
      ...workerOn(s.backend, handler, controller.signal, registry),
      failure: failure(),
      ...extra,
    });
  }

  async function rejected(outcome: string): Promise<number> {
    const metric = registry.getSingleMetric('shard_distributor_worker_rejected_total');
    const values = metric ? (await metric.get()).values : [];
    return (
      values.find((v) => v.labels['outcome'] === outcome && v.labels['queue'] === SHARD)?.value ?? 0
    );
  }

  const backlog = () => s.backend.backlog(SHARD, CONSUMER);

  it('dead-letters a message after exactly max_attempts rejects, with reason, attempts and shard', async () => {
    await s.write(SHARD, texts('m', 3));
    const calls: string[] = [];
    const attempts: number[] = [];
    const controller = new AbortController();
    const done = start((message, context) => {
      calls.push(text(message));
      if (text(message) === 'm-2') {
        attempts.push(context.attempt);
        return { reject: `bad ${context.attempt}` };
      }
      return undefined;
    }, controller);
    await eventually(async () => expect(await s.contents(DLQ)).toHaveLength(1));
    controller.abort();
    const report = await done;
    expect(attempts).toEqual([1, 2, 3]);
    expect(calls.filter((c) => c !== 'm-2')).toEqual(['m-1', 'm-3']);
    const [letter] = await s.contents(DLQ);
    const envelope = decodeEnvelope(letter!);
    expect(envelope.payload.toString()).toBe('m-2');
    expect(envelope.header).toMatchObject({
      reason: 'bad 3',
      attempts: 3,
      shard: SHARD,
      pool: 'default',
      kind: 'rejected',
    });
    expect(envelope.header.notBefore).toBeUndefined();
    expect(Date.parse(envelope.header.lastFailedAt)).toBeGreaterThanOrEqual(
      Date.parse(envelope.header.firstFailedAt),
    );
    expect(report.rejected).toEqual({ retry: 2, deadLetter: 1, dropped: 0, blocked: 0 });
    expect(await rejected('retry')).toBe(2);
    expect(await rejected('dead_letter')).toBe(1);
    expect(await backlog()).toBe(0);
    expect(await s.backend.backlog(RETRY, CONSUMER)).toBe(0);
  });

  it('treats a throw as a reject with its message, and max_attempts 1 as no retry', async () => {
    await s.write(SHARD, [Buffer.from('boom')]);
    const controller = new AbortController();
    const done = start(
      () => {
        throw new Error('cannot parse');
      },
      controller,
      { failure: failure({ maxAttempts: 1 }) },
    );
    await eventually(async () => expect(await s.contents(DLQ)).toHaveLength(1));
    controller.abort();
    await done;
    const [letter] = await s.contents(DLQ);
    expect(decodeEnvelope(letter!).header).toMatchObject({ reason: 'cannot parse', attempts: 1 });
    expect(await s.contents(RETRY)).toEqual([]);
  });

  it('dead-letters whatever the handler throws or rejects with, even a value with no text', async () => {
    await s.write(SHARD, texts('m', 3));
    const controller = new AbortController();
    const done = start(
      (message) => {
        const which = text(message);
        if (which === 'm-1') throw Object.assign(new Error(), { message: undefined });
        if (which === 'm-2') throw Object.create(null);
        return { reject: Object.create(null) as string };
      },
      controller,
      { failure: failure({ maxAttempts: 1 }) },
    );
    await eventually(async () => expect(await s.contents(DLQ)).toHaveLength(3));
    controller.abort();
    const report = await done;
    const reasons = (await s.contents(DLQ)).map((letter) => decodeEnvelope(letter).header.reason);
    expect(reasons[0]).toBe('Error');
    expect(reasons[1]).toMatch(/^an object that cannot be turned into text/);
    expect(reasons[2]).toMatch(/^an object that cannot be turned into text/);
    expect(report.rejected).toEqual({ retry: 0, deadLetter: 3, dropped: 0, blocked: 0 });
    expect(await backlog()).toBe(0);
  });

  it('reads its retry queue again after a read of it came back empty though a retry was there', async () => {
    await s.write(SHARD, [Buffer.from('m-1')]);
    // The retry queue's second read (the first after the reject was stored) comes back empty,
    // as a nats read that met only the redelivery of an acknowledged message does.
    let retryReads = 0;
    const backend: typeof s.backend = Object.create(s.backend);
    backend.openConsumer = async (queue, name, options) => {
      const consumer = await s.backend.openConsumer(queue, name, options);
      if (queue !== RETRY) return consumer;
      const wrapped: typeof consumer = Object.create(consumer);
      wrapped.read = async (max) => {
        retryReads += 1;
        if (retryReads === 2)
          return { messages: [], from: consumer.committed(), next: consumer.committed() };
        return consumer.read(max);
      };
      return wrapped;
    };
    const handled: number[] = [];
    const controller = new AbortController();
    const done = runWorker({
      ...workerOn(
        backend,
        (_message, context) => {
          handled.push(context.attempt);
          return context.attempt === 1 ? { reject: 'not yet' } : undefined;
        },
        controller.signal,
        registry,
      ),
      failure: failure(),
    });
    await eventually(() => expect(handled).toEqual([1, 2]), { timeoutMs: 10_000 });
    controller.abort();
    await done;
    expect(retryReads).toBeGreaterThanOrEqual(3);
    expect(await s.backend.backlog(RETRY, CONSUMER)).toBe(0);
  });

  it('handles the rest of the shard in order while one message waits for its retry', async () => {
    await s.write(SHARD, texts('m', 6));
    const handled: string[] = [];
    let rejects = 0;
    const controller = new AbortController();
    const done = start(
      (message) => {
        if (text(message) === 'm-2' && rejects++ === 0) return { reject: 'not yet' };
        handled.push(text(message));
        return undefined;
      },
      controller,
      // A retry due in a minute: everything else must be handled meanwhile.
      { failure: failure({ retryBackoffSec: 60, retryBackoffMaxSec: 60 }) },
    );
    await eventually(() => expect(handled).toEqual(['m-1', 'm-3', 'm-4', 'm-5', 'm-6']));
    await s.write(SHARD, texts('m', 2, 7));
    await eventually(() => expect(handled).toHaveLength(7));
    expect(handled.slice(5)).toEqual(['m-7', 'm-8']);
    await eventually(async () => expect(await backlog()).toBe(0));
    controller.abort();
    await done;
    const retries = await s.contents(RETRY);
    expect(retries).toHaveLength(1);
    const envelope = decodeEnvelope(retries[0]!);
    expect(envelope.payload.toString()).toBe('m-2');
    expect(envelope.header.attempts).toBe(1);
    expect(Date.parse(envelope.header.notBefore!) - Date.parse(envelope.header.lastFailedAt)).toBe(
      60_000,
    );
  });

  it('gives the handler each message headers (nats), on its retries through the retry queue too', async () => {
    const writer = await s.backend.openWriter(SHARD);
    await writer.append([Buffer.from('m-1'), Buffer.from('m-2'), Buffer.from('m-3')], {
      headers: [{ 'X-Trace': 't1' }, undefined, { 'X-Trace': 't3' }],
    });
    await writer.flush();
    await writer.close();
    const seen: { message: string; attempt: number; trace: string | undefined }[] = [];
    const controller = new AbortController();
    const done = start((message, context) => {
      seen.push({
        message: text(message),
        attempt: context.attempt,
        trace: context.headers?.['X-Trace'],
      });
      // m-1 goes through the retry queue once; m-3 is blocked in place once.
      if (context.attempt === 1 && text(message) !== 'm-2') return { reject: 'not yet' };
      return undefined;
    }, controller);
    await eventually(() => expect(seen.filter((s) => s.attempt === 2)).toHaveLength(2));
    controller.abort();
    await done;
    const traced = s.kind === 'nats';
    expect(seen).toEqual(
      expect.arrayContaining([
        { message: 'm-1', attempt: 1, trace: traced ? 't1' : undefined },
        { message: 'm-1', attempt: 2, trace: traced ? 't1' : undefined },
        { message: 'm-2', attempt: 1, trace: undefined },
        { message: 'm-3', attempt: 1, trace: traced ? 't3' : undefined },
        { message: 'm-3', attempt: 2, trace: traced ? 't3' : undefined },
      ]),
    );
  });

  it('gives a blocked message its headers on every try (nats)', async () => {
    const writer = await s.backend.openWriter(SHARD);
    await writer.append([Buffer.from('m-1')], { headers: [{ 'X-Trace': 't1' }] });
    await writer.flush();
    await writer.close();
    const traces: (string | undefined)[] = [];
    const controller = new AbortController();
    const done = start(
      (_message, context) => {
        traces.push(context.headers?.['X-Trace']);
        return context.attempt < 3 ? { reject: 'not yet' } : undefined;
      },
      controller,
      { failure: failure({ policy: 'Block' }) },
    );
    await eventually(async () => expect(await backlog()).toBe(0));
    controller.abort();
    await done;
    expect(traces).toEqual(Array.from({ length: 3 }, () => (s.kind === 'nats' ? 't1' : undefined)));
  });

  it('hands a retried message over once it is due, and a later start picks up the retry queue', async () => {
    await s.write(SHARD, texts('m', 2));
    const handled: string[] = [];
    let first = true;
    let controller = new AbortController();
    let done = start(
      (message) => {
        if (text(message) === 'm-1' && first) {
          first = false;
          return { reject: 'transient' };
        }
        handled.push(text(message));
        return undefined;
      },
      controller,
      { failure: failure({ retryBackoffSec: 0.3, retryBackoffMaxSec: 0.3 }) },
    );
    await eventually(() => expect(handled).toEqual(['m-2']));
    // Stop before it is due: the retry is kept for the next worker of the shard.
    controller.abort();
    await done;
    controller = new AbortController();
    done = start((message) => void handled.push(text(message)), controller);
    await eventually(() => expect(handled).toEqual(['m-2', 'm-1']));
    await eventually(async () => expect(await s.backend.backlog(RETRY, CONSUMER)).toBe(0));
    controller.abort();
    await done;
    expect(await s.contents(DLQ)).toEqual([]);
  });

  it('drops a message after max_attempts under Drop, and counts it', async () => {
    await s.write(SHARD, texts('m', 3));
    const controller = new AbortController();
    const done = start(
      (message) => (text(message) === 'm-3' ? { reject: 'junk' } : undefined),
      controller,
      { failure: failure({ policy: 'Drop', maxAttempts: 2 }) },
    );
    await eventually(async () => expect(await rejected('dropped')).toBe(1));
    controller.abort();
    const report = await done;
    expect(report.rejected).toEqual({ retry: 1, deadLetter: 0, dropped: 1, blocked: 0 });
    expect(await s.contents(DLQ)).toEqual([]);
    expect(await s.backend.backlog(RETRY, CONSUMER)).toBe(0);
    expect(await backlog()).toBe(0);
  });

  it('holds the shard on a rejected message under Block until the handler takes it', async () => {
    await s.write(SHARD, texts('m', 4));
    const handled: string[] = [];
    let healthy = false;
    const controller = new AbortController();
    const done = start(
      (message) => {
        if (text(message) === 'm-2' && !healthy) return { reject: 'downstream says no' };
        handled.push(text(message));
        return undefined;
      },
      controller,
      { failure: failure({ policy: 'Block', maxAttempts: 1 }) },
    );
    await eventually(async () => expect(await rejected('blocked')).toBeGreaterThanOrEqual(3));
    expect(handled).toEqual(['m-1']);
    expect(await backlog()).toBe(4);
    healthy = true;
    await eventually(() => expect(handled).toEqual(['m-1', 'm-2', 'm-3', 'm-4']));
    await eventually(async () => expect(await backlog()).toBe(0));
    controller.abort();
    await done;
    expect(await s.contents(RETRY)).toEqual([]);
    expect(await s.contents(DLQ)).toEqual([]);
  });

  it('on a stop while blocked commits what came before the message, never the message', async () => {
    await s.write(SHARD, texts('m', 3));
    const controller = new AbortController();
    const done = start(
      (message) => (text(message) === 'm-2' ? { reject: 'no' } : undefined),
      controller,
      { failure: failure({ policy: 'Block' }) },
    );
    await eventually(async () => expect(await rejected('blocked')).toBeGreaterThanOrEqual(1));
    controller.abort();
    await done;
    expect(await backlog()).toBe(2);
    expect((await s.backend.peek(SHARD, 10, CONSUMER)).map((m) => m.toString())).toEqual([
      'm-2',
      'm-3',
    ]);
  });

  it('on a stop mid-batch settles what was handled, its rejects moved, and leaves the rest', async () => {
    await s.write(SHARD, texts('m', 5));
    const controller = new AbortController();
    const seen: string[] = [];
    let stopSeen = false;
    const done = start(
      (message, context) => {
        seen.push(text(message));
        if (text(message) === 'm-1') return { reject: 'no' };
        if (text(message) === 'm-2') {
          controller.abort();
          stopSeen = context.signal?.aborted === true;
        }
        return undefined;
      },
      controller,
      { batchSize: 5 },
    );
    const report = await done;
    expect(seen).toEqual(['m-1', 'm-2']);
    expect(stopSeen).toBe(true);
    expect(report.processed).toBe(2);
    // m-1's reject went to the retry queue with the commit; m-3 … m-5 wait for the next worker.
    expect(await s.backend.backlog(RETRY, CONSUMER)).toBe(1);
    expect((await s.backend.peek(SHARD, 10, CONSUMER)).map((m) => m.toString())).toEqual([
      'm-3',
      'm-4',
      'm-5',
    ]);
  });

  it('takes a throw after the stop as the stop, not a reject: nothing is dropped or retried', async () => {
    await s.write(SHARD, texts('m', 4));
    const controller = new AbortController();
    const report = await start(
      (message, context) => {
        if (text(message) === 'm-2') {
          controller.abort();
          context.signal?.throwIfAborted();
        }
        return undefined;
      },
      controller,
      { batchSize: 4, failure: failure({ policy: 'Drop', maxAttempts: 1 }) },
    );
    // Before, the AbortError was a reject: under Drop, m-2 was lost.
    expect(report.rejected).toEqual({ retry: 0, deadLetter: 0, dropped: 0, blocked: 0 });
    expect(report.processed).toBe(1);
    expect((await s.backend.peek(SHARD, 10, CONSUMER)).map((m) => m.toString())).toEqual([
      'm-2',
      'm-3',
      'm-4',
    ]);
  });

  it('stops without committing on a WorkerInfrastructureError, as before failure policies', async () => {
    await s.write(SHARD, texts('m', 2));
    const controller = new AbortController();
    await expect(
      start(() => {
        throw new WorkerInfrastructureError('database down');
      }, controller),
    ).rejects.toBeInstanceOf(WorkerHandlerError);
    expect(await backlog()).toBe(2);
    expect(await s.contents(RETRY)).toEqual([]);
  });

  for (const step of ['after-journal', 'after-append', 'after-flush', 'after-commit'] as const) {
    for (const target of ['retry', 'dead-letter'] as const) {
      it(`moves a reject to the ${target} queue once when the worker dies ${step}`, async () => {
        await s.write(SHARD, texts('m', 3));
        const maxAttempts = target === 'retry' ? 5 : 1;
        const queue = target === 'retry' ? RETRY : DLQ;
        const handled: string[] = [];
        const handler: MessageHandler = (message) => {
          if (text(message) === 'm-2') return { reject: 'bad' };
          handled.push(text(message));
          return undefined;
        };
        const settings = failure({ maxAttempts, retryBackoffSec: 60, retryBackoffMaxSec: 60 });
        const crash = new Error(`crash ${step}`);
        await expect(
          start(handler, new AbortController(), {
            failure: settings,
            failpoint: (name) => {
              if (name === step) throw crash;
            },
          }),
        ).rejects.toBe(crash);
        // A new worker of the shard (same consumer, same journal).
        const controller = new AbortController();
        const done = start(handler, controller, { failure: settings });
        await eventually(async () => expect(await backlog()).toBe(0));
        controller.abort();
        await done;
        const moved = await s.contents(queue);
        expect(moved.map((m) => decodeEnvelope(m).payload.toString())).toEqual(['m-2']);
        // The other queue got nothing; handled messages may come twice (at least once).
        expect(await s.contents(queue === RETRY ? DLQ : RETRY)).toEqual([]);
        expect(new Set(handled)).toEqual(new Set(['m-1', 'm-3']));
      });
    }
  }

  it('moves a retried message to the dead-letter queue once when the worker dies after its flush', async () => {
    await s.write(SHARD, [Buffer.from('m-1')]);
    const settings = failure({ maxAttempts: 2, retryBackoffSec: 0.01, retryBackoffMaxSec: 0.01 });
    let flushes = 0;
    const crash = new Error('crash');
    await expect(
      start(() => ({ reject: 'bad' }), new AbortController(), {
        failure: settings,
        // The first flush moves it to the retry queue; the second, from there to the dlq.
        failpoint: (name) => {
          if (name === 'after-flush' && ++flushes === 2) throw crash;
        },
      }),
    ).rejects.toBe(crash);
    const controller = new AbortController();
    const done = start(() => ({ reject: 'bad' }), controller, { failure: settings });
    await eventually(async () => expect(await s.backend.backlog(RETRY, CONSUMER)).toBe(0));
    controller.abort();
    await done;
    const letters = await s.contents(DLQ);
    expect(letters.map((m) => decodeEnvelope(m).header.attempts)).toEqual([2]);
    expect(letters.map((m) => decodeEnvelope(m).payload.toString())).toEqual(['m-1']);
    expect(await s.contents(RETRY)).toHaveLength(1);
  });
});
