import type { DistributorConfig, Env } from '../config/index.ts';
import {
  createRegistry,
  startObservabilityServer,
  type Logger,
  type ObservabilityServer,
} from '../observability/index.ts';
import { openBackends } from './backends.ts';
import { watchConfig } from './config-watch.ts';
import { Distributor } from './distributor.ts';
import type { Failpoint } from './failpoints.ts';

export interface DistributorServiceOptions {
  config: DistributorConfig;
  /** The INI to watch for live shard-set changes (absent: no watch). */
  configFile?: string;
  env: Env;
  log: Logger;
  failpoint?: Failpoint;
  /** Port override (tests pass 0); default the config's metrics_port. */
  metricsPort?: number;
  metricsHost?: string;
  /** Called after a changed INI was applied (run mode reconciles its workers). */
  onConfigApplied?: (config: DistributorConfig) => void;
}

export interface DistributorService {
  readonly distributor: Distributor;
  readonly server: ObservabilityServer;
  /** Resolves when the loop has stopped (after `stop`) and everything is closed. */
  readonly done: Promise<void>;
  stop(): void;
}

/**
 * The distributor as a process runs it: the loop, its /metrics /load /healthz /readyz
 * server, and the INI watch. `stop()` (SIGTERM) finishes the batch in flight and commits.
 */
export async function startDistributorService(
  options: DistributorServiceOptions,
): Promise<DistributorService> {
  const { config, log } = options;
  const registry = createRegistry();
  const backends = await openBackends(config, log, registry);
  const distributor = await Distributor.open({
    config,
    mainBackend: backends.main,
    shardBackend: backends.shards,
    journal: backends.journal,
    registry,
    log,
    failpoint: options.failpoint,
  });
  const controller = new AbortController();
  let loopError: Error | undefined;
  const server = await startObservabilityServer({
    port: options.metricsPort ?? config.dispatcher.metricsPort,
    host: options.metricsHost,
    registry,
    healthz: () => (loopError ? `distributor loop failed: ${loopError.message}` : undefined),
    readyz: () => (distributor.ready && !controller.signal.aborted ? undefined : 'not ready'),
    json: { '/load': () => distributor.loadReport() },
  });
  const unwatch = options.configFile
    ? watchConfig(options.configFile, options.env, log, async (next) => {
        await distributor.applyConfig(next);
        options.onConfigApplied?.(next);
      })
    : () => {};
  log.info(
    {
      port: server.port,
      mainQueue: config.dispatcher.mainQueueName,
      shards: config.dispatcher.minWorkers,
      strategy: config.dispatcher.strategy,
    },
    'distributor started',
  );
  const done = distributor
    .run(controller.signal)
    .then(
      () => undefined,
      (error: unknown) => {
        loopError = error as Error;
        throw error;
      },
    )
    .finally(async () => {
      unwatch();
      await distributor.close();
      await backends.close();
      await server.close();
    });
  return { distributor, server, done, stop: () => controller.abort() };
}
