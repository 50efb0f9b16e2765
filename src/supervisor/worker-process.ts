import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from '../observability/index.ts';
import { LineSplitter } from './line-splitter.ts';
import type { WorkerRef } from './worker-key.ts';

/** `child_process.spawn`'s shape; tests may pass their own. */
export type SpawnFn = (
  command: string,
  args: readonly string[],
  options: SpawnOptions,
) => ChildProcess;

export const defaultSpawn: SpawnFn = (command, args, options) => nodeSpawn(command, args, options);

export interface WorkerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process never started (ENOENT, EACCES, …). */
  readonly error?: Error;
}

export interface WorkerProcessOptions {
  readonly spawn: SpawnFn;
  readonly log: Logger;
  readonly now: () => number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Lines of a worker's stderr kept for the warning its unexpected exit gets. */
const STDERR_TAIL_LINES = 20;

function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/**
 * One worker child: started without a shell, in its own process group (so a stop reaches
 * whatever it started, and a terminal's Ctrl-C reaches only the supervisor, which stops
 * the workers in order), its output logged line by line with its pool and shard, reaped by Node.
 */
export class WorkerProcess {
  readonly pool: string;
  readonly shard: number;
  readonly argv: readonly string[];
  readonly startedAt: number;
  readonly pid: number | undefined;
  readonly exited: Promise<WorkerExit>;
  /**
   * Its last lines of stderr: a crashing worker's traceback, shown with its exit even where
   * the log level hides its output (which is logged at info).
   */
  readonly stderrTail: string[] = [];
  private readonly child: ChildProcess | undefined;
  private done = false;

  private constructor(ref: WorkerRef, argv: readonly string[], options: WorkerProcessOptions) {
    this.pool = ref.pool;
    this.shard = ref.shard;
    this.argv = argv;
    this.startedAt = options.now();
    let settle: (exit: WorkerExit) => void = () => undefined;
    this.exited = new Promise((resolve) => {
      settle = resolve;
    });
    const finish = (exit: WorkerExit): void => {
      if (this.done) return;
      this.done = true;
      // Anything the worker left behind in its group would hold the shard's consumer name.
      if (this.pid !== undefined) signalGroup(this.pid, 'SIGKILL');
      settle(exit);
    };
    const [command, ...args] = argv;
    let child: ChildProcess | undefined;
    try {
      if (command === undefined) throw new Error('empty worker command');
      child = options.spawn(command, args, {
        shell: false,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        env: options.env,
        cwd: options.cwd,
      });
    } catch (err) {
      // spawn throws for arguments it cannot pass at all (a NUL byte); reported like ENOENT.
      this.child = undefined;
      this.pid = undefined;
      const error = err instanceof Error ? err : new Error(String(err));
      queueMicrotask(() => finish({ code: null, signal: null, error }));
      return;
    }
    this.child = child;
    this.pid = child.pid;
    child.once('exit', (code, signal) => finish({ code, signal }));
    child.on('error', (err) => {
      // A failed spawn emits 'error' and never 'exit'; later errors (a failed kill) are not exits.
      if (this.pid === undefined) finish({ code: null, signal: null, error: err });
    });
    for (const [name, stream] of [
      ['stdout', child.stdout],
      ['stderr', child.stderr],
    ] as const) {
      if (stream)
        pipeLines(stream, name, ref, this.pid, options.log, (line) => {
          if (name !== 'stderr') return;
          this.stderrTail.push(line);
          if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
        });
    }
  }

  static start(
    ref: WorkerRef,
    argv: readonly string[],
    options: WorkerProcessOptions,
  ): WorkerProcess {
    return new WorkerProcess(ref, argv, options);
  }

  get running(): boolean {
    return !this.done && this.pid !== undefined;
  }

  /** Signals the worker's process group (the worker alone if it has none). */
  signal(signal: NodeJS.Signals): void {
    if (!this.running || this.pid === undefined) return;
    if (!signalGroup(this.pid, signal)) this.child?.kill(signal);
  }
}

/** Signals `pid`'s process group; false when there is none (gone, or not a leader). */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if (errnoCode(err) !== 'ESRCH' && errnoCode(err) !== 'EPERM') throw err;
    return false;
  }
}

function pipeLines(
  stream: Readable,
  name: 'stdout' | 'stderr',
  ref: WorkerRef,
  pid: number | undefined,
  log: Logger,
  onLine: (line: string) => void,
): void {
  const { pool, shard } = ref;
  const splitter = new LineSplitter();
  const emit = (lines: string[]): void => {
    for (const line of lines) {
      log.info({ pool, shard, pid, stream: name, line }, 'worker output');
      onLine(line);
    }
  };
  stream.on('data', (chunk: Buffer) => emit(splitter.push(chunk)));
  stream.on('end', () => emit(splitter.end()));
  stream.on('error', (err) =>
    log.warn({ pool, shard, pid, stream: name, err }, 'worker output failed'),
  );
}
