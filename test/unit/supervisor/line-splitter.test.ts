import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../../src/supervisor/line-splitter.ts';

describe('LineSplitter', () => {
  it('cuts a stream into lines, joining pieces across chunks and dropping \\r\\n', () => {
    const s = new LineSplitter();
    expect(s.push(Buffer.from('one\r\ntw'))).toEqual(['one']);
    expect(s.push(Buffer.from('o\nthree'))).toEqual(['two']);
    expect(s.end()).toEqual(['three']);
  });

  it('decodes a UTF-8 character split between chunks', () => {
    const bytes = Buffer.from('żółw\n');
    const s = new LineSplitter();
    expect(s.push(bytes.subarray(0, 2))).toEqual([]);
    expect(s.push(bytes.subarray(2))).toEqual(['żółw']);
    expect(s.end()).toEqual([]);
  });

  it('keeps empty lines', () => {
    expect(new LineSplitter().push(Buffer.from('a\n\nb\n'))).toEqual(['a', '', 'b']);
  });

  it('cuts a line longer than the limit into pieces, so output without newlines stays bounded', () => {
    const s = new LineSplitter(4);
    expect(s.push(Buffer.from('abcdefghij'))).toEqual(['abcd', 'efgh']);
    expect(s.push(Buffer.from('k\n123456\n'))).toEqual(['ijk', '1234', '56']);
  });
});
