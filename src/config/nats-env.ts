import { DEFAULT_NATS_MAIN_STREAM, DEFAULT_NATS_SHARD_STREAM } from './defaults.ts';
import { NatsEnvError } from './errors.ts';
import { NATS_FILE_KEYS, type NatsFileField } from './nats-files.ts';
import type { DistributorConfig, NatsConfig } from './types.ts';

/**
 * Where a worker finds its shard queue on the nats backend. The distributor's `[nats]`
 * section and main queue name reach a worker as these variables, from `run` mode and from
 * the operator alike, so a worker needs no config file of its own. The file keys' variables
 * (credentials, TLS) are NATS_FILE_KEYS'; credentialsFile is named here too because the
 * operator gives workers credentials of their own.
 */
export const NATS_ENV = {
  url: 'SD_NATS_URL',
  mainStream: 'SD_NATS_MAIN_STREAM',
  shardStream: 'SD_NATS_SHARD_STREAM',
  credentialsFile: 'SD_NATS_CREDENTIALS_FILE',
  mainQueue: 'SD_MAIN_QUEUE',
} as const;

/** A worker's view of the nats backend: the `[nats]` section and the main queue's name. */
export interface NatsWorkerConnection extends NatsConfig {
  readonly mainQueue: string;
}

/** The `SD_NATS_*` variables of `config` (none on veda), read back by `natsFromEnv`. */
export function natsEnv(config: DistributorConfig): Record<string, string> {
  const nats = config.dispatcher.backend === 'nats' ? config.nats : undefined;
  if (nats === undefined) return {};
  return {
    [NATS_ENV.url]: nats.url,
    [NATS_ENV.mainStream]: nats.mainStream,
    [NATS_ENV.shardStream]: nats.shardStream,
    ...Object.fromEntries(
      NATS_FILE_KEYS.flatMap(({ field, env }) => {
        const path = nats[field];
        return path === undefined ? [] : [[env, path]];
      }),
    ),
    [NATS_ENV.mainQueue]: config.dispatcher.mainQueueName,
  };
}

/**
 * The connection `natsEnv` described. `SD_NATS_URL` and `SD_MAIN_QUEUE` are required (the
 * streams take their defaults); a missing one throws NatsEnvError naming it.
 */
export function natsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): NatsWorkerConnection {
  const text = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const required = (name: string, what: string) => {
    const value = text(name);
    if (value === undefined)
      throw new NatsEnvError(
        `environment variable ${name} is not set: it must hold ${what} (the operator and run mode set it for their workers)`,
        { file: 'environment', key: name },
      );
    return value;
  };
  const files: Partial<Record<NatsFileField, string>> = {};
  for (const { field, env: name } of NATS_FILE_KEYS) {
    const path = text(name);
    if (path !== undefined) files[field] = path;
  }
  return {
    url: required(NATS_ENV.url, 'the NATS server URL(s), comma-separated'),
    mainStream: text(NATS_ENV.mainStream) ?? DEFAULT_NATS_MAIN_STREAM,
    shardStream: text(NATS_ENV.shardStream) ?? DEFAULT_NATS_SHARD_STREAM,
    ...files,
    mainQueue: required(NATS_ENV.mainQueue, 'the main queue name'),
  };
}
