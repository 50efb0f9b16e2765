import { pino, type Logger, type LoggerOptions } from 'pino';
import { ShardDistributorError } from '../errors.ts';

export type { Logger };

/**
 * The one way this project makes a logger: JSON lines on stdout (or the given destination),
 * a fixed message plus fields — `log.info({ shard, backlog }, 'shard drained')`.
 */
export function createLogger(
  options: LoggerOptions = {},
  destination?: pino.DestinationStream,
): Logger {
  const level = options.level ?? process.env['LOG_LEVEL'] ?? 'info';
  if (!Object.hasOwn(pino.levels.values, level) && level !== 'silent')
    throw new LogLevelError(level);
  // No logger `name`: lines name what they are about (a Deployment's `name`), and the
  // command's `component` says which process wrote them.
  const base: LoggerOptions = {
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return pino({ ...base, ...options }, destination ?? logDestination(1));
}

/**
 * Log lines to file descriptor `fd` (1: stdout), which stop when they can no longer be
 * written instead of taking the process down: pino re-throws a write error other than EPIPE
 * (uncaught), and sonic-boom's flush at exit retries a failing write for ever. A terminal
 * closed under `run` (SIGHUP, then EIO on every write) hung the process that way, its stop
 * never run and its workers left going. A log line is never worth the process.
 */
export function logDestination(fd: number): pino.DestinationStream {
  const stream = pino.destination({ dest: fd, sync: false });
  stream.on('error', () => {
    const off = () => {};
    // As pino does for EPIPE: nobody reads these lines any more.
    Object.assign(stream, { write: off, end: off, flush: off, flushSync: off, destroy: off });
  });
  return stream;
}

/** A log level pino does not know (LOG_LEVEL). */
export class LogLevelError extends ShardDistributorError {
  constructor(level: string) {
    super(
      'SD_ERR_LOG_LEVEL',
      `log level ${JSON.stringify(level)} is not one of ${[...Object.keys(pino.levels.values), 'silent'].join(', ')}; set LOG_LEVEL to one of them`,
    );
  }
}

/** A logger that drops everything: for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
