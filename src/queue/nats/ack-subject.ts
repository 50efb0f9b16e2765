/** What JetStream says about a delivered message, read from its ack (reply) subject. */
export interface Delivery {
  readonly stream: string;
  readonly consumer: string;
  readonly deliveryCount: number;
  readonly streamSeq: number;
  readonly consumerSeq: number;
  /** Messages left for the consumer after this one. */
  readonly pending: number;
}

/**
 * Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>` and the
 * newer form with domain and account hash in front (12 tokens or more). Undefined for
 * anything else: such a message cannot be positioned or acknowledged.
 */
export function parseAckSubject(subject: string | undefined): Delivery | undefined {
  if (!subject?.startsWith('$JS.ACK.')) return undefined;
  const tokens = subject.split('.');
  let at: number;
  if (tokens.length === 9) at = 2;
  else if (tokens.length >= 12) at = 4;
  else return undefined;
  const [stream, consumer, delivered, sseq, dseq, , pending] = tokens.slice(at);
  const numbers = [delivered, sseq, dseq, pending].map((t) => (t === undefined ? NaN : Number(t)));
  if (!stream || !consumer || numbers.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    return undefined;
  }
  const [deliveryCount, streamSeq, consumerSeq, left] = numbers as [number, number, number, number];
  if (streamSeq === 0) return undefined;
  return { stream, consumer, deliveryCount, streamSeq, consumerSeq, pending: left };
}
