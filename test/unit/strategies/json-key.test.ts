import { describe, expect, it } from 'vitest';
import { keyFromJsonField } from '../../../src/distributor/strategies/index.ts';

const keyOf = keyFromJsonField('customer');
const msg = (text: string) => ({ data: Buffer.from(text) });

describe('keyFromJsonField', () => {
  it('reads a top-level string or number field of a JSON object payload', () => {
    expect(keyOf(msg('{"customer":"c-17","total":3}'))).toBe('c-17');
    expect(keyOf(msg('{"customer":42}'))).toBe('42');
  });

  it('finds no key in other payloads, without throwing', () => {
    for (const text of [
      '',
      '[1,2]',
      '{"other":"x"}',
      '{"customer":""}',
      '{"customer":{"id":1}}',
      '{not json',
      'plain text',
    ]) {
      expect(keyOf(msg(text))).toBeUndefined();
    }
  });
});
