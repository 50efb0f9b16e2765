import { Decoder } from '@msgpack/msgpack';
import type { MatchRule, PoolConfig } from '../config/index.ts';
import type { Message } from './strategies/types.ts';

// Reading a payload's fields costs a parse: bigger payloads are not parsed at all (their
// type, field and predicate conditions do not match), so one huge message cannot stall the
// fan-out loop.
const MAX_PARSED_BYTES = 1 << 20;
/** Veda individuals are `[uri, {predicate: [[type, value, lang?], …]}]`: a msgpack fixarray of 2. */
const VEDA_INDIVIDUAL = 0x92;
const JSON_OBJECT = 0x7b; // "{"
const RDF_TYPE = 'rdf:type';

/**
 * A change event in Veda's main queue carries the changed individual, serialised, in one of
 * these (a removal has only the state before it).
 */
const CARRIED_STATES = ['new_state', 'prev_state'] as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const msgpack = new Decoder();
// Veda writes a carried state as a msgpack *string* of binary bytes: read as UTF-8 it would be
// mangled, so the event is read a second time with every string value left as bytes.
const msgpackRaw = new Decoder({ rawStrings: true });

type Fields = Readonly<Record<string, unknown>>;

/**
 * Which pool a message goes to, by the pools' match rules: the first pool (in config order)
 * whose every condition holds, or undefined for the default pool. Pure, and never throws on
 * a payload: one that cannot be read simply does not meet the conditions that need reading.
 */
export class PoolRouter {
  readonly #pools: readonly { readonly name: string; readonly match: MatchRule }[];

  constructor(pools: readonly PoolConfig[]) {
    this.#pools = pools.map(({ name, match }) => ({ name, match }));
  }

  poolOf(message: Message): string | undefined {
    if (this.#pools.length === 0) return undefined;
    const payload = new Payload(message.data);
    for (const pool of this.#pools) {
      if (matches(pool.match, message, payload)) return pool.name;
    }
    return undefined;
  }
}

/** Cheapest conditions first: the size, then headers, and only then the parsed payload. */
function matches(rule: MatchRule, message: Message, payload: Payload): boolean {
  const size = message.data.byteLength;
  if (rule.minBytes !== undefined && size < rule.minBytes) return false;
  if (rule.belowBytes !== undefined && size >= rule.belowBytes) return false;
  if (rule.header !== undefined && !headerMatches(rule.header, message, payload)) return false;
  if (rule.messageType !== undefined && !typeMatches(rule.messageType, message, payload))
    return false;
  if (rule.predicate !== undefined) {
    const predicates = payload.vedaPredicates();
    if (predicates === undefined) return false;
    if (!values(predicates, rule.predicate.name).includes(rule.predicate.value)) return false;
  }
  return true;
}

// Where the message has the header, the header decides; the payload is read only without it.
function headerMatches(
  header: NonNullable<MatchRule['header']>,
  message: Message,
  payload: Payload,
): boolean {
  const fromHeader = ownHeader(message, header.name);
  if (fromHeader !== undefined) return fromHeader === header.value;
  const json = payload.json();
  return json !== undefined && scalarText(own(json, header.name)) === header.value;
}

/**
 * The `type` header, else a JSON object's string `type`, else any rdf:type of a Veda
 * individual or of the individual its change event carries.
 */
function typeMatches(type: string, message: Message, payload: Payload): boolean {
  const fromHeader = ownHeader(message, 'type');
  if (fromHeader !== undefined) return fromHeader === type;
  const json = payload.json();
  if (json !== undefined) return own(json, 'type') === type;
  const predicates = payload.vedaPredicates();
  if (predicates === undefined) return false;
  if (values(predicates, RDF_TYPE).includes(type)) return true;
  const carried = payload.carriedIndividual();
  return carried !== undefined && values(carried, RDF_TYPE).includes(type);
}

/**
 * A message's payload, parsed on first need and at most once: a JSON object or a Veda
 * individual, told apart by the first byte, so a payload is never parsed both ways.
 */
class Payload {
  readonly #data: Uint8Array;
  #parsed = false;
  #json: Fields | undefined;
  #predicates: Fields | undefined;
  #carriedRead = false;
  #carried: Fields | undefined;

  constructor(data: Uint8Array) {
    this.#data = data;
  }

  /** The top-level fields of a JSON object payload. */
  json(): Fields | undefined {
    this.#parse();
    return this.#json;
  }

  /** The predicates of a Veda individual: name → `[[type, value, lang?], …]`. */
  vedaPredicates(): Fields | undefined {
    this.#parse();
    return this.#predicates;
  }

  /**
   * The predicates of the individual a Veda change event carries: its `new_state`, or the
   * `prev_state` of a removal. Read on first need, at most once.
   */
  carriedIndividual(): Fields | undefined {
    if (this.#carriedRead) return this.#carried;
    this.#carriedRead = true;
    const predicates = this.vedaPredicates();
    const name = CARRIED_STATES.find((n) => predicates && own(predicates, n) !== undefined);
    if (name === undefined) return undefined;
    try {
      const event = msgpackRaw.decode(this.#data);
      const fields = Array.isArray(event) ? asFields((event as unknown[])[1]) : undefined;
      const state = fields && own(fields, name);
      const serialised = Array.isArray(state) ? (state as unknown[][])[0]?.[1] : undefined;
      if (serialised instanceof Uint8Array && serialised[0] === VEDA_INDIVIDUAL)
        this.#carried = individualPredicates(serialised);
    } catch {
      // A carried state that is not an individual: its types do not match.
    }
    return this.#carried;
  }

  #parse(): void {
    if (this.#parsed) return;
    this.#parsed = true;
    const data = this.#data;
    if (data.byteLength === 0 || data.byteLength > MAX_PARSED_BYTES) return;
    try {
      if (data[0] === JSON_OBJECT) this.#json = asFields(JSON.parse(utf8.decode(data)));
      else if (data[0] === VEDA_INDIVIDUAL) this.#predicates = individualPredicates(data);
    } catch {
      // Not JSON, not msgpack, invalid UTF-8: the conditions that need the payload do not match.
    }
  }
}

function individualPredicates(data: Uint8Array): Fields | undefined {
  const individual = msgpack.decode(data);
  if (!Array.isArray(individual) || individual.length !== 2) return undefined;
  const [uri, predicates] = individual as unknown[];
  return typeof uri === 'string' ? asFields(predicates) : undefined;
}

function asFields(value: unknown): Fields | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Fields)
    : undefined;
}

/** A field of the object itself, never one inherited (`constructor`, `toString` …). */
function own(fields: Fields, name: string): unknown {
  return Object.hasOwn(fields, name) ? fields[name] : undefined;
}

function ownHeader(message: Message, name: string): string | undefined {
  const headers = message.headers;
  return headers !== undefined && Object.hasOwn(headers, name) ? headers[name] : undefined;
}

/** Strings as they are; numbers and booleans as `String()` writes them (`1`, `true`); else none. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return undefined;
}

/** A predicate's values as text: the second element of each `[type, value, lang?]`. */
function values(predicates: Fields, name: string): string[] {
  const list = own(predicates, name);
  if (!Array.isArray(list)) return [];
  const texts: string[] = [];
  for (const item of list as unknown[]) {
    if (!Array.isArray(item)) continue;
    const text = scalarText((item as unknown[])[1]);
    if (text !== undefined) texts.push(text);
  }
  return texts;
}
