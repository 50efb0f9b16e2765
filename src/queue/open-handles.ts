import { QueueClosedError } from './errors.ts';
import type { QueueConsumer, QueueWriter } from './types.ts';

type Handle = QueueConsumer | QueueWriter;

/**
 * The consumers and writers a backend handed out, so that closing the backend closes them,
 * and a closed backend refuses to hand out more.
 */
export class OpenHandles {
  private readonly open = new Set<Handle>();
  private readonly what: string;
  private closed = false;

  constructor(what: string) {
    this.what = what;
  }

  assertOpen(): void {
    if (this.closed) throw new QueueClosedError(`${this.what} is closed`);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Remembers `handle` until it is closed. */
  track<T extends Handle>(handle: T): T {
    this.open.add(handle);
    const close = handle.close.bind(handle);
    handle.close = async () => {
      this.open.delete(handle);
      await close();
    };
    return handle;
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    for (const handle of [...this.open]) await handle.close();
  }
}
