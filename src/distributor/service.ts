import type { Registry } from 'prom-client';
import type { DistributorConfig, Env } from '../config/index.ts';
import {
  createRegistry,
  startObservabilityServer,
  type Logger,
  type ObservabilityServer,
} from '../observability/index.ts';
import { openBackendsWhenReachable, type DistributorBackends } from './backends.ts';
import { readConfigBaseline, watchConfig } from './config-watch.ts';
import { Distributor } from './distributor.ts';
import type { Failpoint } from './failpoints.ts';

export interface DistributorServiceOptions {
  config: DistributorConfig;
  /** The INI to watch for live shard-set changes (absent: no watch). */
  configFile?: string;
  /** Its text as read before `config` was parsed from it (readConfigBaseline); default: read at start. */
  configBaseline?: string;
  env: Env;
  log: Logger;
  failpoint?: Failpoint;
  /** Where the metrics go (run mode shares it with its supervisor); default a new one. */
  registry?: Registry;
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
  // What the running config was read from, before any wait: an edit made while the service
  // waits for its backend or main queue is applied once it runs.
  const baseline =
    options.configBaseline ??
    (options.configFile ? readConfigBaseline(options.configFile) : undefined);
  const registry = options.registry ?? createRegistry();
  const controller = new AbortController();
  // A signal given while the backends opened counts too (a listener added now would never fire).
  if (options.signal?.aborted) controller.abort();
  else options.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  let backends: DistributorBackends | undefined;
  let distributor: Distributor | undefined;
  let loopError: Error | undefined;
  const server = await startObservabilityServer({
    port: options.metricsPort ?? config.dispatcher.metricsPort,
    portSetting:
      options.metricsPort === undefined
        ? `[dispatcher] metrics_port${options.configFile ? ` in ${options.configFile}` : ''}`
        : '--metrics-port',
    host: options.metricsHost,
    registry,
    log,
    healthz: () => (loopError ? `distributor loop failed: ${loopError.message}` : undefined),
    readyz: () => {
      if (!backends) return `waiting for the queue backend (${config.dispatcher.backend})`;
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
  let opened: DistributorBackends | undefined;
  try {
    // The probes answer meanwhile: waiting for a server is not a failure to restart for.
    opened = await openBackendsWhenReachable(config, log, registry, controller.signal);
    backends = opened;
    distributor = await Distributor.open(
      {
        config,
        mainBackend: opened.main,
        shardBackend: opened.shards,
        journal: opened.journal,
        registry,
        log,
        failpoint: options.failpoint,
      },
      controller.signal,
    );
  } catch (error) {
    await server.close();
    await opened?.close();
    throw error;
  }
  const running = distributor;
  const open = opened;
  const unwatch = options.configFile
    ? watchConfig(
        options.configFile,
        options.env,
        log,
        async (next) => {
          await running.applyConfig(next);
          options.onConfigApplied?.(next);
        },
        baseline === undefined ? {} : { baseline },
      )
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
      await open.close();
      await server.close();
    });
  return { distributor: running, server, done, stop: () => controller.abort() };
}
