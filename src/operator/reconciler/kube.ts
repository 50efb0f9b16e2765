import * as k8s from '@kubernetes/client-node';
import type { Counter } from 'prom-client';
import {
  API_VERSION,
  GROUP,
  PLURAL,
  VERSION,
  type ShardDistributor,
  type ShardDistributorStatus,
} from '../../api/index.ts';
import { ShardDistributorError } from '../../errors.ts';
import { isSemanticSubset } from './semantic-subset.ts';

export const FIELD_MANAGER = 'shard-distributor';

/** The namespace is being deleted: nothing new can be made in it, and nothing needs to be. */
export class NamespaceTerminatingError extends ShardDistributorError {
  constructor(namespace: string | undefined, options?: ErrorOptions) {
    super('SD_ERR_NAMESPACE_TERMINATING', `namespace ${namespace} is being deleted`, options);
  }
}

/** The API server's refusal to create anything in a namespace that is being deleted. */
export function isNamespaceTerminating(error: unknown): boolean {
  return (
    error instanceof k8s.ApiException &&
    error.code === 403 &&
    String(error.body).includes('because it is being terminated')
  );
}

/** Turns the API server's "being terminated" refusal into its own error, and passes others on. */
function terminating(error: unknown, namespace: string | undefined): never {
  if (isNamespaceTerminating(error))
    throw new NamespaceTerminatingError(namespace, { cause: error });
  throw error;
}

function isNotFound(error: unknown): boolean {
  return error instanceof k8s.ApiException && error.code === 404;
}

/**
 * The operator's writes to the API server, each one counted: server-side apply with one
 * field manager (skipped when the live object already says everything we would),
 * deletes, and the ShardDistributor's finalizers, annotations and status.
 */
export class KubeWriter {
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;
  private readonly writes: Counter<'verb' | 'kind'>;

  constructor(kc: k8s.KubeConfig, writes: Counter<'verb' | 'kind'>) {
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.writes = writes;
  }

  /** Applies `desired` unless `live` already holds all of it; says what happened. */
  async apply<T extends k8s.KubernetesObject>(
    desired: T,
    live: k8s.KubernetesObject | undefined,
    fieldManager = FIELD_MANAGER,
  ): Promise<'unchanged' | 'created' | 'updated'> {
    if (live && isSemanticSubset(desired, live)) return 'unchanged';
    this.writes.inc({ verb: 'apply', kind: desired.kind ?? 'unknown' });
    await this.objects
      .patch(desired, undefined, undefined, fieldManager, true, k8s.PatchStrategy.ServerSideApply)
      .catch((error: unknown) => terminating(error, desired.metadata?.namespace));
    return live ? 'updated' : 'created';
  }

  async delete(obj: k8s.KubernetesObject): Promise<void> {
    this.writes.inc({ verb: 'delete', kind: obj.kind ?? 'unknown' });
    try {
      await this.objects.delete(obj, undefined, undefined, undefined, undefined, 'Background');
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async read<T extends k8s.KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ): Promise<T | undefined> {
    try {
      return (await this.objects.read<T>({ apiVersion, kind, metadata: { name, namespace } })) as T;
    } catch (error) {
      if (error instanceof k8s.ApiException && error.code === 404) return undefined;
      throw error;
    }
  }

  /** Pods matching a label selector, terminating ones included (a read, not a write). */
  async podCount(namespace: string, labelSelector: string): Promise<number> {
    return (await this.core.listNamespacedPod({ namespace, labelSelector })).items.length;
  }

  /**
   * Merge-patches the ShardDistributor's metadata (finalizers, annotations). The
   * resourceVersion makes it conditional: a stale cache gets a 409 and a retry, never a
   * lost update.
   */
  async patchMetadata(
    sd: ShardDistributor,
    metadata: { finalizers?: string[]; annotations?: Record<string, string | null> },
  ): Promise<void> {
    this.writes.inc({ verb: 'patch', kind: 'ShardDistributor' });
    await this.ignoreGone(
      this.custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace: sd.metadata.namespace ?? 'default',
          name: sd.metadata.name,
          body: { metadata: { ...metadata, resourceVersion: sd.metadata.resourceVersion } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    );
  }

  /** Replaces the status through the status subresource (never the spec). */
  async patchStatus(sd: ShardDistributor, status: ShardDistributorStatus): Promise<void> {
    this.writes.inc({ verb: 'patch', kind: 'ShardDistributor/status' });
    await this.ignoreGone(
      this.custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace: sd.metadata.namespace ?? 'default',
          name: sd.metadata.name,
          body: {
            apiVersion: API_VERSION,
            kind: 'ShardDistributor',
            metadata: { name: sd.metadata.name, namespace: sd.metadata.namespace },
            status,
          },
          fieldManager: FIELD_MANAGER,
          force: true,
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
      ),
    );
  }

  /** The ShardDistributor was deleted meanwhile: its informer brings the news; nothing to do. */
  private async ignoreGone(request: Promise<unknown>): Promise<void> {
    try {
      await request;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
