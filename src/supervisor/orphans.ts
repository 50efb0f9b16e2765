import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/index.ts';

/**
 * Variables every supervised worker carries: the pid of the `run` that started it and the
 * worker base path it reads under. A worker whose parent is no longer that pid outlived its
 * `run` (SIGKILL, the OOM killer): it still reads its shard queue, and the next `run` would
 * start a second reader of it, so that `run` ends it first.
 */
export const SUPERVISOR_PID_ENV = 'SD_SUPERVISOR_PID';
export const WORKER_BASE_ENV = 'SD_SUPERVISED_BASE';

export interface OrphanWorker {
  readonly pid: number;
  readonly supervisorPid: number;
}

/**
 * Workers of `workerBase` left by a `run` that is gone: processes whose environment names
 * that base and a supervisor that is no longer their parent. Linux only (`/proc`); elsewhere,
 * or for processes of other users, nothing is found.
 */
export async function findOrphanWorkers(workerBase: string): Promise<OrphanWorker[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const found: OrphanWorker[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const env = await readEnviron(pid);
    if (env?.get(WORKER_BASE_ENV) !== workerBase) continue;
    const supervisorPid = Number(env.get(SUPERVISOR_PID_ENV));
    const parent = await parentOf(pid);
    if (parent === undefined || parent === supervisorPid) continue;
    found.push({ pid, supervisorPid });
  }
  return found;
}

/**
 * Ends the workers an earlier `run` of `workerBase` left behind, as `stop` ends its own:
 * SIGTERM to each one's process group, SIGKILL to those still there after `graceMs`.
 */
export async function stopOrphanWorkers(
  workerBase: string,
  log: Logger,
  graceMs: number,
): Promise<number[]> {
  const orphans = await findOrphanWorkers(workerBase);
  if (orphans.length === 0) return [];
  for (const orphan of orphans) {
    log.warn(
      { pid: orphan.pid, supervisorPid: orphan.supervisorPid, workerBasePath: workerBase },
      'a worker left by an earlier run (killed without stopping its workers) still reads its shard; stopping it before starting ours',
    );
    signalGroup(orphan.pid, 'SIGTERM');
  }
  const deadline = Date.now() + graceMs;
  let left = orphans.map((o) => o.pid);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    const living = await Promise.all(left.map(isRunning));
    left = left.filter((_, i) => living[i]);
  }
  for (const pid of left) signalGroup(pid, 'SIGKILL');
  return orphans.map((o) => o.pid);
}

async function readEnviron(pid: number): Promise<Map<string, string> | undefined> {
  const text = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const env = new Map<string, string>();
  for (const pair of text.split('\0')) {
    const eq = pair.indexOf('=');
    if (eq > 0) env.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return env;
}

/** The parent pid from `/proc/<pid>/stat` (after the command name, which may hold spaces). */
async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const parent = Number(fields[1]);
  return Number.isInteger(parent) ? parent : undefined;
}

/** Running: there, and not a zombie its new parent has yet to reap (some never do). */
async function isRunning(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  return status !== undefined && !/^State:\s+Z/m.test(status);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Gone already, or not a group leader any more: the process itself, then.
    try {
      process.kill(pid, signal);
    } catch {
      // Gone.
    }
  }
}
