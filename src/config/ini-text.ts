import ini from 'ini';
import { ConfigFileError, ConfigKeyError } from './errors.ts';

/** One `key = value` (or `key: value`) line: the value unquoted as the `ini` package does, not yet substituted. */
export interface IniEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

export interface IniSection {
  readonly name: string;
  /** Line of the first header of this section. */
  readonly line: number;
  readonly entries: ReadonlyMap<string, IniEntry>;
}

/** What a UTF-8 decoder puts in place of bytes that are not UTF-8. */
const NOT_UTF8 = '\uFFFD';
const SECTION_HEADER = /^\[([^\]]*)\]\s*(?:[;#].*)?$/;
// `key = value`, or `key: value` as the original's configparser also read: split at the first
// of the two, so a value may hold either (`nats_url = nats://host:4222`).
const KEY_VALUE = /^([^=:]+)[=:](.*)$/;
const COMMENT = /^\s*[;#]/;
// `key = "quoted" ; comment`: `ini` only unquotes a value that ends with its quote.
const QUOTED_THEN_COMMENT = /^("(?:[^"\\]|\\.)*"|'[^']*')\s*[;#]/;

/**
 * Splits INI text into sections of entries, keeping line numbers for error messages. Values
 * are unquoted by the `ini` package (quotes, `;`/`#` comments, `\;` escapes); the lines are
 * read here because `ini.decode` silently skips or merges what must be an error — a line
 * without `=`, a broken header, a key before any section, a key given twice — and nests
 * dotted sections. Section and key names are case-insensitive (lower-cased), as in the
 * original's configparser.
 */
export function readIniText(text: string, file: string): ReadonlyMap<string, IniSection> {
  const sections = new Map<
    string,
    { name: string; line: number; entries: Map<string, IniEntry> }
  >();
  let current: { name: string; line: number; entries: Map<string, IniEntry> } | undefined;
  const lines = text.split(/\r\n|\r|\n/);
  for (const [index, raw] of lines.entries()) {
    const line = index + 1;
    // The file is read as UTF-8: a byte that is not UTF-8 comes out as U+FFFD, which would
    // become part of a path or a name without a word said.
    if (raw.includes(NOT_UTF8)) {
      throw new ConfigFileError(
        `${file}:${line}: holds bytes that are not UTF-8 (column ${raw.indexOf(NOT_UTF8) + 1}); save the file as UTF-8`,
        { file, line },
      );
    }
    const trimmed = raw.trim();
    if (trimmed === '' || COMMENT.test(trimmed)) continue;

    if (trimmed.startsWith('[')) {
      const header = SECTION_HEADER.exec(trimmed);
      if (!header) {
        throw new ConfigFileError(
          `${file}:${line}: ${JSON.stringify(trimmed)} is not a section header; write it as [name]`,
          { file, line },
        );
      }
      const name = ini.unsafe(header[1] ?? '').toLowerCase();
      current = sections.get(name);
      if (!current) {
        current = { name, line, entries: new Map() };
        sections.set(name, current);
      }
      continue;
    }

    const pair = KEY_VALUE.exec(trimmed);
    if (!pair) {
      throw new ConfigFileError(
        `${file}:${line}: ${JSON.stringify(trimmed)} has no "=" (or ":"); write it as key = value`,
        { file, line },
      );
    }
    const key = ini.unsafe(pair[1] ?? '').toLowerCase();
    if (key === '') {
      throw new ConfigFileError(
        `${file}:${line}: ${JSON.stringify(trimmed)} has no key before "="`,
        {
          file,
          line,
        },
      );
    }
    if (!current) {
      throw new ConfigKeyError(
        `${file}:${line}: key ${key} comes before any section; put it under [dispatcher] or [worker]`,
        { file, key, line },
      );
    }
    const earlier = current.entries.get(key);
    if (earlier) {
      throw new ConfigKeyError(
        `${file}:${line}: [${current.name}] ${key} is set twice (lines ${earlier.line} and ${line}); keep one`,
        { file, section: current.name, key, line },
      );
    }
    current.entries.set(key, { key, value: unquote(pair[2] ?? '', ARGV_KEYS.has(key)), line });
  }
  return sections;
}

/** Keys whose value is split into argv words later, honouring their quotes. */
const ARGV_KEYS: ReadonlySet<string> = new Set(['worker_module', 'worker_args_template']);

function unquote(raw: string, argv: boolean): string {
  const trimmed = raw.trim();
  const text = QUOTED_THEN_COMMENT.exec(trimmed)?.[1] ?? trimmed;
  // In a command, `'/opt/my app/run' -m 'w'` is quoted words, not one quoted value: `ini`
  // would strip the outer two quotes and leave the inner ones unpaired. (A "…" one it
  // already keeps whole.) Elsewhere `'/data/o'brien'` stays what `ini` makes of it.
  if (argv && /^'.*'$/s.test(text) && text.slice(1, -1).includes("'")) return text;
  // `ini` JSON-parses the inside of '…', so '123' comes back as a number: keep the text.
  const value: unknown = ini.unsafe(text);
  return typeof value === 'string' ? value : text.slice(1, -1);
}
