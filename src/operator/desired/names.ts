import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import {
  API_VERSION,
  GROUP,
  KIND,
  LABEL_COMPONENT,
  LABEL_DISTRIBUTOR,
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

export function workerName(sd: ShardDistributor, shard: number): string {
  return `${sd.metadata.name}-worker-${shard}`;
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

/** Matches the pods of shard i's worker Deployment. */
export function workerSelectorLabels(sd: ShardDistributor, shard: number): Record<string, string> {
  return {
    [LABEL_DISTRIBUTOR]: sd.metadata.name,
    [LABEL_COMPONENT]: COMPONENT_WORKER,
    [LABEL_SHARD]: String(shard),
  };
}

export function workerLabels(sd: ShardDistributor, shard: number): Record<string, string> {
  return { ...labelsFor(sd, COMPONENT_WORKER), [LABEL_SHARD]: String(shard) };
}

/** status.selector: every worker pod of this ShardDistributor, as a label selector string. */
export function selectorFor(sd: ShardDistributor): string {
  return `${LABEL_DISTRIBUTOR}=${sd.metadata.name},${LABEL_COMPONENT}=${COMPONENT_WORKER}`;
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
