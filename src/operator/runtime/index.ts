export { Informer } from './informer.ts';
export type { InformerHandler, InformerOptions } from './informer.ts';
export { apiStatusMessage } from './api-status.ts';
export { kubeListerWatcher } from './list-watch.ts';
export type {
  ListerWatcher,
  ObjectList,
  ResourceDescriptor,
  WatchEvent,
  WatchEventType,
  WatchHandle,
} from './list-watch.ts';
export { WorkQueue } from './workqueue.ts';
export type { WorkQueueOptions } from './workqueue.ts';
export { Controller } from './controller.ts';
export type {
  ControllerOptions,
  ReconcileContext,
  ReconcileResult,
  Reconciler,
} from './controller.ts';
export { LeaderElector, defaultIdentity } from './leader-election.ts';
export type { LeaderElectorOptions } from './leader-election.ts';
export { kubeLeaseLock } from './lease-lock.ts';
export type { LeaseLock, LeaseRecord, ObservedLease } from './lease-lock.ts';
export { Manager } from './manager.ts';
export type { ManagerOptions } from './manager.ts';
export { specOrMetadataChanged } from './predicates.ts';
export type { UpdatePredicate } from './predicates.ts';
export { objectKey, keyFor, splitKey, ownKey, ownerKey, labelKey } from './keys.ts';
export type { KeyMapper } from './keys.ts';
export { ItemExponentialBackoff, exponentialDelay, withJitter } from './backoff.ts';
export { systemClock } from './clock.ts';
export type { Clock, TimerHandle } from './clock.ts';
export { runtimeMetrics } from './metrics.ts';
export type { RuntimeMetrics } from './metrics.ts';
export {
  LeaderElectionLostError,
  ResourceExpiredError,
  RuntimeConfigError,
  WatchRequestError,
} from './errors.ts';
export { SharedConnectionKubeConfig } from './shared-connection.ts';
