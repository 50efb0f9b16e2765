export type ArgvSplit = { ok: true; args: string[] } | { ok: false; reason: string };

const WHITESPACE = /\s/;
// Characters a shell leaves alone; `{}` too, so placeholders stay readable in a rendered INI.
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./{}-]+$/;

/**
 * Splits a command line into words the way a POSIX shell would, without running one:
 * whitespace separates words, '…' is literal, "…" allows \" \\ \$ \` escapes, a backslash
 * outside quotes escapes the next character, and adjacent pieces join (`a"b c"` is one word).
 * No expansion of any kind. The original split on whitespace only, so it could not pass a
 * path with a space.
 */
export function splitArgv(text: string): ArgvSplit {
  const args: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0)
        return { ok: false, reason: `has an unterminated ' quote at character ${i + 1}` };
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= text.length) {
          return { ok: false, reason: `has an unterminated " quote at character ${i + 1}` };
        }
        const d = text.charAt(j);
        if (d === '"') break;
        if (d === '\\' && j + 1 < text.length && '"\\$`\n'.includes(text.charAt(j + 1))) {
          if (text.charAt(j + 1) !== '\n') word += text.charAt(j + 1);
          j += 2;
        } else {
          word += d;
          j += 1;
        }
      }
      inWord = true;
      i = j + 1;
    } else if (c === '\\') {
      if (i + 1 >= text.length) return { ok: false, reason: 'ends with a lone backslash' };
      if (text.charAt(i + 1) !== '\n') {
        word += text.charAt(i + 1);
        inWord = true;
      }
      i += 2;
    } else if (WHITESPACE.test(c)) {
      if (inWord) args.push(word);
      word = '';
      inWord = false;
      i += 1;
    } else {
      word += c;
      inWord = true;
      i += 1;
    }
  }
  if (inWord) args.push(word);
  return { ok: true, args };
}

/** The inverse of `splitArgv`: `splitArgv(quoteArgv(args))` gives `args` back. */
export function quoteArgv(args: readonly string[]): string {
  return args
    .map((arg) => (PLAIN_WORD.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}
