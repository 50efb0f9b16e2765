import type { V1Container, V1Volume } from '@kubernetes/client-node';
import type { ShardDistributor } from '../../api/index.ts';
import {
  distributorContainerFor,
  distributorImageFor,
  distributorSupportVolumes,
  type DistributorVolumeNames,
} from './distributor-container.ts';
import { DesiredStateError } from './errors.ts';
import { namespaceOf } from './names.ts';

/** Carries the config hash in the sidecar, so a restart-worthy INI change rolls the host. */
export const SIDECAR_CONFIG_HASH_ENV = 'SD_CONFIG_HASH';

export interface SidecarTarget {
  kind: 'Deployment' | 'StatefulSet';
  name: string;
}

/**
 * What we server-side apply onto the host workload: nothing but our own entries. The pod
 * template's initContainers and volumes are lists keyed by name, so the API server merges
 * our entries with the owner's instead of replacing the lists.
 */
export interface HostWorkloadApply {
  apiVersion: 'apps/v1';
  kind: SidecarTarget['kind'];
  metadata: { name: string; namespace?: string };
  spec?: {
    template: {
      spec: { initContainers: V1Container[]; volumes: V1Volume[] };
    };
  };
}

export interface SidecarOptions {
  defaultImage: string;
  configHash: string;
}

/** Names in the host's pod carry the ShardDistributor's name: two may share one host. */
export function sidecarContainerName(sd: ShardDistributor): string {
  return `sd-${sd.metadata.name}`;
}

export function sidecarVolumeNames(sd: ShardDistributor): Omit<DistributorVolumeNames, 'queue'> {
  const base = sidecarContainerName(sd);
  return {
    config: `${base}-config`,
    tmp: `${base}-tmp`,
    natsCredentials: `${base}-nats`,
    natsTls: `${base}-nats-tls`,
  };
}

/**
 * The field manager to apply the sidecar with: one per ShardDistributor, because an apply
 * drops whatever its manager owned before and did not send again, and two ShardDistributors
 * may share a host.
 */
export function sidecarFieldManager(sd: ShardDistributor): string {
  return `shard-distributor-sidecar-${sd.metadata.name}`.slice(0, 128);
}

export function sidecarTargetOf(sd: ShardDistributor): SidecarTarget {
  const target = sd.spec.distributor.sidecarOf;
  if (sd.spec.distributor.placement !== 'Sidecar' || target === undefined) {
    throw new DesiredStateError(
      `ShardDistributor ${sd.metadata.name} does not place its distributor as a sidecar`,
    );
  }
  return target;
}

function hostObject(sd: ShardDistributor, target: SidecarTarget): HostWorkloadApply {
  return {
    apiVersion: 'apps/v1',
    kind: target.kind,
    metadata: { name: target.name, ...namespaceOf(sd) },
  };
}

/**
 * The distributor as a native sidecar (an init container with restartPolicy Always) of
 * the workload that owns the main queue, mounting that workload's queue volume by name.
 * No owner reference: the host is not ours, and garbage collection must never touch it.
 * The config hash goes into our container's environment rather than a pod annotation (an
 * annotation key would be shared by every ShardDistributor on that host). It changes only
 * when the distributor could not apply the new INI live (queues, backend, paths, port), and
 * then the host's pod has to restart for the distributor to run on the new settings.
 * No readiness probe: the distributor's readiness must not take the host out of its Services.
 */
export function distributorSidecarFor(
  sd: ShardDistributor,
  options: SidecarOptions,
): HostWorkloadApply {
  const target = sidecarTargetOf(sd);
  const queueVolume = sd.spec.queue.veda?.volumeName;
  if (sd.spec.queue.backend === 'veda' && queueVolume === undefined) {
    throw new DesiredStateError(
      `ShardDistributor ${sd.metadata.name}: queue.veda.volumeName is required with placement Sidecar; set it to the ${target.kind} ${target.name}'s volume that holds the main queue`,
    );
  }
  const volumes: DistributorVolumeNames = { ...sidecarVolumeNames(sd), queue: queueVolume ?? '' };
  const distributor = distributorContainerFor(sd, {
    name: sidecarContainerName(sd),
    image: distributorImageFor(sd, options.defaultImage),
    volumes,
    readinessProbe: false,
  });
  const container: V1Container = {
    ...distributor,
    env: [...(distributor.env ?? []), { name: SIDECAR_CONFIG_HASH_ENV, value: options.configHash }],
    restartPolicy: 'Always',
  };
  return {
    ...hostObject(sd, target),
    spec: {
      template: {
        spec: { initContainers: [container], volumes: distributorSupportVolumes(sd, volumes) },
      },
    },
  };
}

/**
 * Applied with sidecarFieldManager(sd), this takes back every field the sidecar apply
 * set (an apply without them releases them, and fields no other manager owns are
 * removed). `target` is given because the spec may no longer name the old host.
 */
export function sidecarRemovalFor(sd: ShardDistributor, target: SidecarTarget): HostWorkloadApply {
  return hostObject(sd, target);
}
