import { promises as fs } from 'node:fs';
import { isNotFound } from '../errors.ts';
import type { VedaContext } from './context.ts';
import { readHead } from './files.ts';
import { hasOwnCrc, parseInfoPush, parseInfoQueue, type InfoPush } from './info-lines.ts';
import { partIdOf, paths } from './paths.ts';

/** The part ids present on disk, ascending. */
export async function listParts(base: string, queue: string): Promise<number[]> {
  let entries;
  try {
    entries = await fs.readdir(base, { withFileTypes: true });
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  const ids: number[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const id = partIdOf(queue, entry.name);
    if (id !== undefined) ids.push(id);
  }
  return ids.sort((a, b) => a - b);
}

export type InfoRead<T> =
  /** `empty`: the file has no bytes at all, read as `value` (what Veda's reader makes of it). */
  | { readonly kind: 'ok'; readonly value: T; readonly empty?: true }
  | { readonly kind: 'missing' }
  | { readonly kind: 'garbage'; readonly reason: string; readonly path: string };

/** Reads of a line whose CRC does not match, at most, before it is taken as it stands. */
const SETTLE_READS = 3;

/**
 * An info line as its writer finished it. Writers overwrite these lines in place (the crate
 * and this project alike), so a read can catch one half old, half new: numbers that were
 * never written. Such a line's CRC does not match, and it is read again until it matches or
 * reads the same twice (a line written with another CRC, as real files are: taken as it is).
 */
export async function readSettledLine(
  path: string,
  read: (path: string) => Promise<string | undefined> = readHead,
): Promise<string | undefined> {
  let text = await read(path);
  for (let i = 0; i < SETTLE_READS && text && !hasOwnCrc(text); i++) {
    const again = await read(path);
    if (again === text) break;
    text = again;
  }
  return text;
}

export async function readInfoQueue(base: string, queue: string): Promise<InfoRead<number>> {
  const path = paths.infoQueue(base, queue);
  const text = await readSettledLine(path);
  // Empty: created, never written (a crash while the queue was being made).
  if (text === undefined || text.length === 0) return { kind: 'missing' };
  const parsed = parseInfoQueue(text, queue);
  return parsed.ok
    ? { kind: 'ok', value: parsed.value.id }
    : { kind: 'garbage', reason: parsed.reason, path };
}

export async function readInfoPush(
  base: string,
  queue: string,
  part: number,
): Promise<InfoRead<InfoPush>> {
  const path = paths.infoPush(base, queue, part);
  const text = await readSettledLine(path);
  if (text === undefined) return { kind: 'missing' };
  // Veda reads an empty info_push as 0;0 (a part whose first write never happened).
  if (text.length === 0)
    return { kind: 'ok', value: { rightEdge: 0, countPushed: 0 }, empty: true };
  const parsed = parseInfoPush(text, queue);
  return parsed.ok
    ? { kind: 'ok', value: parsed.value }
    : { kind: 'garbage', reason: parsed.reason, path };
}

/**
 * The newest part id: `Q_info_queue`, or when that is garbage the highest part directory
 * (reported once through `onGarbage`). Undefined when the queue does not exist.
 */
export async function currentPart(
  ctx: VedaContext,
  queue: string,
  onGarbage: (path: string, reason: string) => Promise<void>,
): Promise<number | undefined> {
  const info = await readInfoQueue(ctx.base, queue);
  if (info.kind === 'ok') return info.value;
  if (info.kind === 'garbage') await onGarbage(info.path, info.reason);
  const parts = await listParts(ctx.base, queue);
  if (info.kind === 'missing' && parts.length === 0) return undefined;
  return parts.at(-1) ?? 0;
}

/**
 * Messages in parts `from`..`to` not yet popped by a consumer at (`from`, `popped`): pushed −
 * popped of its part plus everything pushed in newer parts. A missing or unreadable part counts
 * as empty here; the reader and writer report those.
 */
export async function backlogFrom(
  base: string,
  queue: string,
  from: number,
  popped: number,
  to: number,
): Promise<number> {
  let total = 0;
  for (let part = from; part <= to; part++) {
    const info = await readInfoPush(base, queue, part);
    if (info.kind !== 'ok') continue;
    total += part === from ? Math.max(0, info.value.countPushed - popped) : info.value.countPushed;
  }
  return total;
}

/** Bytes of every part's record file. */
export async function diskBytes(base: string, queue: string): Promise<number> {
  let total = 0;
  for (const part of await listParts(base, queue)) {
    try {
      total += (await fs.stat(paths.queueFile(base, queue, part))).size;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return total;
}
