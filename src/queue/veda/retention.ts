import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { VedaContext } from './context.ts';
import { parseInfoPop } from './info-lines.ts';
import { diskBytes, listParts } from './layout.ts';
import { paths } from './paths.ts';
import { readHead } from './files.ts';

/**
 * The lowest part any registered consumer (a pop file of this queue) still stands in, or
 * undefined when there is no consumer or one pop file cannot be read — then nothing is deleted.
 */
async function lowestConsumerPart(base: string, queue: string): Promise<number | undefined> {
  const prefix = `${queue}_info_pop_`;
  let lowest: number | undefined;
  for (const entry of await fs.readdir(base)) {
    if (!entry.startsWith(prefix) || entry.endsWith('.lock') || entry.includes('.tmp-')) continue;
    const consumer = entry.slice(prefix.length);
    const text = await readHead(`${base}/${entry}`);
    if (text === undefined) continue;
    const pop = parseInfoPop(text, queue, consumer);
    if (!pop.ok) return undefined;
    lowest = lowest === undefined ? pop.value.partId : Math.min(lowest, pop.value.partId);
  }
  return lowest;
}

/**
 * Deletes the parts every registered consumer has passed, oldest first so the remaining parts
 * stay contiguous; each directory is renamed away first, so no reader ever sees half a part.
 * Consumers that never committed are not registered: retention is off by default for that
 * reason. Returns the bytes freed.
 */
export async function applyRetention(
  ctx: VedaContext,
  queue: string,
  currentPart: number,
): Promise<number> {
  const lowest = await lowestConsumerPart(ctx.base, queue);
  if (lowest === undefined) return 0;
  const before = await diskBytes(ctx.base, queue);
  for (const part of await listParts(ctx.base, queue)) {
    if (part >= lowest || part >= currentPart) break;
    const dir = paths.partDir(ctx.base, queue, part);
    const doomed = `${dir}.deleting-${randomBytes(4).toString('hex')}`;
    await fs.rename(dir, doomed);
    await fs.rm(doomed, { recursive: true, force: true });
    ctx.metrics.partsDeleted.inc({ queue });
    ctx.log.info({ queue, part }, 'queue part deleted');
  }
  return before - (await diskBytes(ctx.base, queue));
}
