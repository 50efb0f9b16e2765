import type {
  V1Container,
  V1EnvVar,
  V1PodSpec,
  V1PodTemplateSpec,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { enforceRestrictedContainer, enforceRestrictedPod } from './security.ts';

// Fields of a pod spec a user override may not set: each breaks the restricted standard or
// what a worker Deployment needs.
const FORBIDDEN_POD_FIELDS = [
  'hostNetwork',
  'hostPID',
  'hostIPC',
  'hostUsers',
  'restartPolicy',
  'ephemeralContainers',
] as const;

// The pre-1.30 way of setting a container's AppArmor profile, still honoured and still checked
// by Pod Security admission: any value but runtime/default or localhost/<profile> is refused
// (unconfined being the one that matters). Dropped like an Unconfined appArmorProfile field
// (security.ts says why stripping, not rejecting).
const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

function allowedAnnotation([key, value]: [string, string]): boolean {
  if (!key.startsWith(APPARMOR_ANNOTATION_PREFIX)) return true;
  return value === '' || value === 'runtime/default' || value.startsWith('localhost/');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
}

function named<T extends { name: string }>(value: unknown): T[] {
  return Array.isArray(value)
    ? (value.filter((item) => isRecord(item) && typeof item['name'] === 'string') as T[])
    : [];
}

/** Ours first, then the user's entries whose key ours does not have. */
function union<T>(ours: T[] | undefined, theirs: T[] | undefined, key: (item: T) => string): T[] {
  const taken = new Set((ours ?? []).map(key));
  return [...(ours ?? []), ...(theirs ?? []).filter((item) => !taken.has(key(item)))];
}

function mergeContainer(ours: V1Container, theirs: V1Container | undefined): V1Container {
  const env = union<V1EnvVar>(ours.env, theirs?.env, (e) => e.name);
  const mounts = union<V1VolumeMount>(ours.volumeMounts, theirs?.volumeMounts, (m) => m.mountPath);
  return {
    ...theirs,
    ...ours,
    ...(env.length === 0 ? {} : { env }),
    ...(mounts.length === 0 ? {} : { volumeMounts: mounts }),
    securityContext: enforceRestrictedContainer(theirs?.securityContext),
  };
}

function restricted(container: V1Container): V1Container {
  return { ...container, securityContext: enforceRestrictedContainer(container.securityContext) };
}

/**
 * Merges `spec.worker.podTemplate` into the pod template we built. Merge order:
 * 1. the user's override is the base (nodeSelector, tolerations, affinity,
 *    serviceAccountName, priorityClassName, extra volumes and containers…);
 * 2. everything we set goes on top: our labels and annotations win key by key, our
 *    containers win field by field over a user container of the same name (env and
 *    volumeMounts are unions, ours first), our volumes win by name;
 * 3. last, the restricted security context is forced onto the pod and onto every
 *    container, the user's included, and host namespaces, restartPolicy and an unconfined
 *    AppArmor annotation are dropped, so no override can make the pod fail the restricted
 *    standard or lose the labels our selectors and status depend on. What cannot be
 *    dropped without changing what the pod does (hostPort, unsafe sysctls, SELinux labels,
 *    volume types) is refused by podTemplateProblems before this runs.
 */
export function withPodTemplateOverrides(
  ours: V1PodTemplateSpec & { spec: V1PodSpec },
  override: Record<string, unknown> | undefined,
): V1PodTemplateSpec & { spec: V1PodSpec } {
  if (override === undefined) return ours;
  const theirMeta = isRecord(override['metadata']) ? override['metadata'] : {};
  const theirSpec: Record<string, unknown> = isRecord(override['spec'])
    ? { ...override['spec'] }
    : {};
  for (const field of FORBIDDEN_POD_FIELDS) delete theirSpec[field];

  const theirContainers = named<V1Container>(theirSpec['containers']);
  const containers = [
    ...ours.spec.containers.map((c) =>
      mergeContainer(
        c,
        theirContainers.find((t) => t.name === c.name),
      ),
    ),
    ...theirContainers
      .filter((t) => !ours.spec.containers.some((c) => c.name === t.name))
      .map(restricted),
  ];
  const initContainers = named<V1Container>(theirSpec['initContainers']).map(restricted);
  const volumes = union<V1Volume>(
    ours.spec.volumes,
    named<V1Volume>(theirSpec['volumes']),
    (v) => v.name,
  );

  const labels = { ...stringMap(theirMeta['labels']), ...ours.metadata?.labels };
  const theirAnnotations = Object.entries(stringMap(theirMeta['annotations'])).filter(
    allowedAnnotation,
  );
  const annotations = { ...Object.fromEntries(theirAnnotations), ...ours.metadata?.annotations };
  const {
    containers: _c,
    initContainers: _i,
    volumes: _v,
    securityContext: _s,
    ...rest
  } = theirSpec;
  const spec: V1PodSpec = {
    ...(rest as Partial<V1PodSpec>),
    ...ours.spec,
    securityContext: enforceRestrictedPod(
      isRecord(theirSpec['securityContext']) ? theirSpec['securityContext'] : undefined,
    ),
    containers,
    ...(initContainers.length === 0 ? {} : { initContainers }),
    ...(volumes.length === 0 ? {} : { volumes }),
  };
  return {
    metadata: {
      labels,
      ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
    },
    spec,
  };
}
