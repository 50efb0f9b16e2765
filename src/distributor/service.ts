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
  /** SIGTERM: stops the service, also while it still waits for the main queue. */
  signal?: AbortSignal;
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
  const controller = new AbortController();
  // A signal given while the backends opened counts too (a listener added now would never fire).
  if (options.signal?.aborted) controller.abort();
  else options.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  let distributor: Distributor | undefined;
  let loopError: Error | undefined;
  const server = await startObservabilityServer({
    port: options.metricsPort ?? config.dispatcher.metricsPort,
    host: options.metricsHost,
    registry,
    log,
    healthz: () => (loopError ? `distributor loop failed: ${loopError.message}` : undefined),
    readyz: () => {
      if (!distributor) return `waiting for the main queue ${config.dispatcher.mainQueueName}`;
      return distributor.ready && !controller.signal.aborted ? undefined : 'stopping';
    },
    json: {
      // Before the distributor is open there is no report: an empty one would read as "no
      // shard holds anything", and the operator would let a deletion go undrained.
      '/load': () =>
        distributor
          ? { body: distributor.loadReport() }
          : {
              unavailable: `the distributor is not open yet (opening the main queue ${config.dispatcher.mainQueueName} and its shards); no load to report`,
            },
    },
  });
  log.info({ port: server.port }, 'serving /metrics /load /healthz /readyz');
  try {
    distributor = await Distributor.open(
      {
        config,
        mainBackend: backends.main,
        shardBackend: backends.shards,
        journal: backends.journal,
        registry,
        log,
        failpoint: options.failpoint,
      },
      controller.signal,
    );
  } catch (error) {
    await server.close();
    await backends.close();
    throw error;
  }
  const running = distributor;
  const unwatch = options.configFile
    ? watchConfig(options.configFile, options.env, log, async (next) => {
        await running.applyConfig(next);
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
  const done = running
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
      await running.close();
      await backends.close();
      await server.close();
    });
  return { distributor: running, server, done, stop: () => controller.abort() };
}
