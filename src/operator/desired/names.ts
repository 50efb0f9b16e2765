import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import {
  API_VERSION,
  DEFAULT_POOL,
  GROUP,
  KIND,
  LABEL_COMPONENT,
  LABEL_DISTRIBUTOR,
  LABEL_POOL,
  LABEL_SHARD,
  type ShardDistributor,
} from '../../api/index.ts';
import { DesiredStateError } from './errors.ts';

export const COMPONENT_CONFIG = 'config';
export const COMPONENT_DISTRIBUTOR = 'distributor';
export const COMPONENT_WORKER = 'worker';
export const COMPONENT_METRICS = 'metrics';
export type Component =
  | typeof COMPONENT_CONFIG
  | typeof COMPONENT_DISTRIBUTOR
  | typeof COMPONENT_WORKER
  | typeof COMPONENT_METRICS;

/** Pod template annotation: a change rolls the distributor's pod. */
export const ANNOTATION_CONFIG_HASH = `${GROUP}/config-hash`;

export const APP_NAME = 'shard-distributor';

export function configMapName(sd: ShardDistributor): string {
  return `${sd.metadata.name}-config`;
}

export function distributorName(sd: ShardDistributor): string {
  return `${sd.metadata.name}-distributor`;
}

/**
 * Shard i's worker Deployment: `<sd>-worker-<i>` in the default pool (the name it had before
 * pools existed), `<sd>-<pool>-worker-<i>` in a named one.
 */
export function workerName(sd: ShardDistributor, shard: number, pool = DEFAULT_POOL): string {
  return pool === DEFAULT_POOL
    ? `${sd.metadata.name}-worker-${shard}`
    : poolWorkerName(sd, pool, shard);
}

export function poolWorkerName(sd: ShardDistributor, pool: string, shard: number): string {
  return `${sd.metadata.name}-${pool}-worker-${shard}`;
}

export function metricsServiceName(sd: ShardDistributor): string {
  return `${sd.metadata.name}-metrics`;
}

/** The labels every object of this ShardDistributor carries. */
export function labelsFor(sd: ShardDistributor, component: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': APP_NAME,
    'app.kubernetes.io/instance': sd.metadata.name,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/managed-by': 'shard-distributor-operator',
    [LABEL_DISTRIBUTOR]: sd.metadata.name,
    [LABEL_COMPONENT]: component,
  };
}

// Selectors are immutable on a Deployment: keep them to the few labels that never change.
/** Matches the pods of the standalone distributor Deployment. */
export function distributorSelectorLabels(sd: ShardDistributor): Record<string, string> {
  return { [LABEL_DISTRIBUTOR]: sd.metadata.name, [LABEL_COMPONENT]: COMPONENT_DISTRIBUTOR };
}

/** `{ pool label }` for a named pool; nothing for the default pool, whose labels predate pools. */
function poolLabel(pool: string): Record<string, string> {
  return pool === DEFAULT_POOL ? {} : { [LABEL_POOL]: pool };
}

/**
 * Matches the pods of shard i's worker Deployment. The default pool's selector is the one
 * it had before pools (a Deployment's selector cannot change); it also matches a named
 * pool's shard i pods, which is harmless for the ReplicaSets (they adopt only pods no
 * controller owns) but means our own pod queries use workerPodSelector.
 */
export function workerSelectorLabels(
  sd: ShardDistributor,
  shard: number,
  pool = DEFAULT_POOL,
): Record<string, string> {
  return {
    [LABEL_DISTRIBUTOR]: sd.metadata.name,
    [LABEL_COMPONENT]: COMPONENT_WORKER,
    [LABEL_SHARD]: String(shard),
    ...poolLabel(pool),
  };
}

export function workerLabels(
  sd: ShardDistributor,
  shard: number,
  pool = DEFAULT_POOL,
): Record<string, string> {
  return { ...labelsFor(sd, COMPONENT_WORKER), [LABEL_SHARD]: String(shard), ...poolLabel(pool) };
}

/** A label selector string matching every one of `labels` (`key=value,…`). */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/** A label selector string for exactly the pods of one pool's shard i (`!pool` for the default pool). */
export function workerPodSelector(
  sd: ShardDistributor,
  shard: number,
  pool = DEFAULT_POOL,
): string {
  const selector = labelSelector(workerSelectorLabels(sd, shard, pool));
  return pool === DEFAULT_POOL ? `${selector},!${LABEL_POOL}` : selector;
}

/**
 * status.selector, for the scale subresource: the default pool's worker pods. Without
 * pools that is every worker pod (the selector predating pools, unchanged); with pools the
 * named pools' pods are left out.
 */
export function selectorFor(sd: ShardDistributor): string {
  const selector = `${LABEL_DISTRIBUTOR}=${sd.metadata.name},${LABEL_COMPONENT}=${COMPONENT_WORKER}`;
  return (sd.spec.pools ?? []).length === 0 ? selector : `${selector},!${LABEL_POOL}`;
}

/** The pool a worker Deployment (or pod) belongs to, by its labels. */
export function poolOfLabels(labels: Record<string, string> | undefined): string {
  return labels?.[LABEL_POOL] ?? DEFAULT_POOL;
}

export function ownerReferenceFor(sd: ShardDistributor): V1OwnerReference {
  const uid = sd.metadata.uid;
  if (uid === undefined || uid === '') {
    throw new DesiredStateError(
      `ShardDistributor ${sd.metadata.name} has no metadata.uid; build desired objects from the object the API server returned`,
    );
  }
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: sd.metadata.name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** `{ namespace }` when the ShardDistributor has one, so no undefined member is ever applied. */
export function namespaceOf(sd: ShardDistributor): { namespace?: string } {
  return sd.metadata.namespace === undefined ? {} : { namespace: sd.metadata.namespace };
}

/** Metadata of an object this ShardDistributor owns. */
export function ownedMetadata(
  sd: ShardDistributor,
  name: string,
  labels: Record<string, string>,
): V1ObjectMeta {
  return { name, ...namespaceOf(sd), labels, ownerReferences: [ownerReferenceFor(sd)] };
}
