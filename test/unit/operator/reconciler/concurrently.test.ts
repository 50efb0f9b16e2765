import { describe, expect, it } from 'vitest';
import { forEachConcurrently } from '../../../../src/operator/reconciler/concurrently.ts';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('forEachConcurrently', () => {
  it('runs every item, never more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachConcurrently([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      running--;
      done.push(n);
    });
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peak).toBe(3);
  });

  it('starts no item once the signal fires, lets those running settle, then throws the abort', async () => {
    const stop = new AbortController();
    const started: number[] = [];
    const finished: number[] = [];
    const run = forEachConcurrently(
      [1, 2, 3, 4, 5, 6],
      2,
      async (n) => {
        started.push(n);
        if (n === 2) stop.abort(new Error('leadership lost'));
        await tick();
        finished.push(n);
      },
      undefined,
      stop.signal,
    );
    await expect(run).rejects.toThrow('leadership lost');
    expect(started).toEqual([1, 2]);
    expect(finished.sort()).toEqual([1, 2]);
  });

  it('lets every task settle before it throws the first failure in item order', async () => {
    const finished: number[] = [];
    const run = forEachConcurrently([1, 2, 3, 4], 4, async (n) => {
      // Item 3 fails first in time, item 2 later; item 2 is first in order.
      await (n === 2 ? tick().then(tick) : tick());
      if (n === 2 || n === 3) throw new Error(`item ${n}`);
      await tick().then(tick).then(tick);
      finished.push(n);
    });
    await expect(run).rejects.toThrow('item 2');
    expect(finished.sort()).toEqual([1, 4]);
  });

  it('hands every failure but the one it throws to otherFailure, with its item', async () => {
    const others: [number, string][] = [];
    const run = forEachConcurrently(
      [1, 2, 3, 4, 5],
      2,
      async (n) => {
        await tick();
        if (n !== 3) throw new Error(`item ${n}`);
      },
      (n, error) => others.push([n, (error as Error).message]),
    );
    await expect(run).rejects.toThrow('item 1');
    expect(others.sort()).toEqual([
      [2, 'item 2'],
      [4, 'item 4'],
      [5, 'item 5'],
    ]);
  });

  it('does nothing for no items', async () => {
    let calls = 0;
    await forEachConcurrently([], 8, async () => {
      calls++;
    });
    expect(calls).toBe(0);
  });
});
