/**
 * One holder at a time, in the order they asked: the loop's turns and a config change take
 * it, so a shard's state never changes under a batch on its way to that shard.
 */
export class Exclusive {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(work: () => Promise<T>): Promise<T> {
    const before = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    await before;
    try {
      return await work();
    } finally {
      release();
    }
  }
}
