/** Names of the ShardDistributor API: one place, used by the CRD, the operator and the tests. */
export const GROUP = 'shards.veda.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ShardDistributor';
export const LIST_KIND = 'ShardDistributorList';
export const PLURAL = 'sharddistributors';
export const SINGULAR = 'sharddistributor';
export const SHORT_NAMES = ['sd'];
export const CRD_NAME = `${PLURAL}.${GROUP}`;

export const LABEL_DISTRIBUTOR = `${GROUP}/distributor`;
export const LABEL_SHARD = `${GROUP}/shard`;
export const LABEL_COMPONENT = `${GROUP}/component`;
/** On the worker Deployments and pods of a named pool (spec.pools[]); absent on the default pool's. */
export const LABEL_POOL = `${GROUP}/pool`;
export const FINALIZER = `${GROUP}/finalizer`;

export const STRATEGIES = [
  'ZeroLoadFirst',
  'LeastLoaded',
  'RoundRobin',
  'KeyHash',
  'Random',
] as const;
export const BACKENDS = ['veda', 'nats'] as const;
export const PLACEMENTS = ['Standalone', 'Sidecar'] as const;
export const DELETION_POLICIES = ['Drain', 'Abandon'] as const;
export const SIDECAR_KINDS = ['Deployment', 'StatefulSet'] as const;
/** What a worker does with a message its handler rejects (spec.failure.policy; INI failure_policy). */
export const FAILURE_POLICIES = ['DeadLetter', 'Drop', 'Block'] as const;
/** Upper bound on failure.maxAttempts (INI max_attempts). */
export const MAX_FAILURE_ATTEMPTS = 100;
/** Upper bound on failure.retryBackoffSeconds and retryBackoffMaxSeconds: one day. */
export const MAX_RETRY_BACKOFF_SECONDS = 86_400;

/** The placeholders `worker.argsTemplate` may use; the INI's worker_args_template has the same. */
export const ARGS_PLACEHOLDERS = [
  'worker_base_path',
  'sub_queue_name',
  'sleep_empty_sec',
  'src',
] as const;

export const CONDITION_READY = 'Ready';
export const CONDITION_PROGRESSING = 'Progressing';
export const CONDITION_DEGRADED = 'Degraded';
/** True while a pool's limits hold the main queue (the distributor stops reading it). */
export const CONDITION_BACKPRESSURE = 'Backpressure';

/** The name the top-level fields' pool goes by (in /load, metrics, status); no spec.pools entry may take it. */
export const DEFAULT_POOL = 'default';
/** Upper bound on spec.pools entries. */
export const MAX_POOLS = 16;
/** Pool names are DNS labels of at most this length, so `<sd>-<pool>-worker-<i>` stays a valid name. */
export const MAX_POOL_NAME = 40;

/** Upper bound on shards per ShardDistributor: beyond it the "count" is a typo, not a plan. */
export const MAX_WORKERS_LIMIT = 512;
