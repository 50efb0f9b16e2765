import { constants, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { isNotFound } from '../errors.ts';

/** Info files are one short line; a garbage file may be anything, so read only its head. */
const INFO_READ_LIMIT = 4096;

/** The first bytes of a small text file, or undefined when it does not exist. */
export async function readHead(path: string): Promise<string | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  try {
    const buf = Buffer.alloc(INFO_READ_LIMIT);
    const { bytesRead } = await handle.read(buf, 0, INFO_READ_LIMIT, 0);
    return buf.toString('latin1', 0, bytesRead);
  } finally {
    await handle.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces a file atomically (temp file, fsync, rename, fsync of the directory): a reader sees
 * the old line or the new one, never half of one, even after a crash.
 */
export async function writeAtomic(path: string, text: string, durable: boolean): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await fs.open(temp, 'w', 0o644);
  try {
    await handle.writeFile(text, 'latin1');
    if (durable) await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await fs.rename(temp, path);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
  if (durable) await fsyncDir(dirname(path));
}

/**
 * A small info file rewritten in place, on the same inode. Veda's consumers keep
 * `Q_info_queue` and the current part's `Q_info_push` open for their whole life and re-read
 * them from offset 0: a file replaced by rename would leave them reading the old inode and
 * stalled for ever. So the line is written with one pwrite at offset 0 (one sector, never torn
 * in practice) and the file truncated after it; the old bytes a reader may see past the first
 * newline meanwhile are ignored by every reader. A line torn anyway is caught on the next open
 * (garbage → rebuilt from the records).
 */
export class InPlaceFile {
  readonly path: string;
  private readonly handle: fs.FileHandle;
  private size: number;

  private constructor(path: string, handle: fs.FileHandle, size: number) {
    this.path = path;
    this.handle = handle;
    this.size = size;
  }

  static async open(path: string): Promise<InPlaceFile> {
    const handle = await fs.open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      const { size } = await handle.stat();
      return new InPlaceFile(path, handle, size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async write(text: string, durable: boolean): Promise<void> {
    const bytes = Buffer.from(text, 'latin1');
    await this.handle.write(bytes, 0, bytes.length, 0);
    if (this.size > bytes.length) await this.handle.truncate(bytes.length);
    this.size = bytes.length;
    if (durable) await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
