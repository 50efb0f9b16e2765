import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { ShardDistributor, ShardDistributorSpec } from '../../api/index.ts';
import { CONFIG_FILE_NAME, type NatsFileField } from '../../config/index.ts';
import { configMapName } from './names.ts';

// Fixed paths inside our containers; the INI the operator renders refers to them.
export const CONFIG_DIR = '/etc/shard-distributor';
export const CONFIG_PATH = `${CONFIG_DIR}/${CONFIG_FILE_NAME}`;
export const NATS_CREDENTIALS_DIR = '/var/run/secrets/shard-distributor/nats';
export const NATS_TLS_DIR = '/var/run/secrets/shard-distributor/nats-tls';
export const TMP_DIR = '/tmp';

// The CRD's defaults for queue.veda, for specs that leave queue.veda out entirely (its
// defaults apply only once the object exists).
const DEFAULT_VEDA_PATH = '/var/lib/veda/queue';

export interface VedaPaths {
  basePath: string;
  workerBasePath: string;
  persistentVolumeClaim?: string;
  volumeName?: string;
}

export function vedaOf(spec: ShardDistributorSpec): VedaPaths {
  return {
    basePath: DEFAULT_VEDA_PATH,
    workerBasePath: DEFAULT_VEDA_PATH,
    ...spec.queue.veda,
  };
}

export function natsCredentialsFile(key: string): string {
  return `${NATS_CREDENTIALS_DIR}/${key}`;
}

/**
 * The queue volume for our own pods: the claim when one is named, else an emptyDir so the
 * pod is still valid (specProblems reports that nothing is shared then).
 */
export function queueVolume(sd: ShardDistributor, name: string): V1Volume | undefined {
  if (sd.spec.queue.backend !== 'veda') return undefined;
  const claim = vedaOf(sd.spec).persistentVolumeClaim;
  return claim === undefined
    ? { name, emptyDir: {} }
    : { name, persistentVolumeClaim: { claimName: claim } };
}

/**
 * Mounts of the queue volume. The whole claim is mounted at each distinct path (no subPath):
 * base_path and worker_base_path then show the same files, and since every queue file is
 * named after its queue, the main and shard queues sit side by side without clashing. Every
 * pod mounts the claim the same way, so the distributor and the workers agree on the files
 * whatever the paths are.
 */
export function queueMounts(
  sd: ShardDistributor,
  volumeName: string,
  which: 'distributor' | 'worker',
): V1VolumeMount[] {
  if (sd.spec.queue.backend !== 'veda') return [];
  const { basePath, workerBasePath } = vedaOf(sd.spec);
  const paths = which === 'worker' ? [workerBasePath] : [...new Set([basePath, workerBasePath])];
  return paths.map((mountPath) => ({ name: volumeName, mountPath }));
}

export function configVolume(sd: ShardDistributor, name: string): V1Volume {
  return { name, configMap: { name: configMapName(sd) } };
}

// No subPath: a subPath mount of a ConfigMap never sees updates, and the distributor
// applies a changed shard set from the refreshed file.
export function configMount(name: string): V1VolumeMount {
  return { name, mountPath: CONFIG_DIR, readOnly: true };
}

export function tmpVolume(name: string): V1Volume {
  return { name, emptyDir: {} };
}

export function tmpMount(name: string): V1VolumeMount {
  return { name, mountPath: TMP_DIR };
}

/** Who mounts NATS credentials: the distributor, or the workers. */
export type NatsRole = 'distributor' | 'worker';

/**
 * The Secret key holding `role`'s NATS credentials, when the spec names one: the workers'
 * own (queue.nats.workerCredentialsSecret), else the distributor's (credentialsSecret).
 */
export function natsCredentialsSecret(
  sd: ShardDistributor,
  role: NatsRole,
): { name: string; key: string } | undefined {
  const nats = sd.spec.queue.backend === 'nats' ? sd.spec.queue.nats : undefined;
  return (role === 'worker' ? nats?.workerCredentialsSecret : undefined) ?? nats?.credentialsSecret;
}

/** `role`'s NATS credentials Secret, when the spec names one: only its one key, read-only. */
export function natsCredentialsVolume(
  sd: ShardDistributor,
  name: string,
  role: NatsRole = 'distributor',
): V1Volume | undefined {
  const secret = natsCredentialsSecret(sd, role);
  if (secret === undefined) return undefined;
  return {
    name,
    secret: { secretName: secret.name, items: [{ key: secret.key, path: secret.key }] },
  };
}

export function natsCredentialsMount(name: string): V1VolumeMount {
  return { name, mountPath: NATS_CREDENTIALS_DIR, readOnly: true };
}

/** The [nats] keys queue.nats.tls fills. */
type NatsTlsField = Exclude<NatsFileField, 'credentialsFile'>;

/** The queue.nats.tls fields, each with the [nats] key it fills and its fixed file name. */
const NATS_TLS_FILES = [
  { secret: 'caSecret', field: 'tlsCaFile', file: 'ca.crt' },
  { secret: 'certSecret', field: 'tlsCertFile', file: 'tls.crt' },
  { secret: 'keySecret', field: 'tlsKeyFile', file: 'tls.key' },
] as const satisfies readonly { secret: string; field: NatsTlsField; file: string }[];

type NatsTlsSpec = NonNullable<NonNullable<ShardDistributorSpec['queue']['nats']>['tls']>;

/** The Secret keys queue.nats.tls names (none on veda), each with its [nats] field and file. */
function natsTlsFiles(
  sd: ShardDistributor,
): { secret: { name: string; key: string }; field: NatsTlsField; file: string }[] {
  const tls: NatsTlsSpec | undefined =
    sd.spec.queue.backend === 'nats' ? sd.spec.queue.nats?.tls : undefined;
  if (tls === undefined) return [];
  return NATS_TLS_FILES.flatMap(({ secret, field, file }) => {
    const ref = tls[secret];
    return ref === undefined ? [] : [{ secret: ref, field, file }];
  });
}

/**
 * The [nats] TLS keys (tlsCaFile, tlsCertFile, tlsKeyFile) for the keys queue.nats.tls
 * names, as paths inside natsTlsMount: the same for the distributor (its INI) and the
 * workers (their SD_NATS_TLS_* variables).
 */
export function natsTlsPaths(sd: ShardDistributor): Partial<Record<NatsTlsField, string>> {
  return Object.fromEntries(
    natsTlsFiles(sd).map(({ field, file }) => [field, `${NATS_TLS_DIR}/${file}`]),
  );
}

/**
 * The Secret keys queue.nats.tls names, when it names any: one projected volume (the keys
 * may be in different Secrets), each key at its fixed file name (ca.crt, tls.crt, tls.key)
 * and nothing else of those Secrets. The operator only refers to them; the kubelet reads them.
 */
export function natsTlsVolume(sd: ShardDistributor, name: string): V1Volume | undefined {
  const files = natsTlsFiles(sd);
  if (files.length === 0) return undefined;
  return {
    name,
    projected: {
      sources: files.map(({ secret, file }) => ({
        secret: { name: secret.name, items: [{ key: secret.key, path: file }] },
      })),
    },
  };
}

export function natsTlsMount(name: string): V1VolumeMount {
  return { name, mountPath: NATS_TLS_DIR, readOnly: true };
}
