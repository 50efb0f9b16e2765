import { open, type FileHandle } from 'node:fs/promises';
import type { Env } from '../config/index.ts';
import { createLogger, type Logger } from '../observability/index.ts';
import { createVedaBackend } from '../queue/index.ts';
import { parseWorkerArgs } from './cli-args.ts';
import { encodeOutputLine } from './output-line.ts';
import { runWorker, type MessageHandler, type WorkerReport } from './sdk.ts';

export interface ReferenceWorkerOptions {
  /** Default: JSON lines on stdout at `LOG_LEVEL` from `env` (the supervisor logs them with the shard). */
  readonly log?: Logger;
  /** Replaces the default handler (append to `--out`, or count). */
  readonly handler?: MessageHandler;
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

/**
 * `shard-distributor worker --base DIR --sub QUEUE --src CONSUMER --sleep-empty SECONDS`:
 * consumes one shard queue until `signal` aborts. With `--out FILE` each message becomes a
 * line of FILE (see `encodeOutputLine`), written before its batch is committed; otherwise
 * messages are only counted. Throws WorkerArgsError on bad flags.
 */
export async function main(
  argv: readonly string[],
  env: Env,
  signal: AbortSignal,
  options: ReferenceWorkerOptions = {},
): Promise<WorkerReport> {
  const args = parseWorkerArgs(argv);
  const log = options.log ?? createLogger({ level: env['LOG_LEVEL'] ?? 'info' });
  const backend = createVedaBackend({ basePath: args.base, logger: log });
  const output = args.out === undefined ? undefined : await OutputFile.open(args.out);
  try {
    log.info(
      { base: args.base, queue: args.sub, consumer: args.src, out: args.out },
      'worker starting',
    );
    return await runWorker({
      backend,
      queue: args.sub,
      consumer: args.src,
      handler: options.handler ?? output?.handler ?? (() => undefined),
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
