import { portOf } from '../config/index.ts';
import { UsageError } from './usage-error.ts';

/** A port given on the command line (0 picks a free one), checked before anything starts. */
export function portFlag(
  value: string | undefined,
  flag: string,
  usage: string,
): number | undefined {
  if (value === undefined) return undefined;
  const port = portOf(value);
  if (port === undefined) throw new UsageError(`${flag} ${value} is not a port (0-65535)`, usage);
  return port;
}
