import type { KubernetesObject } from '@kubernetes/client-node';
import { objectKey, splitKey, type Informer } from './runtime/index.ts';

/** The read side of informers: one per namespace (namespace-scoped mode) or one for all. */
export interface Cache<T extends KubernetesObject> {
  get(namespace: string | undefined, name: string): T | undefined;
  getByKey(key: string): T | undefined;
  list(namespace?: string): T[];
}

/** One view over several namespace-scoped informers of the same resource. */
export function combinedCache<T extends KubernetesObject>(
  informers: ReadonlyMap<string | undefined, Informer<T>>,
): Cache<T> {
  const all = informers.get(undefined);
  if (all) return all;
  return {
    get: (namespace, name) =>
      namespace === undefined ? undefined : informers.get(namespace)?.get(namespace, name),
    getByKey: (key) => {
      const { namespace, name } = splitKey(key);
      return namespace === undefined ? undefined : informers.get(namespace)?.get(namespace, name);
    },
    list: (namespace) =>
      namespace === undefined
        ? [...informers.values()]
            .flatMap((i) => i.list())
            .sort((a, b) => objectKey(a).localeCompare(objectKey(b)))
        : (informers.get(namespace)?.list(namespace) ?? []),
  };
}
