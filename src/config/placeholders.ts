import { ARGS_PLACEHOLDERS } from '../api/index.ts';

export type Placeholder = (typeof ARGS_PLACEHOLDERS)[number];
export type PlaceholderValues = Readonly<Record<Placeholder, string>>;

// `{name}` is a placeholder and `{{name}}` a literal `{name}`; braces around anything that is
// not an identifier (`{"a":1}`, `{}`) are plain text.
const PLACEHOLDER = /\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function isPlaceholder(name: string): name is Placeholder {
  return (ARGS_PLACEHOLDERS as readonly string[]).includes(name);
}

/** Names used as `{name}` in `text` that are not placeholders, in order of appearance. */
export function unknownPlaceholders(text: string): string[] {
  const unknown: string[] = [];
  for (const match of text.matchAll(PLACEHOLDER)) {
    const name = match[2];
    if (name !== undefined && !isPlaceholder(name) && !unknown.includes(name)) unknown.push(name);
  }
  return unknown;
}

// A brace and a placeholder's name with no closing brace right after it (`{src --x`).
const UNCLOSED = /\{([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_}])/g;

/**
 * Placeholder names opened with `{` and never closed, in order of appearance: left as they
 * are, every worker would get the literal text. Only known names count, so other text in
 * braces stays plain text.
 */
export function unclosedPlaceholders(text: string): Placeholder[] {
  const unclosed: Placeholder[] = [];
  for (const match of text.matchAll(UNCLOSED)) {
    const name = match[1]!;
    if (isPlaceholder(name) && !unclosed.includes(name)) unclosed.push(name);
  }
  return unclosed;
}

/** Replaces every known `{name}`; unknown ones are left as they are (validation rejects them). */
export function fillPlaceholders(text: string, values: PlaceholderValues): string {
  return text.replace(
    PLACEHOLDER,
    (whole, escaped: string | undefined, name: string | undefined) => {
      if (escaped !== undefined) return `{${escaped}}`;
      return name !== undefined && isPlaceholder(name) ? values[name] : whole;
    },
  );
}
