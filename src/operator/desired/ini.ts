import { subQueuePrefixOf, type ShardDistributor } from '../../api/index.ts';
import { defaultConfig, quoteArgv, renderIni, type DistributorConfig } from '../../config/index.ts';
import { natsCredentialsFile, vedaOf } from './volumes.ts';

/** The shard set the INI announces: shards 0 … liveShards-1 receive, the draining ones finish. */
export interface ShardPlan {
  readonly liveShards: number;
  readonly drainingShards: readonly number[];
  /** Draining shards whose worker is scaled to zero (scale-down: their backlog gets moved). */
  readonly stoppedShards?: readonly number[];
  /** Stopped shards whose pods are gone: the distributor moves their backlog (moving_shards). */
  readonly movingShards?: readonly number[];
}

/**
 * The INI's typed form for this ShardDistributor: what the distributor reads, key for key.
 * Paths are the ones inside our containers (see volumes.ts).
 */
export function configFor(sd: ShardDistributor, plan: ShardPlan): DistributorConfig {
  const spec = sd.spec;
  const defaults = defaultConfig();
  const veda = vedaOf(spec);
  const nats = spec.queue.backend === 'nats' ? spec.queue.nats : undefined;
  return {
    dispatcher: {
      ...defaults.dispatcher,
      basePath: veda.basePath,
      mainQueueName: spec.queue.mainQueue,
      minWorkers: plan.liveShards,
      drainingShards: [...plan.drainingShards].sort((a, b) => a - b),
      ...(plan.movingShards && plan.movingShards.length > 0
        ? { movingShards: [...plan.movingShards].sort((a, b) => a - b) }
        : {}),
      consumerName: spec.queue.consumerName,
      backend: spec.queue.backend,
      strategy: spec.strategy,
      batchSize: spec.distributor.batchSize,
      metricsPort: spec.distributor.metricsPort,
    },
    worker: {
      workerBasePath: veda.workerBasePath,
      subQueuePrefix: subQueuePrefixOf(spec),
      sleepEmptySec: spec.worker.sleepEmptySeconds,
      workerModule: quoteArgv(spec.worker.command),
      workerArgsTemplate: quoteArgv(spec.worker.argsTemplate),
    },
    ...(nats === undefined
      ? {}
      : {
          nats: {
            url: nats.url,
            mainStream: nats.mainStream,
            shardStream: nats.shardStream,
            ...(nats.credentialsSecret === undefined
              ? {}
              : { credentialsFile: natsCredentialsFile(nats.credentialsSecret.key) }),
          },
        }),
    pools: [],
  };
}

/** The text of veda-queue-shard-distributor.ini, exactly as the distributor will read it. */
export function renderedIni(sd: ShardDistributor, plan: ShardPlan): string {
  return renderIni(configFor(sd, plan));
}
