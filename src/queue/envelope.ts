import { QueueError } from './errors.ts';

/**
 * The wrapper of a message in a retry, dead-letter or replay queue: why it failed, how often,
 * and where it came from, around the original payload, which stays byte-identical.
 *
 *   offset 0   4 bytes  magic `SDE1`
 *   offset 4   u32 LE   header length H
 *   offset 8   H bytes  UTF-8 JSON header (EnvelopeHeader)
 *   offset 8+H          the original payload, unchanged
 */
export interface EnvelopeHeader {
  /**
   * What the handler said (its reject reason or the message of what it threw), at most
   * MAX_REASON_CHARS: a longer one is cut, saying by how much.
   */
  readonly reason: string;
  /** Rejects so far. */
  readonly attempts: number;
  /** The shard queue the message was first handled from. */
  readonly shard: string;
  /** The worker pool: `default` or a `[pool.NAME]` name. */
  readonly pool: string;
  /** ISO 8601. */
  readonly firstFailedAt: string;
  readonly lastFailedAt: string;
  /** Retry queue only: not handled again before this time (ISO 8601). */
  readonly notBefore?: string;
  /** `rejected` by a worker; `expired` by the distributor. */
  readonly kind: EnvelopeKind;
}

export type EnvelopeKind = 'rejected' | 'expired';

export interface Envelope {
  readonly header: EnvelopeHeader;
  /** The original payload (a view into the decoded buffer). */
  readonly payload: Buffer;
}

export const ENVELOPE_MAGIC = Buffer.from('SDE1', 'ascii');
/**
 * A handler's reason is unbounded (a stack trace, a whole response body): cut, so the envelope
 * is the payload plus a header of a few KiB at most. A queue with a message limit (nats'
 * max_payload) can still refuse the envelope of a payload that just fit: the worker then
 * holds the batch and says so (failure-worker's #moved), it does not exit.
 */
export const MAX_REASON_CHARS = 2_048;
const PREFIX_BYTES = 8;
const KINDS: readonly EnvelopeKind[] = ['rejected', 'expired'];

/** Bytes that are not an envelope where one was expected; the message names the offset or field. */
export class EnvelopeError extends QueueError {
  readonly retryable = false;
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_ENVELOPE', message, options);
  }
}

export function encodeEnvelope(header: EnvelopeHeader, payload: Uint8Array): Buffer {
  checkHeader(header);
  const json = Buffer.from(JSON.stringify({ ...header, reason: cutReason(header.reason) }), 'utf8');
  const prefix = Buffer.alloc(PREFIX_BYTES);
  ENVELOPE_MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(json.byteLength, 4);
  return Buffer.concat([prefix, json, payload]);
}

function cutReason(reason: string): string {
  if (reason.length <= MAX_REASON_CHARS) return reason;
  const note = ` … (${reason.length - MAX_REASON_CHARS} more characters cut)`;
  return reason.slice(0, MAX_REASON_CHARS - note.length) + note;
}

/** Whether `data` starts with the envelope magic (a cheap check; `decodeEnvelope` checks the rest). */
export function isEnvelope(data: Uint8Array): boolean {
  return data.byteLength >= ENVELOPE_MAGIC.byteLength && ENVELOPE_MAGIC.equals(data.subarray(0, 4));
}

export function decodeEnvelope(data: Uint8Array): Envelope {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength < PREFIX_BYTES) {
    throw new EnvelopeError(
      `not an envelope: ${bytes.byteLength} bytes, shorter than the 8-byte prefix at offset 0`,
    );
  }
  if (!isEnvelope(bytes)) {
    throw new EnvelopeError(
      `not an envelope: offset 0 holds ${JSON.stringify(bytes.subarray(0, 4).toString('latin1'))}, not the magic "SDE1"`,
    );
  }
  const length = bytes.readUInt32LE(4);
  if (PREFIX_BYTES + length > bytes.byteLength) {
    throw new EnvelopeError(
      `envelope header length ${length} at offset 4 runs past the end of the ${bytes.byteLength}-byte message`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + length)),
    );
  } catch (err) {
    throw new EnvelopeError(`envelope header at offset 8 (${length} bytes) is not UTF-8 JSON`, {
      cause: err,
    });
  }
  const header = checkHeader(parsed);
  return { header, payload: bytes.subarray(PREFIX_BYTES + length) };
}

/** Validates a header field by field; the error names the first bad one. */
function checkHeader(value: unknown): EnvelopeHeader {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EnvelopeError('envelope header at offset 8 is not a JSON object');
  }
  const h = value as Record<string, unknown>;
  const bad = (field: string, want: string): never => {
    throw new EnvelopeError(
      `envelope header field "${field}" is ${JSON.stringify(h[field]) ?? 'missing'}, not ${want}`,
    );
  };
  if (typeof h['reason'] !== 'string') bad('reason', 'a string');
  const attempts = h['attempts'];
  if (typeof attempts !== 'number' || !Number.isSafeInteger(attempts) || attempts < 0)
    bad('attempts', 'a whole number >= 0');
  if (typeof h['shard'] !== 'string' || h['shard'] === '') bad('shard', 'a queue name');
  if (typeof h['pool'] !== 'string' || h['pool'] === '') bad('pool', 'a pool name');
  for (const field of ['firstFailedAt', 'lastFailedAt']) {
    if (!isTime(h[field])) bad(field, 'an ISO 8601 time');
  }
  if (h['notBefore'] !== undefined && !isTime(h['notBefore'])) bad('notBefore', 'an ISO 8601 time');
  if (!KINDS.includes(h['kind'] as EnvelopeKind)) bad('kind', KINDS.join(' or '));
  return value as EnvelopeHeader;
}

function isTime(value: unknown): boolean {
  return typeof value === 'string' && value !== '' && !Number.isNaN(Date.parse(value));
}
