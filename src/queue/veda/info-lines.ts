import { crc32 } from 'node:zlib';

/**
 * The text info files of v_queue. Only the first line counts (the crate overwrites in place
 * without truncating, so old bytes may follow the first newline), and the CRC field is never
 * verified: real files carry CRCs computed for another queue name. The name fields are
 * checked, as Veda's reader does.
 */

export interface InfoQueue {
  readonly id: number;
}

export interface InfoPush {
  readonly rightEdge: number;
  readonly countPushed: number;
}

export interface InfoPop {
  readonly position: number;
  readonly countPopped: number;
  readonly partId: number;
}

/** Why a line was refused, for the log and the metric. */
export type ParseResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** Like Veda's `lines().next()`: a last line without its newline still counts. */
function firstLine(text: string): string | undefined {
  if (text.length === 0) return undefined;
  const end = text.indexOf('\n');
  return end < 0 ? text : text.slice(0, end);
}

const DECIMAL = /^\d{1,16}$/;

function uint(field: string | undefined, max: number): number | undefined {
  if (field === undefined || !DECIMAL.test(field)) return undefined;
  const n = Number(field);
  return n <= max ? n : undefined;
}

const U32 = 0xffffffff;

function fields(text: string, count: number): string[] | string {
  const line = firstLine(text);
  if (line === undefined) return 'empty file';
  const parts = line.split(';');
  if (parts.length !== count) return `expected ${count} fields, found ${parts.length}`;
  return parts;
}

export function parseInfoQueue(text: string, queue: string): ParseResult<InfoQueue> {
  const parts = fields(text, 3);
  if (typeof parts === 'string') return { ok: false, reason: parts };
  if (parts[0] !== queue) return { ok: false, reason: `queue name is not ${queue}` };
  const id = uint(parts[1], U32);
  if (id === undefined) return { ok: false, reason: 'part id is not a number' };
  return { ok: true, value: { id } };
}

export function parseInfoPush(text: string, queue: string): ParseResult<InfoPush> {
  const parts = fields(text, 4);
  if (typeof parts === 'string') return { ok: false, reason: parts };
  if (parts[0] !== queue) return { ok: false, reason: `queue name is not ${queue}` };
  const rightEdge = uint(parts[1], Number.MAX_SAFE_INTEGER);
  const countPushed = uint(parts[2], U32);
  if (rightEdge === undefined || countPushed === undefined)
    return { ok: false, reason: 'edge or count is not a number' };
  return { ok: true, value: { rightEdge, countPushed } };
}

export function parseInfoPop(text: string, queue: string, consumer: string): ParseResult<InfoPop> {
  const parts = fields(text, 5);
  if (typeof parts === 'string') return { ok: false, reason: parts };
  if (parts[0] !== queue) return { ok: false, reason: `queue name is not ${queue}` };
  if (parts[1] !== consumer) return { ok: false, reason: `consumer name is not ${consumer}` };
  const position = uint(parts[2], Number.MAX_SAFE_INTEGER);
  const countPopped = uint(parts[3], U32);
  const partId = uint(parts[4], U32);
  if (position === undefined || countPopped === undefined || partId === undefined) {
    return { ok: false, reason: 'position, count or part is not a number' };
  }
  return { ok: true, value: { position, countPopped, partId } };
}

/**
 * Whether the first line ends in the CRC-32 of the text before it: how a line its writer
 * finished looks. Not a reason to refuse one (real files carry CRCs for another queue name),
 * only to read it again: a line read while it was being overwritten in place does not match.
 */
export function hasOwnCrc(text: string): boolean {
  const line = firstLine(text);
  if (line === undefined) return false;
  const cut = line.lastIndexOf(';') + 1;
  return cut > 0 && line.slice(cut) === String(crc32(line.slice(0, cut)));
}

function withCrc(prefix: string): string {
  return `${prefix}${crc32(prefix)}\n`;
}

export function formatInfoQueue(queue: string, info: InfoQueue): string {
  return withCrc(`${queue};${info.id};`);
}

export function formatInfoPush(queue: string, info: InfoPush): string {
  return withCrc(`${queue};${info.rightEdge};${info.countPushed};`);
}

export function formatInfoPop(queue: string, consumer: string, info: InfoPop): string {
  return `${queue};${consumer};${info.position};${info.countPopped};${info.partId}\n`;
}

/** Queue and consumer names end up in file names and `;`-separated lines. */
export function checkName(kind: string, name: string): void {
  if (
    name.length === 0 ||
    name.length > 200 ||
    /[;/\\\n\r\0]/.test(name) ||
    name === '.' ||
    name === '..'
  ) {
    throw new RangeError(
      `${kind} name ${JSON.stringify(name)} cannot be used: it must be 1-200 characters without ; / \\ or newlines`,
    );
  }
}
