import * as k8s from '@kubernetes/client-node';
import { Informer } from '../../../src/operator/runtime/informer.ts';
import {
  kubeListerWatcher,
  type ListerWatcher,
  type ResourceDescriptor,
} from '../../../src/operator/runtime/list-watch.ts';
import { kubeConfig } from '../support.ts';

export function configMapSource(namespace: string, labelSelector?: string): ListerWatcher {
  const resource: ResourceDescriptor = { apiVersion: 'v1', plural: 'configmaps', namespace };
  if (labelSelector) resource.labelSelector = labelSelector;
  return kubeListerWatcher(kubeConfig(), resource);
}

/** Fast timings so failures show within a test's time, not a production's. */
export function configMapInformer(
  listerWatcher: ListerWatcher,
  options: { resyncMs?: number } = {},
): Informer<k8s.V1ConfigMap> {
  return new Informer<k8s.V1ConfigMap>({
    listerWatcher,
    resyncMs: options.resyncMs ?? 0,
    backoffBaseMs: 100,
    backoffMaxMs: 2_000,
  });
}

export function core(): k8s.CoreV1Api {
  return kubeConfig().makeApiClient(k8s.CoreV1Api);
}

export async function createConfigMap(
  namespace: string,
  name: string,
  labels: Record<string, string> = {},
  data: Record<string, string> = {},
): Promise<k8s.V1ConfigMap> {
  return core().createNamespacedConfigMap({
    namespace,
    body: { metadata: { name, labels }, data },
  });
}
