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
import { apiStatusMessage } from '../runtime/index.ts';
import { createHash } from 'node:crypto';
import { canonicalDigest } from '../desired/canonical-json.ts';
import { isSemanticSubset } from './semantic-subset.ts';

export const FIELD_MANAGER = 'shard-distributor';

/**
 * On every object the operator applies: a digest of what it applied last. The live object
 * alone cannot say that the operator stopped wanting something it set (an env var taken out
 * of the spec, a field a new version no longer renders): another manager's items look the
 * same. Changed digest: the operator's own render changed; same digest and the object no
 * longer holds it: someone changed it.
 */
export const ANNOTATION_APPLIED = `${GROUP}/applied`;

/**
 * The digest's annotation for what `fieldManager` applies: one per manager, as two
 * ShardDistributors may share a sidecar host, each applying its own part of it (with one key
 * each would take it from the other on every reconcile, and apply again).
 */
export function appliedAnnotationOf(fieldManager: string): string {
  if (fieldManager === FIELD_MANAGER) return ANNOTATION_APPLIED;
  const suffix = createHash('sha256').update(fieldManager).digest('hex').slice(0, 12);
  return `${ANNOTATION_APPLIED}-${suffix}`;
}

/** What `apply` did: `restored` is an update of an object someone changed after our apply. */
export type ApplyOutcome = 'unchanged' | 'created' | 'updated' | 'restored';

/** `desired` with its digest among its annotations, as it is sent. */
function stamped<T extends k8s.KubernetesObject>(desired: T, key: string, digest: string): T {
  const metadata = desired.metadata ?? {};
  return {
    ...desired,
    metadata: { ...metadata, annotations: { ...metadata.annotations, [key]: digest } },
  };
}

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

/**
 * What a failed request says to a person: the API server's Status message (`exceeded quota:
 * …`, a webhook's denial) and the HTTP code, not client-node's dump of the body and headers.
 */
export function failureMessage(error: unknown): string {
  if (error instanceof k8s.ApiException) {
    const message = apiStatusMessage(error.body);
    return message === undefined ? `HTTP ${error.code}` : `${message} (HTTP ${error.code})`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Turns the API server's "being terminated" refusal into its own error, and passes others on. */
function terminating(error: unknown, namespace: string | undefined): never {
  if (isNamespaceTerminating(error))
    throw new NamespaceTerminatingError(namespace, { cause: error });
  throw error;
}

/**
 * An object the operator would own already exists and is not its: another controller's (for
 * instance a ShardDistributor `a` with pool `b` and one named `a-b` both want `a-b-worker-0`),
 * or made by someone else. The operator leaves it alone and says so.
 */
export class NotOwnedError extends ShardDistributorError {
  readonly kind: string;
  readonly objectName: string;

  constructor(desired: k8s.KubernetesObject, existing: k8s.KubernetesObject) {
    const kind = desired.kind ?? 'object';
    const name = desired.metadata?.name ?? '';
    super(
      'SD_ERR_NOT_OWNED',
      `${kind} ${name} already exists and belongs to ${holderOf(existing)}; the operator does not take over objects it did not make: delete or rename that ${kind}, or rename this ShardDistributor (or its pool)`,
    );
    this.kind = kind;
    this.objectName = name;
  }
}

function controllerOf(obj: k8s.KubernetesObject): k8s.V1OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true);
}

/** Who an existing object belongs to, for a person: its controller, else who wrote it. */
function holderOf(obj: k8s.KubernetesObject): string {
  const controller = controllerOf(obj);
  if (controller) return `${controller.kind} ${controller.name}`;
  const managers = [...new Set((obj.metadata?.managedFields ?? []).map((f) => f.manager))];
  return managers.length > 0
    ? `someone else (written by ${managers.join(', ')})`
    : 'someone else (it has no controller)';
}

/** The API server refused an unforced apply: fields another manager owns, or a second controller. */
function isOwnershipRefusal(error: unknown): boolean {
  return error instanceof k8s.ApiException && (error.code === 409 || error.code === 422);
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
  private readonly apps: k8s.AppsV1Api;
  private readonly writes: Counter<'verb' | 'kind'>;

  constructor(kc: k8s.KubeConfig, writes: Counter<'verb' | 'kind'>) {
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.writes = writes;
  }

  /**
   * Applies `desired` unless `live` already holds all of it and was last applied from the same
   * render (ANNOTATION_APPLIED); says what happened.
   *
   * An object `desired` names a controller for is only changed while that controller owns it
   * (or nobody does and it carries our labels, so sits in `live`): a same-named object made
   * by someone else is refused with NotOwnedError, never taken over. One missing from the
   * caches is applied without force, so the API server refuses to take another manager's
   * fields (409) or to add a second controller (422) instead of overwriting them.
   */
  async apply<T extends k8s.KubernetesObject>(
    desired: T,
    live: k8s.KubernetesObject | undefined,
    fieldManager = FIELD_MANAGER,
  ): Promise<ApplyOutcome> {
    const digest = canonicalDigest(desired);
    const key = appliedAnnotationOf(fieldManager);
    const sameRender = live?.metadata?.annotations?.[key] === digest;
    if (live && sameRender && isSemanticSubset(desired, live)) return 'unchanged';
    const owner = controllerOf(desired);
    const holder = live && controllerOf(live);
    if (owner && holder && holder.uid !== owner.uid) throw new NotOwnedError(desired, live);
    const unseen = owner !== undefined && live === undefined;
    const sent = stamped(desired, key, digest);
    try {
      await this.serverSideApply(sent, fieldManager, !unseen);
    } catch (error) {
      if (!unseen || !isOwnershipRefusal(error)) throw error;
      const { apiVersion = '', kind = '', metadata = {} } = desired;
      const existing = await this.read(
        apiVersion,
        kind,
        metadata.namespace ?? '',
        metadata.name ?? '',
      );
      if (!existing) throw error;
      if (controllerOf(existing)?.uid !== owner.uid) throw new NotOwnedError(desired, existing);
      // Ours, only not in the caches yet (they lag our own create): take our fields back.
      await this.serverSideApply(sent, fieldManager, true);
      return 'updated';
    }
    if (!live) return 'created';
    return sameRender ? 'restored' : 'updated';
  }

  /**
   * Applies `object` as it is, forced, with no digest: an apply that gives up fields (one with
   * none of them makes the API server drop everything `fieldManager` owned there).
   */
  async release(object: k8s.KubernetesObject, fieldManager: string): Promise<void> {
    await this.serverSideApply(object, fieldManager, true);
  }

  private async serverSideApply(
    desired: k8s.KubernetesObject,
    fieldManager: string,
    force: boolean,
  ): Promise<void> {
    this.writes.inc({ verb: 'apply', kind: desired.kind ?? 'unknown' });
    await this.objects
      .patch(desired, undefined, undefined, fieldManager, force, k8s.PatchStrategy.ServerSideApply)
      .catch((error: unknown) => terminating(error, desired.metadata?.namespace));
  }

  async delete(obj: k8s.KubernetesObject): Promise<void> {
    this.writes.inc({ verb: 'delete', kind: obj.kind ?? 'unknown' });
    try {
      await this.objects.delete(obj, undefined, undefined, undefined, undefined, 'Background');
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /**
   * Merge-patches a Deployment's replicas: the one field, whatever else the Deployment holds
   * (for a worker whose pool the spec no longer describes). The Deployment itself, not its
   * scale subresource, so the operator needs no permission beyond patching Deployments.
   */
  async setReplicas(deployment: k8s.V1Deployment, replicas: number): Promise<void> {
    this.writes.inc({ verb: 'patch', kind: 'Deployment' });
    await this.ignoreGone(
      this.apps.patchNamespacedDeployment(
        {
          name: deployment.metadata?.name ?? '',
          namespace: deployment.metadata?.namespace ?? 'default',
          body: { spec: { replicas } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    );
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

  /** The object was deleted meanwhile: its informer brings the news; nothing to do. */
  private async ignoreGone(request: Promise<unknown>): Promise<void> {
    try {
      await request;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
