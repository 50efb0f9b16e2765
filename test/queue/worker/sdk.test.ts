import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runWorker, WorkerHandlerError, type MessageHandler } from '../../../src/worker/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { bodies, harness, readAll, texts, writeTo, type Harness } from '../helpers.ts';

describe('runWorker', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const write = (queue: string, messages: Buffer[]) => writeTo(h.backend, queue, messages);

  function run(queue: string, handler: MessageHandler, controller: AbortController, batchSize = 4) {
    return runWorker({
      backend: h.backend,
      queue,
      consumer: 'worker',
      handler,
      sleepEmptySec: 0.02,
      batchSize,
      signal: controller.signal,
      log: h.logger,
    });
  }

  it('hands every message to the handler in order and commits them', async () => {
    await write('shard-0', texts('m', 10));
    const seen: string[] = [];
    const controller = new AbortController();
    const contexts = new Set<string>();
    const done = run(
      'shard-0',
      (message, context) => {
        seen.push(Buffer.from(message).toString());
        contexts.add(`${context.queue}/${context.consumer}`);
      },
      controller,
    );
    await eventually(() => expect(seen).toHaveLength(10));
    await eventually(async () => expect(await h.backend.backlog('shard-0', 'worker')).toBe(0));
    controller.abort();
    expect(await done).toEqual({ processed: 10, batches: 3 });
    expect(seen).toEqual(texts('m', 10).map(String));
    expect([...contexts]).toEqual(['shard-0/worker']);
    const again = await h.backend.openConsumer('shard-0', 'worker');
    expect(await readAll(again)).toEqual([]);
    await again.close();
  });

  it('keeps consuming what arrives later, and waits for a queue that does not exist yet', async () => {
    const seen: string[] = [];
    const controller = new AbortController();
    const done = run('late', (m) => void seen.push(Buffer.from(m).toString()), controller);
    await eventually(() =>
      expect(h.logs.filter((l) => l.msg === 'queue not created yet, waiting')).toHaveLength(1),
    );
    await write('late', texts('a', 3));
    await eventually(() => expect(seen).toEqual(['a-1', 'a-2', 'a-3']));
    await write('late', texts('a', 2, 4));
    await eventually(() => expect(seen).toHaveLength(5));
    controller.abort();
    expect((await done).processed).toBe(5);
    expect(await h.backend.backlog('late', 'worker')).toBe(0);
  });

  it('on abort finishes the message in hand, commits what was handled, and returns', async () => {
    await write('shard-0', texts('m', 10));
    const controller = new AbortController();
    const seen: string[] = [];
    let stopSeen = false;
    const report = await run(
      'shard-0',
      (message, context) => {
        seen.push(Buffer.from(message).toString());
        if (seen.length === 2) {
          controller.abort();
          stopSeen = context.signal?.aborted === true;
        }
      },
      controller,
      4,
    );
    // Before, it handled the rest of the batch first: a batch longer than the grace period
    // was killed and handed out again whole.
    expect(report).toEqual({ processed: 2, batches: 1 });
    expect(seen).toEqual(['m-1', 'm-2']);
    expect(stopSeen).toBe(true);
    expect(await h.backend.backlog('shard-0', 'worker')).toBe(8);
    const next = await h.backend.openConsumer('shard-0', 'worker');
    expect(bodies(await readAll(next))).toEqual(texts('m', 8, 3).map(String));
    await next.close();
  });

  it('leaves the message whose handler threw on the stop to the next worker, and commits the rest', async () => {
    await write('shard-0', texts('m', 4));
    const controller = new AbortController();
    const report = await run(
      'shard-0',
      (message, context) => {
        if (Buffer.from(message).toString() === 'm-2') {
          controller.abort();
          context.signal?.throwIfAborted();
        }
      },
      controller,
      4,
    );
    // Before, the throw failed the worker (WorkerHandlerError) and m-1 came again too.
    expect(report).toEqual({ processed: 1, batches: 1 });
    const next = await h.backend.openConsumer('shard-0', 'worker');
    expect(bodies(await readAll(next))).toEqual(texts('m', 3, 2).map(String));
    await next.close();
  });

  it('returns at once when aborted while the queue is empty', async () => {
    await write('empty', []);
    const controller = new AbortController();
    const done = runWorker({
      backend: h.backend,
      queue: 'empty',
      consumer: 'worker',
      handler: () => undefined,
      sleepEmptySec: 3_600,
      signal: controller.signal,
      log: h.logger,
    });
    await eventually(() =>
      expect(h.logs.filter((l) => l.msg === 'worker consuming')).toHaveLength(1),
    );
    controller.abort();
    expect(await done).toEqual({ processed: 0, batches: 0 });
  });

  it('stops without committing the batch of a message whose handler threw, so it is delivered again', async () => {
    await write('shard-0', texts('m', 6));
    const failing = new AbortController();
    const first: string[] = [];
    const failure = run(
      'shard-0',
      (message) => {
        const text = Buffer.from(message).toString();
        if (text === 'm-5') throw new Error('cannot handle m-5');
        first.push(text);
      },
      failing,
      3,
    );
    await expect(failure).rejects.toBeInstanceOf(WorkerHandlerError);
    await expect(failure).rejects.toMatchObject({
      code: 'SD_ERR_WORKER_HANDLER',
      cause: expect.objectContaining({ message: 'cannot handle m-5' }),
    });
    expect(first).toEqual(['m-1', 'm-2', 'm-3', 'm-4']);
    expect(await h.backend.backlog('shard-0', 'worker')).toBe(3);

    const again: string[] = [];
    const controller = new AbortController();
    const done = run('shard-0', (m) => void again.push(Buffer.from(m).toString()), controller, 3);
    await eventually(() => expect(again).toEqual(['m-4', 'm-5', 'm-6']));
    controller.abort();
    expect((await done).processed).toBe(3);
  });

  it('does not commit a batch whose beforeCommit hook failed', async () => {
    await write('shard-0', texts('m', 2));
    const controller = new AbortController();
    await expect(
      runWorker({
        backend: h.backend,
        queue: 'shard-0',
        consumer: 'worker',
        handler: () => undefined,
        beforeCommit: () => {
          throw new Error('disk full');
        },
        sleepEmptySec: 0.02,
        signal: controller.signal,
      }),
    ).rejects.toThrow('disk full');
    expect(await h.backend.backlog('shard-0', 'worker')).toBe(2);
  });
});
