import type { ShardPlan } from './ini.ts';

/**
 * The next shard set when the worker count becomes `workers`: shards 0 … workers-1 are
 * live; a shard leaving the live set drains; a draining shard comes back when the count
 * grows over it again; a shard the distributor reported drained (`drained`) is dropped,
 * and its worker Deployment may go.
 */
export function nextShardPlan(
  previous: ShardPlan,
  workers: number,
  drained: readonly number[] = [],
): ShardPlan {
  const leaving = Array.from(
    { length: Math.max(0, previous.liveShards - workers) },
    (_, i) => workers + i,
  );
  const gone = new Set(drained);
  const draining = [...new Set([...previous.drainingShards, ...leaving])]
    .filter((shard) => shard >= workers && !gone.has(shard))
    .sort((a, b) => a - b);
  return { liveShards: workers, drainingShards: draining };
}

/** Every shard that still needs its worker: the live ones and the draining ones. */
export function shardsWithWorkers(plan: ShardPlan): number[] {
  return [
    ...Array.from({ length: plan.liveShards }, (_, i) => i),
    ...[...plan.drainingShards].sort((a, b) => a - b),
  ];
}
