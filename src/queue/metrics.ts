import { Counter, Gauge, type Registry } from 'prom-client';

/** The queue room's metrics, shared by every backend and every queue of one registry. */
export interface QueueMetrics {
  /** Corrupt data detected, by queue and reason (crc, bad_header, torn_tail, missing_part, info_garbage, pop_garbage). */
  readonly corrupt: Counter<'queue' | 'reason'>;
  /** Bytes of record files on disk, by queue. */
  readonly diskBytes: Gauge<'queue'>;
  /** Parts deleted by retention, by queue. */
  readonly partsDeleted: Counter<'queue'>;
  /** Stale writer locks taken over, by queue. */
  readonly lockTakeovers: Counter<'queue'>;
}

const PREFIX = 'shard_distributor_queue_';

function counter<L extends string>(
  registry: Registry | undefined,
  name: string,
  help: string,
  labelNames: L[],
): Counter<L> {
  const existing = registry?.getSingleMetric(PREFIX + name);
  if (existing instanceof Counter) return existing as Counter<L>;
  return new Counter({
    name: PREFIX + name,
    help,
    labelNames,
    registers: registry ? [registry] : [],
  });
}

function gauge<L extends string>(
  registry: Registry | undefined,
  name: string,
  help: string,
  labelNames: L[],
): Gauge<L> {
  const existing = registry?.getSingleMetric(PREFIX + name);
  if (existing instanceof Gauge) return existing as Gauge<L>;
  return new Gauge({
    name: PREFIX + name,
    help,
    labelNames,
    registers: registry ? [registry] : [],
  });
}

/** Registers the metrics on `registry` (reusing them if already there); without one they are kept unregistered. */
export function queueMetrics(registry?: Registry): QueueMetrics {
  return {
    corrupt: counter(
      registry,
      'corrupt_records_total',
      'Corrupt queue data detected and set aside.',
      ['queue', 'reason'],
    ),
    diskBytes: gauge(registry, 'disk_bytes', 'Bytes of queue record files on disk.', ['queue']),
    partsDeleted: counter(registry, 'parts_deleted_total', 'Queue parts deleted by retention.', [
      'queue',
    ]),
    lockTakeovers: counter(registry, 'lock_takeovers_total', 'Stale writer locks taken over.', [
      'queue',
    ]),
  };
}
