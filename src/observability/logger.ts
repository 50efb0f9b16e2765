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
  return destination ? pino({ ...base, ...options }, destination) : pino({ ...base, ...options });
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
