import { ConfigEnvError, ConfigKeyError } from './errors.ts';
import { substituteEnv } from './env-substitution.ts';
import type { IniSection } from './ini-text.ts';
import { fail, integerFix, place, secondsFix, type Where } from './problem.ts';
import type { Env } from './types.ts';

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const TRUE = ['true', 'yes', 'on', '1'];
const FALSE = ['false', 'no', 'off', '0'];

/**
 * Typed reads of one section's keys: each value is `${VAR}`-substituted, then converted; a
 * value that does not convert is an error naming the key, never a silent default. Ranges
 * and cross-key rules are `validateConfig`'s.
 */
export class SectionReader {
  readonly #file: string;
  readonly #section: string;
  readonly #entries: IniSection['entries'];
  readonly #env: Env;

  constructor(
    file: string,
    section: string,
    found: IniSection | undefined,
    env: Env,
    known: readonly string[],
  ) {
    this.#file = file;
    this.#section = section;
    this.#entries = found?.entries ?? new Map();
    this.#env = env;
    for (const entry of this.#entries.values()) {
      if (!known.includes(entry.key)) {
        const hint = closest(entry.key, known);
        throw new ConfigKeyError(
          `${file}:${entry.line}: unknown key [${section}] ${entry.key}` +
            `${hint ? ` (did you mean ${hint}?)` : ''}; the keys of [${section}] are ${known.join(', ')}`,
          { file, section, key: entry.key, line: entry.line },
        );
      }
    }
  }

  /** The substituted value, or undefined when the key is absent. */
  raw(key: string): string | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const result = substituteEnv(entry.value, this.#env);
    if (!result.ok) {
      const where = this.#where(key, entry.line);
      throw new ConfigEnvError(
        `${place(where)}: [${this.#section}] ${key} = ${JSON.stringify(entry.value)} ${result.reason}`,
        where,
      );
    }
    return result.value;
  }

  string(key: string, fallback: string): string {
    return this.raw(key) ?? fallback;
  }

  /** Absent and empty both mean "not set", so `key = ${VAR:-}` can switch a setting off. */
  optionalString(key: string): string | undefined {
    const value = this.raw(key);
    return value === undefined || value === '' ? undefined : value;
  }

  integer(key: string, fallback: number, limits: { min: number; max: number }): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (!INTEGER.test(value.trim())) {
      fail(this.#where(key), value, `is not a whole number; ${integerFix(limits)}`);
    }
    return Number(value);
  }

  /** Absent and empty both mean "not set", as for `optionalString`. */
  optionalInteger(key: string, limits: { min: number; max: number }): number | undefined {
    const value = this.raw(key);
    if (value === undefined || value.trim() === '') return undefined;
    return this.integer(key, 0, limits);
  }

  seconds(key: string, fallback: number, limits: { max: number; zeroAllowed: boolean }): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (!DECIMAL.test(value.trim()))
      fail(this.#where(key), value, `is not a number; ${secondsFix(limits)}`);
    return Number(value);
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const word = value.trim().toLowerCase();
    if (TRUE.includes(word)) return true;
    if (FALSE.includes(word)) return false;
    return fail(this.#where(key), value, 'is not true or false; set it to true or false');
  }

  /** Case-insensitive, returned in its canonical spelling. */
  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T, what: string): T {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const match = allowed.find((option) => option.toLowerCase() === value.trim().toLowerCase());
    if (match === undefined) {
      fail(this.#where(key), value, `is not a known ${what}; use one of ${allowed.join(', ')}`);
    }
    return match;
  }

  /** `4,5` → [4, 5]; empty → []. */
  integerList(key: string): number[] {
    const value = this.raw(key);
    if (value === undefined || value.trim() === '') return [];
    const items = value.split(',').map((item) => item.trim());
    if (!items.every((item) => INTEGER.test(item))) {
      fail(
        this.#where(key),
        value,
        'is not a comma-separated list of shard numbers; write e.g. 4,5',
      );
    }
    return items.map(Number);
  }

  /**
   * `NAME=VALUE`, split at the first `=` (so the value may hold more), both sides trimmed;
   * absent or empty → undefined. Empty sides are left to `validateConfig` to report.
   */
  pair(key: string, example: string): { name: string; value: string } | undefined {
    const text = this.optionalString(key);
    if (text === undefined) return undefined;
    const at = text.indexOf('=');
    if (at < 0) fail(this.#where(key), text, `is not NAME=VALUE; write e.g. ${key} = ${example}`);
    return { name: text.slice(0, at).trim(), value: text.slice(at + 1).trim() };
  }

  #where(key: string, line = this.#entries.get(key)?.line): Where {
    return line === undefined
      ? { file: this.#file, section: this.#section, key }
      : { file: this.#file, section: this.#section, key, line };
  }
}

/** The known name within edit distance 2 of a typo, if any. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
