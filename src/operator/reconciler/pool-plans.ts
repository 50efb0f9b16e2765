import { DEFAULT_POOL } from '../../api/index.ts';
import type { DistributorConfig, PoolConfig } from '../../config/index.ts';
import type { ShardPlan, WorkerPool } from '../desired/index.ts';
import type { Load } from './load-reader.ts';

// Pure helpers of the reconciler's per-pool work: what the rendered INI and /load say of one pool.

export type LoadShard = Load['shards'][number];

/** The shards /load reports for `pool` (the default pool's carry no pool, or `default`). */
export function loadShardsOf(load: Load, pool: string): LoadShard[] {
  return load.shards.filter((s) => (s.pool ?? DEFAULT_POOL) === pool);
}

/** Messages waiting in the live shards: what autoscaling weighs. */
export function liveBacklog(shards: readonly LoadShard[]): number {
  return shards.filter((s) => s.state === 'live').reduce((sum, s) => sum + s.backlog, 0);
}

export function drainedShards(shards: readonly LoadShard[]): number[] {
  return shards.filter((s) => s.state === 'drained').map((s) => s.index);
}

/**
 * The shards a deletion that drains still waits for: every one /load does not report drained.
 * A live shard with nothing queued still takes new messages (the distributor has not read the
 * deletion's INI yet), and a draining one whose queue is empty may still hold retries: letting
 * either go would leave messages in a shard queue that no worker reads any more.
 */
export function undrainedShards(shards: readonly LoadShard[]): LoadShard[] {
  return shards.filter((s) => s.state !== 'drained');
}

type PoolRef = Pick<WorkerPool, 'name' | 'isDefault'>;

/** `pool`'s section of the rendered INI: [dispatcher] for the default pool, else its [pool.NAME]. */
function sectionOf(config: DistributorConfig | undefined, pool: PoolRef) {
  return pool.isDefault ? config?.dispatcher : config?.pools.find((p) => p.name === pool.name);
}

/** Shard indices in order, as one comparable text. */
function listed(shards: readonly number[] | undefined): string {
  return [...(shards ?? [])].sort((a, b) => a - b).join(',');
}

/** 0 … plan.liveShards-1. */
function liveOf(plan: ShardPlan): number[] {
  return Array.from({ length: plan.liveShards }, (_, i) => i);
}

/** The shard set the rendered INI announces for `pool`: its section's min_workers and draining_shards. */
export function iniPlanOf(
  config: DistributorConfig | undefined,
  pool: PoolRef,
): ShardPlan | undefined {
  const section = sectionOf(config, pool);
  return section === undefined
    ? undefined
    : { liveShards: section.minWorkers, drainingShards: [...section.drainingShards] };
}

/** The shards the rendered INI has the distributor move for `pool` (its moving_shards). */
export function iniMovingOf(config: DistributorConfig | undefined, pool: PoolRef): number[] {
  return [...(sectionOf(config, pool)?.movingShards ?? [])];
}

/** The shard set the rendered INI announces for `pool`, its moving shards included. */
export function renderedPlanOf(
  config: DistributorConfig | undefined,
  pool: PoolRef,
): ShardPlan | undefined {
  const plan = iniPlanOf(config, pool);
  return plan && { ...plan, movingShards: iniMovingOf(config, pool) };
}

/** What stillMoving weighs for one pool. */
export interface HoldInputs {
  /** The plan about to be rendered. */
  readonly plan: ShardPlan;
  /** The INI rendered before (the ConfigMap as cached), its moving shards included. */
  readonly rendered: ShardPlan | undefined;
  /** Shards whose worker Deployment is at 0 replicas now. */
  readonly stopped: readonly number[];
  /** What /load reports for the pool; undefined when it cannot be read. */
  readonly shards: readonly LoadShard[] | undefined;
  /**
   * /load cannot be read, yet pods that run the distributor exist: it may be alive and moving
   * any stopped shard by an INI the operator cannot see.
   */
  readonly distributorUnseen?: boolean;
}

/**
 * Of the live shards of `plan` whose worker is stopped now, those whose worker must stay
 * stopped: the rendered INI has the distributor move them, /load says it still does, /load
 * shows the distributor on another INI than the rendered one (it reads a changed ConfigMap
 * late, up to a minute, and may yet read a version that moved them), or a distributor runs
 * whose /load cannot be read (nothing shows which INI it moves by). A scale-up can bring back
 * a shard whose backlog is being moved; its worker starts once the distributor is done with
 * it, so a worker and the mover never read one queue at once. With no distributor pod at
 * all, nothing can be moving: the rendered INI alone decides.
 */
export function stillMoving({
  plan,
  rendered,
  stopped,
  shards,
  distributorUnseen = false,
}: HoldInputs): number[] {
  const movedByIni = new Set(rendered?.movingShards ?? []);
  const movedNow = new Set((shards ?? []).filter((s) => s.moving === true).map((s) => s.index));
  const lagging =
    shards === undefined
      ? distributorUnseen
      : rendered !== undefined && !runsPlan(shards, rendered);
  return returning(plan, stopped).filter((i) => lagging || movedByIni.has(i) || movedNow.has(i));
}

/** The live shards of `plan` whose worker is stopped now: those a worker restart brings back. */
export function returning(plan: ShardPlan, stopped: readonly number[]): number[] {
  const isStopped = new Set(stopped);
  return liveOf(plan).filter((i) => isStopped.has(i));
}

/**
 * Whether /load shows the distributor running `plan`: the same live shards, the same
 * draining ones (a drained one still counts until the INI drops it) and the same moving ones.
 */
export function runsPlan(shards: readonly LoadShard[], plan: ShardPlan): boolean {
  const indices = (keep: (s: LoadShard) => boolean) =>
    listed(shards.filter(keep).map((s) => s.index));
  return (
    indices((s) => s.state === 'live') === listed(liveOf(plan)) &&
    indices((s) => s.state !== 'live') === listed(plan.drainingShards) &&
    indices((s) => s.moving === true) === listed(plan.movingShards)
  );
}

/** Whether two plans announce the same INI: live, draining and moving shards alike. */
export function samePlan(a: ShardPlan, b: ShardPlan): boolean {
  return (
    a.liveShards === b.liveShards &&
    a.drainingShards.join(',') === b.drainingShards.join(',') &&
    listed(a.movingShards) === listed(b.movingShards)
  );
}

/**
 * A pool taken out of spec.pools while its shards may hold messages: it stays in the INI,
 * with no live shard and every remaining shard draining, so the distributor keeps it (a
 * pool it no longer reads about is a pool it forgets, backlog and all) and reports each
 * shard drained once its worker has finished it. Its running workers keep running and drain
 * their own queues. A shard already stopped when the pool was taken out (mid-scale-down) has
 * no worker to drain it: once its pods are gone it is listed as moving, and the distributor
 * moves its backlog to where the pool's messages go now (the next rule or the default pool).
 */
export interface RetiringPool {
  readonly name: string;
  /** Shards whose worker Deployments must stay; empty once every one is drained. */
  readonly plan: ShardPlan;
  /** Its section in the INI while shards remain; undefined when the INI never had it. */
  readonly config?: PoolConfig;
}

export function retiringPoolFor(
  name: string,
  previous: PoolConfig | undefined,
  workerShards: readonly number[],
  load: Load | undefined,
  /** Its stopped shards whose pods are gone (the reconciler asks the API server). */
  stoppedWithoutPods: readonly number[] = [],
): RetiringPool {
  const announced = previous
    ? [...Array.from({ length: previous.minWorkers }, (_, i) => i), ...previous.drainingShards]
    : [];
  const reported = load === undefined ? undefined : loadShardsOf(load, name);
  const drained = new Set(reported === undefined ? [] : drainedShards(reported));
  // A pool neither the INI nor the distributor knows cannot be drained by anyone: its
  // queues are not being fed, and its workers may go.
  const unknown = previous === undefined && reported !== undefined && reported.length === 0;
  const draining = unknown
    ? []
    : [...new Set([...announced, ...workerShards])]
        .filter((shard) => !drained.has(shard))
        .sort((a, b) => a - b);
  const plan: ShardPlan = { liveShards: 0, drainingShards: draining };
  if (previous === undefined || draining.length === 0) return { name, plan };
  const { movingShards: _moving, ...rest } = previous;
  const retiring = { name, plan, config: { ...rest, minWorkers: 0, drainingShards: draining } };
  return withMovingShards(retiring, stoppedWithoutPods);
}

/** The retiring pool with those of `stoppedWithoutPods` that still drain listed as moving. */
export function withMovingShards(
  retiring: RetiringPool,
  stoppedWithoutPods: readonly number[],
): RetiringPool {
  const { config, plan } = retiring;
  const moving = stoppedWithoutPods.filter((shard) => plan.drainingShards.includes(shard));
  if (config === undefined || moving.length === 0) return retiring;
  return { ...retiring, config: { ...config, movingShards: moving } };
}
