import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { defaultConfig, quoteArgv, renderIni } from '../../src/config/index.ts';
import { createVedaBackend } from '../../src/queue/index.ts';
import { eventually } from '../harness/eventually.ts';
import { REPO_ROOT } from '../harness/tools.ts';
import { alive } from '../queue/supervisor/helpers.ts';

const CLI = join(REPO_ROOT, 'src', 'cli.ts');
const IDLE_WORKER = join(REPO_ROOT, 'test', 'fixtures', 'workers', 'sleeper.mjs');

/** The pids of the `run` processes of config `file`. */
async function runsOf(file: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const words = argv.split('\0');
    if (words.includes(CLI) && words.includes('run') && words.includes(file))
      pids.push(Number(entry));
  }
  return pids;
}

let dir: string;
afterEach(async () => rm(dir, { recursive: true, force: true }));

it('stops, and stops its workers, when the terminal it logs to goes away', async () => {
  dir = await mkdtemp(join(tmpdir(), 'sd-run-terminal-'));
  const base = defaultConfig();
  const file = join(dir, 'sd.ini');
  await writeFile(
    file,
    renderIni({
      ...base,
      dispatcher: {
        ...base.dispatcher,
        basePath: join(dir, 'main'),
        minWorkers: 2,
        metricsPort: 0,
      },
      worker: {
        ...base.worker,
        workerBasePath: join(dir, 'shards'),
        workerModule: quoteArgv([process.execPath, IDLE_WORKER]),
      },
    }),
  );
  // The main queue exists: `run` starts its workers once it has found it.
  const main = createVedaBackend({ basePath: join(dir, 'main') });
  await (await main.openWriter('individuals-flow')).close();
  await main.close();
  // `script` runs `run` on a terminal of its own; killing `script` closes that terminal, as
  // closing a terminal window does: SIGHUP, then EIO on every write to it.
  const terminal = spawn(
    'script',
    ['-q', '-c', quoteArgv([process.execPath, CLI, 'run', '--config', file]), '/dev/null'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'info' } },
  );
  let output = '';
  terminal.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const lines = () =>
    output
      .split(/\r?\n/)
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  let workerPids: number[] = [];
  try {
    const started = await eventually(
      () => {
        const workers = lines().filter((l) => l['msg'] === 'worker started');
        expect(workers).toHaveLength(2);
        return workers;
      },
      { timeoutMs: 30_000 },
    );
    const runs = await runsOf(file);
    expect(runs).toHaveLength(1);
    const runPid = runs[0]!;
    workerPids = started.map((l) => Number(l['pid']));
    for (const pid of [runPid, ...workerPids]) expect(await alive(pid)).toBe(true);
    terminal.kill('SIGKILL');
    // Before, the first failed write was an uncaught error whose flush at exit retried for
    // ever: the process never exited and its workers kept running.
    await eventually(async () => expect(await alive(runPid)).toBe(false), {
      timeoutMs: 20_000,
    });
    for (const pid of workerPids) expect(await alive(pid)).toBe(false);
  } finally {
    terminal.kill('SIGKILL');
    // What a failure leaves running.
    for (const pid of [...(await runsOf(file)), ...workerPids]) {
      if (await alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
}, 60_000);
