import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encode } from '@msgpack/msgpack';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MatchRule, PoolConfig } from '../../../src/config/index.ts';
import { PoolRouter } from '../../../src/distributor/index.ts';
import type { Message } from '../../../src/distributor/strategies/index.ts';

const FIXTURE = join(import.meta.dirname, '../../fixtures/veda-queue-small');
const MiB = 1 << 20;

function pool(name: string, match: MatchRule): PoolConfig {
  return {
    name,
    match,
    minWorkers: 1,
    drainingShards: [],
    strategy: 'ZeroLoadFirst',
    subQueuePrefix: `q-${name}`,
    workerModule: 'w',
    workerArgsTemplate: '',
    backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
  };
}

const bytes = (size: number): Message => ({ data: new Uint8Array(size) });
const json = (value: unknown, headers?: Record<string, string>): Message => ({
  data: new TextEncoder().encode(JSON.stringify(value)),
  ...(headers === undefined ? {} : { headers }),
});
/** A Veda individual as Veda writes it: `[uri, {predicate: [[type, value, lang?], …]}]`. */
const individual = (uri: string, predicates: Record<string, unknown[][]>): Message => ({
  data: encode([uri, predicates]),
});

const DOCUMENT = individual('d:doc1', {
  'rdf:type': [
    [1, 'v-s:Document'],
    [1, 'v-s:Contract'],
  ],
  'v-s:hasClassifier': [
    [1, 'd:c1'],
    [1, 'd:c2'],
  ],
  'v-s:pages': [[4, 12]],
  'v-s:signed': [[64, true]],
  'rdfs:label': [[2, 'Договор', 2]],
});

/** The bodies of the real Veda queue, walked as test/queue/veda-fixture.test.ts does. */
function fixtureMessages(): Message[] {
  const out: Message[] = [];
  for (const part of [0, 1]) {
    const file = readFileSync(join(FIXTURE, `test-${part}`, 'test_queue'));
    for (let at = 0; at < file.length;) {
      const length = file.readUInt32LE(at + 8);
      out.push({ data: file.subarray(at + 25, at + 25 + length) });
      at += 25 + length;
    }
  }
  return out;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('PoolRouter: size tiers and order', () => {
  const router = new PoolRouter([
    pool('small', { belowBytes: 1024 }),
    pool('medium', { minBytes: 1024, belowBytes: MiB }),
    pool('large', { minBytes: MiB }),
  ]);

  it.each([
    [0, 'small'],
    [1023, 'small'],
    [1024, 'medium'],
    [MiB - 1, 'medium'],
    [MiB, 'large'],
    [3 * MiB, 'large'],
  ])('puts %i bytes in %s (below_bytes is exclusive, min_bytes inclusive)', (size, name) => {
    expect(router.poolOf(bytes(size))).toBe(name);
  });

  it('gives a message no pool matches to the default pool (undefined)', () => {
    const tiers = new PoolRouter([pool('mid', { minBytes: 10, belowBytes: 20 })]);
    expect(tiers.poolOf(bytes(9))).toBeUndefined();
    expect(tiers.poolOf(bytes(20))).toBeUndefined();
    expect(new PoolRouter([]).poolOf(DOCUMENT)).toBeUndefined();
  });

  it('tries pools in order: the first that matches wins', () => {
    const docsFirst = new PoolRouter([
      pool('docs', { messageType: 'v-s:Document' }),
      pool('any-size', { minBytes: 0 }),
    ]);
    const sizeFirst = new PoolRouter([
      pool('any-size', { minBytes: 0 }),
      pool('docs', { messageType: 'v-s:Document' }),
    ]);
    expect(docsFirst.poolOf(DOCUMENT)).toBe('docs');
    expect(sizeFirst.poolOf(DOCUMENT)).toBe('any-size');
  });

  it('requires every condition of a rule (AND)', () => {
    const router = new PoolRouter([
      pool('big-docs', { minBytes: 1000, messageType: 'v-s:Document' }),
    ]);
    expect(router.poolOf(DOCUMENT)).toBeUndefined();
    const big = individual('d:big', {
      'rdf:type': [[1, 'v-s:Document']],
      'v-s:content': [[2, 'x'.repeat(2000)]],
    });
    expect(router.poolOf(big)).toBe('big-docs');
    expect(router.poolOf(bytes(5000))).toBeUndefined();
  });
});

describe('PoolRouter: match_header', () => {
  const router = new PoolRouter([pool('acme', { header: { name: 'tenant', value: 'acme' } })]);

  it('matches a header', () => {
    expect(router.poolOf({ data: new Uint8Array(), headers: { tenant: 'acme' } })).toBe('acme');
    expect(router.poolOf({ data: new Uint8Array(), headers: { tenant: 'other' } })).toBeUndefined();
  });

  it("matches a JSON object payload's top-level field when there is no such header", () => {
    expect(router.poolOf(json({ tenant: 'acme', n: 1 }))).toBe('acme');
    expect(router.poolOf(json({ tenant: 'other' }))).toBeUndefined();
    expect(router.poolOf(json({ nested: { tenant: 'acme' } }))).toBeUndefined();
    expect(router.poolOf(json([{ tenant: 'acme' }]))).toBeUndefined();
  });

  it('lets a present header decide, without reading the payload', () => {
    const parse = vi.spyOn(JSON, 'parse');
    expect(router.poolOf(json({ tenant: 'acme' }, { tenant: 'other' }))).toBeUndefined();
    expect(router.poolOf(json({ tenant: 'other' }, { tenant: 'acme' }))).toBe('acme');
    expect(parse).not.toHaveBeenCalled();
  });

  it('compares JSON numbers and booleans as String() writes them, nothing else', () => {
    const seven = new PoolRouter([pool('p', { header: { name: 'n', value: '7' } })]);
    const yes = new PoolRouter([pool('p', { header: { name: 'ok', value: 'true' } })]);
    expect(seven.poolOf(json({ n: 7 }))).toBe('p');
    expect(seven.poolOf(json({ n: '7' }))).toBe('p');
    expect(seven.poolOf(json({ n: [7] }))).toBeUndefined();
    expect(seven.poolOf(json({ n: null }))).toBeUndefined();
    expect(yes.poolOf(json({ ok: true }))).toBe('p');
  });

  it('never matches an inherited name such as constructor', () => {
    const inherited = new PoolRouter([
      pool('p', { header: { name: 'constructor', value: 'function Object() { [native code] }' } }),
    ]);
    expect(inherited.poolOf(json({}, {}))).toBeUndefined();
    expect(inherited.poolOf(json({}))).toBeUndefined();
  });
});

describe('PoolRouter: match_type', () => {
  const router = new PoolRouter([pool('docs', { messageType: 'v-s:Document' })]);

  it('reads the type header first', () => {
    expect(router.poolOf({ data: new Uint8Array(), headers: { type: 'v-s:Document' } })).toBe(
      'docs',
    );
    // The header decides even when the payload says otherwise.
    expect(router.poolOf({ data: DOCUMENT.data, headers: { type: 'v-s:Person' } })).toBeUndefined();
  });

  it("then a JSON object payload's string type field", () => {
    expect(router.poolOf(json({ type: 'v-s:Document' }))).toBe('docs');
    expect(router.poolOf(json({ type: 'v-s:Person' }))).toBeUndefined();
    expect(router.poolOf(json({ kind: 'v-s:Document' }))).toBeUndefined();
    expect(router.poolOf(json({ type: ['v-s:Document'] }))).toBeUndefined();
  });

  it("then any of a Veda individual's rdf:type values", () => {
    expect(router.poolOf(DOCUMENT)).toBe('docs');
    expect(new PoolRouter([pool('c', { messageType: 'v-s:Contract' })]).poolOf(DOCUMENT)).toBe('c');
    expect(router.poolOf(individual('d:p', { 'rdf:type': [[1, 'v-s:Person']] }))).toBeUndefined();
    expect(router.poolOf(individual('d:none', {}))).toBeUndefined();
  });

  it('then the rdf:type of the individual a change event carries: new_state, or prev_state of a removal', () => {
    const event = (state: 'new_state' | 'prev_state', carried: Uint8Array) =>
      individual('event-1', { cmd: [[4, 1]], [state]: [[128, carried]] });
    expect(router.poolOf(event('new_state', DOCUMENT.data))).toBe('docs');
    expect(router.poolOf(event('prev_state', DOCUMENT.data))).toBe('docs');
    const person = individual('d:p', { 'rdf:type': [[1, 'v-s:Person']] }).data;
    expect(router.poolOf(event('new_state', person))).toBeUndefined();
    // A carried state that is not an individual matches no type, and throws nothing.
    expect(router.poolOf(event('new_state', new Uint8Array([0x92, 0xff, 0x00])))).toBeUndefined();
    expect(
      router.poolOf(event('new_state', encode({ 'rdf:type': 'v-s:Document' }))),
    ).toBeUndefined();
  });
});

describe('PoolRouter: match_predicate', () => {
  const byClassifier = (value: string) =>
    new PoolRouter([pool('p', { predicate: { name: 'v-s:hasClassifier', value } })]);

  it('matches a Veda individual with that value among the predicate values', () => {
    expect(byClassifier('d:c1').poolOf(DOCUMENT)).toBe('p');
    expect(byClassifier('d:c2').poolOf(DOCUMENT)).toBe('p');
    expect(byClassifier('d:c3').poolOf(DOCUMENT)).toBeUndefined();
  });

  it('compares integers, booleans and language strings by their text', () => {
    const router = (name: string, value: string) =>
      new PoolRouter([pool('p', { predicate: { name, value } })]);
    expect(router('v-s:pages', '12').poolOf(DOCUMENT)).toBe('p');
    expect(router('v-s:signed', 'true').poolOf(DOCUMENT)).toBe('p');
    expect(router('rdfs:label', 'Договор').poolOf(DOCUMENT)).toBe('p');
    expect(router('v-s:missing', 'x').poolOf(DOCUMENT)).toBeUndefined();
  });

  it('needs a Veda individual: JSON and headers do not count', () => {
    const router = byClassifier('d:c1');
    expect(router.poolOf(json({ 'v-s:hasClassifier': 'd:c1' }))).toBeUndefined();
    expect(
      router.poolOf({ data: new Uint8Array(), headers: { 'v-s:hasClassifier': 'd:c1' } }),
    ).toBeUndefined();
  });
});

describe('PoolRouter on the real Veda queue (veda-queue-small)', () => {
  const messages = fixtureMessages();

  it('holds the 39 records the queue tests expect', () => {
    expect(messages).toHaveLength(39);
  });

  it('routes by a predicate of the real individuals, by URI and by integer value', () => {
    const router = new PoolRouter([
      pool('classes', { predicate: { name: 'uri', value: 'rdfs:Class' } }),
      pool('op-3', { predicate: { name: 'op_id', value: '3' } }),
    ]);
    const routed = messages.map((m) => router.poolOf(m));
    expect(routed.filter((name) => name !== undefined)).toEqual(['op-3', 'classes']);
    expect(routed[2]).toBe('op-3');
    expect(routed[25]).toBe('classes');
  });

  it('combines a size tier with a predicate every record has', () => {
    const router = new PoolRouter([
      pool('small', { belowBytes: 400, predicate: { name: 'cmd', value: '1' } }),
    ]);
    const small = messages.filter((m) => router.poolOf(m) === 'small');
    expect(small).toHaveLength(11);
    expect(small.every((m) => m.data.byteLength < 400)).toBe(true);
  });

  it('reads rdf:type of the individual a change event carries in new_state', () => {
    // The queue's individuals are change events with no rdf:type of their own; the changed
    // individual is in new_state, a msgpack string of binary msgpack.
    const router = new PoolRouter([pool('classes', { messageType: 'rdfs:Class' })]);
    const routed = messages.map((m) => router.poolOf(m));
    const uri = (m: Message) =>
      (decode(m.data) as [string, Record<string, unknown[][]>])[1]['uri']![0]![1];
    const classes = messages.filter((_, i) => routed[i] === 'classes').map(uri);
    // rdf:Property and rdfs:Class are declared rdfs:Class in this queue; rdf:type is an rdf:Property.
    expect(classes).toContain('rdf:Property');
    expect(classes).not.toContain('rdf:type');
    expect(classes.length).toBeGreaterThan(0);
    expect(classes.length).toBeLessThan(messages.length);
  });
});

describe('PoolRouter: cost and robustness', () => {
  it('does not parse a payload for rules that need no payload', () => {
    const parse = vi.spyOn(JSON, 'parse');
    const router = new PoolRouter([pool('a', { minBytes: 5 }), pool('b', { belowBytes: 2 })]);
    expect(router.poolOf(json({ type: 'x' }))).toBe('a');
    expect(router.poolOf(json({}))).toBeUndefined();
    expect(parse).not.toHaveBeenCalled();
  });

  it('parses a payload at most once per message, however many rules read it', () => {
    const parse = vi.spyOn(JSON, 'parse');
    const router = new PoolRouter([
      pool('a', { messageType: 'a' }),
      pool('b', { header: { name: 'tenant', value: 'b' } }),
      pool('c', { messageType: 'c', header: { name: 'tenant', value: 'c' } }),
      pool('d', { predicate: { name: 'p', value: 'd' } }),
    ]);
    expect(router.poolOf(json({ type: 'c', tenant: 'c' }))).toBe('c');
    expect(parse).toHaveBeenCalledTimes(1);
    expect(router.poolOf(json({ type: 'none' }))).toBeUndefined();
    expect(parse).toHaveBeenCalledTimes(2);
  });

  it('does not parse payloads over 1 MiB, but still routes them by size and header', () => {
    const padding = 'x'.repeat(MiB);
    const big = json({ type: 'docs', tenant: 'acme', padding });
    expect(new PoolRouter([pool('docs', { messageType: 'docs' })]).poolOf(big)).toBeUndefined();
    const router = new PoolRouter([
      pool('docs', { messageType: 'docs' }),
      pool('acme', { minBytes: MiB, header: { name: 'tenant', value: 'acme' } }),
    ]);
    expect(router.poolOf({ ...big, headers: { tenant: 'acme' } })).toBe('acme');
    const bigIndividual = individual('d:big', {
      'rdf:type': [[1, 'docs']],
      'v-s:content': [[2, padding]],
    });
    expect(router.poolOf(bigIndividual)).toBeUndefined();
  });

  it('never throws on garbage, truncated or hostile payloads', () => {
    const router = new PoolRouter([
      pool('size', { minBytes: 1_000_000_000 }),
      pool('type', { messageType: 't' }),
      pool('header', { header: { name: 'h', value: 'v' } }),
      pool('predicate', { predicate: { name: 'p', value: 'v' } }),
    ]);
    const encoder = new TextEncoder();
    const cases: Uint8Array[] = [
      new Uint8Array(),
      new Uint8Array([0x7b]),
      new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), // "{" + invalid UTF-8 + "}"
      encoder.encode('{"type": "t"'), // truncated JSON
      encoder.encode('{"type": "t"} trailing'),
      encoder.encode(`{"a":${'['.repeat(100_000)}`), // deeply nested and unfinished
      new Uint8Array([0x92]),
      new Uint8Array([0x92, 0xa3, 0x64, 0x3a]), // URI cut short
      new Uint8Array([0x92, 0xdb, 0xff, 0xff, 0xff, 0xff]), // a 4 GiB URI that is not there
      new Uint8Array([0x92, 0xa1, 0x61, 0xdf, 0xff, 0xff, 0xff, 0xff]), // a huge map that is not there
      encode(['d:a', { p: [[2, 'v']] }, 'extra']).subarray(0, 10),
      encode(['d:a', [[2, 'v']]]), // predicates not a map
      encode([42, { p: [[2, 'v']] }]), // URI not a string
      encode(['d:a', { p: 'v' }]), // values not a list
      encode(['d:a', { p: ['v', null, [2], [2, { v: 1 }]] }]), // values not [type, value]
      Uint8Array.from([...encode(['d:a', { p: [[2, 'v']] }]), 0x00]), // trailing byte
      new Uint8Array([0x92, 0xa1, 0x61, 0x81, 0xa9, ...encoder.encode('__proto__'), 0x90]),
    ];
    let state = 7;
    for (let i = 0; i < 200; i++) {
      const length = 1 + (i % 64);
      const data = new Uint8Array(length);
      for (let j = 0; j < length; j++) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        data[j] = state >>> 24;
      }
      data[0] = i % 2 === 0 ? 0x92 : 0x7b;
      cases.push(data);
    }
    for (const data of cases) {
      expect(() => router.poolOf({ data }), String([...data.subarray(0, 12)])).not.toThrow();
      expect(router.poolOf({ data, headers: { h: 'v' } })).toBe('header');
    }
    // Hostile input matched nothing it should not have.
    expect(cases.map((data) => router.poolOf({ data })).filter((n) => n !== undefined)).toEqual([]);
  });
});
