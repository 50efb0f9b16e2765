import { constants, promises as fs } from 'node:fs';
import {
  QueueClosedError,
  QueueNotFoundError,
  QueuePositionError,
  fromFsError,
  isAlreadyExists,
} from '../errors.ts';
import type { QueueMark, QueueWriter } from '../types.ts';
import type { VedaContext } from './context.ts';
import { fsyncDir } from '../batch-files.ts';
import { InPlaceFile, writeAll } from './files.ts';
import { formatInfoPush, formatInfoQueue, type InfoPush } from './info-lines.ts';
import { currentPart, diskBytes, readInfoPush } from './layout.ts';
import { WriterLock, type LockOptions } from './lock.ts';
import { PartReader } from './part-reader.ts';
import { fromMark, toMark } from './position.ts';
import { reportMissingPart, setAsideFile, setAsideRange } from './quarantine.ts';
import { encodeBatch, type MessageType } from './record.ts';
import { applyRetention } from './retention.ts';
import { paths } from './paths.ts';

export interface VedaWriterOptions {
  /** fsync records and info files on flush (default true). */
  readonly durable?: boolean;
  /** Start a new part before a batch once the current one holds this many bytes (default 256 MiB). */
  readonly maxPartBytes?: number;
  /** Delete parts every registered consumer has passed (default false). */
  readonly retention?: boolean;
  /** `msg_type` written in each header (default 'O', as the original distributor wrote). */
  readonly messageType?: MessageType;
  readonly lock?: LockOptions;
}

const U32_MAX = 0xffffffff;

interface Part {
  readonly id: number;
  readonly records: fs.FileHandle;
  readonly infoPush: InPlaceFile;
}

/**
 * The single writer of a queue. It appends to the newest part instead of opening a new part
 * on every start as the crate does: Veda's consumers follow appends to the current part (they
 * re-read its info_push through the handle they hold, which is why it is rewritten in place,
 * never replaced), a restarting distributor then does not leave a trail of tiny parts,
 * and a durable mark taken before a crash stays comparable with the one after it. New parts
 * come from size-based rotation (between batches, so a batch never spans two parts) or when
 * the current part lost published bytes.
 */
export class VedaWriter implements QueueWriter {
  readonly queue: string;
  private readonly ctx: VedaContext;
  private readonly lock: WriterLock;
  private readonly infoQueue: InPlaceFile;
  private readonly durable: boolean;
  private readonly maxPartBytes: number;
  private readonly retention: boolean;
  private readonly messageType: MessageType;
  private part: Part;
  private published: InfoPush;
  private staged: InfoPush;
  /** Bytes of older parts, for the disk gauge. */
  private olderBytes: number;
  /** A failed write may have left bytes past the staged edge. */
  private dirtyTail = false;
  /** What `prepare` made durable (the records), until published. */
  private prepared: InfoPush | undefined;
  private closed = false;

  private constructor(
    ctx: VedaContext,
    queue: string,
    lock: WriterLock,
    infoQueue: InPlaceFile,
    part: Part,
    published: InfoPush,
    olderBytes: number,
    options: VedaWriterOptions,
  ) {
    this.ctx = ctx;
    this.queue = queue;
    this.lock = lock;
    this.infoQueue = infoQueue;
    this.part = part;
    this.published = published;
    this.staged = published;
    this.olderBytes = olderBytes;
    this.durable = options.durable ?? true;
    this.maxPartBytes = options.maxPartBytes ?? 256 * 1024 * 1024;
    this.retention = options.retention ?? false;
    this.messageType = options.messageType ?? 'O';
  }

  static async open(
    ctx: VedaContext,
    queue: string,
    options: VedaWriterOptions = {},
  ): Promise<VedaWriter> {
    const durable = options.durable ?? true;
    await fs.mkdir(ctx.base, { recursive: true });
    const lock = await WriterLock.acquire(ctx, queue, options.lock);
    let infoQueue: InPlaceFile | undefined;
    let part: Part | undefined;
    try {
      const found = await currentPart(ctx, queue, (path, reason) =>
        setAsideFile(ctx, queue, path, 'info_garbage', reason),
      );
      const state = found === undefined ? 'lost' : await recoverPart(ctx, queue, found);
      let id = found ?? 0;
      let recovered: InfoPush;
      if (state === 'lost') {
        if (found !== undefined) id += 1;
        await createPart(ctx, queue, id, durable);
        recovered = { rightEdge: 0, countPushed: 0 };
      } else {
        recovered = state;
      }
      infoQueue = await InPlaceFile.open(paths.infoQueue(ctx.base, queue));
      await infoQueue.write(formatInfoQueue(queue, { id }), durable);
      part = await openPart(ctx, queue, id);
      await part.infoPush.write(formatInfoPush(queue, recovered), durable);
      const older = (await diskBytes(ctx.base, queue)) - recovered.rightEdge;
      const writer = new VedaWriter(ctx, queue, lock, infoQueue, part, recovered, older, options);
      infoQueue = undefined;
      part = undefined;
      try {
        if (writer.retention) await writer.prune();
      } catch (err) {
        await writer.close();
        throw err;
      }
      writer.updateGauge();
      return writer;
    } catch (err) {
      await part?.records.close();
      await part?.infoPush.close();
      await infoQueue?.close();
      await lock.release();
      throw fromFsError(err, `opening queue ${queue} in ${ctx.base} for writing`);
    }
  }

  async append(messages: readonly Uint8Array[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 0) return;
    const nothingStaged = this.staged === this.published;
    if (
      nothingStaged &&
      this.published.countPushed > 0 &&
      (this.published.rightEdge >= this.maxPartBytes ||
        this.published.countPushed + messages.length > U32_MAX)
    ) {
      await this.rotate();
    }
    const before = this.staged;
    const bytes = encodeBatch(messages, before.rightEdge, before.countPushed, this.messageType);
    try {
      await writeAll(this.part.records, bytes, before.rightEdge);
    } catch (err) {
      this.dirtyTail = true;
      throw fromFsError(
        err,
        `appending ${messages.length} records to queue ${this.queue} part ${this.part.id} at offset ${before.rightEdge}`,
      );
    }
    this.staged = {
      rightEdge: before.rightEdge + bytes.length,
      countPushed: before.countPushed + messages.length,
    };
  }

  /** Makes everything appended durable and visible: `prepare`, then `publish`. */
  async flush(): Promise<QueueMark> {
    await this.prepare();
    return this.publish();
  }

  /**
   * The first half of a flush: the appended records are synced. Nothing is visible yet: a
   * caller may overlap this with other I/O (the distributor: its journal write) and publish
   * afterwards.
   */
  async prepare(): Promise<void> {
    this.assertOpen();
    this.prepared = undefined;
    if (this.staged !== this.published || this.dirtyTail) {
      try {
        if (this.dirtyTail) {
          await this.part.records.truncate(this.staged.rightEdge);
          this.dirtyTail = false;
        }
        if (this.durable) await this.part.records.datasync();
      } catch (err) {
        throw fromFsError(err, `making queue ${this.queue} part ${this.part.id} durable`);
      }
    }
    this.prepared = this.staged;
  }

  /**
   * The second half: the info_push line covering the batch is written in place (then synced),
   * so readers see the batch — only after `prepare` has put its records on disk: a power cut
   * never leaves a line covering records that are not there. Without a `prepare` of exactly
   * what is appended now, it flushes whole.
   */
  async publish(): Promise<QueueMark> {
    this.assertOpen();
    if (this.prepared !== this.staged) return this.flush();
    this.prepared = undefined;
    if (this.staged === this.published) return this.mark();
    try {
      await this.part.infoPush.overwrite(formatInfoPush(this.queue, this.staged));
    } catch (err) {
      throw fromFsError(err, `publishing queue ${this.queue} part ${this.part.id}`);
    }
    // Readers see the batch from here on, so its records are published whatever fails next:
    // a close after a failed sync must not cut what info_push already covers.
    this.published = this.staged;
    this.updateGauge();
    if (this.durable) {
      try {
        await this.part.infoPush.sync();
      } catch (err) {
        throw fromFsError(
          err,
          `making the publish of queue ${this.queue} part ${this.part.id} durable`,
        );
      }
    }
    return this.mark();
  }

  /**
   * Forgets what was appended and not published (the batch it belonged to failed before its
   * publish). No I/O: the next append writes over those bytes and the next flush cuts the file
   * at its own edge, so they can never be published.
   */
  discard(): void {
    this.prepared = undefined;
    if (this.staged === this.published) return;
    this.staged = this.published;
    this.dirtyTail = true;
  }

  mark(): QueueMark {
    return toMark(this.queue, {
      part: this.part.id,
      pushed: this.published.countPushed,
      bytes: this.published.rightEdge,
    });
  }

  async countSince(mark: QueueMark): Promise<number> {
    this.assertOpen();
    const from = fromMark(this.queue, mark);
    if (
      from.part > this.part.id ||
      (from.part === this.part.id && from.pushed > this.published.countPushed)
    ) {
      throw new QueuePositionError(
        `mark ${JSON.stringify(mark)} is ahead of queue ${this.queue} (part ${this.part.id}, ${this.published.countPushed} pushed): it is not from this queue's history`,
      );
    }
    let total = 0;
    for (let id = from.part; id < this.part.id; id++) {
      const info = await readInfoPush(this.ctx.base, this.queue, id);
      if (info.kind !== 'ok') {
        throw new QueueNotFoundError(
          `queue ${this.queue} part ${id} (${paths.infoPush(this.ctx.base, this.queue, id)}) is gone or unreadable; cannot count what was pushed since ${JSON.stringify(mark)}`,
        );
      }
      total += info.value.countPushed;
    }
    return total + this.published.countPushed - from.pushed;
  }

  /** Drops what was appended but not flushed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.staged !== this.published || this.dirtyTail) {
      await this.part.records.truncate(this.published.rightEdge).catch(() => undefined);
    }
    await this.part.records.close();
    await this.part.infoPush.close();
    await this.infoQueue.close();
    await this.lock.release();
    // The queue may be gone for good (a removed shard); the next writer sets it again.
    this.ctx.metrics.diskBytes.remove({ queue: this.queue });
  }

  private assertOpen(): void {
    if (this.closed) throw QueueClosedError.of(`writer of queue ${this.queue}`);
  }

  private async rotate(): Promise<void> {
    const next = this.part.id + 1;
    await createPart(this.ctx, this.queue, next, this.durable);
    await this.infoQueue.write(formatInfoQueue(this.queue, { id: next }), this.durable);
    const old = this.part;
    this.olderBytes += this.published.rightEdge;
    this.part = await openPart(this.ctx, this.queue, next);
    this.published = { rightEdge: 0, countPushed: 0 };
    this.staged = this.published;
    await old.records.close();
    await old.infoPush.close();
    this.ctx.log.info({ queue: this.queue, part: next }, 'queue part started');
    if (this.retention) await this.prune();
    this.updateGauge();
  }

  private async prune(): Promise<void> {
    const freed = await applyRetention(this.ctx, this.queue, this.part.id);
    this.olderBytes = Math.max(0, this.olderBytes - freed);
  }

  diskBytes(): number {
    return this.olderBytes + this.published.rightEdge;
  }

  private updateGauge(): void {
    this.ctx.metrics.diskBytes.set({ queue: this.queue }, this.diskBytes());
  }
}

async function openPart(ctx: VedaContext, queue: string, id: number): Promise<Part> {
  const records = await fs.open(
    paths.queueFile(ctx.base, queue, id),
    constants.O_RDWR | constants.O_CREAT,
    0o644,
  );
  try {
    const infoPush = await InPlaceFile.open(paths.infoPush(ctx.base, queue, id));
    return { id, records, infoPush };
  } catch (err) {
    await records.close();
    throw err;
  }
}

/**
 * A new part: directory, empty record file and `Q;0;0;CRC` info_push, all on disk before
 * info_queue names it — a consumer that sees the new id always finds the part complete.
 */
async function createPart(
  ctx: VedaContext,
  queue: string,
  id: number,
  durable: boolean,
): Promise<void> {
  const dir = paths.partDir(ctx.base, queue, id);
  try {
    await fs.mkdir(dir);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    // Left by a crash before info_queue named it: nobody can have read it, keep its bytes aside.
    const records = await fs.open(
      paths.queueFile(ctx.base, queue, id),
      constants.O_RDWR | constants.O_CREAT,
      0o644,
    );
    try {
      const { size } = await records.stat();
      if (size > 0) await setAsideRange(ctx, queue, id, records, 0, size, 'torn_tail');
      await records.truncate(0);
    } finally {
      await records.close();
    }
  }
  const part = await openPart(ctx, queue, id);
  try {
    await part.infoPush.write(formatInfoPush(queue, { rightEdge: 0, countPushed: 0 }), durable);
    if (durable) await part.records.sync();
  } finally {
    await part.records.close();
    await part.infoPush.close();
  }
  if (durable) {
    await fsyncDir(dir);
    await fsyncDir(ctx.base);
  }
}

/**
 * The published state of part `id` as a writer may continue it: a torn tail past the right
 * edge is set aside and cut; a garbage or missing info_push is rebuilt from the records.
 * 'lost' when the file is shorter than its published edge (bytes lost in a crash): the writer
 * then starts a new part, and readers pass the damaged one.
 */
async function recoverPart(
  ctx: VedaContext,
  queue: string,
  id: number,
): Promise<InfoPush | 'lost'> {
  const dir = paths.partDir(ctx.base, queue, id);
  const exists = await fs.stat(dir).then(
    () => true,
    () => false,
  );
  if (!exists) {
    reportMissingPart(ctx, queue, id, id);
    await createPart(ctx, queue, id, true);
    return { rightEdge: 0, countPushed: 0 };
  }
  const records = await fs.open(
    paths.queueFile(ctx.base, queue, id),
    constants.O_RDWR | constants.O_CREAT,
    0o644,
  );
  try {
    const { size } = await records.stat();
    const info = await readInfoPush(ctx.base, queue, id);
    let state: InfoPush;
    // An empty info_push beside records is a replace a power cut interrupted (durable = false
    // syncs neither file): the records are the truth, not a part to set aside whole.
    if (info.kind === 'ok' && !(info.empty && size > 0)) {
      state = info.value;
    } else {
      if (info.kind === 'garbage')
        await setAsideFile(ctx, queue, info.path, 'info_garbage', info.reason);
      state = await new PartReader(records).validPrefix(size);
      ctx.log.warn(
        {
          queue,
          part: id,
          info: info.kind === 'ok' ? 'empty' : info.kind,
          rightEdge: state.rightEdge,
          countPushed: state.countPushed,
        },
        'info_push rebuilt from records',
      );
    }
    if (size < state.rightEdge) {
      ctx.metrics.corrupt.inc({ queue, reason: 'torn_tail' });
      ctx.log.error(
        { queue, part: id, offset: size, rightEdge: state.rightEdge, reason: 'torn_tail' },
        'published records lost, starting a new part',
      );
      return 'lost';
    }
    if (size > state.rightEdge) {
      await setAsideRange(ctx, queue, id, records, state.rightEdge, size, 'torn_tail');
      await records.truncate(state.rightEdge);
      await records.sync();
    }
    return state;
  } finally {
    await records.close();
  }
}
