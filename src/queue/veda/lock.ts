import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
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
      try {
        const handle = await fs.open(path, 'wx', 0o644);
        try {
          await handle.writeFile(JSON.stringify(owner) + '\n');
          await handle.sync();
        } finally {
          await handle.close();
        }
        return new WriterLock(path, token, heartbeatMs);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
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
