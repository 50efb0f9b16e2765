import { failureFromEnv, natsFromEnv, POOL_ENV, type Env } from '../config/index.ts';
import type { Registry } from 'prom-client';
import {
  createLogger,
  createRegistry,
  startObservabilityServer,
  type Logger,
} from '../observability/index.ts';
import { createNatsBackend, createVedaBackend, type QueueBackend } from '../queue/index.ts';
import { parseWorkerArgs, type WorkerArgs } from './cli-args.ts';
import { OutputFile } from './output-file.ts';
import { runWorker } from './sdk.ts';
import type { MessageHandler, WorkerReport } from './types.ts';

export interface ReferenceWorkerOptions {
  /** Default: JSON lines on stdout at `LOG_LEVEL` from `env` (the supervisor logs them with the shard). */
  readonly log?: Logger;
  /** Replaces the default handler (append to `--out`, or count). */
  readonly handler?: MessageHandler;
  /** Where `shard_distributor_worker_rejected_total` is registered. */
  readonly registry?: Registry;
}

/** Rejects what `pattern` matches, hands the rest to `next`. */
function rejecting(pattern: RegExp, next: MessageHandler): MessageHandler {
  return (message, context) => {
    const text = Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString();
    if (pattern.test(text)) return { reject: `matches --reject-matching ${pattern.source}` };
    return next(message, context);
  };
}

/** The shard queues: files under --base (veda), or the JetStream the `SD_NATS_*` variables name. */
async function openBackend(
  args: WorkerArgs,
  env: Env,
  log: Logger,
  registry: Registry | undefined,
): Promise<QueueBackend> {
  const metrics = registry ? { registry } : {};
  if (args.backend === 'veda')
    return createVedaBackend({ basePath: args.base, logger: log, ...metrics });
  return createNatsBackend({
    ...natsFromEnv(env),
    name: `worker ${args.sub}`,
    logger: log,
    ...metrics,
  });
}

/**
 * `shard-distributor worker --base DIR --sub QUEUE --src CONSUMER --sleep-empty SECONDS`:
 * consumes one shard queue (veda files under DIR, or nats as the `SD_NATS_*` variables say)
 * until `signal` aborts. With `--out FILE` each message becomes a
 * line of FILE (see `encodeOutputLine`), written before its batch is committed; otherwise
 * messages are only counted. With `SD_FAILURE_POLICY` set, rejects follow that policy
 * (`failureFromEnv`); `--reject-matching REGEX` rejects matching payloads. Throws
 * WorkerArgsError on bad flags, FailureEnvError on a bad `SD_*` variable, NatsEnvError
 * on a missing `SD_NATS_URL` or `SD_MAIN_QUEUE`.
 */
export async function main(
  argv: readonly string[],
  env: Env,
  signal: AbortSignal,
  options: ReferenceWorkerOptions = {},
): Promise<WorkerReport> {
  const args = parseWorkerArgs(argv, env);
  const failure = failureFromEnv(env);
  const log = options.log ?? createLogger({ level: env['LOG_LEVEL'] ?? 'info' });
  const registry =
    options.registry ?? (args.metricsPort === undefined ? undefined : createRegistry());
  const server =
    args.metricsPort === undefined || registry === undefined
      ? undefined
      : await startObservabilityServer({
          port: args.metricsPort,
          portSetting: '--metrics-port',
          registry,
          log,
        });
  if (server) log.info({ port: server.port }, 'worker metrics served');
  const backend = await openBackend(args, env, log, registry).catch(async (error: unknown) => {
    await server?.close();
    throw error;
  });
  const output =
    args.out === undefined
      ? undefined
      : await OutputFile.open(args.out, log).catch(async (error: unknown) => {
          await backend.close();
          await server?.close();
          throw error;
        });
  try {
    log.info(
      {
        backend: args.backend,
        ...(args.backend === 'veda' ? { base: args.base } : {}),
        queue: args.sub,
        consumer: args.src,
        out: args.out,
        failure,
      },
      'worker starting',
    );
    const handler = options.handler ?? output?.handler ?? (() => undefined);
    const pool = env[POOL_ENV]?.trim() || 'default';
    return await runWorker({
      backend,
      queue: args.sub,
      consumer: args.src,
      handler: args.rejectMatching ? rejecting(args.rejectMatching, handler) : handler,
      ...(failure
        ? {
            failure: {
              ...failure,
              pool,
              ...(args.backend === 'veda' ? { journalDir: args.base } : {}),
            },
          }
        : {}),
      ...(registry ? { registry } : {}),
      beforeCommit: output ? () => output.flush() : undefined,
      sleepEmptySec: args.sleepEmptySec,
      batchSize: args.batchSize,
      signal,
      log,
    });
  } finally {
    await output?.close();
    await backend.close();
    await server?.close();
  }
}
