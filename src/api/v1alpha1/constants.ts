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

/** Upper bound on shards per ShardDistributor: beyond it the "count" is a typo, not a plan. */
export const MAX_WORKERS_LIMIT = 512;
