import type { V1ConfigMap, V1Deployment, V1Service } from '@kubernetes/client-node';
import type { ShardDistributor } from '../../api/index.ts';
import { configHash, configMapFor } from './config-map.ts';
import { distributorDeploymentFor } from './distributor-deployment.ts';
import { configFor, planOf, type PlanOptions, type ShardPlan } from './ini.ts';
import { metricsServiceFor } from './metrics-service.ts';
import { poolsOf } from './pools.ts';
import { shardsWithWorkers } from './shard-plan.ts';
import { distributorSidecarFor, sidecarFieldManager, type HostWorkloadApply } from './sidecar.ts';
import { workerDeploymentFor } from './worker-deployment.ts';

export interface DesiredOptions {
  /** The operator's own image: the distributor's when spec.distributor.image is unset. */
  defaultImage: string;
  /** The default pool's live and draining shards, as the reconciler decided (nextShardPlan). */
  shardSet: ShardPlan;
  /** The same for each spec.pools entry, by name; a pool without one starts at its minWorkers. */
  poolShardSets?: PlanOptions['pools'];
  /** Pools gone from the spec whose shards still drain (see PlanOptions). */
  retiringPools?: PlanOptions['retiringPools'];
  /** Sidecar placement: the host workload's pod selector labels. */
  hostPodLabels?: Record<string, string>;
}

export interface DesiredState {
  configHash: string;
  configMap: V1ConfigMap;
  /** Standalone placement only. */
  distributorDeployment?: V1Deployment;
  /** Sidecar placement only; applied with its own field manager onto a workload we do not own. */
  sidecar?: { object: HostWorkloadApply; fieldManager: string };
  /** One per live and draining shard of each pool: the default pool's, then spec.pools' in order; by shard. */
  workerDeployments: V1Deployment[];
  metricsService: V1Service;
  /**
   * Everything owned by the ShardDistributor, the config first (the distributor, which mounts
   * it, is applied after it).
   */
  owned: (V1ConfigMap | V1Deployment | V1Service)[];
}

/**
 * Every object the operator applies for this ShardDistributor and shard set. Which worker
 * Deployments to delete (shards in neither set) is the reconciler's to decide.
 */
export function desiredObjects(sd: ShardDistributor, options: DesiredOptions): DesiredState {
  const plans: PlanOptions = {
    ...(options.poolShardSets === undefined ? {} : { pools: options.poolShardSets }),
    ...(options.retiringPools === undefined ? {} : { retiringPools: options.retiringPools }),
  };
  const hash = configHash(configFor(sd, options.shardSet, plans));
  const configMap = configMapFor(sd, options.shardSet, plans);
  const standalone = sd.spec.distributor.placement !== 'Sidecar';
  const distributorDeployment = standalone
    ? distributorDeploymentFor(sd, { defaultImage: options.defaultImage, configHash: hash })
    : undefined;
  const sidecar = standalone
    ? undefined
    : {
        object: distributorSidecarFor(sd, { defaultImage: options.defaultImage, configHash: hash }),
        fieldManager: sidecarFieldManager(sd),
      };
  const workerDeployments = poolsOf(sd).flatMap((pool) => {
    const plan = planOf(pool, options.shardSet, plans);
    const stopped = new Set(plan.stoppedShards ?? []);
    return shardsWithWorkers(plan).map((shard) =>
      workerDeploymentFor(sd, shard, { stopped: stopped.has(shard), pool }),
    );
  });
  const metricsService = metricsServiceFor(
    sd,
    options.hostPodLabels === undefined ? {} : { hostPodLabels: options.hostPodLabels },
  );
  return {
    configHash: hash,
    configMap,
    ...(distributorDeployment === undefined ? {} : { distributorDeployment }),
    ...(sidecar === undefined ? {} : { sidecar }),
    workerDeployments,
    metricsService,
    owned: [
      configMap,
      ...(distributorDeployment === undefined ? [] : [distributorDeployment]),
      ...workerDeployments,
      metricsService,
    ],
  };
}

export { configHash, configMapFor } from './config-map.ts';
export { canonicalJson } from './canonical-json.ts';
export { DISTRIBUTOR_ARGS, distributorImageFor } from './distributor-container.ts';
export {
  distributorDeploymentFor,
  DISTRIBUTOR_CONTAINER,
  METRICS_PORT_NAME,
} from './distributor-deployment.ts';
export type { DistributorDeploymentOptions } from './distributor-deployment.ts';
export { DesiredStateError } from './errors.ts';
export { configFor, initialPlan, planOf, poolConfigFor, renderedIni } from './ini.ts';
export type { PlanOptions, PoolPlans, ShardPlan } from './ini.ts';
export { metricsServiceFor } from './metrics-service.ts';
export type { MetricsServiceOptions } from './metrics-service.ts';
export {
  ANNOTATION_CONFIG_HASH,
  COMPONENT_CONFIG,
  COMPONENT_DISTRIBUTOR,
  COMPONENT_METRICS,
  COMPONENT_WORKER,
  configMapName,
  distributorName,
  distributorSelectorLabels,
  labelSelector,
  labelsFor,
  metricsServiceName,
  ownerReferenceFor,
  poolOfLabels,
  poolWorkerName,
  selectorFor,
  workerLabels,
  workerName,
  workerPodSelector,
  workerSelectorLabels,
} from './names.ts';
export { defaultPoolOf, failureConfigOf, poolsOf } from './pools.ts';
export type { WorkerPool } from './pools.ts';
export {
  mostSeriousFirst,
  specProblems,
  REASON_FAILURE_ENV_OVERRIDDEN,
  REASON_INVALID_SPEC,
  REASON_NOT_OWNED,
  REASON_APPLY_FAILED,
  REASON_NO_SHARED_VOLUME,
  REASON_SIDECAR_HOST_NOT_FOUND,
  REASON_SIDECAR_HOST_RUNS_AS_ROOT,
  REASON_VOLUME_CLAIM_NOT_FOUND,
} from './problems.ts';
export type { Problem } from './problems.ts';
export { withPodTemplateOverrides } from './pod-template-overrides.ts';
export { nextShardPlan, shardsWithWorkers } from './shard-plan.ts';
export {
  distributorSidecarFor,
  SIDECAR_CONFIG_HASH_ENV,
  sidecarContainerName,
  sidecarFieldManager,
  sidecarRemovalFor,
  sidecarTargetOf,
} from './sidecar.ts';
export type { HostWorkloadApply, SidecarOptions, SidecarTarget } from './sidecar.ts';
export { CONFIG_DIR, CONFIG_PATH, NATS_CREDENTIALS_DIR, NATS_TLS_DIR } from './volumes.ts';
export {
  failureEnvFor,
  workerArgvFor,
  workerDeploymentFor,
  workerEnvFor,
  WORKER_CONTAINER,
} from './worker-deployment.ts';
