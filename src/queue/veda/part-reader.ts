import type { promises as fs } from 'node:fs';
import { crc32 } from 'node:zlib';
import { HEADER_SIZE, computeCrc, readHeader, type RecordHeader } from './record.ts';

export const DEFAULT_CHUNK_SIZE = 64 * 1024;

const MAGIC_BYTES = Buffer.from([0xee, 0xfe, 0xef, 0xee]);

export type ReadOutcome =
  | {
      readonly kind: 'record';
      readonly header: RecordHeader;
      readonly body: Buffer;
      readonly end: number;
    }
  /** Nothing to read below the limit. */
  | { readonly kind: 'end' }
  /** The file stops before the record does (a torn tail, or bytes lost in a crash). */
  | { readonly kind: 'short'; readonly fileEnd: number }
  /** Not a record here: wrong magic or start_pos, a length past the limit, or a bad CRC. */
  | { readonly kind: 'bad'; readonly reason: 'crc' | 'bad_header' };

/**
 * Streams the records of one part file through a fixed window of `chunkSize` bytes: one pread
 * per window, never a whole-file read, so a reader holds one window plus the batch it returns.
 * The window never holds bytes at or past the limit it was filled for (the published right
 * edge): only published bytes are immutable, a writer may still overwrite an unpublished tail.
 */
export class PartReader {
  private readonly handle: fs.FileHandle;
  private readonly chunkSize: number;
  private readonly window: Buffer;
  private windowStart = 0;
  private windowLength = 0;

  constructor(handle: fs.FileHandle, chunkSize = DEFAULT_CHUNK_SIZE) {
    this.handle = handle;
    this.chunkSize = chunkSize;
    this.window = Buffer.allocUnsafe(chunkSize);
  }

  /** Makes [offset, offset+length) available in the window (length ≤ chunkSize); false when the file is shorter. */
  private async load(offset: number, length: number, limit: number): Promise<boolean> {
    if (offset >= this.windowStart && offset + length <= this.windowStart + this.windowLength)
      return true;
    const want = Math.min(this.chunkSize, limit - offset);
    let filled = 0;
    while (filled < want) {
      const { bytesRead } = await this.handle.read(
        this.window,
        filled,
        want - filled,
        offset + filled,
      );
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.windowStart = offset;
    this.windowLength = filled;
    return filled >= length;
  }

  private fileEnd(): number {
    return this.windowStart + this.windowLength;
  }

  /** Reads the record at `offset` if one is complete and valid below `limit`. */
  async next(offset: number, limit: number): Promise<ReadOutcome> {
    if (offset >= limit) return { kind: 'end' };
    if (offset + HEADER_SIZE > limit) return { kind: 'bad', reason: 'bad_header' };
    if (!(await this.load(offset, HEADER_SIZE, limit)))
      return { kind: 'short', fileEnd: this.fileEnd() };
    const header = readHeader(this.window, offset - this.windowStart);
    if (!header || header.startPos !== offset || offset + HEADER_SIZE + header.length > limit) {
      return { kind: 'bad', reason: 'bad_header' };
    }
    const size = HEADER_SIZE + header.length;
    if (size > this.chunkSize) return this.nextLarge(offset, header, limit);
    if (!(await this.load(offset, size, limit))) return { kind: 'short', fileEnd: this.fileEnd() };
    const at = offset - this.windowStart;
    if (computeCrc(this.window, at, header.length) !== header.crc)
      return { kind: 'bad', reason: 'crc' };
    // A copy: the window is reused for the next records.
    const body = Buffer.from(this.window.subarray(at + HEADER_SIZE, at + size));
    return { kind: 'record', header, body, end: offset + size };
  }

  /**
   * A record bigger than the window: its CRC is checked chunk by chunk first, so a corrupt
   * length field never makes the reader allocate more than the window; only a record that
   * checks out gets a buffer of its own, which the message needs anyway.
   */
  private async nextLarge(
    offset: number,
    header: RecordHeader,
    limit: number,
  ): Promise<ReadOutcome> {
    const head = Buffer.from(
      this.window.subarray(offset - this.windowStart, offset - this.windowStart + HEADER_SIZE),
    );
    head.fill(0, 21, HEADER_SIZE);
    let crc = crc32(head);
    const end = offset + HEADER_SIZE + header.length;
    for (let pos = offset + HEADER_SIZE; pos < end;) {
      const length = Math.min(this.chunkSize, end - pos);
      if (!(await this.load(pos, length, limit))) return { kind: 'short', fileEnd: this.fileEnd() };
      crc = crc32(
        this.window.subarray(pos - this.windowStart, pos - this.windowStart + length),
        crc,
      );
      pos += length;
    }
    if (crc !== header.crc) return { kind: 'bad', reason: 'crc' };
    const body = Buffer.allocUnsafe(header.length);
    let filled = 0;
    while (filled < body.length) {
      const { bytesRead } = await this.handle.read(
        body,
        filled,
        body.length - filled,
        offset + HEADER_SIZE + filled,
      );
      if (bytesRead === 0) return { kind: 'short', fileEnd: offset + HEADER_SIZE + filled };
      filled += bytesRead;
    }
    return { kind: 'record', header, body, end };
  }

  /**
   * The start of the first valid record after `from` (a header whose start_pos is its own
   * offset, with a good CRC), or `limit` when there is none: where reading resumes after
   * corrupt bytes, so no good record is skipped.
   */
  async resync(from: number, limit: number): Promise<number> {
    let pos = from;
    while (pos + HEADER_SIZE <= limit) {
      this.windowLength = 0;
      const length = Math.min(this.chunkSize, limit - pos);
      await this.load(pos, length, limit);
      if (this.windowLength < HEADER_SIZE) return limit;
      const view = this.window.subarray(0, this.windowLength);
      const found = view.indexOf(MAGIC_BYTES, 12);
      if (found < 0) {
        if (this.fileEnd() >= limit || this.windowLength < length) return limit;
        // Overlap by a header so a marker across the window edge is still found.
        pos = Math.max(pos + 1, this.fileEnd() - HEADER_SIZE);
        continue;
      }
      const candidate = pos + found - 12;
      if (await this.isValidAt(candidate, limit)) return candidate;
      pos = candidate + 1;
    }
    return limit;
  }

  private async isValidAt(offset: number, limit: number): Promise<boolean> {
    const outcome = await this.next(offset, limit);
    return outcome.kind === 'record';
  }

  /**
   * Walks the valid records from the start of the part: the edge and count a lost or garbage
   * `Q_info_push` should have said.
   */
  async validPrefix(fileSize: number): Promise<{ rightEdge: number; countPushed: number }> {
    let offset = 0;
    let countPushed = 0;
    for (;;) {
      const outcome = await this.next(offset, fileSize);
      if (outcome.kind !== 'record') return { rightEdge: offset, countPushed };
      offset = outcome.end;
      countPushed = outcome.header.countPushed;
    }
  }
}
