import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShardDistributorError } from '../errors.ts';
import {
  batchDigest,
  clearJournalFile,
  samePosition,
  unstoredOf,
  writeJournalFile,
} from './batch-files.ts';
import type { CopiedLookup } from './copied-lookup.ts';
import { decodeEnvelope, encodeEnvelope, type EnvelopeHeader } from './envelope.ts';
import { fromFsError } from './errors.ts';
import { messageIdOf } from './nats/message-id.ts';
import type {
  QueueConsumer,
  QueueMark,
  QueueMessage,
  QueuePosition,
  QueueWriter,
} from './types.ts';

/**
 * A move journal that cannot be used: unreadable, or it does not match the queue it names
 * (someone moved the consumer or rewrote the queue). A person moves it aside.
 */
export class MoveJournalError extends ShardDistributorError {
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_MOVE_JOURNAL', message, options);
  }
}

/**
 * A batch read from one queue whose messages go on to other queues (a worker's rejects to its
 * retry and dead-letter queues, `dlq replay`'s dead letters to the replay queue), written
 * before those queues are flushed. A crash between their flush and the source's commit would
 * otherwise move the batch twice; with the entry, the next start writes only what
 * `countSince(mark)` says is missing and commits. The same pattern as the distributor's
 * batch journal.
 */
export interface MoveEntry {
  readonly version: 1;
  /** The queue the batch was read from. */
  readonly source: string;
  /** Source position before and after the batch. */
  readonly from: QueuePosition;
  readonly next: QueuePosition;
  /** Messages from `from` to `next` and a digest of their bytes, to recognise them when re-read. */
  readonly count: number;
  readonly digest: string;
  readonly targets: readonly MoveTarget[];
}

export interface MoveTarget {
  readonly queue: string;
  /** The target writer's durable mark before the batch. */
  readonly mark: QueueMark;
  /** What it gets, in order. */
  readonly items: readonly MoveItem[];
}

/**
 * Message `index` of the batch: as it is, or (`unwrap`) the payload of the envelope it is;
 * then, with `header`, wrapped in a new envelope.
 */
export interface MoveItem {
  readonly index: number;
  readonly header?: EnvelopeHeader;
  readonly unwrap?: true;
}

export type MoveFailpoint = 'after-journal' | 'after-append' | 'after-flush' | 'after-commit';

export interface MoveContext {
  readonly journal?: MoveJournal;
  readonly writers: ReadonlyMap<string, QueueWriter>;
  /**
   * Without a journal (nats): what a run that crashed before its commit already stored in
   * the targets, so it is not stored again however long the restart took (see
   * `copiedLookupOf`).
   */
  readonly alreadyCopied?: CopiedLookup;
  /** Tests: throw here to play a crash at that step. */
  readonly failpoint?: (name: MoveFailpoint) => void;
}

/** The bytes `item` stands for. */
function payloadOf(item: MoveItem, message: QueueMessage): Buffer {
  const bytes = item.unwrap ? decodeEnvelope(message.data).payload : message.data;
  return item.header ? encodeEnvelope(item.header, bytes) : bytes;
}

/**
 * Moves `messages` (read from `source` between `from` and `next`) to the targets, then
 * commits `next` on `source`. Each message keeps a stable id (its source position), so a
 * deduplicating backend (nats) stores a replay once even without a journal.
 */
export async function moveBatch(
  context: MoveContext,
  source: QueueConsumer,
  batch: { from: QueuePosition; next: QueuePosition; messages: readonly QueueMessage[] },
  targets: readonly { queue: string; items: readonly MoveItem[] }[],
): Promise<void> {
  const { journal, failpoint } = context;
  const entry: MoveEntry = {
    version: 1,
    source: source.queue,
    from: batch.from,
    next: batch.next,
    count: batch.messages.length,
    digest: batchDigest(batch.messages.map((m) => m.data)),
    targets: targets
      .filter((t) => t.items.length > 0)
      .map((t) => ({ queue: t.queue, mark: writerOf(context, t.queue).mark(), items: t.items })),
  };
  // Built before the journal names them: an item that cannot be encoded fails the batch here,
  // not in every later start's recovery of a journal it can never finish.
  const payloads = payloadsOf(entry, batch.messages);
  await journal?.write(entry);
  failpoint?.('after-journal');
  const copied = await context.alreadyCopied?.(
    batch.from,
    entry.targets.map((t) => t.queue),
  );
  await writeTargets(context, entry, batch.messages, payloads, false, copied);
  await source.commit(entry.next);
  failpoint?.('after-commit');
  await journal?.clear();
}

/**
 * Finishes an entry left by a crash: already committed → nothing to do; else re-reads the
 * batch, writes what the targets lack and commits. Throws MoveJournalError when the source
 * is elsewhere or holds other messages (someone moved the consumer or rewrote the queue).
 */
export async function finishMove(
  context: MoveContext,
  entry: MoveEntry,
  source: QueueConsumer,
): Promise<'already-committed' | 'finished'> {
  const committed = source.committed();
  if (samePosition(committed, entry.next)) {
    await context.journal?.clear();
    return 'already-committed';
  }
  const where = context.journal ? ` (journal ${context.journal.file})` : '';
  if (!samePosition(committed, entry.from)) {
    throw new MoveJournalError(
      `the move journal${where} starts at ${JSON.stringify(entry.from)} but consumer ${source.name} of queue ${source.queue} is at ${JSON.stringify(committed)}; ` +
        'someone moved the consumer: check it, then move the journal aside',
    );
  }
  const messages: QueueMessage[] = [];
  while (messages.length < entry.count) {
    const batch = await source.read(entry.count - messages.length);
    if (batch.messages.length === 0) break;
    messages.push(...batch.messages);
  }
  if (
    messages.length !== entry.count ||
    batchDigest(messages.map((m) => m.data)) !== entry.digest
  ) {
    throw new MoveJournalError(
      `re-reading the interrupted batch of queue ${source.queue}${where} gave ${messages.length} messages that differ from the ${entry.count} journalled; ` +
        'the queue changed: move the journal aside to resume from the committed position',
    );
  }
  await writeTargets(context, entry, messages, payloadsOf(entry, messages), true);
  await source.commit(entry.next);
  await context.journal?.clear();
  return 'finished';
}

/** The bytes each target's items stand for, target by target. */
function payloadsOf(entry: MoveEntry, messages: readonly QueueMessage[]): Buffer[][] {
  return entry.targets.map((t) =>
    t.items.map((item) => payloadOf(item, messageAt(messages, item.index))),
  );
}

/**
 * Writes each target's items (`payloads`, as `payloadsOf` built them) and flushes it. A
 * recovery writes only what `unstoredOf` says the target lacks; a first try skips what a
 * crashed run stored on nats (`copied`).
 */
async function writeTargets(
  context: MoveContext,
  entry: MoveEntry,
  messages: readonly QueueMessage[],
  payloads: readonly (readonly Buffer[])[],
  recovering: boolean,
  copied: ReadonlySet<string> = new Set(),
): Promise<void> {
  for (const [t, target] of entry.targets.entries()) {
    const writer = writerOf(context, target.queue);
    const idOf = (item: (typeof target.items)[number]) =>
      messageIdOf(messageAt(messages, item.index).position);
    // Only a recovery can find part of the batch already durable.
    const missing = recovering
      ? await unstoredOf(writer, target.mark, target.items.map(idOf))
      : target.items.map((_, i) => i);
    const rest = missing.filter((i) => !copied.has(idOf(target.items[i]!)));
    if (rest.length > 0) {
      const items = rest.map((i) => target.items[i]!);
      const data = rest.map((i) => payloads[t]![i]!);
      const ids = items.map(idOf);
      // A retried or dead-lettered message keeps its headers (nats).
      const headers = items.map((item) => messageAt(messages, item.index).headers);
      await writer.append(data, { ids, headers });
      context.failpoint?.('after-append');
      await writer.flush();
    }
  }
  context.failpoint?.('after-flush');
}

function messageAt(messages: readonly QueueMessage[], index: number): QueueMessage {
  const message = messages[index];
  if (!message) throw new Error(`move item ${index} is outside the batch of ${messages.length}`);
  return message;
}

function writerOf(context: MoveContext, queue: string): QueueWriter {
  const writer = context.writers.get(queue);
  if (!writer) throw new Error(`no writer for queue ${queue}`);
  return writer;
}

/**
 * One small JSON file, replaced atomically (temp file, fsync, rename, fsync of the directory),
 * so a crash leaves the old entry or the new one.
 */
export class MoveJournal {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  /** A worker's: `<dir>/<shard queue>_sd_worker_journal_<consumer>`, beside its shard queue. */
  static forWorker(dir: string, queue: string, consumer: string): MoveJournal {
    return new MoveJournal(join(dir, `${queue}_sd_worker_journal_${consumer}`));
  }

  async read(): Promise<MoveEntry | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fromFsError(error, `reading the move journal ${this.file}`);
    }
    try {
      const entry = JSON.parse(text) as MoveEntry;
      if (
        entry.version !== 1 ||
        typeof entry.source !== 'string' ||
        !Number.isSafeInteger(entry.count) ||
        !Array.isArray(entry.targets) ||
        !entry.targets.every((t) => typeof t.queue === 'string' && Array.isArray(t.items))
      ) {
        throw new Error('unexpected shape');
      }
      return entry;
    } catch (error) {
      throw new MoveJournalError(
        `the move journal ${this.file} is unreadable; move it aside (its batch is then handled again from the committed position)`,
        { cause: error },
      );
    }
  }

  async write(entry: MoveEntry): Promise<void> {
    await writeJournalFile(this.file, entry, 'the move journal');
  }

  async clear(): Promise<void> {
    await clearJournalFile(this.file);
  }
}
