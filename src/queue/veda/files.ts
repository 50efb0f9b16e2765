import { constants, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { isNotFound } from '../errors.ts';

/** Info files are one short line; a garbage file may be anything, so read only its head. */
const INFO_READ_LIMIT = 4096;

/** Marks the temp files of ReplacedFile (retention and stat skip them). */
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

/** Writes all of `bytes` at `position` (a write may take fewer bytes than it was given). */
export async function writeAll(
  handle: fs.FileHandle,
  bytes: Uint8Array,
  position: number,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(
      bytes,
      written,
      bytes.length - written,
      position + written,
    );
    written += bytesWritten;
  }
}

/** One of the text info files a writer keeps rewriting. */
export interface InfoFile {
  readonly path: string;
  write(text: string, durable: boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * `Q_info_queue` and a part's `Q_info_push`, rewritten in place on the same inode. The crate's
 * readers open these once and re-read them from offset 0 through the handle they hold
 * (`Queue::get_info_queue`; `get_info_of_part(id, false)` for the part they are on, which is
 * how `Consumer::pop_header` learns of new records), so a file replaced by rename would leave
 * them on the old inode: they would never see a new part, or a record appended to theirs.
 * The line (under 80 bytes) goes in one pwrite at offset 0, inside the first sector; a reader
 * sees the new first line followed by any old bytes, which it ignores (`write` cuts them,
 * `overwrite`, a batch's publish, leaves them as the crate does). A reader that catches the line half written
 * reads it again (`readInfoPush`); a line torn on disk is caught on the next open (garbage →
 * rebuilt from the records or the part directories).
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
    // Temp files of the rename this project used for info_push before, left by a crash.
    await removeStaleTemps(path);
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
    await this.overwrite(text);
    const length = Buffer.byteLength(text, 'latin1');
    if (this.size > length) {
      await this.handle.truncate(length);
      this.size = length;
    }
    if (durable) await this.sync();
  }

  /**
   * Puts `text` in place with one write and nothing else: readers see it from now on (not yet
   * on disk). Old bytes a shorter line leaves after its newline stay, as the crate leaves
   * them, so once this returns there is no second step that could fail with the line shown.
   */
  async overwrite(text: string): Promise<void> {
    const bytes = Buffer.from(text, 'latin1');
    await writeAll(this.handle, bytes, 0);
    this.size = Math.max(this.size, bytes.length);
  }

  /** Puts the last `overwrite` on disk, so a power cut keeps it. */
  async sync(): Promise<void> {
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/**
 * A text file replaced atomically (temp file, fsync, rename, fsync of the directory): readers
 * see the old line or the new one, never half a line, even after a power cut. Used for a
 * consumer's `Q_info_pop_C`, which only that consumer writes and every reader opens by name
 * (a part's `Q_info_push` is an InPlaceFile: the crate's readers hold it open).
 *
 * The directory stays open between writes (one fsync, not open + fsync + close, per
 * replacement), and the temp name is fixed per instance: the consumer's name means one
 * instance writes a given file.
 */
export class ReplacedFile implements InfoFile {
  readonly path: string;
  private readonly temp: string;
  private dir: fs.FileHandle | undefined;
  private staged = false;

  private constructor(path: string) {
    this.path = path;
    this.temp = `${path}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
  }

  /** No clean-up of temps a crash left: other consumers' temps in the directory may be live. */
  static at(path: string): ReplacedFile {
    return new ReplacedFile(path);
  }

  async write(text: string, durable: boolean): Promise<void> {
    await this.stage(text, durable);
    await this.replace();
    if (durable) await this.syncDirectory();
  }

  /** Writes `text` to the temp file (synced when durable); readers do not see it yet. */
  private async stage(text: string, durable: boolean): Promise<void> {
    this.staged = false;
    const handle = await fs.open(this.temp, 'w', 0o644);
    try {
      await handle.writeFile(text, 'latin1');
      if (durable) await handle.sync();
    } catch (err) {
      await handle.close();
      await fs.rm(this.temp, { force: true });
      throw err;
    }
    await handle.close();
    this.staged = true;
  }

  /** Renames the staged line into place: readers see it from now on. */
  private async replace(): Promise<void> {
    if (!this.staged) throw new Error(`nothing staged for ${this.path}`);
    this.staged = false;
    try {
      await fs.rename(this.temp, this.path);
    } catch (err) {
      await fs.rm(this.temp, { force: true });
      throw err;
    }
  }

  /** Puts the last `replace` on disk (the directory's entry), so a power cut keeps it. */
  private async syncDirectory(): Promise<void> {
    this.dir ??= await fs.open(dirname(this.path), 'r');
    await this.dir.sync();
  }

  async close(): Promise<void> {
    const dir = this.dir;
    this.dir = undefined;
    await dir?.close();
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
