import { constants, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { fsyncDir } from '../batch-files.ts';
import { isNotFound } from '../errors.ts';

/** Info files are one short line; a garbage file may be anything, so read only its head. */
const INFO_READ_LIMIT = 4096;

/** Marks the temp files of writeAtomic (retention and stat skip them). */
const TEMP_MARK = '.tmp-';

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

/**
 * Replaces a file atomically (temp file, fsync, rename, fsync of the directory): a reader sees
 * the old line or the new one, never half of one, even after a crash.
 */
export async function writeAtomic(path: string, text: string, durable: boolean): Promise<void> {
  const temp = `${path}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
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

/** One of the text info files a writer keeps rewriting. */
export interface InfoFile {
  readonly path: string;
  write(text: string, durable: boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * `Q_info_queue`, rewritten in place on the same inode. Veda's consumers open it once and
 * re-read it from offset 0 whenever they run dry (`Queue::get_info_queue` never reopens it),
 * so a file replaced by rename would leave them on the old inode, never seeing a new part.
 * It changes only when a part starts; the line (under 40 bytes) goes in one pwrite at offset
 * 0, inside the first sector, and the file is truncated after it — a reader meanwhile sees the
 * new first line followed by old bytes it ignores. A line torn anyway is caught on the next
 * open (garbage → rebuilt from the part directories).
 */
export class InPlaceFile implements InfoFile {
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

/**
 * A part's `Q_info_push`, replaced atomically on every write (temp file, fsync, rename, fsync
 * of the directory): readers see the old right edge or the new one, never half a line, even
 * after a power cut. Compatible because Veda's consumers reopen it by path on every poll
 * (`get_info_of_part(id, true)`), and ours read it by path. Temp files a crash left behind
 * are removed when the part is opened again.
 */
export class ReplacedFile implements InfoFile {
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  static async open(path: string): Promise<ReplacedFile> {
    await removeStaleTemps(path);
    return new ReplacedFile(path);
  }

  async write(text: string, durable: boolean): Promise<void> {
    await writeAtomic(this.path, text, durable);
  }

  async close(): Promise<void> {
    // Nothing held open between writes.
  }
}

async function removeStaleTemps(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}${TEMP_MARK}`;
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  for (const entry of entries) {
    if (entry.startsWith(prefix)) await fs.rm(join(dir, entry), { force: true });
  }
}
