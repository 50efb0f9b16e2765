/** `text` as a TCP port (0-65535; 0 picks a free one), or undefined when it is none. */
export function portOf(text: string): number | undefined {
  const n = text.trim() === '' ? Number.NaN : Number(text);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}
