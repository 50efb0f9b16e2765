import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  HEADER_SIZE,
  MAGIC,
  computeCrc,
  encodeBatch,
  isValidRecord,
  readHeader,
  writeRecord,
} from '../../../src/queue/veda/record.ts';

describe('veda record codec', () => {
  it('lays out the 25-byte header little-endian, with the magic marker and the type byte', () => {
    const buf = Buffer.alloc(HEADER_SIZE + 3);
    const end = writeRecord(buf, 0, Buffer.from('abc'), 0x0102030405, 7, 'S');
    expect(end).toBe(28);
    expect([...buf.subarray(0, 8)]).toEqual([5, 4, 3, 2, 1, 0, 0, 0]);
    expect([...buf.subarray(8, 12)]).toEqual([3, 0, 0, 0]);
    expect([...buf.subarray(12, 16)]).toEqual([0xee, 0xfe, 0xef, 0xee]);
    expect(buf.readUInt32LE(12)).toBe(MAGIC);
    expect([...buf.subarray(16, 20)]).toEqual([7, 0, 0, 0]);
    expect(buf[20]).toBe(0x53);
    expect(buf.subarray(25).toString()).toBe('abc');
  });

  it('computes the CRC-32 over the header with the crc field zeroed, then the body', () => {
    const buf = Buffer.alloc(HEADER_SIZE + 2);
    writeRecord(buf, 0, Buffer.from('hi'), 0, 1, 'O');
    const zeroed = Buffer.from(buf);
    zeroed.fill(0, 21, 25);
    expect(buf.readUInt32LE(21)).toBe(crc32(zeroed));
    expect(computeCrc(buf, 0, 2)).toBe(buf.readUInt32LE(21));
  });

  it('numbers a batch from the count pushed and places it from the right edge', () => {
    const batch = encodeBatch([Buffer.from('a'), Buffer.from(''), Buffer.from('ccc')], 100, 4, 'O');
    expect(batch.length).toBe(3 * HEADER_SIZE + 4);
    const starts = [0, 26, 51];
    expect(starts.map((at) => readHeader(batch, at))).toMatchObject([
      { startPos: 100, length: 1, countPushed: 5 },
      { startPos: 126, length: 0, countPushed: 6 },
      { startPos: 151, length: 3, countPushed: 7 },
    ]);
    expect(starts.every((at) => isValidRecord(batch, at, 100 + at))).toBe(true);
  });

  it('refuses a record with a wrong magic, a foreign start_pos or a flipped body byte', () => {
    const good = encodeBatch([Buffer.from('payload')], 0, 0, 'O');
    expect(isValidRecord(good, 0, 0)).toBe(true);
    expect(isValidRecord(good, 0, 8)).toBe(false);
    const flipped = Buffer.from(good);
    flipped[HEADER_SIZE + 2] = 0;
    expect(isValidRecord(flipped, 0, 0)).toBe(false);
    const noMagic = Buffer.from(good);
    noMagic[13] = 0;
    expect(readHeader(noMagic, 0)).toBeUndefined();
    expect(readHeader(good.subarray(0, 20), 0)).toBeUndefined();
  });
});
