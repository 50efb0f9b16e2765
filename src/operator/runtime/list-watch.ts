import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { apiStatusMessage } from './api-status.ts';
import { ResourceExpiredError, WatchRequestError } from './errors.ts';

/** Which objects an informer follows. */
export interface ResourceDescriptor {
  /** `v1`, `apps/v1`, `shards.veda.dev/v1alpha1` */
  apiVersion: string;
  /** The resource's plural name, as in its URL: `configmaps`, `deployments`. */
  plural: string;
  /** One namespace; all namespaces when omitted. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Only each object's metadata (PartialObjectMetadata, as controller-runtime's metadata-only
   * watches): for a resource of which the operator reads no more, the cache holds no spec or
   * status.
   */
  metadataOnly?: boolean;
  /**
   * What a person should do when the API server does not serve the resource (its list or
   * watch answers 404), e.g. how to install the CRD that defines it.
   */
  whenNotServed?: string;
}

// What the API server is asked to send: whole objects, or their metadata alone.
const ACCEPT_OBJECTS = 'application/json';
const ACCEPT_METADATA_LIST =
  'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const ACCEPT_METADATA =
  'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

export interface ObjectList {
  items: KubernetesObject[];
  resourceVersion: string;
  continue?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  type: WatchEventType;
  /** The object, or for ERROR a metav1.Status (`code`, `reason`, `message`). */
  object: KubernetesObject & { code?: number; reason?: string; message?: string };
}

export interface WatchHandle {
  stop(): void;
}

/**
 * The two calls an informer makes. The real one talks to the API server; unit tests pass a
 * scripted one. `watch` calls `onDone` exactly once: with undefined when the stream ended
 * (server timeout, or `stop()`), with an error otherwise (a 410 as ResourceExpiredError).
 */
export interface ListerWatcher {
  readonly description: string;
  /** `signal`: the informer stopping, which must not wait out a list the server is slow to answer. */
  list(options: { limit: number; continue?: string; signal?: AbortSignal }): Promise<ObjectList>;
  watch(
    options: { resourceVersion: string; timeoutSeconds: number },
    onEvent: (event: WatchEvent) => void,
    onDone: (error?: Error) => void,
  ): WatchHandle;
}

const LIST_TIMEOUT_MS = 60_000;

/**
 * List and watch over plain HTTP with the KubeConfig's credentials. Not client-node's Watch:
 * it aborts a watch after 30 s without data, which a quiet resource hits all the time; the
 * informer's own watchdog decides when a silent watch is dead. Both calls return the raw
 * JSON, so listed and watched objects have the same shape.
 */
export function kubeListerWatcher(kc: KubeConfig, resource: ResourceDescriptor): ListerWatcher {
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new WatchRequestError(
      'configuring the informer',
      undefined,
      'no current cluster in the kubeconfig',
    );
  const base = cluster.server.replace(/\/+$/, '');
  const group = resource.apiVersion.includes('/')
    ? `/apis/${resource.apiVersion}`
    : `/api/${resource.apiVersion}`;
  const scope = resource.namespace ? `/namespaces/${encodeURIComponent(resource.namespace)}` : '';
  const path = `${group}${scope}/${resource.plural}`;
  const description = `${resource.plural}${resource.namespace ? ` in ${resource.namespace}` : ''}`;

  const refused = (what: string, statusCode: number | undefined, body: string) =>
    refusalOf(resource, what, statusCode, body);

  function url(params: Record<string, string | number | boolean | undefined>): URL {
    const u = new URL(base + path);
    const all = {
      labelSelector: resource.labelSelector,
      fieldSelector: resource.fieldSelector,
      ...params,
    };
    for (const [k, v] of Object.entries(all))
      if (v !== undefined && v !== '') u.searchParams.set(k, String(v));
    return u;
  }

  return {
    description,
    async list({ limit, continue: token, signal }) {
      const timeout = AbortSignal.timeout(LIST_TIMEOUT_MS);
      const res = await get(
        kc,
        url({ limit, continue: token }),
        signal ? AbortSignal.any([timeout, signal]) : timeout,
        resource.metadataOnly ? ACCEPT_METADATA_LIST : ACCEPT_OBJECTS,
      );
      const body = await readBody(res);
      if (res.statusCode === 410)
        throw new ResourceExpiredError(`list ${description}`, statusMessage(body));
      if (res.statusCode !== 200) throw refused(`list ${description}`, res.statusCode, body);
      const parsed = JSON.parse(body) as {
        apiVersion?: string;
        kind?: string;
        items?: KubernetesObject[];
        metadata?: { resourceVersion?: string; continue?: string };
      };
      // Items of a built-in list carry no apiVersion/kind; watch events do. Make them alike.
      const kind = parsed.kind?.replace(/List$/, '');
      const items = (parsed.items ?? []).map((item) =>
        withoutManagedFields({ apiVersion: parsed.apiVersion, kind, ...item }),
      );
      return {
        items,
        resourceVersion: parsed.metadata?.resourceVersion ?? '',
        ...(parsed.metadata?.continue ? { continue: parsed.metadata.continue } : {}),
      };
    },

    watch({ resourceVersion, timeoutSeconds }, onEvent, onDone) {
      const abort = new AbortController();
      let finished = false;
      const finish = (error?: Error) => {
        if (finished) return;
        finished = true;
        abort.abort();
        onDone(error);
      };
      const target = url({
        watch: true,
        resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
      });
      get(kc, target, abort.signal, resource.metadataOnly ? ACCEPT_METADATA : ACCEPT_OBJECTS).then(
        (res) => {
          if (res.statusCode !== 200) {
            void readBody(res).then(
              (body) =>
                finish(
                  res.statusCode === 410
                    ? new ResourceExpiredError(`watch ${description}`, statusMessage(body))
                    : refused(`watch ${description}`, res.statusCode, body),
                ),
              (error: unknown) => finish(asError(error)),
            );
            return;
          }
          let buffered = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffered += chunk;
            let newline: number;
            while (!finished && (newline = buffered.indexOf('\n')) >= 0) {
              const line = buffered.slice(0, newline).trim();
              buffered = buffered.slice(newline + 1);
              if (line === '') continue;
              let event: WatchEvent;
              try {
                event = JSON.parse(line) as WatchEvent;
              } catch (error) {
                finish(
                  new WatchRequestError(
                    `watch ${description}`,
                    200,
                    `unparsable event: ${asError(error).message}`,
                  ),
                );
                return;
              }
              if (event.object) withoutManagedFields(event.object);
              onEvent(event);
            }
          });
          res.on('end', () => finish());
          res.on('error', (error) => finish(abort.signal.aborted ? undefined : error));
          res.on('close', () => finish());
        },
        (error: unknown) =>
          finish(
            abort.signal.aborted
              ? undefined
              : new WatchRequestError(`watch ${description}`, undefined, asError(error).message, {
                  cause: error,
                }),
          ),
      );
      return { stop: () => finish() };
    },
  };
}

/**
 * Drops `metadata.managedFields` from a listed or watched object. The operator never reads
 * them, and on an object that several managers apply they are often the bulk of it; keeping
 * them in the caches cost memory in proportion to every object watched (controller-runtime's
 * `TransformStripManagedFields` does the same).
 */
function withoutManagedFields<T extends KubernetesObject>(object: T): T {
  if (object.metadata) delete object.metadata.managedFields;
  return object;
}

async function get(
  kc: KubeConfig,
  target: URL,
  signal: AbortSignal,
  accept: string,
): Promise<http.IncomingMessage> {
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const client = target.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const req = client.request(target, {
      ...options,
      method: 'GET',
      headers: { ...options.headers, accept },
      signal,
    });
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}

/**
 * The error for a list or watch of `resource` the API server answered `statusCode` with `body`.
 * A 404 on a collection means the resource itself is missing (a namespace that does not exist
 * lists empty): RBAC is not what to look at, what `whenNotServed` says is.
 */
export function refusalOf(
  resource: ResourceDescriptor,
  what: string,
  statusCode: number | undefined,
  body: string,
): WatchRequestError {
  return new WatchRequestError(
    what,
    statusCode,
    statusMessage(body),
    statusCode === 404
      ? {
          advice: `the API server does not serve ${resource.plural} in ${resource.apiVersion}${resource.whenNotServed ? `: ${resource.whenNotServed}` : ''}`,
        }
      : {},
  );
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.once('end', () => resolve(body));
    res.once('error', reject);
  });
}

function statusMessage(body: string): string {
  // kube-apiserver's own 404 is plain text ending in a newline.
  return apiStatusMessage(body) ?? body.slice(0, 200).trim();
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
