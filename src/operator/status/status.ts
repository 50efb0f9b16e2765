import {
  CONDITION_BACKPRESSURE,
  CONDITION_DEGRADED,
  CONDITION_PROGRESSING,
  CONDITION_READY,
  DEFAULT_POOL,
  subQueuePrefixOf,
  type Condition,
  type PoolStatus,
  type ShardDistributor,
  type ShardDistributorStatus,
  type ShardStatus,
} from '../../api/index.ts';
import { canonicalJson } from '../desired/canonical-json.ts';
import { distributorName, selectorFor, workerName } from '../desired/names.ts';
import { poolsOf } from '../desired/pools.ts';
import { mostSeriousFirst, type Problem } from '../desired/problems.ts';
import { setCondition, type ConditionUpdate } from './conditions.ts';
import { count, shardList as list } from './wording.ts';

/** What the reconciler saw of one worker Deployment. */
export interface WorkerObservation {
  shard: number;
  exists: boolean;
  replicas?: number;
  readyReplicas?: number;
  /** Why the Deployment is failing, when it says so (e.g. its ProgressDeadlineExceeded message). */
  failing?: string;
  /**
   * False while the Deployment has not rolled out what it was last given (a new worker's first
   * pod, a changed template's replacement) and its pods are not all available.
   */
  rolledOut?: boolean;
}

/** A pool the distributor holds the main queue for (its limits are reached). */
export interface PressureSnapshot {
  /** DEFAULT_POOL for the default pool. */
  pool: string;
  /** `BacklogLimit` or `DiskLimit`. */
  reason: string;
  message?: string;
  since?: string;
}

/** The part of the distributor's /load report the status shows. */
export interface LoadSnapshot {
  shards: readonly {
    /** Absent for the default pool. */
    pool?: string;
    index: number;
    queue: string;
    backlog: number;
    dispatched: number;
    state: 'live' | 'draining' | 'drained';
    stuck?: boolean;
  }[];
  mainLag: number;
  /** Pools whose limits hold the main queue now; absent or empty: none. */
  backpressure?: readonly PressureSnapshot[];
}

/** What the reconciler decided and saw of one pool's workers. */
export interface PoolObserved {
  workerDeployments: readonly WorkerObservation[];
  /** Live shards: 0 … desiredWorkers-1 (autoscaling included). */
  desiredWorkers: number;
  draining: readonly number[];
  /** decideWorkers' sentence, shown while the count changes. */
  autoscaleReason?: string;
}

/** A spec.pools entry's observation. */
export interface NamedPoolObserved extends PoolObserved {
  name: string;
}

/** The default pool's observation at the top level (as before pools), the named ones in `pools`. */
export interface Observed extends PoolObserved {
  /** spec.pools' observations, in spec order. */
  pools?: readonly NamedPoolObserved[];
  /** Undefined when /load could not be read. */
  load?: LoadSnapshot;
  loadError?: string;
  problems: readonly Problem[];
  now: Date;
  /**
   * False when a write of this reconcile failed: `status.observedGeneration` stays the last
   * generation fully applied (the conditions still say what this one came to).
   */
  applied?: boolean;
}

export const REASON_ALL_WORKERS_READY = 'AllWorkersReady';
export const REASON_WORKERS_NOT_READY = 'WorkersNotReady';
export const REASON_DISTRIBUTOR_NOT_REPORTING = 'DistributorNotReporting';
export const REASON_SCALING_UP = 'ScalingUp';
export const REASON_DRAINING = 'Draining';
export const REASON_STABLE = 'Stable';
export const REASON_ROLLING_OUT = 'RollingOut';
export const REASON_WORKER_FAILING = 'WorkerFailing';
export const REASON_SHARD_STUCK = 'ShardStuck';
export const REASON_AS_EXPECTED = 'AsExpected';
export const REASON_BACKLOG_LIMIT = 'BacklogLimit';
export const REASON_DISK_LIMIT = 'DiskLimit';
export const REASON_WITHIN_LIMITS = 'WithinLimits';

/** One pool as the status functions see it: what was observed, and its shards' status. */
interface PoolView {
  name: string;
  isDefault: boolean;
  observed: PoolObserved;
  shards: ShardStatus[];
}

/** `pool NAME: ` before what is said of a named pool; nothing for the default pool. */
function label(view: Pick<PoolView, 'name' | 'isDefault'>): string {
  return view.isDefault ? '' : `pool ${view.name}: `;
}

/** ` of pool NAME` after a shard of a named pool; nothing for the default pool. */
function ofPool(pool: string): string {
  return pool === DEFAULT_POOL ? '' : ` of pool ${pool}`;
}

function nonNegativeInteger(value: number): number {
  return Number.isFinite(value) ? Math.max(0, Math.round(value)) : 0;
}

function loadShardsOf(load: LoadSnapshot | undefined, pool: string) {
  return load?.shards.filter((s) => (s.pool ?? DEFAULT_POOL) === pool);
}

function shardStatuses(
  prefix: string,
  observed: PoolObserved,
  load: LoadSnapshot['shards'] | undefined,
): ShardStatus[] {
  const draining = [...new Set(observed.draining)]
    .filter((i) => i >= observed.desiredWorkers)
    .sort((a, b) => a - b);
  const indices = [...Array.from({ length: observed.desiredWorkers }, (_, i) => i), ...draining];
  return indices.map((index) => {
    const worker = observed.workerDeployments.find((w) => w.shard === index);
    const reported = load?.find((s) => s.index === index);
    const live = index < observed.desiredWorkers;
    return {
      index,
      queue: reported?.queue ?? `${prefix}-${index}`,
      // Drained only on the distributor's word: a shard it still reports live (it has not
      // re-read the INI yet) is still draining.
      state: live ? 'Live' : reported?.state === 'drained' ? 'Drained' : 'Draining',
      ready: worker !== undefined && worker.exists && (worker.readyReplicas ?? 0) >= 1,
      ...(reported === undefined
        ? {}
        : {
            backlog: nonNegativeInteger(reported.backlog),
            dispatched: nonNegativeInteger(reported.dispatched),
          }),
    };
  });
}

function liveOf(view: PoolView): ShardStatus[] {
  return view.shards.filter((s) => s.state === 'Live');
}

function readyCondition(
  sd: ShardDistributor,
  observed: Observed,
  views: readonly PoolView[],
): Omit<ConditionUpdate, 'type'> {
  const workers = views
    .map((view) => {
      const live = liveOf(view);
      const ready = live.filter((s) => s.ready).length;
      return `${label(view)}${ready} of ${count(live.length, 'worker')} ready`;
    })
    .join('; ');
  if (observed.load === undefined) {
    const where =
      sd.spec.distributor.placement === 'Sidecar' && sd.spec.distributor.sidecarOf !== undefined
        ? `the sidecar in ${sd.spec.distributor.sidecarOf.kind} ${sd.spec.distributor.sidecarOf.name}`
        : `deployment ${distributorName(sd)}`;
    const why = observed.loadError === undefined ? '' : ` (${observed.loadError})`;
    return {
      status: 'False',
      reason: REASON_DISTRIBUTOR_NOT_REPORTING,
      message: `the distributor does not report its load${why}; check ${where}. ${workers}`,
    };
  }
  const unready = views.filter((view) => liveOf(view).some((s) => !s.ready));
  if (unready.length > 0) {
    const waiting = views
      .map((view) => {
        const live = liveOf(view);
        const ready = live.filter((s) => s.ready).length;
        const missing = live.filter((s) => !s.ready).map((s) => s.index);
        const phrase = `${label(view)}${ready} of ${count(live.length, 'worker')} ready`;
        return missing.length === 0 ? phrase : `${phrase}; waiting for ${list(missing)}`;
      })
      .join('; ');
    return { status: 'False', reason: REASON_WORKERS_NOT_READY, message: waiting };
  }
  return {
    status: 'True',
    reason: REASON_ALL_WORKERS_READY,
    message: `${workers} and the distributor reports load`,
  };
}

type PoolProgress = { reason: string; message: string };

/**
 * What the draining shards still hold. A shard the distributor does not report (its /load
 * cannot be read, or it has not re-read the INI) holds an unknown backlog, not none: "backlog
 * 0" would say the drain is about to finish when nothing is known.
 */
function drainingBacklog(draining: readonly ShardStatus[]): string {
  const unknown = draining.filter((s) => s.backlog === undefined).map((s) => s.index);
  if (unknown.length === draining.length) return 'backlog unknown';
  const known = draining.reduce((sum, s) => sum + (s.backlog ?? 0), 0);
  return unknown.length === 0
    ? `backlog ${known}`
    : `backlog ${known}, unknown for ${list(unknown)}`;
}

function poolProgress(view: PoolView): PoolProgress {
  const { observed, shards } = view;
  const live = shards.filter((s) => s.state === 'Live');
  const missing = live
    .filter((s) => !observed.workerDeployments.some((w) => w.shard === s.index && w.exists))
    .map((s) => s.index);
  const why = observed.autoscaleReason === undefined ? '' : ` (${observed.autoscaleReason})`;
  if (missing.length > 0) {
    return {
      reason: REASON_SCALING_UP,
      message: `scaling to ${count(live.length, 'worker')}${why}: creating ${missing.length === 1 ? 'the worker' : 'workers'} for ${list(missing)}`,
    };
  }
  const starting = live
    .filter((s) =>
      observed.workerDeployments.some((w) => w.shard === s.index && w.rolledOut === false),
    )
    .map((s) => s.index);
  if (starting.length > 0) {
    // New workers, or a changed template: the Deployments exist, their pods are not ready yet.
    return {
      reason: REASON_ROLLING_OUT,
      message: `${count(live.length, 'worker')}${why}: waiting for the new pods of ${list(starting)} to be ready`,
    };
  }
  const draining = shards.filter((s) => s.state !== 'Live');
  if (draining.length > 0) {
    const drained = draining.filter((s) => s.state === 'Drained').map((s) => s.index);
    const theirs = drained.length === 1 ? 'its worker' : 'their workers';
    const done = drained.length === 0 ? '' : `; ${list(drained)} drained, removing ${theirs}`;
    const deleted = draining.length === 1 ? 'its worker is deleted' : 'their workers are deleted';
    return {
      reason: REASON_DRAINING,
      message: `scaling to ${count(live.length, 'worker')}${why}: draining ${list(draining.map((s) => s.index))} (${drainingBacklog(draining)}) before ${deleted}${done}`,
    };
  }
  return { reason: REASON_STABLE, message: `${count(live.length, 'worker')}, none draining` };
}

function progressingCondition(views: readonly PoolView[]): Omit<ConditionUpdate, 'type'> {
  const progress = views.map((view) => ({ view, ...poolProgress(view) }));
  const moving = progress.filter((p) => p.reason !== REASON_STABLE);
  if (moving.length === 0) {
    return {
      status: 'False',
      reason: REASON_STABLE,
      message: progress.map((p) => `${label(p.view)}${p.message}`).join('; '),
    };
  }
  // Creating workers, then starting them, is what a person waits on first; draining takes
  // care of itself.
  const reason =
    [REASON_SCALING_UP, REASON_ROLLING_OUT].find((r) => moving.some((p) => p.reason === r)) ??
    REASON_DRAINING;
  return {
    status: 'True',
    reason,
    message: moving.map((p) => `${label(p.view)}${p.message}`).join('; '),
  };
}

function degradedCondition(
  sd: ShardDistributor,
  observed: Observed,
  views: readonly PoolView[],
): Omit<ConditionUpdate, 'type'> {
  // The reconciler finds problems in the order it looks (a failed write last); a person
  // reads the reason and the first sentence, so the most serious comes first.
  const problems = mostSeriousFirst(observed.problems);
  const [first] = problems;
  if (first !== undefined) {
    return {
      status: 'True',
      reason: first.reason,
      message: problems.map((p) => p.message).join('; '),
    };
  }
  const failing = views.flatMap((view) =>
    view.observed.workerDeployments
      .filter((w) => w.exists && w.failing !== undefined)
      .map((w) => ({ pool: view.name, worker: w })),
  );
  if (failing.length > 0) {
    return {
      status: 'True',
      reason: REASON_WORKER_FAILING,
      message: failing
        .map(
          ({ pool, worker: w }) =>
            `worker of shard ${w.shard}${ofPool(pool)} is failing: ${w.failing}; see kubectl describe deployment ${workerName(sd, w.shard, pool)} and its pods' logs`,
        )
        .join('; '),
    };
  }
  const stuck = observed.load?.shards.filter((s) => s.stuck === true) ?? [];
  if (stuck.length > 0) {
    return {
      status: 'True',
      reason: REASON_SHARD_STUCK,
      message: stuck
        .map((s) => {
          const pool = s.pool ?? DEFAULT_POOL;
          return `shard ${s.index}${ofPool(pool)} (queue ${s.queue}) holds ${count(s.backlog, 'message')} and its worker takes none; check the logs of deployment ${workerName(sd, s.index, pool)}`;
        })
        .join('; '),
    };
  }
  return { status: 'False', reason: REASON_AS_EXPECTED, message: 'no problems found' };
}

/**
 * Backpressure from the distributor's word. The message is built from the reason and the
 * spec's limits rather than the distributor's own (which counts messages as they come),
 * so it stays the same while the pressure lasts and costs no status writes.
 */
function backpressureCondition(
  sd: ShardDistributor,
  observed: Observed,
): Omit<ConditionUpdate, 'type'> {
  const load = observed.load;
  if (load === undefined) {
    return {
      status: 'Unknown',
      reason: REASON_DISTRIBUTOR_NOT_REPORTING,
      message:
        'the distributor does not report its load, so whether it holds the main queue is unknown',
    };
  }
  const pressed = load.backpressure ?? [];
  if (pressed.length === 0) {
    return {
      status: 'False',
      reason: REASON_WITHIN_LIMITS,
      message: 'no pool is at its limits; the distributor reads the main queue',
    };
  }
  const limits = new Map(poolsOf(sd).map((p) => [p.name, p.backpressure]));
  const what = pressed.map((p) => {
    const limit = limits.get(p.pool);
    const name = p.pool === DEFAULT_POOL ? 'the default pool' : `pool ${p.pool}`;
    const since = p.since === undefined ? '' : ` since ${p.since}`;
    // The spec's limit when it has one; else (a limit the spec no longer holds) the distributor's words.
    if (p.reason === REASON_DISK_LIMIT && (limit?.maxDiskBytes ?? 0) > 0)
      return `${name}: its shard queues use at least maxDiskBytes ${count(limit!.maxDiskBytes!, 'byte')} on disk${since}`;
    if (p.reason === REASON_BACKLOG_LIMIT && (limit?.maxBacklogPerShard ?? 0) > 0)
      return `${name}: every live shard holds at least maxBacklogPerShard ${count(limit!.maxBacklogPerShard!, 'message')}${since}`;
    return `${name}: ${p.message ?? p.reason}${since}`;
  });
  const reason = /^[A-Z][A-Za-z]*$/.test(pressed[0]!.reason)
    ? pressed[0]!.reason
    : REASON_BACKLOG_LIMIT;
  return {
    status: 'True',
    reason,
    message: `the distributor stopped reading the main queue (which keeps every message) until the workers catch up: ${what.join('; ')}`,
  };
}

function workersThatExist(view: PoolView): number {
  return liveOf(view).filter((s) =>
    view.observed.workerDeployments.some((w) => w.shard === s.index && w.exists),
  ).length;
}

function backlogOf(load: LoadSnapshot | undefined, pool: string): { backlog?: number } {
  const shards = loadShardsOf(load, pool);
  return shards === undefined
    ? {}
    : { backlog: shards.reduce((sum, s) => sum + nonNegativeInteger(s.backlog), 0) };
}

/**
 * The whole status from what the reconciler observed; rebuilt every time, so it always
 * matches the world. Conditions keep their lastTransitionTime while their status holds.
 * The top-level fields are the default pool's (the scale subresource reads them); each
 * spec.pools entry has its own under `pools`.
 */
export function statusFor(sd: ShardDistributor, observed: Observed): ShardDistributorStatus {
  const generation = sd.metadata.generation;
  const prefixes = new Map(poolsOf(sd).map((p) => [p.name, p.subQueuePrefix]));
  const views: PoolView[] = [
    { name: DEFAULT_POOL, isDefault: true, observed },
    ...(observed.pools ?? []).map((p) => ({ name: p.name, isDefault: false, observed: p })),
  ].map((view) => ({
    ...view,
    shards: shardStatuses(
      prefixes.get(view.name) ?? `${subQueuePrefixOf(sd.spec)}-${view.name}`,
      view.observed,
      loadShardsOf(observed.load, view.name),
    ),
  }));
  // What runs is of the generation last applied: Ready, Progressing and Backpressure speak
  // of it. Degraded speaks of this one (an edit that is invalid or could not be written).
  const applied = observed.applied === false ? sd.status?.observedGeneration : generation;
  const topGeneration = applied === undefined ? {} : { observedGeneration: applied };
  const ofThis = generation === undefined ? {} : { observedGeneration: generation };
  let conditions: Condition[] | undefined = sd.status?.conditions;
  const set = (type: string, c: Omit<ConditionUpdate, 'type'>, of: object) => {
    conditions = setCondition(conditions, { type, ...c, ...of }, observed.now);
  };
  set(CONDITION_READY, readyCondition(sd, observed, views), topGeneration);
  set(CONDITION_PROGRESSING, progressingCondition(views), topGeneration);
  set(CONDITION_DEGRADED, degradedCondition(sd, observed, views), ofThis);
  set(CONDITION_BACKPRESSURE, backpressureCondition(sd, observed), topGeneration);
  const [main, ...named] = views;
  const pools: PoolStatus[] = named.map((view) => ({
    name: view.name,
    workers: workersThatExist(view),
    desiredWorkers: view.observed.desiredWorkers,
    readyWorkers: liveOf(view).filter((s) => s.ready).length,
    ...backlogOf(observed.load, view.name),
    shards: view.shards,
  }));
  return {
    ...topGeneration,
    workers: workersThatExist(main!),
    desiredWorkers: observed.desiredWorkers,
    readyWorkers: liveOf(main!).filter((s) => s.ready).length,
    ...backlogOf(observed.load, DEFAULT_POOL),
    selector: selectorFor(sd),
    shards: main!.shards,
    ...(pools.length === 0 ? {} : { pools }),
    conditions: conditions ?? [],
  };
}

function byIndex(shards: readonly ShardStatus[] | undefined): ShardStatus[] {
  return [...(shards ?? [])].sort((a, b) => a.index - b.index);
}

function normalised(status: ShardDistributorStatus | undefined): unknown {
  const s = status ?? {};
  return {
    ...s,
    shards: byIndex(s.shards),
    ...(s.pools === undefined
      ? {}
      : {
          pools: [...s.pools]
            .map((p) => ({ ...p, shards: byIndex(p.shards) }))
            .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
        }),
    conditions: [...(s.conditions ?? [])]
      .map(({ lastTransitionTime: _ignored, ...rest }) => rest)
      .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)),
  };
}

/**
 * Whether writing `next` over `current` would change anything a reader cares about: list
 * order, key order and lastTransitionTime alone do not count. The reconciler writes the
 * status only when this is false.
 */
export function statusEqual(
  current: ShardDistributorStatus | undefined,
  next: ShardDistributorStatus | undefined,
): boolean {
  return canonicalJson(normalised(current)) === canonicalJson(normalised(next));
}
