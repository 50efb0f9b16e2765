import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../observability/index.ts';
import { fsyncDir } from '../queue/index.ts';
import { encodeOutputLine } from './output-line.ts';
import type { MessageHandler } from './types.ts';

/** How far back from the end one read looks for the last line break. */
const TAIL_CHUNK = 64 * 1024;

/**
 * The reference worker's `--out` file: a batch's lines are collected and written in one
 * append, synced, before the batch is committed.
 *
 * Why `open` cuts a torn last line: Linux lets a fatal signal end a write between pages, so a
 * worker killed with -9 mid-append can leave part of a line. Its batch was not committed, so
 * the next worker writes the whole line again; left in place, the fragment would glue itself
 * to that line (`chaos-` + `chaos-w2-0300`) and the file would hold a message nobody sent.
 * One worker owns the file, so cutting at open cannot race another writer. Something that is
 * not a regular file (`/dev/stdout`, a pipe) is only written: it keeps no tail and cannot sync.
 */
export class OutputFile {
  private readonly file: FileHandle;
  private readonly regular: boolean;
  private lines: string[] = [];

  private constructor(file: FileHandle, regular: boolean) {
    this.file = file;
    this.regular = regular;
  }

  static async open(path: string, log: Logger): Promise<OutputFile> {
    const existing = await stat(path).catch(() => undefined);
    if (existing !== undefined && !existing.isFile())
      return new OutputFile(await open(path, 'a'), false);
    const file = await open(path, 'a+');
    try {
      // A new file's name must be as durable as the lines synced into it: else a power cut
      // after the first commit could lose the whole file.
      if (existing === undefined) await fsyncDir(dirname(path));
      const cut = await cutTornLine(file);
      if (cut > 0)
        log.warn(
          { out: path, bytes: cut },
          'output file ended in part of a line (a worker was killed while writing it); cut it off, its batch was not committed and is processed again',
        );
    } catch (error) {
      await file.close();
      throw error;
    }
    return new OutputFile(file, true);
  }

  /** Queues `message`'s line for the next `flush`. */
  add(message: Uint8Array): void {
    this.lines.push(encodeOutputLine(message) + '\n');
  }

  readonly handler: MessageHandler = (message) => this.add(message);

  async flush(): Promise<void> {
    if (this.lines.length === 0) return;
    const text = this.lines.join('');
    this.lines = [];
    await this.file.appendFile(text, 'utf8');
    // The commit that follows is synced (durable veda, JetStream's ack): the lines must be on
    // disk first, or a power cut could keep the commit and lose what it stands for.
    if (this.regular) await this.file.datasync();
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

/** Truncates `file` after its last line break; returns how many bytes went. */
async function cutTornLine(file: FileHandle): Promise<number> {
  const { size } = await file.stat();
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - TAIL_CHUNK);
    const chunk = Buffer.alloc(end - start);
    await file.read(chunk, 0, chunk.length, start);
    const lastBreak = chunk.lastIndexOf(0x0a);
    if (lastBreak === chunk.length - 1 && end === size) return 0;
    if (lastBreak >= 0) {
      await file.truncate(start + lastBreak + 1);
      return size - (start + lastBreak + 1);
    }
    end = start;
  }
  if (size > 0) await file.truncate(0);
  return size;
}
