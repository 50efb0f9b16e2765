import { existsSync } from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  EnvelopeError,
  MoveJournal,
  moveBatch,
  type EnvelopeHeader,
} from '../../src/queue/index.ts';
import { harness, texts, type Harness } from './helpers.ts';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.cleanup();
});

it('writes no journal for a batch with an item it cannot encode, and moves nothing', async () => {
  const writer = await h.backend.openWriter('source');
  await writer.append(texts('m', 2));
  await writer.flush();
  const target = await h.backend.openWriter('target');
  const source = await h.backend.openConsumer('source', 'mover');
  const from = source.committed();
  const batch = await source.read(2);
  const journal = MoveJournal.forWorker(h.dir, 'source', 'mover');
  // A header no envelope can carry (its reason is not text).
  const header = { reason: 42 } as unknown as EnvelopeHeader;
  await expect(
    moveBatch(
      { journal, writers: new Map([['target', target]]) },
      source,
      { from, next: batch.next, messages: batch.messages },
      [{ queue: 'target', items: [{ index: 0 }, { index: 1, header }] }],
    ),
  ).rejects.toThrow(EnvelopeError);
  expect(existsSync(journal.file)).toBe(false);
  expect(await h.backend.backlog('target', 'reader')).toBe(0);
  expect(source.committed()).toEqual(from);
  await Promise.all([writer.close(), target.close(), source.close()]);
});
