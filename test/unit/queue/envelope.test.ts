import { describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  encodeEnvelope,
  EnvelopeError,
  isEnvelope,
  MAX_REASON_CHARS,
  type EnvelopeHeader,
} from '../../../src/queue/index.ts';

const header: EnvelopeHeader = {
  reason: 'no such individual: d:x',
  attempts: 5,
  shard: 'individuals-flow-shard-3',
  pool: 'default',
  firstFailedAt: '2025-01-01T00:00:00.000Z',
  lastFailedAt: '2025-01-01T00:05:00.000Z',
  kind: 'rejected',
};

function raw(json: string, payload = Buffer.alloc(0), length?: number): Buffer {
  const body = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.write('SDE1', 0, 'ascii');
  prefix.writeUInt32LE(length ?? body.byteLength, 4);
  return Buffer.concat([prefix, body, payload]);
}

describe('envelope', () => {
  it('round-trips the header and keeps the payload byte for byte', () => {
    const payload = Buffer.from([0x00, 0xff, 0x53, 0x44, 0x45, 0x31, 0x0a]);
    const encoded = encodeEnvelope({ ...header, notBefore: '2025-01-01T00:06:00.000Z' }, payload);
    expect(encoded.subarray(0, 4).toString('ascii')).toBe('SDE1');
    expect(isEnvelope(encoded)).toBe(true);
    const decoded = decodeEnvelope(encoded);
    expect(decoded.header).toEqual({ ...header, notBefore: '2025-01-01T00:06:00.000Z' });
    expect(decoded.payload.equals(payload)).toBe(true);
  });

  it('cuts a reason longer than MAX_REASON_CHARS, saying how much, and keeps the payload whole', () => {
    const payload = Buffer.alloc(1_000, 7);
    const long = 'x'.repeat(100_000);
    const decoded = decodeEnvelope(encodeEnvelope({ ...header, reason: long }, payload));
    expect(decoded.header.reason).toHaveLength(MAX_REASON_CHARS);
    expect(decoded.header.reason).toMatch(/^x+ … \(\d+ more characters cut\)$/);
    expect(decoded.payload.equals(payload)).toBe(true);
    const exact = 'y'.repeat(MAX_REASON_CHARS);
    expect(
      decodeEnvelope(encodeEnvelope({ ...header, reason: exact }, payload)).header.reason,
    ).toBe(exact);
  });

  it('wraps an empty payload and an envelope inside an envelope', () => {
    expect(decodeEnvelope(encodeEnvelope(header, Buffer.alloc(0))).payload).toHaveLength(0);
    const inner = encodeEnvelope(header, Buffer.from('x'));
    const outer = decodeEnvelope(encodeEnvelope({ ...header, kind: 'expired' }, inner));
    expect(outer.header.kind).toBe('expired');
    expect(outer.payload.equals(inner)).toBe(true);
  });

  it('refuses to encode a header it could not decode', () => {
    expect(() => encodeEnvelope({ ...header, attempts: -1 }, Buffer.alloc(0))).toThrow(
      EnvelopeError,
    );
  });

  it.each([
    ['a short message', Buffer.from('SDE'), /shorter than the 8-byte prefix at offset 0/],
    [
      'another magic',
      Buffer.from('{"json":"payload"}'),
      /offset 0 holds "\{\\"js", not the magic "SDE1"/,
    ],
    [
      'a header length past the end',
      raw('{}', Buffer.alloc(0), 99),
      /length 99 at offset 4 runs past the end/,
    ],
    ['a header that is not JSON', raw('{nope'), /header at offset 8 \(5 bytes\) is not UTF-8 JSON/],
    ['a header that is not UTF-8', raw('\uFFFD').fill(0xff, 8), /not UTF-8 JSON/],
    ['a header that is an array', raw('[1]'), /is not a JSON object/],
    [
      'a missing reason',
      raw(JSON.stringify({ ...header, reason: undefined })),
      /field "reason" is missing, not a string/,
    ],
    [
      'fractional attempts',
      raw(JSON.stringify({ ...header, attempts: 1.5 })),
      /field "attempts" is 1.5, not a whole number/,
    ],
    [
      'an empty shard',
      raw(JSON.stringify({ ...header, shard: '' })),
      /field "shard" is "", not a queue name/,
    ],
    [
      'a bad time',
      raw(JSON.stringify({ ...header, lastFailedAt: 'yesterday' })),
      /field "lastFailedAt" is "yesterday", not an ISO 8601 time/,
    ],
    ['a bad notBefore', raw(JSON.stringify({ ...header, notBefore: 5 })), /field "notBefore" is 5/],
    [
      'an unknown kind',
      raw(JSON.stringify({ ...header, kind: 'lost' })),
      /field "kind" is "lost", not rejected or expired/,
    ],
  ])('names the offset or field of %s', (_what, data, message) => {
    let error: unknown;
    try {
      decodeEnvelope(data);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EnvelopeError);
    expect(error).toMatchObject({ code: 'SD_ERR_ENVELOPE' });
    expect((error as Error).message).toMatch(message);
  });
});
