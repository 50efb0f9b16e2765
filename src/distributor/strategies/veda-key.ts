import type { KeyOf } from './types.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The URI of a Veda individual, read straight from its msgpack bytes `[uri, {…}]`: a fixarray
 * of 2 (0x92) whose first element is a string. Only that header is decoded — no full msgpack
 * decoder for a routing key. `undefined` for anything else (CBOR payloads, truncated or empty
 * URIs, invalid UTF-8).
 */
export function vedaIndividualUri(data: Uint8Array): string | undefined {
  if (data[0] !== 0x92) return undefined;
  const tag = data[1];
  if (tag === undefined) return undefined;
  let start: number;
  let length: number;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (tag >= 0xa0 && tag <= 0xbf) {
    start = 2;
    length = tag & 0x1f;
  } else if (tag === 0xd9 && data.length >= 3) {
    start = 3;
    length = view.getUint8(2);
  } else if (tag === 0xda && data.length >= 4) {
    start = 4;
    length = view.getUint16(2);
  } else if (tag === 0xdb && data.length >= 6) {
    start = 6;
    length = view.getUint32(2);
  } else {
    return undefined;
  }
  if (length === 0 || start + length > data.length) return undefined;
  try {
    return utf8.decode(data.subarray(start, start + length));
  } catch {
    return undefined;
  }
}

/** KeyHash's default key: the individual's URI, so every change to one individual stays in order. */
export const keyFromVedaIndividual: KeyOf = (message) => vedaIndividualUri(message.data);

/** The key from a message header (exact name); a missing or empty header means no key. */
export function keyFromHeader(name: string): KeyOf {
  return (message) => {
    const value = message.headers?.[name];
    return value === undefined || value === '' ? undefined : value;
  };
}

/**
 * A top-level field of a JSON object payload (`{"customer": "c-17", …}` → `c-17`), for
 * payloads that carry their key in the body rather than in a header.
 */
export function keyFromJsonField(name: string): KeyOf {
  return (message) => {
    const data = message.data;
    // Only objects, and not megabytes of them: the key must cost little per message.
    if (data.byteLength === 0 || data.byteLength > 1 << 20 || data[0] !== 0x7b) return undefined;
    try {
      const value = (
        JSON.parse(
          Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'),
        ) as Record<string, unknown>
      )[name];
      return typeof value === 'string' && value !== ''
        ? value
        : typeof value === 'number'
          ? String(value)
          : undefined;
    } catch {
      return undefined;
    }
  };
}

/** The first key any of `extractors` finds, e.g. the Veda URI, else a header. */
export function firstKeyOf(...extractors: readonly KeyOf[]): KeyOf {
  return (message) => {
    for (const keyOf of extractors) {
      const key = keyOf(message);
      if (key !== undefined) return key;
    }
    return undefined;
  };
}
