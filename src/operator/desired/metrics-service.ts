import type { V1Service } from '@kubernetes/client-node';
import type { ShardDistributor } from '../../api/index.ts';
import { DesiredStateError } from './errors.ts';
import {
  COMPONENT_METRICS,
  distributorSelectorLabels,
  labelsFor,
  metricsServiceName,
  ownedMetadata,
} from './names.ts';

export interface MetricsServiceOptions {
  /**
   * Sidecar placement only: labels that select the host workload's pods (its
   * spec.selector.matchLabels). Only the reconciler can read them.
   */
  hostPodLabels?: Record<string, string>;
}

/** The distributor's /metrics and /load, wherever the distributor runs. */
export function metricsServiceFor(
  sd: ShardDistributor,
  options: MetricsServiceOptions = {},
): V1Service {
  const sidecar = sd.spec.distributor.placement === 'Sidecar';
  if (
    sidecar &&
    (options.hostPodLabels === undefined || Object.keys(options.hostPodLabels).length === 0)
  ) {
    throw new DesiredStateError(
      `ShardDistributor ${sd.metadata.name} runs its distributor as a sidecar: pass the host workload's pod labels to select its pods`,
    );
  }
  const port = sd.spec.distributor.metricsPort;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(sd, metricsServiceName(sd), labelsFor(sd, COMPONENT_METRICS)),
    spec: {
      type: 'ClusterIP',
      selector: sidecar ? { ...options.hostPodLabels } : distributorSelectorLabels(sd),
      // The operator reads /load through this Service. A distributor not ready yet (waiting
      // for its queue) or no longer (stopping), or a sidecar's host pod not ready, still
      // answers, with why; without its address the operator would only learn "no endpoints".
      // Prometheus likewise keeps scraping its metrics. While a sidecar host rolls with a
      // surge, two pods answer for a moment (the new one "not open yet" until it has its
      // queue): the operator's status may flip to DistributorNotReporting and back; drains
      // are safe, as they wait for an answer that says the shard is drained.
      publishNotReadyAddresses: true,
      // By number: the container port's name differs between the two placements.
      ports: [{ name: 'metrics', port, targetPort: port, protocol: 'TCP' }],
    },
  };
}
