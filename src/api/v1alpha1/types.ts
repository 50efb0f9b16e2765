import type { Static } from '@sinclair/typebox';
import type { ShardDistributorSpecSchema, ShardDistributorStatus } from './schema.ts';

/** A spec after defaulting (what the API server stores and `withDefaults` returns). */
export type ShardDistributorSpec = Static<typeof ShardDistributorSpecSchema>;
export type Strategy = ShardDistributorSpec['strategy'];
export type Backend = ShardDistributorSpec['queue']['backend'];
export type Placement = ShardDistributorSpec['distributor']['placement'];
export type WorkerSpec = ShardDistributorSpec['worker'];
/** One spec.pools entry, after defaulting. */
export type PoolSpec = NonNullable<ShardDistributorSpec['pools']>[number];
export type MatchSpec = PoolSpec['match'];
export type BackpressureSpec = NonNullable<ShardDistributorSpec['backpressure']>;
/** spec.failure or a pool's failure, after defaulting. */
export type FailureSpec = NonNullable<ShardDistributorSpec['failure']>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface ShardDistributor {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: ShardDistributorSpec;
  status?: ShardDistributorStatus;
}
