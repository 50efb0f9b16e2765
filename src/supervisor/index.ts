// The supervisor room's public surface: what the CLI's `run` mode uses.
export { Supervisor, systemClock } from './supervisor.ts';
export type { Clock, SupervisorOptions, WorkerState, WorkerStatus } from './supervisor.ts';
export { DEFAULT_BACKOFF, backoffDelay, nextRestart } from './backoff.ts';
export type { BackoffPolicy, RestartDecision } from './backoff.ts';
export { desiredWorkers, planWorkers, supervisedPools, withRunningPools } from './plan.ts';
export type {
  CurrentWorker,
  DesiredWorker,
  StopReason,
  SupervisedPool,
  WorkerPlan,
} from './plan.ts';
export { workerKey, compareRefs } from './worker-key.ts';
export type { WorkerKey, WorkerRef } from './worker-key.ts';
export { defaultSpawn } from './worker-process.ts';
export type { SpawnFn } from './worker-process.ts';
export { WorkerCommandError } from './errors.ts';
export { checkWorkerExecutables, findExecutable } from './executables.ts';
export { findOrphanWorkers, stopOrphanWorkers } from './orphans.ts';
export { supervisorMetrics } from './metrics.ts';
export type { SupervisorMetrics } from './metrics.ts';
