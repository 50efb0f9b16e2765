import type { KubernetesObject } from '@kubernetes/client-node';

/** `namespace/name`, or `name` for a cluster-scoped object: the work queue's key. */
export function objectKey(obj: KubernetesObject): string {
  const namespace = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return namespace ? `${namespace}/${name}` : name;
}

export function keyFor(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  if (slash < 0) return { namespace: undefined, name: key };
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** Maps a watched object to the keys of the primary resources it should wake. */
export type KeyMapper = (obj: KubernetesObject) => string[];

/** The object itself: for the primary resource. */
export const ownKey: KeyMapper = (obj) => [objectKey(obj)];

/**
 * The controlling owner of the given kind (ownerReference with controller=true), as
 * controller-runtime's EnqueueRequestForOwner with OnlyControllerOwner: owners live in the
 * object's namespace. The version is ignored so a stored-version change keeps the mapping.
 */
export function ownerKey(owner: { apiVersion: string; kind: string }): KeyMapper {
  const group = groupOf(owner.apiVersion);
  return (obj) => {
    const refs = obj.metadata?.ownerReferences ?? [];
    const ref = refs.find(
      (r) => r.controller === true && r.kind === owner.kind && groupOf(r.apiVersion) === group,
    );
    return ref ? [keyFor(obj.metadata?.namespace, ref.name)] : [];
  };
}

/** The owner named by a label on the object (for objects that cannot carry an ownerReference). */
export function labelKey(label: string): KeyMapper {
  return (obj) => {
    const name = obj.metadata?.labels?.[label];
    return name ? [keyFor(obj.metadata?.namespace, name)] : [];
  };
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}
