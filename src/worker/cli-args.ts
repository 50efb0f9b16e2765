import { parseArgs } from 'node:util';
import { defaultConfig, NATS_ENV, portOf, type Env } from '../config/index.ts';
import { WorkerArgsError } from './errors.ts';
import { DEFAULT_WORKER_BATCH_SIZE } from './sdk.ts';

export type WorkerBackend = 'veda' | 'nats';

/**
 * `shard-distributor worker …`: the flags the original `worker_args_template` passes, and
 * ours. On nats the connection comes from the `SD_NATS_*` variables (`natsFromEnv`), and
 * `--base` is only the move journal's directory, not needed there.
 */
export type WorkerArgs =
  | (CommonWorkerArgs & {
      readonly backend: 'veda';
      /** `--base`: the directory of the shard queues. */
      readonly base: string;
    })
  | (CommonWorkerArgs & { readonly backend: 'nats' });

interface CommonWorkerArgs {
  /** `--sub`: the shard queue. */
  readonly sub: string;
  /** `--src`: the consumer name. */
  readonly src: string;
  /** `--sleep-empty`: seconds to pause when the queue is empty. */
  readonly sleepEmptySec: number;
  readonly batchSize: number;
  /** `--out`: append one line per message to this file. */
  readonly out?: string;
  /** `--reject-matching`: reject (not handle) every payload whose UTF-8 text matches it. */
  readonly rejectMatching?: RegExp;
  /** `--metrics-port`: serve /metrics (and /healthz) there; none without it. */
  readonly metricsPort?: number;
}

export const WORKER_USAGE = `usage: shard-distributor worker --base DIR --sub QUEUE --src CONSUMER [--sleep-empty SECONDS] [--batch-size N] [--out FILE] [--reject-matching REGEX] [--backend veda|nats] [--metrics-port N]

--backend defaults to nats when SD_NATS_URL is set (the operator and run mode set it, with
SD_NATS_MAIN_STREAM, SD_NATS_SHARD_STREAM, SD_NATS_CREDENTIALS_FILE, SD_NATS_TLS_CA_FILE,
SD_NATS_TLS_CERT_FILE, SD_NATS_TLS_KEY_FILE and SD_MAIN_QUEUE, for the workers of a nats
ShardDistributor), else to veda, which needs --base.

With SD_FAILURE_POLICY (DeadLetter, Drop or Block) in the environment, and optionally
SD_MAX_ATTEMPTS, SD_RETRY_BACKOFF_SEC, SD_RETRY_BACKOFF_MAX_SEC and SD_POOL, a rejected
message is retried through QUEUE-retry and dead-lettered to QUEUE-dlq (or dropped, or it
blocks the shard). --reject-matching rejects every payload whose text matches REGEX.

--metrics-port N serves /metrics (shard_distributor_worker_rejected_total, the queue's
corrupt-record and lock counters, process metrics) and /healthz on port N (0: any free one).

--out FILE gets one line per message, appended and synced before its batch is committed,
so a killed worker's batch is written again by the next one (at least once). A line left
unfinished by a kill is cut off when the next worker opens FILE.`;

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') {
    throw new WorkerArgsError(`missing ${flag}`);
  }
  return value;
}

function number(
  value: string | undefined,
  flag: string,
  fallback: number,
  valid: (n: number) => boolean,
  what: string,
): number {
  if (value === undefined) return fallback;
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (!valid(n)) throw new WorkerArgsError(`${flag} ${JSON.stringify(value)} is not ${what}`);
  return n;
}

/**
 * Parses the worker's flags (without the `worker` subcommand itself); `env` only chooses the
 * default backend. Errors name the flag; show WORKER_USAGE with them.
 */
export function parseWorkerArgs(argv: readonly string[], env: Env = {}): WorkerArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        backend: { type: 'string' },
        base: { type: 'string' },
        sub: { type: 'string' },
        src: { type: 'string' },
        'sleep-empty': { type: 'string' },
        'batch-size': { type: 'string' },
        out: { type: 'string' },
        'reject-matching': { type: 'string' },
        'metrics-port': { type: 'string' },
      },
    }));
  } catch (err) {
    // node:util's messages already name the flag (Unknown option '--x', Option '--base <value>' argument missing).
    const why = err instanceof Error ? err.message : String(err);
    throw new WorkerArgsError(why, { cause: err });
  }
  const text = (key: string): string | undefined => {
    const value = values[key];
    return typeof value === 'string' ? value : undefined;
  };
  const backend = text('backend') ?? (env[NATS_ENV.url]?.trim() ? 'nats' : 'veda');
  if (backend !== 'veda' && backend !== 'nats') {
    throw new WorkerArgsError(
      `--backend ${JSON.stringify(backend)} is not a known backend; use veda or nats`,
    );
  }
  const out = text('out');
  const portText = text('metrics-port');
  const metricsPort = portText === undefined ? undefined : portOf(portText);
  if (portText !== undefined && metricsPort === undefined)
    throw new WorkerArgsError(`--metrics-port ${portText} is not a port (0-65535)`);
  const rejectText = text('reject-matching');
  let rejectMatching: RegExp | undefined;
  if (rejectText !== undefined) {
    try {
      rejectMatching = new RegExp(required(rejectText, '--reject-matching'));
    } catch (err) {
      if (err instanceof WorkerArgsError) throw err;
      throw new WorkerArgsError(
        `--reject-matching ${JSON.stringify(rejectText)} is not a regular expression: ${(err as Error).message}`,
      );
    }
  }
  const common: CommonWorkerArgs = {
    sub: required(text('sub'), '--sub'),
    src: required(text('src'), '--src'),
    sleepEmptySec: number(
      text('sleep-empty'),
      '--sleep-empty',
      defaultConfig().worker.sleepEmptySec,
      (n) => Number.isFinite(n) && n >= 0,
      'a number of seconds >= 0',
    ),
    batchSize: number(
      text('batch-size'),
      '--batch-size',
      DEFAULT_WORKER_BATCH_SIZE,
      (n) => Number.isSafeInteger(n) && n > 0,
      'a whole number > 0',
    ),
    ...(out === undefined ? {} : { out: required(out, '--out') }),
    ...(metricsPort === undefined ? {} : { metricsPort }),
    ...(rejectMatching === undefined ? {} : { rejectMatching }),
  };
  return backend === 'nats'
    ? { ...common, backend }
    : { ...common, backend, base: required(text('base'), '--base') };
}
