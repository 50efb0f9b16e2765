import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { DistributorConfig } from '../config/index.ts';
import { WorkerCommandError } from './errors.ts';
import { supervisedPools } from './plan.ts';

/** Why `file` cannot be executed, or undefined when it can (a regular file we may execute). */
function notExecutable(file: string): string | undefined {
  try {
    if (!statSync(file).isFile()) return 'is not a file';
    accessSync(file, constants.X_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not executable' : code;
  }
}

/**
 * Where `command` is found as spawn (execvp) looks for it: a name with a slash relative to
 * `cwd`, any other in the directories of `path` (an empty entry is `cwd`). Undefined when no
 * executable file answers; `tried` then says what was looked at.
 */
export function findExecutable(
  command: string,
  path: string | undefined,
  cwd: string,
): { found: string } | { tried: string } {
  if (command.includes('/')) {
    const file = isAbsolute(command) ? command : resolve(cwd, command);
    const problem = notExecutable(file);
    return problem === undefined ? { found: file } : { tried: `${file} ${problem}` };
  }
  const dirs = (path ?? '').split(delimiter);
  for (const dir of dirs) {
    const file = join(dir === '' ? cwd : dir, command);
    if (notExecutable(file) === undefined) return { found: file };
  }
  return { tried: `no executable file named ${command} in PATH (${path ?? 'unset'})` };
}

/**
 * Refuses a config whose worker command names no executable: a worker that cannot start would
 * otherwise be retried with backoff for ever, each try one error line. Checked at `run`'s
 * start only; a command that goes missing later is retried, as a crashing worker is.
 */
export function checkWorkerExecutables(
  config: DistributorConfig,
  configFile: string,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): void {
  for (const pool of supervisedPools(config)) {
    const { live, draining } = pool.shards;
    const shard = live[0] ?? draining[0] ?? 0;
    const command = pool.argv(shard)[0];
    if (command === undefined) continue; // an empty command is WorkerCommandError at start
    const where = findExecutable(command, env['PATH'], cwd);
    if ('found' in where) continue;
    throw new WorkerCommandError(
      `${configFile}: ${pool.commandSection} worker_module starts workers with ${JSON.stringify(command)}, ` +
        `which cannot be run: ${where.tried}; install it, or set worker_module to the worker's executable (an absolute path, or a name on PATH)`,
    );
  }
}
