import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  clearJournalFile,
  writeJournalFile,
  type QueueMark,
  type QueuePosition,
} from '../queue/index.ts';
import { JournalCorruptError } from './errors.ts';

/** What the distributor writes before a batch's shard writes, so a restart finishes that batch. */
export interface JournalEntry {
  /** 2 since pools: `assignment` holds slots of `shards`. Version 1 entries are upgraded on read. */
  readonly version: 2;
  /**
   * The queue the batch was read from: the main queue, or a moving shard's queue (read as the
   * workers' consumer). Absent in journals written before moves existed: the main queue.
   */
  readonly source?: string;
  /** Source-queue position before and after the batch. */
  readonly from: QueuePosition;
  readonly next: QueuePosition;
  /** Messages in the batch and a digest of their bytes, to recognise the batch when re-read. */
  readonly count: number;
  readonly digest: string;
  /** For each message, in order, the slot in `shards` of the shard it goes to. */
  readonly assignment: readonly number[];
  /** Each written shard queue's durable mark before the batch. */
  readonly shards: readonly JournalShard[];
}

export interface JournalShard {
  /** The worker pool; absent for the default pool (and in version 1 entries). */
  readonly pool?: string;
  /** The pool's dead-letter queue (expired messages) rather than a shard; `index` is then -1. */
  readonly deadLetter?: true;
  readonly index: number;
  readonly queue: string;
  readonly mark: QueueMark;
}

/** Version 1 (one pool): `assignment` held shard indices, each of them in `shards`. */
interface JournalEntryV1 extends Omit<JournalEntry, 'version'> {
  readonly version: 1;
}

function upgraded(entry: JournalEntry | JournalEntryV1): JournalEntry {
  if (entry.version === 2) return entry;
  const slots = new Map(entry.shards.map((shard, slot) => [shard.index, slot]));
  const assignment = entry.assignment.map((index) => {
    const slot = slots.get(index);
    if (slot === undefined) throw new Error(`shard ${index} is assigned but not listed`);
    return slot;
  });
  return { ...entry, version: 2, assignment };
}

export interface BatchJournalOptions {
  /**
   * The journal is in the directory of the main consumer's pop file (veda: both in the main
   * base path, as `forQueue` places it). Lets a main-queue batch be cleared without a
   * directory fsync: see `clear`.
   */
  readonly besideMainPop?: boolean;
}

/**
 * One small JSON file beside the main queue, replaced atomically (temp file, fsync, rename,
 * fsync of the directory) so a crash leaves either the old entry or the new one.
 */
export class BatchJournal {
  readonly file: string;
  private readonly besideMainPop: boolean;
  /** The directory exists: written once already. */
  private dirReady = false;

  constructor(file: string, options: BatchJournalOptions = {}) {
    this.file = file;
    this.besideMainPop = options.besideMainPop ?? false;
  }

  static forQueue(basePath: string, mainQueue: string, consumer: string): BatchJournal {
    return new BatchJournal(join(basePath, `${mainQueue}_sd_journal_${consumer}`), {
      besideMainPop: true,
    });
  }

  async read(): Promise<JournalEntry | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const entry = JSON.parse(text) as JournalEntry | JournalEntryV1;
      if (
        (entry.version !== 1 && entry.version !== 2) ||
        !Array.isArray(entry.assignment) ||
        !Array.isArray(entry.shards) ||
        entry.assignment.length !== entry.count ||
        (entry.source !== undefined && typeof entry.source !== 'string')
      ) {
        throw new Error('unexpected shape');
      }
      const current = upgraded(entry);
      if (current.assignment.some((slot) => current.shards[slot] === undefined)) {
        throw new Error('an assignment names no listed shard');
      }
      return current;
    } catch (error) {
      throw new JournalCorruptError(this.file, error);
    }
  }

  async write(entry: JournalEntry): Promise<void> {
    await writeJournalFile(this.file, entry, 'the batch journal', { mkdir: !this.dirReady });
    this.dirReady = true;
  }

  /**
   * Removes the entry once its batch is committed. After a main-queue batch, when the journal
   * is beside the main pop file, the directory is not fsynced: the removal becomes durable with
   * the next fsync of this directory, and everything that can follow here does one — the next
   * journal write (its rename is synced) or the next commit of the main consumer (its pop file
   * is replaced in this directory, then the directory is synced). Until then a power cut can
   * bring back only this entry, and only with the main consumer committed at the entry's
   * `next` (that commit was durable before this clear): recovery recognises an already
   * committed batch and clears it, moving nothing. A batch from another queue (a moving
   * shard, a replay) is cleared durably: its consumer commits in another directory, and a
   * position moved on past a resurrected entry would stop the distributor
   * (JournalMismatchError).
   */
  async clear(afterMainBatch = false): Promise<void> {
    await clearJournalFile(this.file, { durable: !(afterMainBatch && this.besideMainPop) });
  }
}
