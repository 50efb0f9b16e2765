import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../observability/index.ts';
import { isNamespaceTerminating } from './kube.ts';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type EventType = 'Normal' | 'Warning';

/** Events waiting to be written at most; past it new ones are dropped, with a warning. */
const MAX_QUEUED = 1_000;

/**
 * Kubernetes Events for what the operator did and why (`kubectl describe sd` shows them).
 * The same reason and message for one object is recorded once per `repeatAfterMs`, so a
 * requeue loop never floods the API server. Recording does not wait for the API server: as
 * client-go's broadcaster does, events are written one after another in the background, so
 * a reconcile's own writes (and the next reconcile of the object) never queue behind them.
 */
export class EventRecorder {
  private readonly core: k8s.CoreV1Api;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly repeatAfterMs: number;
  private readonly recent = new Map<string, number>();
  /** The write of the last event queued: each waits for the one before. */
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(
    kc: k8s.KubeConfig,
    log: Logger,
    options: { now?: () => number; repeatAfterMs?: number } = {},
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.log = log;
    this.now = options.now ?? Date.now;
    this.repeatAfterMs = options.repeatAfterMs ?? 10 * 60_000;
  }

  /** Queues an event for `target`; returns at once. */
  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    const namespace = target.metadata.namespace ?? 'default';
    const dedupeKey = `${namespace}/${target.metadata.name}/${target.metadata.uid}/${reason}/${message}`;
    const now = this.now();
    const last = this.recent.get(dedupeKey);
    if (last !== undefined && now - last < this.repeatAfterMs) return;
    const object = objectOf(target, namespace);
    if (this.queued >= MAX_QUEUED) {
      this.log.warn(
        { object, reason, queued: this.queued },
        'event dropped: too many waiting to be written',
      );
      return;
    }
    // Counted as recorded when queued, so a burst queues it once; forgotten if the write
    // fails, so the next reconcile that has the same to say tries again.
    this.recent.set(dedupeKey, now);
    if (this.recent.size > 10_000) this.recent.clear();
    this.queued++;
    this.tail = this.tail.then(async () => {
      const written = await this.write(target, namespace, type, reason, message, new Date(now));
      if (!written && this.recent.get(dedupeKey) === now) this.recent.delete(dedupeKey);
      this.queued--;
    });
  }

  /** Resolves once every event queued so far is written (or failed). */
  async flush(): Promise<void> {
    await this.tail;
  }

  private async write(
    target: EventTarget,
    namespace: string,
    type: EventType,
    reason: string,
    message: string,
    time: Date,
  ): Promise<boolean> {
    const object = objectOf(target, namespace);
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${target.metadata.name}.`, namespace },
          involvedObject: {
            apiVersion: target.apiVersion,
            kind: target.kind,
            name: target.metadata.name,
            namespace,
            uid: target.metadata.uid,
          },
          type,
          reason,
          message,
          source: { component: 'shard-distributor' },
          reportingComponent: 'shard-distributor',
          reportingInstance: process.env['POD_NAME'] ?? 'shard-distributor',
          firstTimestamp: time,
          lastTimestamp: time,
          count: 1,
        },
      });
      return true;
    } catch (error) {
      // An event is a courtesy: failing to record one must not fail the reconcile. In a
      // namespace being deleted the refusal is expected, not worth a warning.
      if (isNamespaceTerminating(error)) {
        this.log.debug({ object, reason }, 'event not recorded: namespace is being deleted');
        return false;
      }
      this.log.warn({ err: error, object, reason }, 'could not record event');
      return false;
    }
  }
}

/** How the log names an event's object: `Kind namespace/name`. */
function objectOf(target: EventTarget, namespace: string): string {
  return `${target.kind} ${namespace}/${target.metadata.name}`;
}
