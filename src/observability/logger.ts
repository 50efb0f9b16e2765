import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * The one way this project makes a logger: JSON lines on stdout (or the given destination),
 * a fixed message plus fields — `log.info({ shard, backlog }, 'shard drained')`.
 */
export function createLogger(
  options: LoggerOptions = {},
  destination?: pino.DestinationStream,
): Logger {
  const base: LoggerOptions = {
    name: 'shard-distributor',
    level: process.env['LOG_LEVEL'] ?? 'info',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino({ ...base, ...options }, destination) : pino({ ...base, ...options });
}

/** A logger that drops everything: for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
