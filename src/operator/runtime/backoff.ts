/** `baseMs · 2^attempt`, capped at `maxMs`; `attempt` counts from 0. Overflow-safe. */
export function exponentialDelay(attempt: number, baseMs: number, maxMs: number): number {
  if (attempt <= 0) return Math.min(baseMs, maxMs);
  // 2^1024 is Infinity; any exponent past ~60 is past every sane cap anyway.
  const delay = baseMs * 2 ** Math.min(attempt, 62);
  return Number.isFinite(delay) ? Math.min(delay, maxMs) : maxMs;
}

/**
 * Spreads a delay over [delay·(1−ratio/2), delay·(1+ratio/2)] so that many clients failing
 * together (say, after an API-server restart) do not come back together.
 */
export function withJitter(
  delayMs: number,
  ratio = 0.5,
  random: () => number = Math.random,
): number {
  return delayMs * (1 - ratio / 2 + random() * ratio);
}

/**
 * Per-key exponential failure backoff, controller-runtime's ItemExponentialFailureRateLimiter
 * (5 ms → 1000 s by default). Only `forget` resets a key: a requeue-after never does.
 */
export class ItemExponentialBackoff {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly failures = new Map<string, number>();

  constructor(baseMs = 5, maxMs = 1_000_000) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  /** The delay before the key's next try; counts one more failure. */
  when(key: string): number {
    const attempt = this.failures.get(key) ?? 0;
    this.failures.set(key, attempt + 1);
    return exponentialDelay(attempt, this.baseMs, this.maxMs);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}
