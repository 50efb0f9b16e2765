import { MAX_WORKERS_LIMIT } from '../api/index.ts';
import { ConfigKeyError, type ConfigLocation } from './errors.ts';

/** A key in a file: every value problem is reported against one. */
export interface Where extends ConfigLocation {
  readonly section: string;
  readonly key: string;
}

/** Where a key, or a whole section, is: with its line when it was read from text. */
export interface Locate {
  at(section: string, key: string): Where;
  section(section: string): ConfigLocation & { readonly section: string };
}

// Same bounds as the CRD where it has the field, so what the operator renders is accepted.
// min_workers may be 0 here (not in the CRD): no live shard pauses distribution, which the
// operator renders while it drains a ShardDistributor being deleted.
export const LIMITS = {
  min_workers: { min: 0, max: MAX_WORKERS_LIMIT },
  batch_size: { min: 1, max: 10_000 },
  metrics_port: { min: 0, max: 65_535 },
  sleep_empty_sec: { max: 3600, zeroAllowed: true },
  stuck_after_sec: { max: 86_400, zeroAllowed: false },
  // Limits where 0 means "off"; the top is only what a number holds exactly.
  max_backlog_per_shard: { min: 0, max: Number.MAX_SAFE_INTEGER },
  max_disk_bytes: { min: 0, max: Number.MAX_SAFE_INTEGER },
  match_min_bytes: { min: 0, max: Number.MAX_SAFE_INTEGER },
  // 0 would make the size condition match no message at all: surely a mistake.
  match_below_bytes: { min: 1, max: Number.MAX_SAFE_INTEGER },
  max_attempts: { min: 1, max: 100 },
  retry_backoff_sec: { max: 86_400, zeroAllowed: false },
  retry_backoff_max_sec: { max: 86_400, zeroAllowed: false },
} as const;

export function integerFix(limits: { min: number; max: number }): string {
  return `set it to an integer from ${limits.min} to ${limits.max}`;
}

export function secondsFix(limits: { max: number; zeroAllowed: boolean }): string {
  return limits.zeroAllowed
    ? `set it to a number of seconds from 0 to ${limits.max}`
    : `set it to a number of seconds above 0 and at most ${limits.max}`;
}

/** Text values are quoted, so `"four"` and `""` read unambiguously; numbers are not. */
function show(value: string | number | readonly number[]): string {
  if (typeof value === 'number') return String(value);
  return JSON.stringify(typeof value === 'string' ? value : value.join(','));
}

/** `file:line` when the line is known, else `file`. */
export function place(where: ConfigLocation): string {
  return where.line === undefined ? where.file : `${where.file}:${where.line}`;
}

/** Throws `file:line: [section] key = value <problem; fix>`. */
export function fail(
  where: Where,
  value: string | number | readonly number[],
  problem: string,
): never {
  throw new ConfigKeyError(
    `${place(where)}: [${where.section}] ${where.key} = ${show(value)} ${problem}`,
    where,
  );
}
