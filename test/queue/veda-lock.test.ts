import { spawnSync } from 'node:child_process';
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QueueLockedError } from '../../src/queue/index.ts';
import { harness, type Harness } from './helpers.ts';

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(child.stdout);
}

/** A lock file's text, as a writer of this host with `pid` leaves it. */
function owner(pid: number, token: string): string {
  return JSON.stringify({ pid, hostname: hostname(), token, since: '2020-01-01T00:00:00Z' }) + '\n';
}

describe('veda writer lock', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('makes a second writer of one queue fail fast with a clear error', async () => {
    const first = await h.backend.openWriter('q');
    const second = h.backendWith({}).openWriter('q');
    await expect(second).rejects.toBeInstanceOf(QueueLockedError);
    await expect(second).rejects.toMatchObject({
      code: 'SD_ERR_QUEUE_LOCKED',
      retryable: true,
      message: expect.stringContaining(`pid ${process.pid} on host ${hostname()}`),
    });
    await first.close();
  });

  it('lets writers of different queues in one directory work side by side', async () => {
    const a = await h.backend.openWriter('a');
    const b = await h.backend.openWriter('b');
    await a.close();
    await b.close();
  });

  it('releases the lock on close, so the next writer opens', async () => {
    const first = await h.backend.openWriter('q');
    await first.close();
    await expect(stat(join(h.dir, 'q_queue.sd-lock'))).rejects.toMatchObject({ code: 'ENOENT' });
    const second = await h.backend.openWriter('q');
    await second.close();
  });

  it('takes over a lock whose process is gone on this host, with a log line', async () => {
    const pid = deadPid();
    const lock = join(h.dir, 'q_queue.sd-lock');
    await writeFile(lock, owner(pid, 'old'));
    const writer = await h.backend.openWriter('q');
    expect(JSON.parse(await readFile(lock, 'utf8'))).toMatchObject({ pid: process.pid });
    expect(h.logs.find((l) => l.msg === 'stale writer lock taken over')).toMatchObject({
      queue: 'q',
      pid,
      reason: 'its process is gone',
    });
    expect(await h.metric('lock_takeovers_total', { queue: 'q' })).toBe(1);
    await writer.close();
  });

  // A lock is written to a temp file and hard-linked into place, so a kill leaves either no
  // lock or a whole one (with a pid to find gone), never an empty one; at most a temp file.

  it('starts at once after a writer killed before linking its lock, and removes its temp file', async () => {
    const temp = join(h.dir, 'q_queue.sd-lock.tmp-dead');
    await writeFile(temp, owner(deadPid(), 'dead'));
    const writer = await h.backend.openWriter('q');
    expect(JSON.parse(await readFile(join(h.dir, 'q_queue.sd-lock'), 'utf8'))).toMatchObject({
      pid: process.pid,
    });
    expect((await readdir(h.dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await writer.close();
  });

  it('takes over at once the lock of a writer killed after linking it, and removes its temp file', async () => {
    const pid = deadPid();
    await writeFile(join(h.dir, 'q_queue.sd-lock'), owner(pid, 'dead'));
    await writeFile(join(h.dir, 'q_queue.sd-lock.tmp-dead'), owner(pid, 'dead'));
    const writer = await h.backend.openWriter('q');
    expect(h.logs.find((l) => l.msg === 'stale writer lock taken over')).toMatchObject({
      reason: 'its process is gone',
    });
    expect((await readdir(h.dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await writer.close();
  });

  it('honours a fresh lock of another host, and takes it over once nobody touched it for the stale timeout', async () => {
    const lock = join(h.dir, 'q_queue.sd-lock');
    await writeFile(
      lock,
      JSON.stringify({
        pid: 1,
        hostname: 'another-node',
        token: 't',
        since: '2020-01-01T00:00:00Z',
      }),
    );
    await expect(h.backend.openWriter('q')).rejects.toMatchObject({
      message: expect.stringContaining('pid 1 on host another-node'),
    });
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    const writer = await h.backend.openWriter('q');
    expect(h.logs.find((l) => l.msg === 'stale writer lock taken over')).toMatchObject({
      hostname: 'another-node',
    });
    await writer.close();
  });

  it('keeps the lock fresh while the writer lives', async () => {
    const backend = h.backendWith({ lock: { staleAfterMs: 60_000, heartbeatMs: 5 } });
    const writer = await backend.openWriter('q');
    const lock = join(h.dir, 'q_queue.sd-lock');
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    await expect
      .poll(async () => (await stat(lock)).mtimeMs)
      .toBeGreaterThan(old.getTime() + 60_000);
    await expect(h.backend.openWriter('q')).rejects.toBeInstanceOf(QueueLockedError);
    await writer.close();
  });
});
