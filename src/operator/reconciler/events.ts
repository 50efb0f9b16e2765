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

/** The Event written for a reason and message, and the repeats not yet added to its count. */
interface Written {
  /** Its name, once the API server has created it. */
  name?: string;
  count: number;
  written: number;
  last: Date;
  timer?: NodeJS.Timeout;
}

/**
 * Kubernetes Events for what the operator did and why (`kubectl describe sd` shows them).
 * The same reason and message for one object makes one Event per `repeatAfterMs`: a repeat
 * adds to its count and moves its lastTimestamp (`x3 over 2m`, as client-go aggregates), in
 * one write per `countEveryMs` at most, so a requeue loop never floods the API server.
 * Recording does not wait for the API server: as client-go's broadcaster does, events are
 * written one after another in the background, so a reconcile's own writes (and the next
 * reconcile of the object) never queue behind them.
 */
export class EventRecorder {
  private readonly core: k8s.CoreV1Api;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly repeatAfterMs: number;
  private readonly countEveryMs: number;
  private readonly recent = new Map<string, number>();
  private readonly written = new Map<string, Written>();
  /** The write of the last event queued: each waits for the one before. */
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(
    kc: k8s.KubeConfig,
    log: Logger,
    options: { now?: () => number; repeatAfterMs?: number; countEveryMs?: number } = {},
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.log = log;
    this.now = options.now ?? Date.now;
    this.repeatAfterMs = options.repeatAfterMs ?? 10 * 60_000;
    this.countEveryMs = options.countEveryMs ?? 30_000;
  }

  /** Queues an event for `target`; returns at once. */
  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    const namespace = target.metadata.namespace ?? 'default';
    const dedupeKey = `${namespace}/${target.metadata.name}/${target.metadata.uid}/${reason}/${message}`;
    const now = this.now();
    const last = this.recent.get(dedupeKey);
    if (last !== undefined && now - last < this.repeatAfterMs) {
      this.repeated(dedupeKey, namespace, now);
      return;
    }
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
    if (this.recent.size > 10_000) this.clear();
    const entry: Written = { count: 1, written: 1, last: new Date(now) };
    const previous = this.written.get(dedupeKey);
    if (previous?.timer) {
      // The last Event's window is over: its repeats still go into its count.
      clearTimeout(previous.timer);
      delete previous.timer;
      this.countRepeats(previous, namespace);
    }
    this.written.set(dedupeKey, entry);
    this.queue(async () => {
      const name = await this.write(target, namespace, type, reason, message, new Date(now));
      if (name === undefined && this.recent.get(dedupeKey) === now) {
        this.recent.delete(dedupeKey);
        this.written.delete(dedupeKey);
      }
      entry.name = name;
    });
  }

  /**
   * Resolves once every event queued so far is written (or failed). Repeats waiting for their
   * pause are not forced: a stopping operator leaves a count one or two short, not an Event.
   */
  async flush(): Promise<void> {
    await this.tail;
  }

  private queue(write: () => Promise<void>): void {
    this.queued++;
    this.tail = this.tail.then(async () => {
      await write();
      this.queued--;
    });
  }

  private clear(): void {
    for (const entry of this.written.values()) if (entry.timer) clearTimeout(entry.timer);
    this.recent.clear();
    this.written.clear();
  }

  /** A repeat within the window: counted, and written into the Event once the pause allows. */
  private repeated(key: string, namespace: string, now: number): void {
    const entry = this.written.get(key);
    if (!entry) return;
    entry.count += 1;
    entry.last = new Date(now);
    if (entry.timer) return;
    entry.timer = setTimeout(() => {
      delete entry.timer;
      this.countRepeats(entry, namespace);
    }, this.countEveryMs);
    // A pending count never keeps the operator alive, nor is it forced at a stop (flush).
    entry.timer.unref();
  }

  private countRepeats(entry: Written, namespace: string): void {
    if (entry.count === entry.written || this.queued >= MAX_QUEUED) return;
    this.queue(async () => {
      if (entry.name === undefined) return; // its create failed: nothing to count into
      const count = entry.count;
      try {
        await this.core.patchNamespacedEvent(
          { name: entry.name, namespace, body: { count, lastTimestamp: entry.last } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
        entry.written = count;
      } catch (error) {
        if (!isNamespaceTerminating(error))
          this.log.debug({ err: error, event: entry.name }, 'could not count a repeated event');
      }
    });
  }

  private async write(
    target: EventTarget,
    namespace: string,
    type: EventType,
    reason: string,
    message: string,
    time: Date,
  ): Promise<string | undefined> {
    const object = objectOf(target, namespace);
    try {
      const created = await this.core.createNamespacedEvent({
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
      return created.metadata?.name ?? '';
    } catch (error) {
      // An event is a courtesy: failing to record one must not fail the reconcile. In a
      // namespace being deleted the refusal is expected, not worth a warning.
      if (isNamespaceTerminating(error)) {
        this.log.debug({ object, reason }, 'event not recorded: namespace is being deleted');
        return undefined;
      }
      this.log.warn({ err: error, object, reason }, 'could not record event');
      return undefined;
    }
  }
}

/** How the log names an event's object: `Kind namespace/name`. */
function objectOf(target: EventTarget, namespace: string): string {
  return `${target.kind} ${namespace}/${target.metadata.name}`;
}
