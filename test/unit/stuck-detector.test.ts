import { describe, expect, it } from 'vitest';
import { StuckDetector } from '../../src/distributor/stuck-detector.ts';

const stuckAfterMs = 30_000;

describe('StuckDetector', () => {
  it('reports a shard stuck once it has held a backlog without popping for stuckAfterMs', () => {
    const detector = new StuckDetector({ stuckAfterMs });
    expect(detector.observe({ index: 0, backlog: 5, popped: 10, atMs: 1_000 })).toBe(false);
    expect(detector.observe({ index: 0, backlog: 7, popped: 10, atMs: 30_999 })).toBe(false);
    expect(detector.observe({ index: 0, backlog: 7, popped: 10, atMs: 31_000 })).toBe(true);
    expect(detector.stuckShards()).toEqual([0]);
  });

  it('recovers as soon as popped moves, and starts the clock again from there', () => {
    const detector = new StuckDetector({ stuckAfterMs });
    detector.observe({ index: 2, backlog: 5, popped: 10, atMs: 0 });
    expect(detector.observe({ index: 2, backlog: 5, popped: 10, atMs: 40_000 })).toBe(true);
    expect(detector.observe({ index: 2, backlog: 4, popped: 11, atMs: 41_000 })).toBe(false);
    expect(detector.observe({ index: 2, backlog: 4, popped: 11, atMs: 70_999 })).toBe(false);
    expect(detector.observe({ index: 2, backlog: 4, popped: 11, atMs: 71_000 })).toBe(true);
  });

  it('recovers as soon as the backlog is zero, and a new backlog starts a fresh wait', () => {
    const detector = new StuckDetector({ stuckAfterMs });
    detector.observe({ index: 1, backlog: 3, popped: 0, atMs: 0 });
    expect(detector.observe({ index: 1, backlog: 3, popped: 0, atMs: 30_000 })).toBe(true);
    expect(detector.observe({ index: 1, backlog: 0, popped: 0, atMs: 31_000 })).toBe(false);
    expect(detector.observe({ index: 1, backlog: 2, popped: 0, atMs: 50_000 })).toBe(false);
    expect(detector.observe({ index: 1, backlog: 2, popped: 0, atMs: 80_000 })).toBe(true);
  });

  it('never reports an idle shard, however long nothing is popped', () => {
    const detector = new StuckDetector({ stuckAfterMs });
    for (let atMs = 0; atMs <= 300_000; atMs += 60_000) {
      expect(detector.observe({ index: 0, backlog: 0, popped: 42, atMs })).toBe(false);
    }
  });

  it('judges each shard on its own and lists the stuck ones in index order', () => {
    const detector = new StuckDetector({ stuckAfterMs });
    for (const index of [3, 0, 1]) detector.observe({ index, backlog: 5, popped: 0, atMs: 0 });
    detector.observe({ index: 3, backlog: 5, popped: 0, atMs: 60_000 });
    detector.observe({ index: 0, backlog: 5, popped: 0, atMs: 60_000 });
    detector.observe({ index: 1, backlog: 5, popped: 9, atMs: 60_000 });
    expect(detector.stuckShards()).toEqual([0, 3]);
    expect(detector.isStuck(1)).toBe(false);
    expect(detector.isStuck(7)).toBe(false);
  });

  it('ignores a sample older than the last one seen for that shard', () => {
    const detector = new StuckDetector({ stuckAfterMs });
    detector.observe({ index: 0, backlog: 5, popped: 1, atMs: 0 });
    detector.observe({ index: 0, backlog: 5, popped: 1, atMs: 40_000 });
    expect(detector.observe({ index: 0, backlog: 5, popped: 2, atMs: 20_000 })).toBe(true);
    expect(detector.isStuck(0)).toBe(true);
  });

  it('forgets a removed shard, so one re-added under its index starts fresh', () => {
    const detector = new StuckDetector({ stuckAfterMs });
    detector.observe({ index: 4, backlog: 5, popped: 1, atMs: 0 });
    detector.observe({ index: 4, backlog: 5, popped: 1, atMs: 40_000 });
    detector.forget(4);
    expect(detector.stuckShards()).toEqual([]);
    expect(detector.observe({ index: 4, backlog: 5, popped: 1, atMs: 50_000 })).toBe(false);
  });
});
