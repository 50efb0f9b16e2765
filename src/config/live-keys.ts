import type { DispatcherConfig, DistributorConfig } from './types.ts';

/**
 * `[dispatcher]` keys a running distributor applies from its re-read INI: the shard set, the
 * strategy and the batch tuning. Any other change needs a new process (the operator rolls
 * the distributor through the config hash; `run` mode logs that a restart is needed).
 */
export const LIVE_DISPATCHER_KEYS = [
  'minWorkers',
  'drainingShards',
  'movingShards',
  'strategy',
  'keyField',
  'batchSize',
  'stuckAfterSec',
] as const satisfies readonly (keyof DispatcherConfig)[];

/** `[worker]` keys only the workers' launcher reads (the supervisor, or the worker Deployments); the distributor ignores them. */
export const WORKER_LAUNCH_KEYS = ['sleepEmptySec', 'workerModule', 'workerArgsTemplate'] as const;

/** `current` with the live-applicable keys taken from `next`. */
export function withLiveKeys(
  current: DistributorConfig,
  next: DistributorConfig,
): DistributorConfig {
  const dispatcher: Record<string, unknown> = { ...current.dispatcher };
  for (const key of LIVE_DISPATCHER_KEYS) dispatcher[key] = next.dispatcher[key];
  return { ...current, dispatcher: dispatcher as unknown as DispatcherConfig };
}

/** What changed from `current` to `next` that a running distributor cannot apply. */
export function restartKeys(current: DistributorConfig, next: DistributorConfig): string[] {
  const changed: string[] = [];
  const live = new Set<string>(LIVE_DISPATCHER_KEYS);
  const launch = new Set<string>(WORKER_LAUNCH_KEYS);
  for (const key of Object.keys({
    ...current.dispatcher,
    ...next.dispatcher,
  }) as (keyof DispatcherConfig)[]) {
    if (
      !live.has(key) &&
      JSON.stringify(current.dispatcher[key]) !== JSON.stringify(next.dispatcher[key])
    )
      changed.push(key);
  }
  for (const key of Object.keys({
    ...current.worker,
    ...next.worker,
  }) as (keyof DistributorConfig['worker'])[]) {
    if (!launch.has(key) && current.worker[key] !== next.worker[key]) changed.push(key);
  }
  if (JSON.stringify(current.nats) !== JSON.stringify(next.nats)) changed.push('nats');
  return changed;
}
