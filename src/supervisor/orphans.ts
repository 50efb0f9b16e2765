import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/index.ts';
import { signalGroup } from './worker-process.ts';

/**
 * Variables every supervised worker (and whatever it starts) carries: the `run` that started
 * it, as `<pid>:<start time>`, and the worker base path it reads under. A worker whose `run`
 * is gone (SIGKILL, the OOM killer) still reads its shard queue, and the next `run` would
 * start a second reader of it, so that `run` ends it first. The start time tells a live `run`
 * from a new process that took its pid.
 */
export const SUPERVISOR_ENV = 'SD_SUPERVISOR';
export const WORKER_BASE_ENV = 'SD_SUPERVISED_BASE';

/** This process as SUPERVISOR_ENV names it (`<pid>:` alone where /proc is not there). */
export function supervisorId(): string {
  let stat: string | undefined;
  try {
    stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
  } catch {
    stat = undefined;
  }
  return `${process.pid}:${stat === undefined ? '' : (startTimeIn(stat) ?? '')}`;
}

export interface OrphanWorker {
  readonly pid: number;
  /** The gone `run`, as SUPERVISOR_ENV named it. */
  readonly supervisor: string;
}

/**
 * Processes of `workerBase` left by a `run` that is gone: their environment names that base
 * and a supervisor no longer running (its pid gone, or taken by a process started later).
 * Linux only (`/proc`); elsewhere, or for processes of other users, nothing is found.
 */
export async function findOrphanWorkers(workerBase: string): Promise<OrphanWorker[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const found: OrphanWorker[] = [];
  const running = new Map<string, boolean>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const supervisor = await orphanedSupervisorOf(pid, workerBase, running);
    if (supervisor !== undefined) found.push({ pid, supervisor });
  }
  return found;
}

/** The gone supervisor `pid` names, if it is a process of `workerBase` whose `run` is gone. */
async function orphanedSupervisorOf(
  pid: number,
  workerBase: string,
  running = new Map<string, boolean>(),
): Promise<string | undefined> {
  const env = await readEnviron(pid);
  if (env?.get(WORKER_BASE_ENV) !== workerBase) return undefined;
  const supervisor = env.get(SUPERVISOR_ENV) ?? '';
  let alive = running.get(supervisor);
  if (alive === undefined) {
    alive = await supervisorRunning(supervisor);
    running.set(supervisor, alive);
  }
  return alive ? undefined : supervisor;
}

async function supervisorRunning(supervisor: string): Promise<boolean> {
  const [pidText, started] = supervisor.split(':');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = await startTimeOf(pid);
  // Without a recorded start time (no /proc then), a live pid counts as the same `run`.
  return now !== undefined && (started === undefined || started === '' || now === started);
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
      { pid: orphan.pid, supervisor: orphan.supervisor, workerBasePath: workerBase },
      'a worker left by an earlier run (killed without stopping its workers) still reads its shard; stopping it before starting ours',
    );
    signalOrphan(orphan.pid, 'SIGTERM');
  }
  const deadline = Date.now() + graceMs;
  let left = orphans.map((o) => o.pid);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    const living = await Promise.all(
      left.map(async (pid) => (await startTimeOf(pid)) !== undefined),
    );
    left = left.filter((_, i) => living[i]);
  }
  for (const pid of left) {
    // Still the same orphan (its pid not taken meanwhile by a process of someone else).
    if ((await orphanedSupervisorOf(pid, workerBase)) !== undefined) signalOrphan(pid, 'SIGKILL');
  }
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

/**
 * When `pid` started (clock ticks since boot, field 22 of `/proc/<pid>/stat`, read after the
 * command name, which may hold spaces); undefined when it is not running.
 */
async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined ? undefined : startTimeIn(stat);
}

function startTimeIn(stat: string): string | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): a zombie is not running.
  if (fields[0] === 'Z') return undefined;
  return fields[19];
}

/** The group, or the process alone when it leads none (any more). */
function signalOrphan(pid: number, signal: NodeJS.Signals): void {
  if (signalGroup(pid, signal)) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Gone.
  }
}
