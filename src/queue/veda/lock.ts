import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { QueueLockedError, isAlreadyExists, isNotFound } from '../errors.ts';
import type { VedaContext } from './context.ts';
import { paths } from './paths.ts';

/**
 * The writer lock. Node has no flock, and the crate's `Q_queue.lock` locks nothing (it is left
 * alone), so a writer creates `Q_queue.sd-lock` exclusively (O_EXCL) with its pid, host and a
 * token, and touches it every `heartbeatMs`. A lock is stale when its pid is gone on this host,
 * or when nobody touched it for `staleAfterMs` — the case of a pod replaced on another node,
 * or of a container restarted with the same pid. A stale lock is taken over by renaming it
 * away (atomic: of two takers only one gets it), with a log line.
 *
 * The lock appears whole: its owner is written and synced to a temp file first, which is then
 * hard-linked to the lock's name (atomic, and refused when the name exists). Created empty and
 * written after, a writer killed between the two left a lock nobody could read: no pid to find
 * gone, so the next writer refused to start until the stale timeout (a chaos test's kill -9
 * found it). A file system without hard links gets the old create-then-write.
 */

export interface LockOptions {
  readonly staleAfterMs?: number;
  readonly heartbeatMs?: number;
}

interface Owner {
  readonly pid: number;
  readonly hostname: string;
  readonly token: string;
  readonly since: string;
}

/** Tokens of locks this process holds now: an old lock with our pid but another token is stale. */
const liveTokens = new Set<string>();

function parseOwner(text: string): Owner | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { pid, hostname: host, token, since } = value as Record<string, unknown>;
    if (
      typeof pid !== 'number' ||
      typeof host !== 'string' ||
      typeof token !== 'string' ||
      typeof since !== 'string'
    ) {
      return undefined;
    }
    return { pid, hostname: host, token, since };
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function staleness(
  owner: Owner | undefined,
  mtimeMs: number,
  staleAfterMs: number,
): string | undefined {
  if (Date.now() - mtimeMs > staleAfterMs) return 'not touched for longer than the stale timeout';
  if (!owner) return undefined;
  if (owner.hostname !== hostname()) return undefined;
  if (owner.pid === process.pid)
    return liveTokens.has(owner.token) ? undefined : 'left by an earlier process with our pid';
  return pidAlive(owner.pid) ? undefined : 'its process is gone';
}

export class WriterLock {
  readonly path: string;
  private readonly token: string;
  private readonly timer: NodeJS.Timeout;

  private constructor(path: string, token: string, heartbeatMs: number) {
    this.path = path;
    this.token = token;
    liveTokens.add(token);
    this.timer = setInterval(() => {
      const now = new Date();
      fs.utimes(path, now, now).catch(() => undefined);
    }, heartbeatMs);
    this.timer.unref();
  }

  static async acquire(
    ctx: VedaContext,
    queue: string,
    options: LockOptions = {},
  ): Promise<WriterLock> {
    const staleAfterMs = options.staleAfterMs ?? 60_000;
    const heartbeatMs = options.heartbeatMs ?? Math.max(1, Math.floor(staleAfterMs / 6));
    const path = paths.writerLock(ctx.base, queue);
    for (let attempt = 0; attempt < 3; attempt++) {
      const token = randomBytes(8).toString('hex');
      const owner: Owner = {
        pid: process.pid,
        hostname: hostname(),
        token,
        since: new Date().toISOString(),
      };
      if (await createWhole(path, owner)) {
        await removeLeftTemps(path, token);
        return new WriterLock(path, token, heartbeatMs);
      }
      await takeOverIfStale(ctx, queue, path, staleAfterMs);
    }
    throw new QueueLockedError(
      `queue ${queue} in ${ctx.base}: could not take the writer lock ${path} after 3 attempts; another writer keeps racing for it`,
    );
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    liveTokens.delete(this.token);
    const current = parseOwner((await fs.readFile(this.path, 'utf8').catch(() => '')) || '');
    if (current?.token === this.token) await fs.rm(this.path, { force: true });
  }
}

const TEMP_MARK = '.tmp-';

/** Writes `owner` to a file created at `path` (refused when it exists), synced. */
async function writeOwner(path: string, owner: Owner): Promise<void> {
  const handle = await fs.open(path, 'wx', 0o644);
  try {
    await handle.writeFile(JSON.stringify(owner) + '\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Whether an error says the file system has no hard links. */
function noHardLinks(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS';
}

/** Creates the lock at `path` holding `owner`, whole; false when a lock is there already. */
async function createWhole(path: string, owner: Owner): Promise<boolean> {
  const temp = `${path}${TEMP_MARK}${owner.token}`;
  await writeOwner(temp, owner);
  try {
    await fs.link(temp, path);
    return true;
  } catch (err) {
    // ENOENT: the temp was swept by the writer that holds the lock now.
    if (isAlreadyExists(err) || isNotFound(err)) return false;
    if (!noHardLinks(err)) throw err;
  } finally {
    await fs.rm(temp, { force: true });
  }
  try {
    await writeOwner(path, owner);
    return true;
  } catch (err) {
    if (isAlreadyExists(err)) return false;
    throw err;
  }
}

/**
 * Removes the temp files of lock attempts other than `token`'s: those of writers killed before
 * they removed theirs. A writer still trying is refused anyway, as we hold the lock.
 */
async function removeLeftTemps(path: string, token: string): Promise<void> {
  const prefix = basename(path) + TEMP_MARK;
  const entries = await fs.readdir(dirname(path)).catch(() => [] as string[]);
  for (const entry of entries)
    if (entry.startsWith(prefix) && entry !== prefix + token)
      await fs.rm(join(dirname(path), entry), { force: true });
}

/** Throws QueueLockedError when the lock at `path` is live; removes it when it is stale. */
async function takeOverIfStale(
  ctx: VedaContext,
  queue: string,
  path: string,
  staleAfterMs: number,
): Promise<void> {
  let text: string;
  let mtimeMs: number;
  try {
    text = await fs.readFile(path, 'utf8');
    mtimeMs = (await fs.stat(path)).mtimeMs;
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  const owner = parseOwner(text);
  const why = staleness(owner, mtimeMs, staleAfterMs);
  if (why === undefined) {
    const who = owner
      ? `pid ${owner.pid} on host ${owner.hostname} since ${owner.since}`
      : 'a writer that is still writing its lock file';
    throw new QueueLockedError(
      `queue ${queue} in ${ctx.base} is locked by ${who} (${path}); stop that writer first — only one writer may write a queue. If it is gone for sure, delete ${path}`,
    );
  }
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.rename(path, aside);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  const taken = parseOwner(await fs.readFile(aside, 'utf8').catch(() => ''));
  if (owner && taken?.token !== owner.token) {
    // Someone replaced the stale lock between our read and our rename: put theirs back.
    await fs.link(aside, path).catch(() => undefined);
    await fs.rm(aside, { force: true });
    throw new QueueLockedError(
      `queue ${queue} in ${ctx.base}: another writer took the stale lock ${path} first`,
    );
  }
  await fs.rm(aside, { force: true });
  ctx.metrics.lockTakeovers.inc({ queue });
  ctx.log.warn(
    { queue, file: path, pid: owner?.pid, hostname: owner?.hostname, reason: why },
    'stale writer lock taken over',
  );
}
