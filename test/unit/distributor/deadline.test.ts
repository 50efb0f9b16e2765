import { describe, expect, it } from 'vitest';
import { deadlineOf, isExpired } from '../../../src/distributor/deadline.ts';

const json = (value: unknown) => ({ data: Buffer.from(JSON.stringify(value)) });
const NOW = Date.parse('2026-11-23T12:00:00Z');

describe('deadlineOf: when a message stops being worth delivering', () => {
  it('reads the deadline header as epoch milliseconds or RFC 3339', () => {
    expect(deadlineOf({ data: Buffer.from('x'), headers: { deadline: '1000' } })).toBe(1000);
    expect(
      deadlineOf({ data: Buffer.from('x'), headers: { deadline: '2026-11-23T12:00:00Z' } }),
    ).toBe(NOW);
  });

  it('prefers the header to the payload', () => {
    expect(deadlineOf({ ...json({ deadline: 5 }), headers: { deadline: '7' } })).toBe(7);
  });

  it('reads a JSON payload’s top-level deadline field, number or string', () => {
    expect(deadlineOf(json({ id: 1, deadline: 1234 }))).toBe(1234);
    expect(deadlineOf(json({ deadline: '2026-11-23T12:00:00+00:00' }))).toBe(NOW);
  });

  it('has none for other payloads, nested fields, or values it cannot read', () => {
    expect(deadlineOf({ data: Buffer.from([0x92, 0xa1, 0x61]) })).toBeUndefined();
    expect(deadlineOf(json({ meta: { deadline: 5 } }))).toBeUndefined();
    expect(deadlineOf(json({ deadline: 'tomorrow' }))).toBeUndefined();
    expect(deadlineOf(json({ deadline: '2026-11-23' }))).toBeUndefined();
    expect(deadlineOf(json([{ deadline: 5 }]))).toBeUndefined();
    expect(deadlineOf({ data: Buffer.from('{"deadline": 5') })).toBeUndefined();
    expect(deadlineOf({ data: Buffer.from('x'), headers: { deadline: '' } })).toBeUndefined();
  });
});

describe('isExpired', () => {
  it('is expired only once the deadline has passed', () => {
    expect(isExpired(json({ deadline: NOW - 1 }), NOW)).toBe(true);
    expect(isExpired(json({ deadline: NOW }), NOW)).toBe(false);
    expect(isExpired(json({ deadline: NOW + 1 }), NOW)).toBe(false);
    expect(isExpired(json({ id: 1 }), NOW)).toBe(false);
  });
});
