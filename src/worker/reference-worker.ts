import { open, type FileHandle } from 'node:fs/promises';
import { failureFromEnv, POOL_ENV, type Env } from '../config/index.ts';
import type { Registry } from 'prom-client';
import { createLogger, type Logger } from '../observability/index.ts';
import { createVedaBackend } from '../queue/index.ts';
import { parseWorkerArgs } from './cli-args.ts';
import { encodeOutputLine } from './output-line.ts';
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

/** Collects a batch's output lines and writes them in one append before the batch is committed. */
class OutputFile {
  private readonly file: FileHandle;
  private lines: string[] = [];

  private constructor(file: FileHandle) {
    this.file = file;
  }

  static async open(path: string): Promise<OutputFile> {
    return new OutputFile(await open(path, 'a'));
  }

  readonly handler: MessageHandler = (message) => {
    this.lines.push(encodeOutputLine(message) + '\n');
  };

  async flush(): Promise<void> {
    if (this.lines.length === 0) return;
    const text = this.lines.join('');
    this.lines = [];
    await this.file.appendFile(text, 'utf8');
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

/** Rejects what `pattern` matches, hands the rest to `next`. */
function rejecting(pattern: RegExp, next: MessageHandler): MessageHandler {
  return (message, context) => {
    const text = Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString();
    if (pattern.test(text)) return { reject: `matches --reject-matching ${pattern.source}` };
    return next(message, context);
  };
}

/**
 * `shard-distributor worker --base DIR --sub QUEUE --src CONSUMER --sleep-empty SECONDS`:
 * consumes one shard queue until `signal` aborts. With `--out FILE` each message becomes a
 * line of FILE (see `encodeOutputLine`), written before its batch is committed; otherwise
 * messages are only counted. With `SD_FAILURE_POLICY` set, rejects follow that policy
 * (`failureFromEnv`); `--reject-matching REGEX` rejects matching payloads. Throws
 * WorkerArgsError on bad flags, FailureEnvError on a bad `SD_*` variable.
 */
export async function main(
  argv: readonly string[],
  env: Env,
  signal: AbortSignal,
  options: ReferenceWorkerOptions = {},
): Promise<WorkerReport> {
  const args = parseWorkerArgs(argv);
  const failure = failureFromEnv(env);
  const log = options.log ?? createLogger({ level: env['LOG_LEVEL'] ?? 'info' });
  const backend = createVedaBackend({ basePath: args.base, logger: log });
  const output = args.out === undefined ? undefined : await OutputFile.open(args.out);
  try {
    log.info(
      { base: args.base, queue: args.sub, consumer: args.src, out: args.out, failure },
      'worker starting',
    );
    const handler = options.handler ?? output?.handler ?? (() => undefined);
    const pool = env[POOL_ENV]?.trim() || 'default';
    return await runWorker({
      backend,
      queue: args.sub,
      consumer: args.src,
      handler: args.rejectMatching ? rejecting(args.rejectMatching, handler) : handler,
      ...(failure ? { failure: { ...failure, pool, journalDir: args.base } } : {}),
      ...(options.registry ? { registry: options.registry } : {}),
      beforeCommit: output ? () => output.flush() : undefined,
      sleepEmptySec: args.sleepEmptySec,
      batchSize: args.batchSize,
      signal,
      log,
    });
  } finally {
    await output?.close();
    await backend.close();
  }
}
