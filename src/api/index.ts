export * from './v1alpha1/constants.ts';
export { shardDistributorCrd } from './crd.ts';
export {
  withDefaults,
  withSpecDefaults,
  subQueuePrefixOf,
  poolSubQueuePrefixOf,
  InvalidSpecError,
} from './v1alpha1/defaults.ts';
export { ShardDistributorSpecSchema, ShardDistributorStatusSchema } from './v1alpha1/schema.ts';
export type {
  ShardDistributorStatus,
  Condition,
  ShardStatus,
  PoolStatus,
} from './v1alpha1/schema.ts';
export type {
  ShardDistributor,
  ShardDistributorSpec,
  ObjectMeta,
  Strategy,
  Backend,
  Placement,
  WorkerSpec,
  PoolSpec,
  MatchSpec,
  BackpressureSpec,
  FailureSpec,
} from './v1alpha1/types.ts';
