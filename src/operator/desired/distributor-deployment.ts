import type { V1Deployment } from '@kubernetes/client-node';
import type { ShardDistributor } from '../../api/index.ts';
import {
  distributorContainerFor,
  distributorImageFor,
  distributorSupportVolumes,
  type DistributorVolumeNames,
} from './distributor-container.ts';
import {
  ANNOTATION_CONFIG_HASH,
  COMPONENT_DISTRIBUTOR,
  distributorName,
  distributorSelectorLabels,
  labelsFor,
  ownedMetadata,
} from './names.ts';
import { restrictedPodSecurityContext } from './security.ts';
import { queueVolume } from './volumes.ts';

export const DISTRIBUTOR_CONTAINER = 'distributor';
export const METRICS_PORT_NAME = 'metrics';

const VOLUMES: DistributorVolumeNames = {
  config: 'config',
  queue: 'queue',
  tmp: 'tmp',
  natsCredentials: 'nats-credentials',
  natsTls: 'nats-tls',
};

export interface DistributorDeploymentOptions {
  /** The operator's own image, used when spec.distributor.image is not set. */
  defaultImage: string;
  /** configHash() of the rendered config. */
  configHash: string;
}

/** The standalone distributor: one pod, never two at once on one main queue. */
export function distributorDeploymentFor(
  sd: ShardDistributor,
  options: DistributorDeploymentOptions,
): V1Deployment {
  const labels = labelsFor(sd, COMPONENT_DISTRIBUTOR);
  const queue = queueVolume(sd, VOLUMES.queue);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: ownedMetadata(sd, distributorName(sd), labels),
    spec: {
      replicas: 1,
      // RollingUpdate would briefly run two distributors on one main queue.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: distributorSelectorLabels(sd) },
      template: {
        metadata: { labels, annotations: { [ANNOTATION_CONFIG_HASH]: options.configHash } },
        spec: {
          // It talks to no API server.
          automountServiceAccountToken: false,
          securityContext: restrictedPodSecurityContext(),
          containers: [
            distributorContainerFor(sd, {
              name: DISTRIBUTOR_CONTAINER,
              image: distributorImageFor(sd, options.defaultImage),
              volumes: VOLUMES,
              portName: METRICS_PORT_NAME,
              readinessProbe: true,
            }),
          ],
          volumes: [
            ...(queue === undefined ? [] : [queue]),
            ...distributorSupportVolumes(sd, VOLUMES),
          ],
        },
      },
    },
  };
}
