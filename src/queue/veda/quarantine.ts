import { constants, promises as fs } from 'node:fs';
import { basename, join } from 'node:path';
import { isAlreadyExists, isNotFound } from '../errors.ts';
import type { VedaContext } from './context.ts';
import { paths } from './paths.ts';

export type CorruptReason =
  'crc' | 'bad_header' | 'torn_tail' | 'missing_part' | 'info_garbage' | 'pop_garbage';

const COPY_CHUNK = 64 * 1024;

/**
 * Copies bytes [start, end) of a part's record file into `Q_corrupt/` before they are skipped
 * or truncated: corrupt data is kept for a person to look at, never deleted. The name is
 * deterministic, so a second reader meeting the same bytes keeps no second copy.
 */
export async function setAsideRange(
  ctx: VedaContext,
  queue: string,
  part: number,
  source: fs.FileHandle,
  start: number,
  end: number,
  reason: CorruptReason,
): Promise<void> {
  const dir = paths.corruptDir(ctx.base, queue);
  const keptAs = join(dir, `part-${part}-at-${start}-${reason}.bin`);
  ctx.metrics.corrupt.inc({ queue, reason });
  ctx.log.warn(
    { queue, part, offset: start, length: end - start, reason, keptAs },
    'corrupt record set aside',
  );
  await fs.mkdir(dir, { recursive: true });
  let out: fs.FileHandle;
  try {
    out = await fs.open(keptAs, 'wx', 0o644);
  } catch (err) {
    if (isAlreadyExists(err)) return;
    throw err;
  }
  try {
    const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(end - start, 1)));
    for (let at = start; at < end;) {
      const { bytesRead } = await source.read(buf, 0, Math.min(buf.length, end - at), at);
      if (bytesRead === 0) break;
      await out.write(buf, 0, bytesRead);
      at += bytesRead;
    }
    await out.sync();
  } finally {
    await out.close();
  }
}

/** Keeps a copy of a garbage info file in `Q_corrupt/` (once per distinct content). */
export async function setAsideFile(
  ctx: VedaContext,
  queue: string,
  path: string,
  reason: CorruptReason,
  detail: string,
): Promise<void> {
  const dir = paths.corruptDir(ctx.base, queue);
  ctx.metrics.corrupt.inc({ queue, reason });
  let stat;
  try {
    stat = await fs.stat(path);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  const keptAs = join(dir, `${basename(path)}.${Math.trunc(stat.mtimeMs)}-${stat.size}`);
  ctx.log.warn({ queue, file: path, reason, detail, keptAs }, 'corrupt info file set aside');
  await fs.mkdir(dir, { recursive: true });
  try {
    await fs.copyFile(path, keptAs, constants.COPYFILE_EXCL);
  } catch (err) {
    if (!isAlreadyExists(err) && !isNotFound(err)) throw err;
  }
}

/** A part directory that should exist does not: counted and logged, there are no bytes to keep. */
export function reportMissingPart(
  ctx: VedaContext,
  queue: string,
  part: number,
  next: number,
): void {
  ctx.metrics.corrupt.inc({ queue, reason: 'missing_part' });
  ctx.log.error({ queue, part, offset: 0, reason: 'missing_part', next }, 'missing part skipped');
}
