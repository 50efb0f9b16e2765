import type { V1Container, V1Probe, V1Volume } from '@kubernetes/client-node';
import type { ShardDistributor } from '../../api/index.ts';
import { resourcesFor } from './resources.ts';
import { restrictedContainerSecurityContext } from './security.ts';
import {
  CONFIG_PATH,
  configMount,
  configVolume,
  natsCredentialsMount,
  natsCredentialsVolume,
  natsTlsMount,
  natsTlsVolume,
  queueMounts,
  tmpMount,
  tmpVolume,
} from './volumes.ts';

/** What the distributor's image runs: the CLI's `distributor` command on the mounted INI. */
export const DISTRIBUTOR_ARGS: readonly string[] = ['distributor', '--config', CONFIG_PATH];

/** Names of the pod volumes the distributor container mounts. */
export interface DistributorVolumeNames {
  config: string;
  /** The volume holding the queues (ours, or the host workload's). */
  queue: string;
  tmp: string;
  natsCredentials: string;
  natsTls: string;
}

export interface DistributorContainerOptions {
  name: string;
  image: string;
  volumes: DistributorVolumeNames;
  /** Unset in a host workload's pod, where a port name might clash with the host's. */
  portName?: string;
  /** False in a host workload's pod: our readiness must not take the host out of its Services. */
  readinessProbe: boolean;
}

export function distributorImageFor(sd: ShardDistributor, defaultImage: string): string {
  return sd.spec.distributor.image ?? defaultImage;
}

function httpProbe(
  path: string,
  port: number,
  periodSeconds: number,
  failureThreshold: number,
): V1Probe {
  return { httpGet: { path, port }, periodSeconds, failureThreshold, timeoutSeconds: 2 };
}

export function distributorContainerFor(
  sd: ShardDistributor,
  options: DistributorContainerOptions,
): V1Container {
  const port = sd.spec.distributor.metricsPort;
  const resources = resourcesFor(sd.spec.distributor.resources);
  const natsVolume = natsCredentialsVolume(sd, options.volumes.natsCredentials);
  const tlsVolume = natsTlsVolume(sd, options.volumes.natsTls);
  return {
    name: options.name,
    image: options.image,
    args: [...DISTRIBUTOR_ARGS],
    ...(sd.spec.distributor.logLevel === undefined
      ? {}
      : { env: [{ name: 'LOG_LEVEL', value: sd.spec.distributor.logLevel }] }),
    ports: [
      {
        ...(options.portName === undefined ? {} : { name: options.portName }),
        containerPort: port,
        protocol: 'TCP',
      },
    ],
    // /healthz answers from the start, also while the process waits for its queue backend
    // or main queue (that is /readyz's to report); the startup probe leaves room for a slow
    // start of the process itself.
    startupProbe: httpProbe('/healthz', port, 2, 60),
    livenessProbe: httpProbe('/healthz', port, 10, 3),
    ...(options.readinessProbe ? { readinessProbe: httpProbe('/readyz', port, 5, 3) } : {}),
    ...(resources === undefined ? {} : { resources }),
    securityContext: restrictedContainerSecurityContext(),
    volumeMounts: [
      configMount(options.volumes.config),
      ...queueMounts(sd, options.volumes.queue, 'distributor'),
      tmpMount(options.volumes.tmp),
      ...(natsVolume === undefined ? [] : [natsCredentialsMount(options.volumes.natsCredentials)]),
      ...(tlsVolume === undefined ? [] : [natsTlsMount(options.volumes.natsTls)]),
    ],
  };
}

/** The pod volumes the distributor needs besides the queue volume. */
export function distributorSupportVolumes(
  sd: ShardDistributor,
  names: DistributorVolumeNames,
): V1Volume[] {
  const natsVolume = natsCredentialsVolume(sd, names.natsCredentials);
  const tlsVolume = natsTlsVolume(sd, names.natsTls);
  return [
    configVolume(sd, names.config),
    tmpVolume(names.tmp),
    ...(natsVolume === undefined ? [] : [natsVolume]),
    ...(tlsVolume === undefined ? [] : [tlsVolume]),
  ];
}
