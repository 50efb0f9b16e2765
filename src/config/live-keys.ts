import type { DispatcherConfig, DistributorConfig, PoolConfig } from './types.ts';

/**
 * `[dispatcher]` keys a running distributor applies from its re-read INI: the shard set, the
 * strategy and the batch tuning. Any other change needs a new process (the operator rolls
 * the distributor through the config hash; `run` mode logs that a restart is needed).
 * `config.backpressure` (the default pool's limits) applies live too.
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

/**
 * A pool's keys the running distributor applies live: its shard set, strategy and limits.
 * Its name, rule and queues need a new process: changing them re-routes messages or
 * abandons queues that still hold a backlog.
 */
export const LIVE_POOL_KEYS = [
  'minWorkers',
  'drainingShards',
  'movingShards',
  'strategy',
  'keyField',
  'backpressure',
] as const satisfies readonly (keyof PoolConfig)[];

/** A pool's keys only the workers' launcher reads, like `WORKER_LAUNCH_KEYS`. */
export const POOL_LAUNCH_KEYS = [
  'workerModule',
  'workerArgsTemplate',
  'sleepEmptySec',
  'failure',
] as const satisfies readonly (keyof PoolConfig)[];

/**
 * Top-level keys only the workers read (the default pool's failure policy, passed to them as
 * `SD_*` environment variables): a change needs new workers, never a new distributor.
 */
export const CONFIG_LAUNCH_KEYS = [
  'failure',
] as const satisfies readonly (keyof DistributorConfig)[];

/** `target[key] = source[key]` for each key, deleting it where `source` lacks it (optional keys stay absent). */
function copyKeys(target: Record<string, unknown>, source: object, keys: readonly string[]): void {
  const from = source as Record<string, unknown>;
  for (const key of keys) {
    if (from[key] === undefined) delete target[key];
    else target[key] = from[key];
  }
}

/** `current`'s pools, each with `keys` taken from the pool of the same name in `next`. */
function poolsWith(
  current: readonly PoolConfig[],
  next: readonly PoolConfig[],
  keys: readonly string[],
): PoolConfig[] {
  return current.map((pool) => {
    const nextPool = next.find((p) => p.name === pool.name);
    if (nextPool === undefined) return pool;
    const merged: Record<string, unknown> = { ...pool };
    copyKeys(merged, nextPool, keys);
    return merged as unknown as PoolConfig;
  });
}

/**
 * `current` with the live-applicable keys taken from `next`. A pool takes them from the
 * pool of the same name in `next`; pools added or removed wait for the restart.
 */
export function withLiveKeys(
  current: DistributorConfig,
  next: DistributorConfig,
): DistributorConfig {
  const dispatcher: Record<string, unknown> = { ...current.dispatcher };
  for (const key of LIVE_DISPATCHER_KEYS) dispatcher[key] = next.dispatcher[key];
  const merged: Record<string, unknown> = {
    ...current,
    dispatcher: dispatcher as unknown as DispatcherConfig,
    pools: poolsWith(current.pools, next.pools, LIVE_POOL_KEYS),
  };
  copyKeys(merged, next, ['backpressure']);
  return merged as unknown as DistributorConfig;
}

/**
 * What the workers' launcher (run mode's supervisor) runs by: `withLiveKeys`, plus the keys
 * only the launcher reads (the worker command, sleep, failure policy) from `next`. Never the
 * rest of `next`: a queue directory, prefix, consumer name or NATS connection the running
 * distributor keeps until its restart would start workers on queues it does not fill.
 */
export function withLaunchKeys(
  current: DistributorConfig,
  next: DistributorConfig,
): DistributorConfig {
  const live = withLiveKeys(current, next);
  const worker: Record<string, unknown> = { ...live.worker };
  copyKeys(worker, next.worker, WORKER_LAUNCH_KEYS);
  const merged: Record<string, unknown> = {
    ...live,
    worker: worker as unknown as DistributorConfig['worker'],
    pools: poolsWith(live.pools, next.pools, POOL_LAUNCH_KEYS),
  };
  copyKeys(merged, next, CONFIG_LAUNCH_KEYS);
  return merged as unknown as DistributorConfig;
}

/** An INI key as written in the file, from its config field (`metricsPort` → `metrics_port`). */
function iniKey(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * What changed from `current` to `next` that a running distributor cannot apply, as the INI
 * names it (what a person edited): `[dispatcher] metrics_port`, `[worker] worker_base_path`,
 * `[nats]`, `[pool.*] sections` when pools were added, removed, renamed or reordered (the
 * order rules are tried in), and `[pool.NAME] match_*` / `[pool.NAME] sub_queue_prefix`.
 */
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
      changed.push(`[dispatcher] ${iniKey(key)}`);
  }
  for (const key of Object.keys({
    ...current.worker,
    ...next.worker,
  }) as (keyof DistributorConfig['worker'])[]) {
    if (!launch.has(key) && current.worker[key] !== next.worker[key])
      changed.push(`[worker] ${iniKey(key)}`);
  }
  if (JSON.stringify(current.nats) !== JSON.stringify(next.nats)) changed.push('[nats]');
  changed.push(...poolRestartKeys(current.pools, next.pools));
  return changed;
}

function poolRestartKeys(current: readonly PoolConfig[], next: readonly PoolConfig[]): string[] {
  const names = (pools: readonly PoolConfig[]) => pools.map((p) => p.name).join('\n');
  if (names(current) !== names(next)) return ['[pool.*] sections'];
  const applied = new Set<string>([...LIVE_POOL_KEYS, ...POOL_LAUNCH_KEYS]);
  const changed: string[] = [];
  current.forEach((pool, i) => {
    const nextPool = next[i] ?? pool;
    for (const key of Object.keys({ ...pool, ...nextPool }) as (keyof PoolConfig)[]) {
      if (!applied.has(key) && !sameValue(pool[key], nextPool[key]))
        changed.push(`[pool.${pool.name}] ${key === 'match' ? 'match_*' : iniKey(key)}`);
    }
  });
  return changed;
}

/** Deep equality of config values, ignoring the order object keys were written in. */
function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}
