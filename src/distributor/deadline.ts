import type { Message } from './strategies/index.ts';

/** The header (nats) or top-level JSON field that carries a message's deadline. */
export const DEADLINE_FIELD = 'deadline';

// A deadline in a payload bigger than this is not looked for: one huge message must not
// cost the loop a parse.
const MAX_PARSED_BYTES = 1 << 20;
const FIELD_BYTES = Buffer.from(`"${DEADLINE_FIELD}"`);

/**
 * When a message stops being worth delivering, in epoch milliseconds: the `deadline` header,
 * else a JSON object payload's top-level `deadline` field. Either holds epoch milliseconds
 * or an RFC 3339 time. Undefined when there is none or it cannot be read (the message is then
 * delivered: a deadline that cannot be read never drops a message). Pure.
 */
export function deadlineOf(message: Message): number | undefined {
  const header = message.headers?.[DEADLINE_FIELD];
  if (header !== undefined) return parseDeadline(header);
  const data = message.data;
  if (data.byteLength > MAX_PARSED_BYTES || data[0] !== 0x7b) return undefined;
  if (Buffer.from(data.buffer, data.byteOffset, data.byteLength).indexOf(FIELD_BYTES) < 0)
    return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'),
    );
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const value = (parsed as Record<string, unknown>)[DEADLINE_FIELD];
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  return typeof value === 'string' ? parseDeadline(value) : undefined;
}

function parseDeadline(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // Only full date-times: a bare date or a free-form string is too easy to misread.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(trimmed)) return undefined;
  const ms = Date.parse(trimmed);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Whether the message's deadline has passed at `nowMs`. */
export function isExpired(message: Message, nowMs: number): boolean {
  const deadline = deadlineOf(message);
  return deadline !== undefined && deadline < nowMs;
}
