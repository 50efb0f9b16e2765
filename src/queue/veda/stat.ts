import { promises as fs } from 'node:fs';
import { isNotFound } from '../errors.ts';
import { readHead } from './files.ts';
import { parseInfoPop } from './info-lines.ts';
import { backlogFrom, listParts, readInfoPush, readInfoQueue } from './layout.ts';
import { paths } from './paths.ts';

export interface VedaQueueStat {
  readonly queue: string;
  readonly basePath: string;
  /** The newest part (`Q_info_queue`), or undefined when it is missing or garbage. */
  readonly currentPart: number | undefined;
  /** Whether there is anything of the queue at all: its `Q_info_queue` or a part directory. */
  readonly exists: boolean;
  readonly parts: readonly {
    id: number;
    pushed: number | undefined;
    bytes: number;
    problem?: string;
  }[];
  readonly pushed: number;
  readonly consumers: readonly {
    name: string;
    part?: number;
    offset?: number;
    popped?: number;
    backlog?: number;
    problem?: string;
  }[];
}

/**
 * What an operator on call wants to know about one queue: its parts, what was pushed, and
 * every consumer with a pop file, its position and its backlog. Reads only.
 */
export async function statVedaQueue(basePath: string, queue: string): Promise<VedaQueueStat> {
  const info = await readInfoQueue(basePath, queue);
  const partIds = await listParts(basePath, queue);
  const parts: { id: number; pushed: number | undefined; bytes: number; problem?: string }[] = [];
  for (const id of partIds) {
    const push = await readInfoPush(basePath, queue, id);
    const bytes = await fs.stat(paths.queueFile(basePath, queue, id)).then(
      (s) => s.size,
      () => 0,
    );
    parts.push(
      push.kind === 'ok'
        ? { id, pushed: push.value.countPushed, bytes }
        : {
            id,
            pushed: undefined,
            bytes,
            problem: push.kind === 'missing' ? 'no info_push' : push.reason,
          },
    );
  }
  const last = partIds.at(-1) ?? 0;
  const consumers = [];
  for (const name of await consumerNames(basePath, queue)) {
    const text = await readHead(paths.infoPop(basePath, queue, name));
    const parsed = text === undefined ? undefined : parseInfoPop(text, queue, name);
    if (!parsed?.ok) {
      consumers.push({ name, problem: parsed ? parsed.reason : 'unreadable pop file' });
      continue;
    }
    const { partId, position, countPopped } = parsed.value;
    consumers.push({
      name,
      part: partId,
      offset: position,
      popped: countPopped,
      backlog: await backlogFrom(basePath, queue, partId, countPopped, last),
    });
  }
  return {
    queue,
    basePath,
    currentPart: info.kind === 'ok' ? info.value : undefined,
    exists: info.kind !== 'missing' || partIds.length > 0,
    parts,
    pushed: parts.reduce((sum, p) => sum + (p.pushed ?? 0), 0),
    consumers,
  };
}

async function consumerNames(basePath: string, queue: string): Promise<string[]> {
  const prefix = `${queue}_info_pop_`;
  try {
    return (await fs.readdir(basePath))
      .filter((f) => f.startsWith(prefix) && !f.endsWith('.lock') && !f.includes('.tmp'))
      .map((f) => f.slice(prefix.length))
      .sort();
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}
