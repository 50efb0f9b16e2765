import { describe, expect, it } from 'vitest';
import {
  firstKeyOf,
  keyFromHeader,
  keyFromVedaIndividual,
  vedaIndividualUri,
} from '../../../src/distributor/strategies/index.ts';

const utf8 = (text: string) => [...new TextEncoder().encode(text)];

/** `{"rdf:type": [[2, "v-s:Person"]]}` in msgpack: the part after the URI, which must be ignored. */
const body = [0x81, 0xa8, ...utf8('rdf:type'), 0x91, 0x92, 0x02, 0xaa, ...utf8('v-s:Person')];

describe('vedaIndividualUri', () => {
  it('reads the URI of an individual with a short (fixstr) URI', () => {
    const data = new Uint8Array([0x92, 0xa0 | 5, ...utf8('d:abc'), ...body]);
    expect(vedaIndividualUri(data)).toBe('d:abc');
  });

  it('reads str8, str16 and str32 URIs', () => {
    const uri = `d:${'x'.repeat(40)}`;
    const n = uri.length;
    const str8 = [0x92, 0xd9, n, ...utf8(uri), ...body];
    const str16 = [0x92, 0xda, 0, n, ...utf8(uri), ...body];
    const str32 = [0x92, 0xdb, 0, 0, 0, n, ...utf8(uri), ...body];
    for (const bytes of [str8, str16, str32]) {
      expect(vedaIndividualUri(new Uint8Array(bytes))).toBe(uri);
    }
  });

  it('decodes a UTF-8 URI and works on a view into a larger buffer', () => {
    const uri = 'd:Иванов';
    const encoded = utf8(uri);
    const buffer = new Uint8Array([0xff, 0xff, 0x92, 0xd9, encoded.length, ...encoded, ...body]);
    expect(vedaIndividualUri(buffer.subarray(2))).toBe(uri);
  });

  it('returns undefined for bytes that are not a msgpack individual', () => {
    const cases = [
      new Uint8Array(),
      new Uint8Array(utf8('{"@":"d:abc"}')),
      new Uint8Array([0xa2, 0x61, 0x40]), // CBOR map
      new Uint8Array([0x93, 0xa1, 0x61]), // array of 3
      new Uint8Array([0x92, 0x01, 0x02]), // first element not a string
      new Uint8Array([0x92, 0xa5, ...utf8('d:a')]), // truncated
      new Uint8Array([0x92, 0xda, 0x00]), // truncated length
      new Uint8Array([0x92, 0xa0, 0x80]), // empty URI
      new Uint8Array([0x92, 0xa2, 0xc3, 0x28]), // invalid UTF-8
    ];
    for (const data of cases) expect(vedaIndividualUri(data)).toBeUndefined();
  });
});

describe('key extractors', () => {
  const individual = new Uint8Array([0x92, 0xa3, ...utf8('d:a'), ...body]);

  it('takes the key from a named header, treating a missing or empty one as no key', () => {
    const byTenant = keyFromHeader('tenant');
    expect(byTenant({ data: individual, headers: { tenant: 't1' } })).toBe('t1');
    expect(byTenant({ data: individual, headers: { tenant: '' } })).toBeUndefined();
    expect(byTenant({ data: individual })).toBeUndefined();
  });

  it('uses the first extractor that finds a key', () => {
    const keyOf = firstKeyOf(keyFromVedaIndividual, keyFromHeader('tenant'));
    expect(keyOf({ data: individual, headers: { tenant: 't1' } })).toBe('d:a');
    expect(keyOf({ data: new Uint8Array([1]), headers: { tenant: 't1' } })).toBe('t1');
    expect(keyOf({ data: new Uint8Array([1]) })).toBeUndefined();
  });
});
