import type {
  LeaseLock,
  LeaseRecord,
  ObservedLease,
} from '../../../../src/operator/runtime/lease-lock.ts';

/** A Lease in memory with the API server's optimistic concurrency. */
export class MemoryLease {
  current: ObservedLease | undefined;
  private rv = 0;

  lockFor(isCut: () => boolean = () => false): LeaseLock {
    const guard = () => {
      if (isCut()) throw new Error('connection refused');
    };
    return {
      description: 'ns/operator',
      get: async () => {
        guard();
        return this.current && structuredClone(this.current);
      },
      create: async (record: LeaseRecord) => {
        guard();
        if (this.current) return undefined;
        return this.write(record);
      },
      update: async (record: LeaseRecord, resourceVersion: string) => {
        guard();
        if (this.current?.resourceVersion !== resourceVersion) return undefined;
        return this.write(record);
      },
    };
  }

  private write(record: LeaseRecord): ObservedLease {
    this.current = { record: { ...record }, resourceVersion: String(++this.rv) };
    return structuredClone(this.current);
  }
}
