import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  checkName,
  formatInfoPop,
  formatInfoPush,
  formatInfoQueue,
  parseInfoPop,
  parseInfoPush,
  parseInfoQueue,
} from '../../../src/queue/veda/info-lines.ts';

describe('veda info lines', () => {
  it("reads the real queue's lines although their CRCs were made for another queue name", () => {
    expect(parseInfoQueue('test;1;3575042277\n', 'test')).toEqual({ ok: true, value: { id: 1 } });
    expect(crc32('test;1;')).not.toBe(3575042277);
    expect(parseInfoPush('test;8039;16;2307769120\n', 'test')).toEqual({
      ok: true,
      value: { rightEdge: 8039, countPushed: 16 },
    });
    expect(parseInfoPop('test;test1;8039;16;1\n', 'test', 'test1')).toEqual({
      ok: true,
      value: { position: 8039, countPopped: 16, partId: 1 },
    });
  });

  it('counts only the first line, ignoring old bytes after the first newline', () => {
    expect(parseInfoPush('test;9772;23;334545963\n\n', 'test')).toMatchObject({
      value: { rightEdge: 9772 },
    });
    expect(parseInfoQueue('test;2;1\n;9;old-tail-of-a-longer-line\n', 'test')).toEqual({
      ok: true,
      value: { id: 2 },
    });
    expect(parseInfoQueue('test;3;77', 'test')).toEqual({ ok: true, value: { id: 3 } });
  });

  it('refuses a line of another queue or consumer, as Veda does, and garbage', () => {
    expect(parseInfoQueue('other;1;0\n', 'test')).toMatchObject({ ok: false });
    expect(parseInfoPop('test;test2;0;0;0\n', 'test', 'test1')).toMatchObject({
      ok: false,
      reason: 'consumer name is not test1',
    });
    expect(parseInfoPush('test;12x;1;0\n', 'test')).toMatchObject({ ok: false });
    expect(parseInfoPush('test;1;0\n', 'test')).toMatchObject({
      ok: false,
      reason: 'expected 4 fields, found 3',
    });
    expect(parseInfoPush('test;-1;0;0\n', 'test')).toMatchObject({ ok: false });
    expect(parseInfoPop('test;c;1;2;99999999999\n', 'test', 'c')).toMatchObject({ ok: false });
    expect(parseInfoQueue('', 'test')).toEqual({ ok: false, reason: 'empty file' });
  });

  it('writes lines with the decimal CRC-32 of the text before it (none in pop lines)', () => {
    expect(formatInfoQueue('q', { id: 4 })).toBe(`q;4;${crc32('q;4;')}\n`);
    expect(formatInfoPush('q', { rightEdge: 0, countPushed: 0 })).toBe(
      `q;0;0;${crc32('q;0;0;')}\n`,
    );
    expect(formatInfoPop('q', 'c', { position: 10, countPopped: 2, partId: 3 })).toBe(
      'q;c;10;2;3\n',
    );
  });

  it('refuses names that would break a file name or a line', () => {
    for (const bad of ['', 'a;b', 'a/b', '..', 'a\nb'])
      expect(() => checkName('queue', bad)).toThrow(RangeError);
    expect(() => checkName('queue', 'individuals-flow-shard-3')).not.toThrow();
  });
});
