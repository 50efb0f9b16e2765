import { parseArgs } from 'node:util';
import { loadConfigFile, type Env } from '../config/index.ts';
import {
  failpointFromSpec,
  readConfigBaseline,
  startDistributorService,
} from '../distributor/index.ts';
import type { Logger } from '../observability/index.ts';
import { portFlag } from './port-flag.ts';
import { UsageError } from './usage-error.ts';

export const DISTRIBUTOR_USAGE = `shard-distributor distributor --config FILE [--metrics-port N]

Moves every message of the main queue to exactly one shard queue, as the INI file says,
and serves /metrics, /load, /healthz and /readyz. Watches the INI and applies a changed
shard set live. SIGTERM finishes the batch in flight, commits and exits 0.`;

export async function distributorCommand(
  argv: string[],
  env: Env,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, 'metrics-port': { type: 'string' } },
    strict: true,
  }).valueOf() as { values: { config?: string; 'metrics-port'?: string } };
  if (!values.config) throw new UsageError('--config FILE is required', DISTRIBUTOR_USAGE);
  const metricsPort = portFlag(values['metrics-port'], '--metrics-port', DISTRIBUTOR_USAGE);
  const configBaseline = readConfigBaseline(values.config);
  const config = await loadConfigFile(values.config, { env, log });
  const service = await startDistributorService({
    signal,
    config,
    configFile: values.config,
    ...(configBaseline === undefined ? {} : { configBaseline }),
    env,
    log,
    failpoint: failpointFromSpec(env['SD_FAILPOINT']),
    ...(metricsPort === undefined ? {} : { metricsPort }),
  });
  await service.done;
}
