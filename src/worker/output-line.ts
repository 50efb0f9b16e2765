const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export const BASE64_PREFIX = 'b64:';

/**
 * One message as one line of the reference worker's output: the payload itself when it is
 * valid UTF-8 without line breaks and cannot be mistaken for the base64 form, otherwise
 * `b64:` and its base64. Reversible (`decodeOutputLine`), so tests can count messages by id.
 */
export function encodeOutputLine(message: Uint8Array): string {
  let text: string | undefined;
  try {
    text = strictUtf8.decode(message);
  } catch {
    text = undefined;
  }
  if (text !== undefined && !/[\r\n]/.test(text) && !text.startsWith(BASE64_PREFIX)) return text;
  return (
    BASE64_PREFIX +
    Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('base64')
  );
}

export function decodeOutputLine(line: string): Buffer {
  return line.startsWith(BASE64_PREFIX)
    ? Buffer.from(line.slice(BASE64_PREFIX.length), 'base64')
    : Buffer.from(line, 'utf8');
}
