import type { KubernetesObject } from '@kubernetes/client-node';
import { ResourceExpiredError } from '../../../../src/operator/runtime/errors.ts';
import type {
  ListerWatcher,
  ObjectList,
  WatchEvent,
} from '../../../../src/operator/runtime/list-watch.ts';

interface FakeWatch {
  resourceVersion: string;
  onEvent: (event: WatchEvent) => void;
  onDone: (error?: Error) => void;
  done: boolean;
}

/** A scripted API server for one resource: objects, resourceVersions, lists in pages, watches. */
export class FakeApi implements ListerWatcher {
  readonly description = 'configmaps (fake)';
  readonly objects = new Map<string, KubernetesObject>();
  readonly watches: FakeWatch[] = [];
  lists = 0;
  failLists = 0;
  private rv = 100;

  async list({
    limit,
    continue: token,
  }: {
    limit: number;
    continue?: string;
    signal?: AbortSignal;
  }): Promise<ObjectList> {
    this.lists += 1;
    if (this.failLists > 0) {
      this.failLists -= 1;
      throw new Error('connection refused');
    }
    const all = [...this.objects.values()];
    const start = token ? Number(token) : 0;
    const page = all.slice(start, start + limit);
    const next = start + limit < all.length ? String(start + limit) : undefined;
    return {
      items: page.map((o) => structuredClone(o)),
      resourceVersion: String(this.rv),
      ...(next ? { continue: next } : {}),
    };
  }

  watch(
    options: { resourceVersion: string },
    onEvent: (event: WatchEvent) => void,
    onDone: (error?: Error) => void,
  ) {
    const w: FakeWatch = { resourceVersion: options.resourceVersion, onEvent, onDone, done: false };
    this.watches.push(w);
    return { stop: () => this.end(w) };
  }

  /** The watch still open, if any. */
  get open(): FakeWatch | undefined {
    return this.watches.filter((w) => !w.done).at(-1);
  }

  put(name: string, data: Record<string, string> = {}, notify = true): void {
    const existed = this.objects.has(name);
    const obj = { metadata: { name, namespace: 'ns', resourceVersion: String(++this.rv) }, data };
    this.objects.set(name, obj);
    if (notify) this.open?.onEvent({ type: existed ? 'MODIFIED' : 'ADDED', object: obj });
  }

  remove(name: string, notify = true): void {
    const obj = this.objects.get(name);
    this.objects.delete(name);
    const deleted = { ...obj, metadata: { ...obj?.metadata, resourceVersion: String(++this.rv) } };
    if (notify) this.open?.onEvent({ type: 'DELETED', object: deleted });
  }

  bookmark(): void {
    this.open?.onEvent({
      type: 'BOOKMARK',
      object: { metadata: { resourceVersion: String(++this.rv) } },
    });
  }

  expireWithEvent(): void {
    this.open?.onEvent({
      type: 'ERROR',
      object: { code: 410, reason: 'Expired', message: 'too old resource version' },
    });
  }

  fail(error: Error = new Error('connection reset')): void {
    const w = this.open;
    if (w) this.end(w, error);
  }

  expireWithStatus(): void {
    this.fail(new ResourceExpiredError('watch', 'too old'));
  }

  private end(w: FakeWatch, error?: Error): void {
    if (w.done) return;
    w.done = true;
    w.onDone(error);
  }
}
