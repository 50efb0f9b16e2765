import { renderWorkerArgv, shardSet, type DistributorConfig } from '../config/index.ts';
import { WorkerCommandError } from './errors.ts';

/** A worker that should be running: its shard and the exact argv to start it with. */
export interface DesiredWorker {
  readonly shard: number;
  readonly argv: readonly string[];
}

/** A worker the supervisor has (running, waiting to restart, or being stopped). */
export interface CurrentWorker {
  readonly shard: number;
  readonly argv: readonly string[];
  readonly stopping: boolean;
}

export type StopReason = 'not-desired' | 'argv-changed';

export interface WorkerPlan {
  readonly start: readonly DesiredWorker[];
  readonly stop: readonly { readonly shard: number; readonly reason: StopReason }[];
}

/**
 * One worker per live shard and per draining shard the distributor has not yet reported
 * drained (`retired`): a draining shard's backlog still needs its worker.
 */
export function desiredWorkers(
  config: DistributorConfig,
  retired: ReadonlySet<number>,
): DesiredWorker[] {
  const { live, draining } = shardSet(config);
  const shards = new Set(live);
  for (const shard of draining) if (!retired.has(shard)) shards.add(shard);
  return [...shards]
    .sort((a, b) => a - b)
    .map((shard) => {
      const argv = renderWorkerArgv(config, shard);
      if (argv.length === 0) {
        throw new WorkerCommandError(
          `the worker command of shard ${shard} is empty; set [worker] worker_module to the worker executable`,
        );
      }
      return { shard, argv };
    });
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((word, i) => word === b[i]);
}

/**
 * Desired against current: start what is missing; stop what is no longer wanted or was
 * started with another argv (its replacement starts once it has exited). A worker already
 * stopping is left to finish and blocks a new one for its shard until then.
 */
export function planWorkers(
  desired: readonly DesiredWorker[],
  current: readonly CurrentWorker[],
): WorkerPlan {
  const wanted = new Map(desired.map((w) => [w.shard, w]));
  const have = new Map(current.map((w) => [w.shard, w]));
  const start = [...wanted.values()]
    .filter((w) => !have.has(w.shard))
    .sort((a, b) => a.shard - b.shard);
  const stop: { shard: number; reason: StopReason }[] = [];
  for (const w of [...have.values()].sort((a, b) => a.shard - b.shard)) {
    if (w.stopping) continue;
    const want = wanted.get(w.shard);
    if (!want) stop.push({ shard: w.shard, reason: 'not-desired' });
    else if (!sameArgv(want.argv, w.argv)) stop.push({ shard: w.shard, reason: 'argv-changed' });
  }
  return { start, stop };
}
