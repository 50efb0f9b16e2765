import { join } from 'node:path';

/** What names a queue's info file, `Q_info_queue`: one per queue in the base directory. */
export const INFO_QUEUE_SUFFIX = '_info_queue';

/** File names of the v_queue layout (B = base, Q = queue, N = part, C = consumer). */
export const paths = {
  infoQueue: (base: string, queue: string) => join(base, `${queue}${INFO_QUEUE_SUFFIX}`),
  partDir: (base: string, queue: string, part: number) => join(base, `${queue}-${part}`),
  infoPush: (base: string, queue: string, part: number) =>
    join(base, `${queue}-${part}`, `${queue}_info_push`),
  queueFile: (base: string, queue: string, part: number) =>
    join(base, `${queue}-${part}`, `${queue}_queue`),
  infoPop: (base: string, queue: string, consumer: string) =>
    join(base, `${queue}_info_pop_${consumer}`),
  /** Ours, beside Veda's empty `Q_queue.lock` (which locks nothing and is left alone). */
  writerLock: (base: string, queue: string) => join(base, `${queue}_queue.sd-lock`),
  /** Where corrupt bytes and garbage info files are kept aside. */
  corruptDir: (base: string, queue: string) => join(base, `${queue}_corrupt`),
};

/** The part id of a directory entry `Q-N`, or undefined. */
export function partIdOf(queue: string, entry: string): number | undefined {
  if (!entry.startsWith(`${queue}-`)) return undefined;
  const rest = entry.slice(queue.length + 1);
  if (!/^(0|[1-9]\d{0,9})$/.test(rest)) return undefined;
  const id = Number(rest);
  return id <= 0xffffffff ? id : undefined;
}
