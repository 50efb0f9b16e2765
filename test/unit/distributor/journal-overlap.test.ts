import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchJournal } from '../../../src/distributor/index.ts';
import type { JournalEntry } from '../../../src/distributor/journal.ts';
import { QueueFullError } from '../../../src/queue/index.ts';
import {
  bench,
  countDeliveries,
  ids,
  MAIN,
  runUntil,
  type Bench,
} from '../../distributor/helpers.ts';

let b: Bench;
afterEach(async () => b?.cleanup());

/** The bench's journal, failing its first `failures` writes once the shards have had time to prepare. */
class FailingJournal extends BatchJournal {
  failures: number;
  constructor(file: string, failures: number) {
    super(file, { besideMainPop: true });
    this.failures = failures;
  }
  override async write(entry: JournalEntry): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      // The shards append and prepare while the journal is written: one failure comes at once
      // (before they are done), the others once they have had time to prepare.
      if (this.failures % 2 === 0) await new Promise((r) => setTimeout(r, 100));
      throw new QueueFullError('disk full (test)');
    }
    await super.write(entry);
  }
}

/** Remembers every entry written, to put one back as a power cut after a clear could. */
class RecordingJournal extends BatchJournal {
  readonly written: JournalEntry[] = [];
  override async write(entry: JournalEntry): Promise<void> {
    this.written.push(entry);
    await super.write(entry);
  }
}

describe('the journal overlapped with the shard writes', () => {
  it('publishes nothing of a batch whose journal write failed, and delivers it exactly once', async () => {
    b = await bench({ durable: true });
    const messages = ids(57);
    await b.produce(messages);
    const file = join(b.mainDir, `${MAIN}_sd_journal_${b.config.dispatcher.consumerName}`);
    const journal = new FailingJournal(file, 3);
    const d = await b.distributor({ journal });
    await runUntil(d, async () => (await b.committedMain()) === 0);
    expect(journal.failures).toBe(0);
    expect(countDeliveries(await b.shardContents(), messages)).toEqual({
      delivered: 57,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
  });

  it('recognises a journal a power cut brought back after its clear, and moves nothing again', async () => {
    b = await bench({ durable: true });
    const messages = ids(40);
    await b.produce(messages);
    const file = join(b.mainDir, `${MAIN}_sd_journal_${b.config.dispatcher.consumerName}`);
    const journal = new RecordingJournal(file, { besideMainPop: true });
    const first = await b.distributor({ journal });
    await runUntil(first, async () => (await b.committedMain()) === 0);
    await first.close();
    // The last main batch's clear skipped the directory fsync: a power cut may undo it.
    const last = journal.written.at(-1)!;
    await expect(readFile(file)).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(file, JSON.stringify(last));
    await b.produce(ids(5, 'late'));
    const second = await b.distributor({
      journal: new BatchJournal(file, { besideMainPop: true }),
    });
    await runUntil(second, async () => (await b.committedMain()) === 0);
    expect(
      b.logs.some((l) => l.msg === 'interrupted batch was already committed; journal cleared'),
    ).toBe(true);
    expect(countDeliveries(await b.shardContents(), [...messages, ...ids(5, 'late')])).toEqual({
      delivered: 45,
      lost: [],
      duplicated: [],
      unexpected: [],
    });
  });
});
