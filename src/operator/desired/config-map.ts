import { createHash } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { ShardDistributor } from '../../api/index.ts';
import { CONFIG_FILE_NAME, renderIni, type DistributorConfig } from '../../config/index.ts';
import { canonicalJson } from './canonical-json.ts';
import { configFor, type ShardPlan } from './ini.ts';
import { COMPONENT_CONFIG, configMapName, labelsFor, ownedMetadata } from './names.ts';

/**
 * Keys a running distributor applies from its re-read INI (the shard set, the strategy and
 * the batch tuning), and worker keys it does not use at all in a cluster (the worker
 * Deployments carry their own argv). Everything else needs a new process.
 * Mirrors the distributor's own list of what it applies live.
 */
const APPLIED_LIVE = {
  dispatcher: [
    'minWorkers',
    'drainingShards',
    'strategy',
    'keyField',
    'batchSize',
    'stuckAfterSec',
  ],
  worker: ['sleepEmptySec', 'workerModule', 'workerArgsTemplate'],
} as const;

/**
 * The short hash put in the distributor's pod template: it changes exactly when the INI
 * changes in a way the running distributor cannot apply live (backend, queues, paths, port,
 * NATS…), so scaling and draining never restart the distributor, and any key not known to
 * be live-applicable rolls it.
 */
export function configHash(config: DistributorConfig): string {
  const dispatcher: Record<string, unknown> = { ...config.dispatcher };
  const worker: Record<string, unknown> = { ...config.worker };
  for (const key of APPLIED_LIVE.dispatcher) delete dispatcher[key];
  for (const key of APPLIED_LIVE.worker) delete worker[key];
  const restartRelevant = { ...config, dispatcher, worker };
  return createHash('sha256').update(canonicalJson(restartRelevant)).digest('hex').slice(0, 16);
}

export function configMapFor(sd: ShardDistributor, plan: ShardPlan): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMetadata(sd, configMapName(sd), labelsFor(sd, COMPONENT_CONFIG)),
    data: { [CONFIG_FILE_NAME]: renderIni(configFor(sd, plan)) },
  };
}
