import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../harness/tools.ts';

const CLI = join(REPO_ROOT, 'src', 'cli.ts');

/** `SD_CHAOS_FULL=1` runs the sizes of the issue; the default is sized for `npm test` on 2 cores. */
export const FULL = process.env['SD_CHAOS_FULL'] === '1';

/** The seed of a run: `SD_CHAOS_SEED` replays a failed run, otherwise a fresh one (logged). */
export function chaosSeed(): number {
  const given = process.env['SD_CHAOS_SEED'];
  if (given !== undefined && given !== '') return Number.parseInt(given, 10) >>> 0;
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

/** mulberry32: small, fast and good enough to choose kill times reproducibly from a seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export function between(random: () => number, min: number, max: number): number {
  return Math.floor(min + random() * (max - min + 1));
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

export interface CliProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  output(): string;
  /** SIGKILL unless it already exited; resolves with how it ended. */
  kill9(): Promise<Exit>;
}

/** `node src/cli.ts ARGS…` as a real process, its stdout and stderr collected. */
export function cliProcess(args: readonly string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let done = false;
  const exited = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal, output });
    }),
  );
  return {
    child,
    exited,
    output: () => output,
    async kill9() {
      if (!done) child.kill('SIGKILL');
      return exited;
    },
  };
}

/** Resolves after `ms`, or earlier when the process exits by itself. */
export async function exitOrTimeout(p: CliProcess, ms: number): Promise<Exit | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How often each id occurs across every list: the exactly-once audit. */
export function audit(lists: Iterable<readonly string[]>, expected: readonly string[]) {
  const seen = new Map<string, number>();
  let records = 0;
  for (const list of lists)
    for (const id of list) {
      records++;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  const wanted = new Set(expected);
  const lost = expected.filter((id) => !seen.has(id));
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  const unexpected = [...seen.keys()].filter((id) => !wanted.has(id));
  return { expected: expected.length, records, distinct: seen.size, lost, duplicated, unexpected };
}

/** Unique ids of about 20 bytes: `chaos-<tag>-<n>`. */
export function uniqueIds(count: number, tag: string): string[] {
  return Array.from({ length: count }, (_, i) => `chaos-${tag}-${String(i).padStart(7, '0')}`);
}
