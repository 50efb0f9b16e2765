import { count } from './wording.ts';

/** One recommendation, kept for the stabilisation window. Plain data: the caller stores it. */
export interface Recommendation {
  /** Milliseconds since the epoch. */
  at: number;
  workers: number;
}

export interface AutoscaleSpec {
  minWorkers: number;
  maxWorkers?: number;
  targetBacklogPerWorker: number;
}

export interface AutoscaleInput {
  spec: AutoscaleSpec;
  /** Messages waiting in all shard queues; undefined when the distributor is not reporting. */
  backlog: number | undefined;
  /** The count in effect now, held while the backlog is unknown. */
  current?: number;
  history: readonly Recommendation[];
  /** Milliseconds since the epoch. */
  now: number;
  stabilizationWindowMs?: number;
}

export interface AutoscaleDecision {
  workers: number;
  /** A sentence for people: status, events, logs. */
  reason: string;
  /** Pass back in next time. */
  history: Recommendation[];
}

/** As the HorizontalPodAutoscaler's default scale-down stabilisation window. */
export const DEFAULT_STABILIZATION_WINDOW_MS = 300_000;

// Bounds the history however often the caller decides.
const MAX_HISTORY = 1_000;

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * The worker count: minWorkers without maxWorkers; else ceil(backlog / target) within
 * [minWorkers, maxWorkers]. Up at once, down only to the highest recommendation of the
 * stabilisation window (as the HPA does), so a backlog that flaps does not flap the count.
 */
export function decideWorkers(input: AutoscaleInput): AutoscaleDecision {
  const { spec, backlog, now } = input;
  const window = input.stabilizationWindowMs ?? DEFAULT_STABILIZATION_WINDOW_MS;
  const { minWorkers, maxWorkers, targetBacklogPerWorker: target } = spec;
  if (maxWorkers === undefined) {
    return {
      workers: minWorkers,
      reason: `autoscaling is off (no maxWorkers): minWorkers ${minWorkers}`,
      history: [],
    };
  }
  const max = Math.max(minWorkers, maxWorkers);
  const recent = input.history.filter((r) => r.at > now - window && r.at <= now);
  if (backlog === undefined) {
    const held = clamp(input.current ?? minWorkers, minWorkers, max);
    return {
      workers: held,
      reason: `backlog unknown (the distributor is not reporting load): keeping ${count(held, 'worker')}`,
      history: recent.slice(-MAX_HISTORY),
    };
  }
  const wanted = Math.ceil(Math.max(0, backlog) / target);
  const recommended = clamp(wanted, minWorkers, max);
  let reason = `backlog ${backlog} / target ${target} per worker → ${count(wanted, 'worker')}`;
  if (recommended > wanted) reason += `, raised to minWorkers ${minWorkers}`;
  if (recommended < wanted) reason += `, capped at maxWorkers ${max}`;

  // After a restart of the operator the history is empty: the count in effect stands in
  // for it, so a restart cannot scale down at once.
  const seeded =
    recent.length === 0 && input.current !== undefined
      ? [{ at: now, workers: clamp(input.current, minWorkers, max) }]
      : recent;
  const history = [...seeded, { at: now, workers: recommended }].slice(-MAX_HISTORY);
  const workers = clamp(Math.max(...history.map((r) => r.workers)), minWorkers, max);
  if (workers > recommended) {
    reason += `; keeping ${workers}, recommended within the last ${Math.round(window / 1000)}s, until the stabilisation window passes`;
  }
  return { workers, reason, history };
}
