import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fromFsError } from './errors.ts';
import type { QueuePosition } from './types.ts';

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
 * queue error (`what` names the file for the message), not a crash.
 */
export async function writeJournalFile(file: string, entry: unknown, what: string): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
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

/** Removes a journal file for good (the directory is fsynced). */
export async function clearJournalFile(file: string): Promise<void> {
  await rm(file, { force: true });
  await fsyncDir(dirname(file));
}
