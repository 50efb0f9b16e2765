import {
  CONDITION_DEGRADED,
  CONDITION_PROGRESSING,
  CONDITION_READY,
  subQueuePrefixOf,
  type Condition,
  type ShardDistributor,
  type ShardDistributorStatus,
  type ShardStatus,
} from '../../api/index.ts';
import { canonicalJson } from '../desired/canonical-json.ts';
import { distributorName, selectorFor, workerName } from '../desired/names.ts';
import type { Problem } from '../desired/problems.ts';
import { setCondition, type ConditionUpdate } from './conditions.ts';

/** What the reconciler saw of one worker Deployment. */
export interface WorkerObservation {
  shard: number;
  exists: boolean;
  replicas?: number;
  readyReplicas?: number;
  /** Why the Deployment is failing, when it says so (e.g. its ProgressDeadlineExceeded message). */
  failing?: string;
}

/** The part of the distributor's /load report the status shows. */
export interface LoadSnapshot {
  shards: readonly {
    index: number;
    queue: string;
    backlog: number;
    dispatched: number;
    state: 'live' | 'draining' | 'drained';
    stuck?: boolean;
  }[];
  mainLag: number;
}

export interface Observed {
  workerDeployments: readonly WorkerObservation[];
  /** Undefined when /load could not be read. */
  load?: LoadSnapshot;
  loadError?: string;
  /** Live shards: 0 … desiredWorkers-1 (autoscaling included). */
  desiredWorkers: number;
  draining: readonly number[];
  problems: readonly Problem[];
  /** decideWorkers' sentence, shown while the count changes. */
  autoscaleReason?: string;
  now: Date;
}

export const REASON_ALL_WORKERS_READY = 'AllWorkersReady';
export const REASON_WORKERS_NOT_READY = 'WorkersNotReady';
export const REASON_DISTRIBUTOR_NOT_REPORTING = 'DistributorNotReporting';
export const REASON_SCALING_UP = 'ScalingUp';
export const REASON_DRAINING = 'Draining';
export const REASON_STABLE = 'Stable';
export const REASON_WORKER_FAILING = 'WorkerFailing';
export const REASON_SHARD_STUCK = 'ShardStuck';
export const REASON_AS_EXPECTED = 'AsExpected';

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function list(shards: readonly number[]): string {
  return `${shards.length === 1 ? 'shard' : 'shards'} ${shards.join(', ')}`;
}

function nonNegativeInteger(value: number): number {
  return Number.isFinite(value) ? Math.max(0, Math.round(value)) : 0;
}

function shardStatuses(sd: ShardDistributor, observed: Observed): ShardStatus[] {
  const prefix = subQueuePrefixOf(sd.spec);
  const draining = [...new Set(observed.draining)]
    .filter((i) => i >= observed.desiredWorkers)
    .sort((a, b) => a - b);
  const indices = [...Array.from({ length: observed.desiredWorkers }, (_, i) => i), ...draining];
  return indices.map((index) => {
    const worker = observed.workerDeployments.find((w) => w.shard === index);
    const load = observed.load?.shards.find((s) => s.index === index);
    const live = index < observed.desiredWorkers;
    return {
      index,
      queue: load?.queue ?? `${prefix}-${index}`,
      // Drained only on the distributor's word: a shard it still reports live (it has not
      // re-read the INI yet) is still draining.
      state: live ? 'Live' : load?.state === 'drained' ? 'Drained' : 'Draining',
      ready: worker !== undefined && worker.exists && (worker.readyReplicas ?? 0) >= 1,
      ...(load === undefined
        ? {}
        : {
            backlog: nonNegativeInteger(load.backlog),
            dispatched: nonNegativeInteger(load.dispatched),
          }),
    };
  });
}

function readyCondition(
  sd: ShardDistributor,
  observed: Observed,
  live: ShardStatus[],
): Omit<ConditionUpdate, 'type'> {
  const ready = live.filter((s) => s.ready).length;
  const workers = `${ready} of ${count(live.length, 'worker')} ready`;
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
  if (ready < live.length) {
    const waiting = live.filter((s) => !s.ready).map((s) => s.index);
    return {
      status: 'False',
      reason: REASON_WORKERS_NOT_READY,
      message: `${workers}; waiting for ${list(waiting)}`,
    };
  }
  return {
    status: 'True',
    reason: REASON_ALL_WORKERS_READY,
    message: `${workers} and the distributor reports load`,
  };
}

function progressingCondition(
  observed: Observed,
  shards: ShardStatus[],
): Omit<ConditionUpdate, 'type'> {
  const live = shards.filter((s) => s.state === 'Live');
  const missing = live
    .filter((s) => !observed.workerDeployments.some((w) => w.shard === s.index && w.exists))
    .map((s) => s.index);
  const why = observed.autoscaleReason === undefined ? '' : ` (${observed.autoscaleReason})`;
  if (missing.length > 0) {
    return {
      status: 'True',
      reason: REASON_SCALING_UP,
      message: `scaling to ${count(live.length, 'worker')}${why}: creating workers for ${list(missing)}`,
    };
  }
  const draining = shards.filter((s) => s.state !== 'Live');
  if (draining.length > 0) {
    const backlog = draining.reduce((sum, s) => sum + (s.backlog ?? 0), 0);
    const drained = draining.filter((s) => s.state === 'Drained').map((s) => s.index);
    const done = drained.length === 0 ? '' : `; ${list(drained)} drained, removing their workers`;
    return {
      status: 'True',
      reason: REASON_DRAINING,
      message: `scaling to ${count(live.length, 'worker')}${why}: draining ${list(draining.map((s) => s.index))} (backlog ${backlog}) before their workers are deleted${done}`,
    };
  }
  return {
    status: 'False',
    reason: REASON_STABLE,
    message: `${count(live.length, 'worker')}, none draining`,
  };
}

function degradedCondition(
  sd: ShardDistributor,
  observed: Observed,
): Omit<ConditionUpdate, 'type'> {
  const [first] = observed.problems;
  if (first !== undefined) {
    return {
      status: 'True',
      reason: first.reason,
      message: observed.problems.map((p) => p.message).join('; '),
    };
  }
  const failing = observed.workerDeployments.filter((w) => w.exists && w.failing !== undefined);
  if (failing.length > 0) {
    return {
      status: 'True',
      reason: REASON_WORKER_FAILING,
      message: failing
        .map(
          (w) =>
            `worker of shard ${w.shard} is failing: ${w.failing}; see kubectl describe deployment ${workerName(sd, w.shard)} and its pods' logs`,
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
        .map(
          (s) =>
            `shard ${s.index} (queue ${s.queue}) holds ${s.backlog} messages and its worker takes none; check the logs of deployment ${workerName(sd, s.index)}`,
        )
        .join('; '),
    };
  }
  return { status: 'False', reason: REASON_AS_EXPECTED, message: 'no problems found' };
}

/**
 * The whole status from what the reconciler observed; rebuilt every time, so it always
 * matches the world. Conditions keep their lastTransitionTime while their status holds.
 */
export function statusFor(sd: ShardDistributor, observed: Observed): ShardDistributorStatus {
  const generation = sd.metadata.generation;
  const shards = shardStatuses(sd, observed);
  const live = shards.filter((s) => s.state === 'Live');
  const withGeneration = generation === undefined ? {} : { observedGeneration: generation };
  let conditions: Condition[] | undefined = sd.status?.conditions;
  const set = (type: string, c: Omit<ConditionUpdate, 'type'>) => {
    conditions = setCondition(conditions, { type, ...c, ...withGeneration }, observed.now);
  };
  set(CONDITION_READY, readyCondition(sd, observed, live));
  set(CONDITION_PROGRESSING, progressingCondition(observed, shards));
  set(CONDITION_DEGRADED, degradedCondition(sd, observed));
  const load = observed.load;
  return {
    ...withGeneration,
    workers: live.filter((s) =>
      observed.workerDeployments.some((w) => w.shard === s.index && w.exists),
    ).length,
    desiredWorkers: observed.desiredWorkers,
    readyWorkers: live.filter((s) => s.ready).length,
    ...(load === undefined
      ? {}
      : { backlog: load.shards.reduce((sum, s) => sum + nonNegativeInteger(s.backlog), 0) }),
    selector: selectorFor(sd),
    shards,
    conditions: conditions ?? [],
  };
}

function normalised(status: ShardDistributorStatus | undefined): unknown {
  const s = status ?? {};
  return {
    ...s,
    shards: [...(s.shards ?? [])].sort((a, b) => a.index - b.index),
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
