export { decideWorkers, DEFAULT_STABILIZATION_WINDOW_MS } from './autoscale.ts';
export type {
  AutoscaleDecision,
  AutoscaleInput,
  AutoscaleSpec,
  Recommendation,
} from './autoscale.ts';
export { scaledUpMessage, scalingDownMessage, shardList } from './wording.ts';
export { findCondition, kubernetesTime, setCondition } from './conditions.ts';
export type { ConditionStatus, ConditionUpdate } from './conditions.ts';
export {
  REASON_ALL_WORKERS_READY,
  REASON_AS_EXPECTED,
  REASON_BACKLOG_LIMIT,
  REASON_DISK_LIMIT,
  REASON_DISTRIBUTOR_NOT_REPORTING,
  REASON_DRAINING,
  REASON_SCALING_UP,
  REASON_SHARD_STUCK,
  REASON_STABLE,
  REASON_ROLLING_OUT,
  REASON_WORKER_FAILING,
  REASON_WITHIN_LIMITS,
  REASON_WORKERS_NOT_READY,
  statusEqual,
  statusFor,
} from './status.ts';
export type {
  LoadSnapshot,
  NamedPoolObserved,
  Observed,
  PoolObserved,
  PressureSnapshot,
  WorkerObservation,
} from './status.ts';
