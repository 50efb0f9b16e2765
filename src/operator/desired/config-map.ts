import type { V1ConfigMap } from '@kubernetes/client-node';
import type { ShardDistributor } from '../../api/index.ts';
import {
  CONFIG_FILE_NAME,
  CONFIG_LAUNCH_KEYS,
  LIVE_DISPATCHER_KEYS,
  LIVE_POOL_KEYS,
  POOL_LAUNCH_KEYS,
  renderIni,
  WORKER_LAUNCH_KEYS,
  type DistributorConfig,
} from '../../config/index.ts';
import { canonicalDigest } from './canonical-json.ts';
import { configFor, type PlanOptions, type ShardPlan } from './ini.ts';
import { COMPONENT_CONFIG, configMapName, labelsFor, ownedMetadata } from './names.ts';

/**
 * The short hash put in the distributor's pod template: it changes exactly when the INI
 * changes in a way the running distributor cannot apply live (backend, queues, paths, port,
 * NATS…), so scaling and draining never restart the distributor, and any key not known to
 * be live-applicable rolls it.
 */
export function configHash(config: DistributorConfig): string {
  const dispatcher: Record<string, unknown> = { ...config.dispatcher };
  const worker: Record<string, unknown> = { ...config.worker };
  // Keys the running distributor applies live, and worker keys it never reads (the worker
  // Deployments carry their own argv), do not roll it: scaling and draining never restart it.
  for (const key of LIVE_DISPATCHER_KEYS) delete dispatcher[key];
  for (const key of WORKER_LAUNCH_KEYS) delete worker[key];
  // Per pool the same: its shard set, strategy and limits apply live, its worker command and
  // failure policy are the workers'. The set of pools, their rules and queues need a new process.
  const pools = config.pools.map((pool) => {
    const kept: Record<string, unknown> = { ...pool };
    for (const key of [...LIVE_POOL_KEYS, ...POOL_LAUNCH_KEYS]) delete kept[key];
    return kept;
  });
  // The default pool's limits apply live; its failure policy is the workers' (their pod
  // template env rolls them), never the distributor's.
  const { backpressure: _limits, ...rest } = config;
  const top: Record<string, unknown> = { ...rest };
  for (const key of CONFIG_LAUNCH_KEYS) delete top[key];
  const restartRelevant = { ...top, dispatcher, worker, pools };
  return canonicalDigest(restartRelevant);
}

export function configMapFor(
  sd: ShardDistributor,
  plan: ShardPlan,
  options: PlanOptions = {},
): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMetadata(sd, configMapName(sd), labelsFor(sd, COMPONENT_CONFIG)),
    data: { [CONFIG_FILE_NAME]: renderIni(configFor(sd, plan, options)) },
  };
}
