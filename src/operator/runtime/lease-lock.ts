import {
  ApiException,
  CoordinationV1Api,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
} from '@kubernetes/client-node';

/** A Lease's spec, with times as epoch milliseconds. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
}

export interface ObservedLease {
  record: LeaseRecord;
  resourceVersion: string;
}

/**
 * Where the elector keeps its record. `create` and `update` resolve to undefined when another
 * writer got there first (HTTP 409): a lost race, not an error.
 */
export interface LeaseLock {
  readonly description: string;
  get(): Promise<ObservedLease | undefined>;
  create(record: LeaseRecord): Promise<ObservedLease | undefined>;
  update(record: LeaseRecord, resourceVersion: string): Promise<ObservedLease | undefined>;
}

export function kubeLeaseLock(kc: KubeConfig, namespace: string, name: string): LeaseLock {
  const api = kc.makeApiClient(CoordinationV1Api);
  const metadata = { name, namespace };
  return {
    description: `${namespace}/${name}`,
    async get() {
      try {
        return observed(await api.readNamespacedLease({ name, namespace }));
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) return undefined;
        throw error;
      }
    },
    async create(record) {
      return conflictAsUndefined(async () =>
        observed(
          await api.createNamespacedLease({ namespace, body: { metadata, spec: spec(record) } }),
        ),
      );
    },
    async update(record, resourceVersion) {
      return conflictAsUndefined(async () =>
        observed(
          await api.replaceNamespacedLease({
            name,
            namespace,
            body: { metadata: { ...metadata, resourceVersion }, spec: spec(record) },
          }),
        ),
      );
    },
  };
}

async function conflictAsUndefined<T>(write: () => Promise<T>): Promise<T | undefined> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof ApiException && error.code === 409) return undefined;
    throw error;
  }
}

function spec(record: LeaseRecord): V1Lease['spec'] {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: new V1MicroTime(record.acquireTime),
    renewTime: new V1MicroTime(record.renewTime),
    leaseTransitions: record.leaseTransitions,
  };
}

function observed(lease: V1Lease): ObservedLease {
  const s = lease.spec ?? {};
  return {
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    record: {
      holderIdentity: s.holderIdentity ?? '',
      leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
      acquireTime: time(s.acquireTime),
      renewTime: time(s.renewTime),
      leaseTransitions: s.leaseTransitions ?? 0,
    },
  };
}

function time(value: Date | string | undefined): number {
  if (value === undefined) return 0;
  return new Date(value).getTime();
}
