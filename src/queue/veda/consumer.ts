import { promises as fs } from 'node:fs';
import { QueueClosedError, QueueNotFoundError, fromFsError, isNotFound } from '../errors.ts';
import type {
  ConsumerOptions,
  QueueConsumer,
  QueueMessage,
  QueuePosition,
  ReadBatch,
} from '../types.ts';
import type { VedaContext } from './context.ts';
import { ReplacedFile, readHead } from './files.ts';
import { checkName, formatInfoPop, parseInfoPop, type InfoPush } from './info-lines.ts';
import { backlogFrom, currentPart, listParts, readInfoPush } from './layout.ts';
import { DEFAULT_CHUNK_SIZE, PartReader } from './part-reader.ts';
import { paths } from './paths.ts';
import { fromPosition, toPosition, type VedaPlace } from './position.ts';
import { reportMissingPart, setAsideFile, setAsideRange } from './quarantine.ts';

const MIN_POLL_MS = 5;
const MAX_POLL_MS = 1_000;

/** Resolves after `ms`, or at once when `signal` fires. */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface VedaConsumerOptions extends ConsumerOptions {
  /** Bytes read per pread (default 64 KiB): with the batch, all the memory a reader holds. */
  readonly chunkSize?: number;
  /**
   * A look only (`queue tail`): the consumer is not registered (no pop file written for a new
   * one) and a damaged pop file is left for its owner to find; it reads from `startAt`.
   */
  readonly lookOnly?: boolean;
}

interface OpenPart {
  readonly id: number;
  readonly handle: fs.FileHandle;
  readonly reader: PartReader;
  info: InfoPush;
}

/**
 * A named consumer of a veda queue. Its committed position lives in `Q_info_pop_C` (the exact
 * names, never the crate's `individuals-flow_info_pop_C`), replaced atomically on commit. A
 * read streams the current part through a bounded window and moves on to the next part at
 * the end of one, as Veda's consumer does; corrupt bytes are set aside and reading resumes at
 * the next valid record.
 */
export class VedaConsumer implements QueueConsumer {
  readonly queue: string;
  readonly name: string;
  private readonly ctx: VedaContext;
  private readonly durable: boolean;
  private readonly chunkSize: number;
  /** `Q_info_pop_C`, replaced atomically on commit (its directory stays open). */
  private readonly pop: ReplacedFile;
  private committedPlace: VedaPlace;
  private cursor: VedaPlace;
  private part: OpenPart | undefined;
  /** Problems already reported, so a reader waiting on a damaged part does not flood the log. */
  private readonly reported = new Set<string>();
  private prefixScan:
    { readonly part: number; readonly size: number; readonly info: InfoPush } | undefined;
  private closed = false;
  /** Delay between two looks of `waitForNew`: doubles while the queue stays empty. */
  private pollMs = MIN_POLL_MS;

  private constructor(
    ctx: VedaContext,
    queue: string,
    name: string,
    start: VedaPlace,
    options: VedaConsumerOptions,
  ) {
    this.ctx = ctx;
    this.queue = queue;
    this.name = name;
    this.durable = options.durable ?? true;
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.pop = ReplacedFile.at(paths.infoPop(ctx.base, queue, name));
    this.committedPlace = start;
    this.cursor = start;
  }

  static async open(
    ctx: VedaContext,
    queue: string,
    name: string,
    options: VedaConsumerOptions = {},
  ): Promise<VedaConsumer> {
    checkName('queue', queue);
    checkName('consumer', name);
    const reported = new Set<string>();
    const current = await currentPart(ctx, queue, (path, reason) =>
      reportGarbageOnce(ctx, queue, reported, path, reason),
    );
    if (current === undefined) {
      throw new QueueNotFoundError(
        `queue ${queue} not found in ${ctx.base} (no ${queue}_info_queue and no part directory); start its producer first, or check the base path`,
      );
    }
    const parts = await listParts(ctx.base, queue);
    const oldest = parts.find((p) => p <= current) ?? current;
    const popPath = paths.infoPop(ctx.base, queue, name);
    const text = await readHead(popPath);
    let start: VedaPlace | undefined;
    if (text !== undefined) {
      const pop = parseInfoPop(text, queue, name);
      if (pop.ok) {
        start = {
          part: pop.value.partId,
          offset: pop.value.position,
          popped: pop.value.countPopped,
        };
        if (start.part < oldest) {
          reportMissingPart(ctx, queue, start.part, oldest);
          start = { part: oldest, offset: 0, popped: 0 };
        }
      } else if (!options.lookOnly) {
        // Start over from `startAt` rather than guess: a redelivery, never a silent skip.
        await setAsideFile(ctx, queue, popPath, 'pop_garbage', pop.reason);
      }
    }
    const registered = start !== undefined;
    start ??= {
      part: (options.startAt ?? 'oldest') === 'oldest' ? oldest : current,
      offset: 0,
      popped: 0,
    };
    const consumer = new VedaConsumer(ctx, queue, name, start, options);
    for (const key of reported) consumer.reported.add(key);
    // Registers the consumer, so retention keeps what it has not read yet.
    if (!registered && !options.lookOnly) {
      try {
        await consumer.writePop(start);
      } catch (err) {
        await consumer.close();
        throw err;
      }
    }
    return consumer;
  }

  async read(max: number): Promise<ReadBatch> {
    this.assertOpen();
    const from = this.position(this.cursor);
    const messages: QueueMessage[] = [];
    while (messages.length < max) {
      const part = await this.openCursorPart();
      if (!part) break;
      if (this.cursor.offset >= part.info.rightEdge && !(await this.refreshOrAdvance(part))) break;
      if (this.part !== part) continue;
      const outcome = await part.reader.next(this.cursor.offset, part.info.rightEdge);
      if (outcome.kind === 'record') {
        this.cursor = { part: part.id, offset: outcome.end, popped: outcome.header.countPushed };
        messages.push({ data: outcome.body, position: this.position(this.cursor) });
      } else if (outcome.kind === 'bad') {
        const resume = await part.reader.resync(this.cursor.offset + 1, part.info.rightEdge);
        await setAsideRange(
          this.ctx,
          this.queue,
          part.id,
          part.handle,
          this.cursor.offset,
          resume,
          outcome.reason,
        );
        this.cursor = {
          part: part.id,
          offset: resume,
          popped: await this.poppedBefore(part, resume),
        };
      } else if (outcome.kind === 'short') {
        if (!(await this.passTornPart(part, outcome.fileEnd))) break;
      } else {
        break;
      }
    }
    return { messages, from, next: this.position(this.cursor) };
  }

  async commit(position: QueuePosition): Promise<void> {
    this.assertOpen();
    const place = fromPosition(this.queue, position);
    await this.writePop(place);
    this.committedPlace = place;
    // A position from a journal may be ahead of what this consumer read: never re-read it.
    const ahead =
      place.part > this.cursor.part ||
      (place.part === this.cursor.part && place.offset > this.cursor.offset);
    if (ahead) {
      this.cursor = place;
      if (this.part && this.part.id !== place.part) await this.closePart();
    }
  }

  committed(): QueuePosition {
    return this.position(this.committedPlace);
  }

  async rewind(): Promise<void> {
    this.assertOpen();
    this.cursor = this.committedPlace;
    if (this.part && this.part.id !== this.cursor.part) await this.closePart();
  }

  async hasNew(): Promise<boolean> {
    this.assertOpen();
    if (this.part?.id === this.cursor.part && this.cursor.offset < this.part.info.rightEdge)
      return true;
    const info = await readInfoPush(this.ctx.base, this.queue, this.cursor.part);
    if (info.kind === 'ok' && info.value.rightEdge > this.cursor.offset) return true;
    const current = await currentPart(this.ctx, this.queue, async () => undefined);
    return current !== undefined && current > this.cursor.part;
  }

  /**
   * Veda has no notification: looks with `hasNew` at a delay that doubles from 5 ms up to
   * 1 s while nothing comes (never past `maxWaitMs`), and starts short again after a find.
   */
  async waitForNew(maxWaitMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      if (await this.hasNew()) {
        this.pollMs = MIN_POLL_MS;
        return true;
      }
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return false;
      await delay(Math.min(this.pollMs, left), signal);
      this.pollMs = Math.min(MAX_POLL_MS, this.pollMs * 2);
      if (signal?.aborted) return false;
    }
  }

  async backlog(): Promise<number> {
    this.assertOpen();
    const current = await currentPart(this.ctx, this.queue, async () => undefined);
    if (current === undefined) return 0;
    return backlogFrom(
      this.ctx.base,
      this.queue,
      this.committedPlace.part,
      this.committedPlace.popped,
      current,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.closePart();
    await this.pop.close();
  }

  private position(place: VedaPlace): QueuePosition {
    return toPosition(this.queue, place);
  }

  private assertOpen(): void {
    if (this.closed) throw QueueClosedError.of(`consumer ${this.name} of queue ${this.queue}`);
  }

  private async writePop(place: VedaPlace): Promise<void> {
    const line = formatInfoPop(this.queue, this.name, {
      position: place.offset,
      countPopped: place.popped,
      partId: place.part,
    });
    try {
      await this.pop.write(line, this.durable);
    } catch (err) {
      throw fromFsError(
        err,
        `committing consumer ${this.name} of queue ${this.queue} (${this.pop.path})`,
      );
    }
  }

  /** The part under the cursor, opened; undefined when it is not there (yet). */
  private async openCursorPart(): Promise<OpenPart | undefined> {
    if (this.part?.id === this.cursor.part) return this.part;
    await this.closePart();
    const id = this.cursor.part;
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(paths.queueFile(this.ctx.base, this.queue, id), 'r');
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return (await this.passMissingPart(id)) ? this.openCursorPart() : undefined;
    }
    const info = await this.readPush(id, handle);
    this.part = { id, handle, reader: new PartReader(handle, this.chunkSize), info };
    return this.part;
  }

  private async readPush(id: number, handle: fs.FileHandle): Promise<InfoPush> {
    const info = await readInfoPush(this.ctx.base, this.queue, id);
    if (info.kind === 'ok') return info.value;
    if (info.kind === 'garbage') {
      await reportGarbageOnce(this.ctx, this.queue, this.reported, info.path, info.reason);
    }
    // Without a usable info_push, what is published is the chain of valid records; scanned
    // again only when the file has grown, so a reader polling such a part stays cheap.
    const { size } = await handle.stat();
    const last = this.prefixScan;
    if (last?.part === id && last.size === size) return last.info;
    const scanned = await new PartReader(handle, this.chunkSize).validPrefix(size);
    this.prefixScan = { part: id, size, info: scanned };
    return scanned;
  }

  private async closePart(): Promise<void> {
    const part = this.part;
    this.part = undefined;
    if (part) await part.handle.close();
  }

  /**
   * At the right edge: re-reads info_push; if nothing new there, moves to the next part when a
   * newer one exists. False when there is nothing more to read now.
   */
  private async refreshOrAdvance(part: OpenPart): Promise<boolean> {
    part.info = await this.readPush(part.id, part.handle);
    if (this.cursor.offset < part.info.rightEdge) return true;
    const current = await currentPart(this.ctx, this.queue, (path, reason) =>
      reportGarbageOnce(this.ctx, this.queue, this.reported, path, reason),
    );
    if (current === undefined || current <= part.id) return false;
    // info_push may have grown between our read and the new part: read it once more.
    part.info = await this.readPush(part.id, part.handle);
    if (this.cursor.offset < part.info.rightEdge) return true;
    this.cursor = { part: part.id + 1, offset: 0, popped: 0 };
    await this.closePart();
    return true;
  }

  /** The cursor's part directory is missing: skip to the next part that exists, if any. */
  private async passMissingPart(id: number): Promise<boolean> {
    const current = await currentPart(this.ctx, this.queue, async () => undefined);
    if (current === undefined || current <= id) return false;
    const next = (await listParts(this.ctx.base, this.queue)).find((p) => p > id && p <= current);
    if (next === undefined) return false;
    reportMissingPart(this.ctx, this.queue, id, next);
    this.cursor = { part: next, offset: 0, popped: 0 };
    return true;
  }

  /** The file ends before its published edge. Older parts are passed; the current one waits for a writer to start a new part. */
  private async passTornPart(part: OpenPart, fileEnd: number): Promise<boolean> {
    const current = await currentPart(this.ctx, this.queue, async () => undefined);
    const key = `torn:${part.id}:${this.cursor.offset}`;
    if (current === undefined || current <= part.id) {
      if (!this.reported.has(key)) {
        this.reported.add(key);
        this.ctx.metrics.corrupt.inc({ queue: this.queue, reason: 'torn_tail' });
        this.ctx.log.error(
          {
            queue: this.queue,
            part: part.id,
            offset: this.cursor.offset,
            fileEnd,
            reason: 'torn_tail',
          },
          'published records missing, waiting for a new part',
        );
      }
      return false;
    }
    await setAsideRange(
      this.ctx,
      this.queue,
      part.id,
      part.handle,
      this.cursor.offset,
      fileEnd,
      'torn_tail',
    );
    this.cursor = { part: part.id + 1, offset: 0, popped: 0 };
    await this.closePart();
    return true;
  }

  /** Records popped once reading resumes at `offset`: one less than the count of the record there. */
  private async poppedBefore(part: OpenPart, offset: number): Promise<number> {
    if (offset >= part.info.rightEdge) return part.info.countPushed;
    const outcome = await part.reader.next(offset, part.info.rightEdge);
    return outcome.kind === 'record' ? outcome.header.countPushed - 1 : this.cursor.popped;
  }
}

async function reportGarbageOnce(
  ctx: VedaContext,
  queue: string,
  reported: Set<string>,
  path: string,
  reason: string,
): Promise<void> {
  if (reported.has(path)) return;
  reported.add(path);
  await setAsideFile(ctx, queue, path, 'info_garbage', reason);
}
