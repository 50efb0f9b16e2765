import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from '../harness/eventually.ts';
import { REPO_ROOT } from '../harness/tools.ts';

const CLI = join(REPO_ROOT, 'src', 'cli.ts');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs `shard-distributor distributor` as a real process. */
export function distributorProcess(configFile: string, env: Record<string, string> = {}) {
  const child = spawn(
    process.execPath,
    [CLI, 'distributor', '--config', configFile, '--metrics-port', '0'],
    {
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, output })),
  );
  return { child, exited, output: () => output };
}

/** The port the process logged it serves /metrics on. */
export function loggedPort(output: () => string): Promise<number> {
  return eventually(() => {
    const match = /"port":(\d+)/.exec(output());
    if (!match) throw new Error('no port logged yet');
    return Number(match[1]);
  });
}
