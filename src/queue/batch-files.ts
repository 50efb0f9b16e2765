import { createHash } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fromFsError, isNotFound } from './errors.ts';
import type { QueueMark, QueuePosition, QueueWriter } from './types.ts';

/**
 * What every "read a batch here, write it there, then commit" protocol needs (the
 * distributor's batch journal, a worker's move journal, `dlq replay`): positions compared,
 * a batch recognised when re-read, and a small journal file replaced durably.
 */

export function samePosition(a: QueuePosition, b: QueuePosition): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** sha256 over each message's length and bytes: the same batch re-read gives the same digest. */
export function batchDigest(messages: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  const length = Buffer.alloc(4);
  for (const message of messages) {
    length.writeUInt32LE(message.byteLength);
    hash.update(length).update(message);
  }
  return hash.digest('hex');
}

/**
 * Which of a batch's messages (by their `ids`, in append order) are not durable after `mark`
 * yet: what a retry or a recovery writes again. By id where the writer can read them back,
 * else the count after the mark, which holds for a writer that stores a batch in order.
 */
export async function unstoredOf(
  writer: Pick<QueueWriter, 'countSince' | 'storedIdsSince'>,
  mark: QueueMark,
  ids: readonly string[],
): Promise<number[]> {
  const indices = ids.map((_, i) => i);
  const stored = await writer.storedIdsSince?.(mark);
  if (stored !== undefined) return indices.filter((i) => !stored.has(ids[i]!));
  return indices.slice(await writer.countSince(mark));
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a journal entry as JSON by temp file, fsync, rename and fsync of the directory, so a
 * crash leaves either the old entry or the new one. A full disk comes out as a retryable
 * queue error (`what` names the file for the message), not a crash. `mkdir: false` skips
 * creating the directory (a caller that wrote there before knows it exists).
 */
export async function writeJournalFile(
  file: string,
  entry: unknown,
  what: string,
  options: { readonly mkdir?: boolean } = {},
): Promise<void> {
  try {
    if (options.mkdir ?? true) await mkdir(dirname(file), { recursive: true });
    const temp = `${file}.tmp`;
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(JSON.stringify(entry));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    await fsyncDir(dirname(file));
  } catch (error) {
    throw fromFsError(error, `writing ${what} ${file}`);
  }
}

/**
 * Removes a journal file. Durable (the default): the directory is fsynced, the removal is on
 * disk when this returns. `durable: false` leaves that to the next fsync of the directory —
 * only for a caller that has shown a journal coming back after a power cut is harmless.
 */
export async function clearJournalFile(
  file: string,
  options: { readonly durable?: boolean } = {},
): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  if (options.durable ?? true) await fsyncDir(dirname(file));
}

/**
 * A writer whose flush comes in two halves (veda): `prepare` makes what was appended durable
 * without showing it to readers, `publish` shows it; `discard` forgets what was appended and
 * not published. A protocol can then overlap the syncs of `prepare` with its own journal write
 * and still publish nothing before the journal is durable.
 */
export interface StagedFlush {
  prepare(): Promise<void>;
  publish(): Promise<QueueMark>;
  discard(): void;
}

export function hasStagedFlush<W extends object>(writer: W): writer is W & StagedFlush {
  const w = writer as Partial<StagedFlush>;
  return (
    typeof w.prepare === 'function' &&
    typeof w.publish === 'function' &&
    typeof w.discard === 'function'
  );
}
