import { spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  closeSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * A server the harness runs: its own process group (so stopping it stops whatever it
 * spawned), output kept in a log file (printed when start-up fails), and its group id
 * written to the run directory so a later run can reap it if this one is killed -9.
 */
export class ManagedProcess {
  readonly name: string;
  readonly logPath: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(name: string, logPath: string, child: ChildProcess) {
    this.name = name;
    this.logPath = logPath;
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? null : 0);
        resolve(this.exitCode);
      });
    });
  }

  static start(
    runDir: string,
    name: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
  ): ManagedProcess {
    const logPath = join(runDir, `${name}.log`);
    const log = openSync(logPath, 'a');
    const child = spawn(command, args, {
      cwd: runDir,
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, ...env },
    });
    closeSync(log);
    if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
    appendFileSync(join(runDir, PGID_FILE), `${child.pid}\n`);
    live.add(child.pid);
    const managed = new ManagedProcess(name, logPath, child);
    void managed.exited.then(() => live.delete(child.pid as number));
    return managed;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** SIGTERM to the whole group, then SIGKILL if it has not exited in time. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    signalGroup(this.child.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(this.child.pid as number, 'SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    // Children that ignored SIGTERM while the leader exited still share the group.
    signalGroup(this.child.pid, 'SIGKILL');
  }

  /** SIGSTOP (or SIGCONT) the group: a server that stops answering without closing anything. */
  freeze(frozen: boolean): void {
    if (this.running && this.child.pid !== undefined)
      signalGroup(this.child.pid, frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** SIGKILL the group at once: a crash, for chaos tests. */
  async kill(): Promise<void> {
    if (this.child.pid === undefined) return;
    signalGroup(this.child.pid, 'SIGKILL');
    await this.exited;
  }

  tail(lines = 40): string {
    if (!existsSync(this.logPath)) return '';
    return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
  }
}

const PGID_FILE = 'process-groups';
const OWNER_FILE = 'owner.pid';
const live = new Set<number>();

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let exitHookInstalled = false;

/**
 * Marks a run directory as owned by this process and makes sure its servers die with it:
 * on a normal exit or SIGINT/SIGTERM here, and — for a run killed with -9 — at the start
 * of the next run, which reaps groups of run directories whose owner is gone.
 */
export function claimRunDir(runDir: string, prefix: string, parentDir: string): void {
  appendFileSync(join(runDir, OWNER_FILE), `${process.pid}\n`);
  reapOrphans(prefix, parentDir, runDir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of live) signalGroup(pgid, 'SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => process.exit(130));
  }
}

function reapOrphans(prefix: string, parentDir: string, current: string): void {
  for (const entry of readdirSync(parentDir)) {
    const dir = join(parentDir, entry);
    if (!entry.startsWith(prefix) || dir === current) continue;
    const owner = Number.parseInt(readIfExists(join(dir, OWNER_FILE)), 10);
    if (Number.isFinite(owner) && alive(owner)) continue;
    for (const line of readIfExists(join(dir, PGID_FILE)).split('\n')) {
      const pgid = Number.parseInt(line, 10);
      if (Number.isFinite(pgid)) signalGroup(pgid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
