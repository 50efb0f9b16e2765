import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  checkName,
  formatInfoPop,
  formatInfoPush,
  formatInfoQueue,
  hasOwnCrc,
  parseInfoPop,
  parseInfoPush,
  parseInfoQueue,
} from '../../../src/queue/veda/info-lines.ts';
import { readSettledLine } from '../../../src/queue/veda/layout.ts';

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

  it('tells a line its writer finished from one caught half written', () => {
    const written = formatInfoPush('q', { rightEdge: 1000, countPushed: 10 });
    const next = formatInfoPush('q', { rightEdge: 1100, countPushed: 11 });
    expect(hasOwnCrc(written)).toBe(true);
    expect(hasOwnCrc(`${written}old bytes`)).toBe(true);
    // The first bytes of the new line over the rest of the old one.
    const torn = next.slice(0, 6) + written.slice(6);
    expect(torn).toMatch(/^q;1100;10;\d+\n$/);
    expect(hasOwnCrc(torn)).toBe(false);
    expect(hasOwnCrc('test;8039;16;2307769120\n')).toBe(false);
    expect(hasOwnCrc('')).toBe(false);
  });
});

describe('readSettledLine', () => {
  const reads = (...texts: (string | undefined)[]) => {
    let i = 0;
    const read = async () => texts[Math.min(i++, texts.length - 1)];
    return { read, count: () => i };
  };
  const good = formatInfoPush('q', { rightEdge: 1100, countPushed: 11 });
  const torn = 'q;1100;10;' + good.split(';')[3];

  it('reads a half-written line again until its writer has finished it', async () => {
    const r = reads(torn, good);
    expect(await readSettledLine('p', r.read)).toBe(good);
    expect(r.count()).toBe(2);
  });

  it('takes a line whose CRC was made for another name once it reads the same twice', async () => {
    const foreign = 'test;8039;16;2307769120\n';
    const r = reads(foreign, foreign, good);
    expect(await readSettledLine('p', r.read)).toBe(foreign);
    expect(r.count()).toBe(2);
  });

  it('reads a matching line, a missing file and an empty one once', async () => {
    for (const text of [good, undefined, '']) {
      const r = reads(text, 'never');
      expect(await readSettledLine('p', r.read)).toBe(text);
      expect(r.count()).toBe(1);
    }
  });

  it('gives up after a few reads of a line that keeps changing', async () => {
    const r = reads('q;1;1;1\n', 'q;2;2;2\n', 'q;3;3;3\n', 'q;4;4;4\n', 'q;5;5;5\n');
    expect(await readSettledLine('p', r.read)).toBe('q;4;4;4\n');
    expect(r.count()).toBe(4);
  });
});
