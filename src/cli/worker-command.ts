import type { Env } from '../config/index.ts';
import { WorkerArgsError, WORKER_USAGE, workerMain } from '../worker/index.ts';
import { UsageError } from './usage-error.ts';

export async function workerCommand(
  argv: string[],
  env: Env,
  signal: AbortSignal,
): Promise<number> {
  try {
    await workerMain(argv, env, signal);
    return 0;
  } catch (error) {
    if (error instanceof WorkerArgsError) throw new UsageError(error.message, WORKER_USAGE);
    throw error;
  }
}
