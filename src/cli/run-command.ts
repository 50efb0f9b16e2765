import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CONFIG_FILE_NAME,
  loadConfigFile,
  withLaunchKeys,
  type DistributorConfig,
  type Env,
} from '../config/index.ts';
import {
  failpointFromSpec,
  readConfigBaseline,
  startDistributorService,
  type DistributorService,
} from '../distributor/index.ts';
import {
  createLogger,
  createRegistry,
  logDestination,
  type Logger,
} from '../observability/index.ts';
import { checkWorkerExecutables, stopOrphanWorkers, Supervisor } from '../supervisor/index.ts';
import { startDemo, type Demo } from './demo.ts';
import { RunModeDrain } from './run-drain.ts';
import { portFlag } from './port-flag.ts';
import { UsageError } from './usage-error.ts';

export const RUN_USAGE = `shard-distributor run [--config FILE] [--metrics-port N]
shard-distributor run --demo [--data DIR] [--duration SECONDS]

The drop-in for veda-queue-shard-distributor: the distributor plus one local worker process
per shard of every pool (worker_module + worker_args_template of [worker] or [pool.NAME],
never through a shell), reaped and restarted with backoff. The INI defaults to ./config/${CONFIG_FILE_NAME} and is written with defaults
when missing, as the original did. Editing min_workers (of [dispatcher] or a pool) in it
applies live.

--demo runs the embedded default: a Veda queue under ./data, a producer feeding it, four
reference workers, and a line of what is happening every two seconds.`;

interface RunOptions {
  config?: string;
  'metrics-port'?: string;
  demo?: boolean;
  data?: string;
  duration?: string;
}

/** The longest delay a Node timer holds (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export async function runCommand(
  argv: string[],
  env: Env,
  baseLog: Logger,
  signal: AbortSignal,
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      'metrics-port': { type: 'string' },
      demo: { type: 'boolean' },
      data: { type: 'string' },
      duration: { type: 'string' },
    },
    strict: true,
  }) as { values: RunOptions };
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  // Node's timers hold at most 2^31 - 1 ms; a longer one would fire at once.
  if (duration !== undefined && !(duration > 0 && duration * 1000 <= MAX_TIMER_MS))
    throw new UsageError(
      `--duration ${values.duration} is not a positive number of seconds up to ${Math.floor(MAX_TIMER_MS / 1000)}`,
      RUN_USAGE,
    );
  const metricsPort = portFlag(values['metrics-port'], '--metrics-port', RUN_USAGE);
  if (values.demo && values.config !== undefined)
    throw new UsageError('--config does not go with --demo, which writes its own', RUN_USAGE);

  // The demo talks to a person on stdout; its logs go to stderr and only when they matter.
  const log = values.demo
    ? createLogger({ level: env['LOG_LEVEL'] ?? 'warn' }, logDestination(2))
    : baseLog;
  let demo: Demo | undefined;
  let configFile = values.config ?? `config/${CONFIG_FILE_NAME}`;
  if (values.demo) {
    demo = await startDemo(values.data ?? 'data', log);
    configFile = demo.configFile;
  } else if (values.data !== undefined) {
    throw new UsageError('--data goes with --demo', RUN_USAGE);
  }
  const configBaseline = readConfigBaseline(configFile);
  const config = await loadConfigFile(configFile, { env, log });
  checkWorkerExecutables(config, configFile, process.env, process.cwd());
  await mkdir(config.dispatcher.basePath, { recursive: true });
  await mkdir(config.worker.workerBasePath, { recursive: true });

  // A worker an earlier run left (killed with SIGKILL, say) would read its shard beside ours.
  await stopOrphanWorkers(resolve(config.worker.workerBasePath), log, 10_000);
  // One /metrics for both: the distributor's and the supervisor's (restarts, workers running).
  const registry = createRegistry();
  const supervisor = new Supervisor({
    config,
    log,
    registry,
    env: { ...process.env },
  });
  let service: DistributorService;
  let drainConfig: (config: DistributorConfig) => void = () => {};
  let launched = config;
  try {
    service = await startDistributorService({
      signal,
      config,
      configFile,
      ...(configBaseline === undefined ? {} : { configBaseline }),
      env,
      log,
      failpoint: failpointFromSpec(env['SD_FAILPOINT']),
      registry,
      metricsPort,
      onConfigApplied: (next) => {
        // The workers follow what the distributor applied, not the whole file: a key it
        // keeps until a restart (a queue directory, a prefix) must not move them alone.
        launched = withLaunchKeys(launched, next);
        supervisor.reconcile(launched);
        drainConfig(launched);
      },
    });
  } catch (error) {
    await demo?.stop();
    throw error;
  }
  supervisor.start();
  // A second signal (process.exit) or a crash skips the graceful stop below.
  const killWorkers = () => supervisor.killAll();
  process.once('exit', killWorkers);
  demo?.watch(service, supervisor);

  const drain = new RunModeDrain(config, service.distributor, supervisor, log);
  drainConfig = (next) => drain.configApplied(next);
  const drainTimer = setInterval(() => {
    void drain
      .tick()
      .catch((error: unknown) =>
        log.error({ err: error }, 'draining removed shards failed; retrying'),
      );
  }, 1_000);

  const stop = () => {
    supervisor.holdRestarts();
    void (demo?.stopProducing() ?? Promise.resolve()).finally(() => service.stop());
  };
  signal.addEventListener('abort', stop, { once: true });
  const timer = duration === undefined ? undefined : setTimeout(stop, duration * 1000);
  try {
    await service.done;
  } finally {
    clearInterval(drainTimer);
    if (timer) clearTimeout(timer);
    await demo?.stop();
    await supervisor.stop(10_000);
    process.off('exit', killWorkers);
    demo?.summary(service);
  }
  return 0;
}
