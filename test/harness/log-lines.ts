/** The keys that occur more than once at the top level of one JSON object's text. */
export function repeatedKeys(json: string): string[] {
  const seen = new Set<string>();
  const repeated: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      if (depth === 1 && json[end + 1] === ':') {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (seen.has(key)) repeated.push(key);
        seen.add(key);
      }
      i = end;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return repeated;
}

/**
 * Each JSON log line of `output` that repeats a key, with the key: a key twice in one line is
 * read differently by each log pipeline (the first value, the last, or an error).
 */
export function linesRepeatingKeys(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => repeatedKeys(line).map((key) => `${key} in ${line}`));
}
