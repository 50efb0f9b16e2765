import { describe, expect, it } from 'vitest';
import {
  decideWorkers,
  type AutoscaleDecision,
  type Recommendation,
} from '../../../../src/operator/status/index.ts';

const spec = { minWorkers: 2, maxWorkers: 16, targetBacklogPerWorker: 1000 };
const window = 300_000;

function decide(
  backlog: number | undefined,
  now: number,
  history: Recommendation[] = [],
  current?: number,
): AutoscaleDecision {
  return decideWorkers({
    spec,
    backlog,
    now,
    history,
    stabilizationWindowMs: window,
    ...(current === undefined ? {} : { current }),
  });
}

describe('decideWorkers', () => {
  it('keeps minWorkers when autoscaling is off', () => {
    const decision = decideWorkers({
      spec: { minWorkers: 4, targetBacklogPerWorker: 1000 },
      backlog: 50_000,
      history: [],
      now: 0,
    });
    expect(decision).toEqual({
      workers: 4,
      reason: 'autoscaling is off (no maxWorkers): minWorkers 4',
      history: [],
    });
  });

  it('follows ceil(backlog / target), saying why', () => {
    const decision = decide(5300, 0);
    expect(decision.workers).toBe(6);
    expect(decision.reason).toBe('backlog 5300 / target 1000 per worker → 6 workers');
  });

  it('says one worker, not one workers', () => {
    expect(decide(800, 0).reason).toBe(
      'backlog 800 / target 1000 per worker → 1 worker, raised to minWorkers 2',
    );
    const held = decideWorkers({
      spec: { minWorkers: 1, maxWorkers: 4, targetBacklogPerWorker: 10 },
      backlog: undefined,
      current: 1,
      history: [],
      now: 0,
    });
    expect(held.reason).toBe(
      'backlog unknown (the distributor is not reporting load): keeping 1 worker',
    );
  });

  it('clamps to [minWorkers, maxWorkers]', () => {
    expect(decide(0, 0).workers).toBe(2);
    expect(decide(0, 0).reason).toContain('raised to minWorkers 2');
    expect(decide(1_000_000, 0).workers).toBe(16);
    expect(decide(1_000_000, 0).reason).toContain('capped at maxWorkers 16');
  });

  it('scales up at once', () => {
    const low = decide(2000, 0);
    expect(decide(9000, 1000, low.history).workers).toBe(9);
  });

  it('scales down only after the stabilisation window', () => {
    const high = decide(9000, 0);
    const soon = decide(1000, 60_000, high.history);
    expect(soon.workers).toBe(9);
    expect(soon.reason).toContain('keeping 9');
    const later = decide(1000, window + 1, soon.history);
    expect(later.workers).toBe(2);
  });

  it('does not flap with a flapping backlog', () => {
    let history: Recommendation[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 20; step++) {
      const decision = decide(step % 2 === 0 ? 8000 : 500, step * 15_000, history);
      history = decision.history;
      counts.push(decision.workers);
    }
    expect(new Set(counts)).toEqual(new Set([8]));
  });

  it('forgets recommendations older than the window', () => {
    const decision = decide(1000, 1_000_000, [
      { at: 0, workers: 16 },
      { at: 1_000_000 - window - 1, workers: 12 },
      { at: 1_000_000 - 1000, workers: 3 },
    ]);
    expect(decision.history).toEqual([
      { at: 1_000_000 - 1000, workers: 3 },
      { at: 1_000_000, workers: 2 },
    ]);
    expect(decision.workers).toBe(3);
  });

  it('holds the current count while the backlog is unknown', () => {
    const decision = decide(undefined, 0, [], 7);
    expect(decision.workers).toBe(7);
    expect(decision.reason).toContain('not reporting');
  });

  it('does not scale down at once after an operator restart', () => {
    expect(decide(0, 0, [], 10).workers).toBe(10);
  });

  it('respects a lowered maxWorkers at once', () => {
    const decision = decideWorkers({
      spec: { ...spec, maxWorkers: 5 },
      backlog: 1000,
      now: 1000,
      history: [{ at: 0, workers: 12 }],
      stabilizationWindowMs: window,
    });
    expect(decision.workers).toBe(5);
  });
});
