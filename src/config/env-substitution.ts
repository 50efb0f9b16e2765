import type { Env } from './types.ts';

export type Substitution = { ok: true; value: string } | { ok: false; reason: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Expands `${VAR}` (unset is an error; set-but-empty gives "") and `${VAR:-default}` (the
 * default when VAR is unset or empty, as in a POSIX shell) from `env`. `$${` is a literal
 * `${`. A `$` not followed by `{` is literal. Defaults are literal text: no nesting.
 */
export function substituteEnv(text: string, env: Env): Substitution {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      out += text[i];
      i += 1;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close < 0) {
      return {
        ok: false,
        reason: `has an unclosed "\${" at character ${i + 1}; close it with "}" or write "$\${" for a literal`,
      };
    }
    const body = text.slice(i + 2, close);
    const sep = body.indexOf(':-');
    const name = sep < 0 ? body : body.slice(0, sep);
    if (!NAME.test(name)) {
      return {
        ok: false,
        reason: `has a malformed "\${${body}}"; use \${NAME} or \${NAME:-default} with NAME made of letters, digits and _`,
      };
    }
    const value = env[name];
    if (sep >= 0) {
      out += value === undefined || value === '' ? body.slice(sep + 2) : value;
    } else if (value === undefined) {
      return {
        ok: false,
        reason: `uses environment variable ${name}, which is not set and has no default; set ${name} or write \${${name}:-default}`,
      };
    } else {
      out += value;
    }
    i = close + 1;
  }
  return { ok: true, value: out };
}

/** The inverse for literal text: every `${` becomes `$${`, so substitution gives `text` back. */
export function escapeEnv(text: string): string {
  // A function, not a string: in a replacement string `$$` would mean one `$`.
  return text.replaceAll('${', () => '$${');
}
