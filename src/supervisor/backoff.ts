/** How long a crashed worker waits before it is started again. */
export interface BackoffPolicy {
  /** Delay before the first restart. */
  readonly initialMs: number;
  /** No delay grows past this. */
  readonly maxMs: number;
  /** Each further failure multiplies the delay by this. */
  readonly factor: number;
  /** Share of a delay (0…1) taken off at random, so workers that failed together do not restart together. */
  readonly jitter: number;
  /** A worker that stayed up this long counts as healthy: its next restart starts the schedule over. */
  readonly resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 1_000,
  maxMs: 60_000,
  factor: 2,
  jitter: 0.2,
  resetAfterMs: 60_000,
};

/**
 * The delay before restart number `failures + 1` of a run of failures (0 → about initialMs),
 * with `random` in [0, 1) choosing how much of the jitter share is taken off.
 */
export function backoffDelay(policy: BackoffPolicy, failures: number, random: number): number {
  const exponent = Math.max(0, Math.floor(failures));
  const capped = Math.min(policy.maxMs, policy.initialMs * Math.pow(policy.factor, exponent));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const share = Math.min(1, Math.max(0, random));
  return Math.round(capped * (1 - jitter * share));
}

export interface RestartDecision {
  readonly delayMs: number;
  /** Failures in the current run, this one included: what the next exit continues from. */
  readonly failures: number;
}

/**
 * What to do after a worker exited having been up `uptimeMs` (0 if it never started), given
 * the failures counted so far: a worker that stayed up long enough starts the schedule over.
 */
export function nextRestart(
  policy: BackoffPolicy,
  failures: number,
  uptimeMs: number,
  random: number,
): RestartDecision {
  const previous = uptimeMs >= policy.resetAfterMs ? 0 : failures;
  return { delayMs: backoffDelay(policy, previous, random), failures: previous + 1 };
}
