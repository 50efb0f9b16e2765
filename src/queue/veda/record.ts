import { crc32 } from 'node:zlib';

/**
 * The v_queue record: a 25-byte header then the body, integers little-endian.
 *
 *   0 u64 start_pos | 8 u32 msg_length | 12 magic EE FE EF EE | 16 u32 count_pushed
 *   20 u8 msg_type ('S' | 'O') | 21 u32 crc
 *
 * crc = CRC-32 (zlib) of the header with bytes 21..24 zeroed, then the body.
 */
export const HEADER_SIZE = 25;
export const MAGIC = 0xeeeffeee;
export const MAX_BODY_LENGTH = 0x7fffffff;
export const MSG_TYPE_STRING = 0x53;
export const MSG_TYPE_OBJECT = 0x4f;

export type MessageType = 'S' | 'O';

export interface RecordHeader {
  readonly startPos: number;
  readonly length: number;
  readonly countPushed: number;
  readonly msgType: number;
  readonly crc: number;
}

const ZERO_CRC = Buffer.alloc(4);

export function recordSize(bodyLength: number): number {
  return HEADER_SIZE + bodyLength;
}

/** Encodes one record into `target` at `at` and returns the offset after it. */
export function writeRecord(
  target: Buffer,
  at: number,
  body: Uint8Array,
  startPos: number,
  countPushed: number,
  msgType: MessageType,
): number {
  if (body.length > MAX_BODY_LENGTH) {
    throw new RangeError(
      `record body of ${body.length} bytes is longer than v_queue allows (${MAX_BODY_LENGTH})`,
    );
  }
  target.writeBigUInt64LE(BigInt(startPos), at);
  target.writeUInt32LE(body.length, at + 8);
  target.writeUInt32LE(MAGIC, at + 12);
  target.writeUInt32LE(countPushed, at + 16);
  target[at + 20] = msgType === 'S' ? MSG_TYPE_STRING : MSG_TYPE_OBJECT;
  target.writeUInt32LE(0, at + 21);
  const crc = crc32(body, crc32(target.subarray(at, at + HEADER_SIZE)));
  target.writeUInt32LE(crc, at + 21);
  target.set(body, at + HEADER_SIZE);
  return at + HEADER_SIZE + body.length;
}

/**
 * Encodes a batch as one buffer (one write per batch). Records are numbered from
 * `countPushed + 1` and placed from byte `startPos` of the part.
 */
export function encodeBatch(
  bodies: readonly Uint8Array[],
  startPos: number,
  countPushed: number,
  msgType: MessageType,
): Buffer {
  let total = 0;
  for (const body of bodies) total += recordSize(body.length);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  let count = countPushed;
  for (const body of bodies) {
    count += 1;
    at = writeRecord(out, at, body, startPos + at, count, msgType);
  }
  return out;
}

/** True when the bytes at `at` carry the magic marker in the right place. */
export function hasMagic(buf: Uint8Array, at: number): boolean {
  return (
    buf.length >= at + 16 &&
    buf[at + 12] === 0xee &&
    buf[at + 13] === 0xfe &&
    buf[at + 14] === 0xef &&
    buf[at + 15] === 0xee
  );
}

/**
 * Reads a header without judging it beyond its shape: `undefined` when the magic is wrong or
 * start_pos does not fit in a JS number. Callers check start_pos against the offset.
 */
export function readHeader(buf: Buffer, at: number): RecordHeader | undefined {
  if (buf.length < at + HEADER_SIZE || !hasMagic(buf, at)) return undefined;
  const startPos = buf.readBigUInt64LE(at);
  if (startPos > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return {
    startPos: Number(startPos),
    length: buf.readUInt32LE(at + 8),
    countPushed: buf.readUInt32LE(at + 16),
    msgType: buf[at + 20] ?? 0,
    crc: buf.readUInt32LE(at + 21),
  };
}

/** CRC of a whole record (header at `at`, body right after it) as v_queue computes it. */
export function computeCrc(buf: Buffer, at: number, bodyLength: number): number {
  let crc = crc32(buf.subarray(at, at + 21));
  crc = crc32(ZERO_CRC, crc);
  return crc32(buf.subarray(at + HEADER_SIZE, at + HEADER_SIZE + bodyLength), crc);
}

/** Does the whole record at `at` (header + body, all inside `buf`) check out at offset `offset` of its part? */
export function isValidRecord(buf: Buffer, at: number, offset: number): boolean {
  const header = readHeader(buf, at);
  if (!header || header.startPos !== offset) return false;
  if (buf.length < at + HEADER_SIZE + header.length) return false;
  return computeCrc(buf, at, header.length) === header.crc;
}
