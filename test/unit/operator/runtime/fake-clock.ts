import type { Clock, TimerHandle } from '../../../../src/operator/runtime/clock.ts';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when told; `advance` fires due timers in order and lets promises settle. */
export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<TimerHandle, Timer>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = {};
    this.timers.set(handle, { at: this.t + Math.max(0, ms), seq: ++this.seq, fn });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle);
  }

  pendingTimers(): number {
    return this.timers.size;
  }

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const next = [...this.timers.entries()]
        .filter(([, timer]) => timer.at <= end)
        .sort(([, a], [, b]) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      const [handle, timer] = next;
      this.timers.delete(handle);
      this.t = timer.at;
      timer.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Lets every pending promise callback run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}
