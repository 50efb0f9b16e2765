import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { GROUP, PLURAL, VERSION } from '../../../src/api/index.ts';
import { CONFIG_FILE_NAME, parseIni, renderIni } from '../../../src/config/index.ts';
import { createVedaBackend } from '../../../src/queue/index.ts';
import type { Load } from '../../../src/operator/reconciler/load-reader.ts';
import { eventually } from '../../harness/eventually.ts';
import { linesRepeatingKeys } from '../../harness/log-lines.ts';
import { REPO_ROOT } from '../../harness/tools.ts';
import { kubeConfig, kubectl } from '../support.ts';

const CLI = join(REPO_ROOT, 'src', 'cli.ts');

export interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Graceful stop (SIGTERM) and wait. */
  stop(): Promise<void>;
  /** kill -9 and wait. */
  kill(): Promise<void>;
}

function start(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A JSON file the operator reads distributor addresses from (its one test seam). */
export class AddressBook {
  readonly file: string;
  private readonly entries: Record<string, string> = {};

  private constructor(file: string) {
    this.file = file;
  }

  static async create(dir: string): Promise<AddressBook> {
    const book = new AddressBook(join(dir, 'load-addresses.json'));
    await book.save();
    return book;
  }

  async set(namespace: string, name: string, url: string): Promise<void> {
    this.entries[`${namespace}/${name}`] = url;
    await this.save();
  }

  private async save(): Promise<void> {
    await writeFile(this.file, JSON.stringify(this.entries));
  }
}

/** The operator as a process against the test control plane. */
export function startOperator(options: {
  book: AddressBook;
  kubeconfig?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
}): Proc {
  return start(
    [
      'operator',
      '--metrics-port',
      '0',
      '--health-port',
      '0',
      '--load-route',
      'proxy',
      '--load-address-override',
      options.book.file,
      '--requeue-seconds',
      '2',
      '--distributor-image',
      'registry.example/shard-distributor:test',
      ...(options.extraArgs ?? []),
    ],
    { KUBECONFIG: options.kubeconfig ?? inject('kubeconfig'), ...(options.env ?? {}) },
  );
}

/** The port a process logged for a server, by the log field name. */
export function loggedPort(proc: Proc, field: string): Promise<number> {
  return eventually(() => {
    const match = new RegExp(`"${field}":(\\d+)`).exec(proc.output());
    if (!match) throw new Error(`no ${field} logged yet`);
    return Number(match[1]);
  });
}

/**
 * A real distributor for a ShardDistributor, run as a local process (kwok pods run no
 * containers): it reads the operator's ConfigMap — with the queue paths moved to a temp
 * directory — and gets the ConfigMap's changes as the kubelet would deliver them.
 */
export class LocalDistributor {
  readonly dir: string;
  private proc: Proc | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastIni = '';
  private configHeld = false;
  private url = '';

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async start(
    namespace: string,
    name: string,
    book: AddressBook,
  ): Promise<LocalDistributor> {
    const local = new LocalDistributor(await mkdtemp(join(tmpdir(), 'sd-e2e-dist-')));
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const read = async () =>
      (await core.readNamespacedConfigMap({ namespace, name: `${name}-config` })).data?.[
        CONFIG_FILE_NAME
      ];
    const ini = await eventually(async () => {
      const text = await read();
      if (!text) throw new Error('no ConfigMap yet');
      return text;
    });
    await local.sync(ini);
    const config = parseIni(await readFile(local.iniFile, 'utf8'), {
      file: local.iniFile,
      env: {},
    });
    // The producer's side: the main queue exists before the distributor starts.
    const backend = createVedaBackend({ basePath: config.dispatcher.basePath });
    const writer = await backend.openWriter(config.dispatcher.mainQueueName);
    await writer.flush();
    await writer.close();
    await backend.close();
    await local.launch(namespace, name, book, read);
    return local;
  }

  /** Starts the process, registers its /load address, and follows the ConfigMap. */
  private async launch(
    namespace: string,
    name: string,
    book: AddressBook,
    read: () => Promise<string | undefined>,
  ): Promise<void> {
    const ini = await read();
    if (ini) await this.sync(ini);
    this.proc = start(['distributor', '--config', this.iniFile, '--metrics-port', '0'], {});
    const port = await loggedPort(this.proc, 'port');
    this.url = `http://127.0.0.1:${port}`;
    await book.set(namespace, name, this.url);
    this.timer = setInterval(() => {
      if (this.configHeld) return;
      void read()
        .then((text) => (text ? this.sync(text) : undefined))
        .catch(() => undefined);
    }, 500);
    this.resume = () => this.launch(namespace, name, book, read);
  }

  /**
   * Stops the process (SIGTERM) and the ConfigMap sync, keeping the queues: `resume` starts it
   * again on the ConfigMap's INI of then, as a restarted distributor pod would.
   */
  async pause(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.proc?.stop();
    this.proc = undefined;
  }

  /**
   * Keeps the process running on the INI it has, whatever the ConfigMap says meanwhile: a pod
   * whose kubelet has not refreshed the ConfigMap volume yet (it takes up to about a minute).
   */
  holdConfig(): void {
    this.configHeld = true;
  }

  /** Follows the ConfigMap again after `holdConfig`. */
  releaseConfig(): void {
    this.configHeld = false;
  }

  /** The distributor's own `/load` report, as the operator reads it. */
  async load(): Promise<Load> {
    const response = await fetch(`${this.url}/load`);
    if (!response.ok) throw new Error(`/load answered ${response.status}`);
    return (await response.json()) as Load;
  }

  /** Starts a paused distributor again. */
  resume: () => Promise<void> = () => Promise.reject(new Error('not started'));

  get iniFile(): string {
    return join(this.dir, CONFIG_FILE_NAME);
  }

  get output(): string {
    return this.proc?.output() ?? '';
  }

  /** Writes the ConfigMap's INI with this process's own queue directories. */
  private async sync(ini: string): Promise<void> {
    if (ini === this.lastIni) return;
    this.lastIni = ini;
    const config = parseIni(ini, { file: 'ConfigMap', env: {} });
    const local = {
      ...config,
      dispatcher: { ...config.dispatcher, basePath: join(this.dir, 'queue'), metricsPort: 0 },
      worker: { ...config.worker, workerBasePath: join(this.dir, 'queue') },
    };
    // Replaced, not rewritten in place: the distributor's config watch and this class's own
    // readers (produce, takeShard) must never read a half-written file, whose missing keys
    // would take their defaults (the repository's ./data paths).
    const temp = `${this.iniFile}.tmp`;
    await writeFile(temp, renderIni(local));
    await rename(temp, this.iniFile);
  }

  /** Appends messages to the main queue, as the producer would. */
  async produce(messages: string[]): Promise<void> {
    const config = parseIni(await readFile(this.iniFile, 'utf8'), { file: this.iniFile, env: {} });
    const backend = createVedaBackend({ basePath: config.dispatcher.basePath });
    const writer = await backend.openWriter(config.dispatcher.mainQueueName);
    await writer.append(messages.map((m) => Buffer.from(m)));
    await writer.flush();
    await writer.close();
    await backend.close();
  }

  /** Consumes a shard queue (of the default pool, or of `pool`) to the end, as its worker would. */
  async consumeShard(shard: number, pool?: string): Promise<number> {
    return (await this.takeShard(shard, pool)).length;
  }

  /** The payloads `consumeShard` consumes, in order. */
  async takeShard(shard: number, pool?: string): Promise<string[]> {
    const config = parseIni(await readFile(this.iniFile, 'utf8'), { file: this.iniFile, env: {} });
    const prefix =
      pool === undefined
        ? config.worker.subQueuePrefix
        : config.pools.find((p) => p.name === pool)?.subQueuePrefix;
    if (prefix === undefined) throw new Error(`the INI has no pool ${pool}`);
    const backend = createVedaBackend({ basePath: config.worker.workerBasePath });
    const consumer = await backend.openConsumer(
      `${prefix}-${shard}`,
      config.dispatcher.consumerName,
    );
    const taken: string[] = [];
    for (;;) {
      const batch = await consumer.read(1000);
      await consumer.commit(batch.next);
      if (batch.messages.length === 0) break;
      taken.push(...batch.messages.map((m) => m.data.toString()));
    }
    await consumer.close();
    await backend.close();
    return taken;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.proc?.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function customObjects() {
  return kubeConfig().makeApiClient(k8s.CustomObjectsApi);
}

export async function getSd(namespace: string, name: string): Promise<any> {
  return customObjects().getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    name,
  });
}

export async function patchSpec(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await customObjects().patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { spec } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

export async function workerDeploymentNames(namespace: string, name: string): Promise<string[]> {
  const apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
  const list = await apps.listNamespacedDeployment({
    namespace,
    labelSelector: `shards.veda.dev/distributor=${name},shards.veda.dev/component=worker`,
  });
  return list.items.map((d) => d.metadata!.name!).sort();
}

export function workers(name: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${name}-worker-${i}`).sort();
}

/** The worker Deployments of one pool: `default` (the top-level fields) or a spec.pools name. */
export async function poolWorkerDeployments(
  namespace: string,
  name: string,
  pool: string,
): Promise<k8s.V1Deployment[]> {
  const apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
  const list = await apps.listNamespacedDeployment({
    namespace,
    labelSelector: `shards.veda.dev/distributor=${name},shards.veda.dev/component=worker,${
      pool === 'default' ? '!shards.veda.dev/pool' : `shards.veda.dev/pool=${pool}`
    }`,
  });
  return list.items.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
}

export async function poolWorkerNames(
  namespace: string,
  name: string,
  pool: string,
): Promise<string[]> {
  return (await poolWorkerDeployments(namespace, name, pool)).map((d) => d.metadata!.name!).sort();
}

/** `<name>-<pool>-worker-0 …`: the Deployment names of a pool's first n shards. */
export function poolWorkers(name: string, pool: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${name}-${pool}-worker-${i}`).sort();
}

/** A ShardDistributor with a claim (so it is not Degraded for want of a shared volume). */
export function sdManifest(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ShardDistributor',
    metadata: { name },
    spec: {
      queue: { mainQueue: 'individuals-flow', veda: { persistentVolumeClaim: 'veda-queue' } },
      minWorkers: 2,
      worker: {
        image: 'registry.example/worker:1',
        command: ['python3', '-m', 'worker.queue_worker'],
      },
      ...spec,
    },
  };
}

export async function createSd(namespace: string, manifest: object): Promise<void> {
  await customObjects().createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    body: manifest,
  });
}

export function condition(
  sd: any,
  type: string,
): { status: string; reason: string; message: string } | undefined {
  return sd?.status?.conditions?.find((c: any) => c.type === type);
}

/** Waits until the ShardDistributor's condition `type` holds `expected`; returns the object then. */
export async function sdWithCondition(
  namespace: string,
  name: string,
  type: string,
  expected: Record<string, string>,
  timeoutMs: number,
): Promise<any> {
  return eventually(
    async () => {
      const current = await getSd(namespace, name);
      expect(condition(current, type)).toMatchObject(expected);
      return current;
    },
    { timeoutMs },
  );
}

/** The operator's own count of API writes, from its /metrics. */
export async function operatorWrites(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('shard_distributor_operator_api_writes_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

/** A claim bound to a PV of its own, so pods that mount it get scheduled and run (kwok). */
export async function boundClaim(namespace: string, claim = 'veda-queue'): Promise<void> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const pv = `pv-${namespace}-${claim}`;
  await core.createPersistentVolume({
    body: {
      metadata: { name: pv },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteMany'],
        storageClassName: 'manual',
        hostPath: { path: `/tmp/${pv}` },
        claimRef: { namespace, name: claim },
      },
    },
  });
  await core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: {
      metadata: { name: claim },
      spec: {
        accessModes: ['ReadWriteMany'],
        storageClassName: 'manual',
        volumeName: pv,
        resources: { requests: { storage: '1Gi' } },
      },
    },
  });
}

/** Samples of one metric from a process's /metrics: `{labels, value}`; [] when absent. */
export async function metricSamples(
  metricsPort: number,
  name: string,
): Promise<{ labels: string; value: number }[]> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const samples: { labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] === name) samples.push({ labels: match[2] ?? '', value: Number(match[3]) });
  }
  return samples;
}

/** The sum of a metric's samples; 0 when the process does not export it (yet). */
export async function metricSum(metricsPort: number, name: string): Promise<number> {
  return (await metricSamples(metricsPort, name)).reduce((sum, s) => sum + s.value, 0);
}

export interface RecordedEvent {
  type: string;
  reason: string;
  message: string;
}

/** The Events recorded about a ShardDistributor, oldest first. */
export async function sdEvents(namespace: string, name: string): Promise<RecordedEvent[]> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const list = await core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.kind=ShardDistributor,involvedObject.name=${name}`,
  });
  return list.items
    .sort((a, b) =>
      String(a.metadata?.creationTimestamp?.toISOString?.() ?? '').localeCompare(
        String(b.metadata?.creationTimestamp?.toISOString?.() ?? ''),
      ),
    )
    .map((e) => ({ type: e.type ?? '', reason: e.reason ?? '', message: e.message ?? '' }));
}

/** Waits for an Event with `reason` (and a message matching `message`, if given). */
export function expectEvent(
  namespace: string,
  name: string,
  reason: string,
  message?: RegExp,
  timeoutMs = 60_000,
): Promise<RecordedEvent> {
  return eventually(
    async () => {
      const events = await sdEvents(namespace, name);
      const found = events.find(
        (e) => e.reason === reason && (message === undefined || message.test(e.message)),
      );
      if (!found)
        throw new Error(
          `no ${reason} event${message ? ` matching ${message}` : ''}; events: ${JSON.stringify(events)}`,
        );
      return found;
    },
    { timeoutMs, description: `a ${reason} event for ${namespace}/${name}` },
  );
}

/**
 * Every version of a ShardDistributor the API server sends on a watch, from now on: so a
 * test sees a short-lived status (a worker not ready for a few seconds) that polling could miss.
 */
export async function watchSd(
  namespace: string,
  name: string,
): Promise<{ seen: any[]; stop(): void }> {
  const seen: any[] = [];
  const watch = new k8s.Watch(kubeConfig());
  let stopped = false;
  let request: AbortController | undefined;
  const open = async (): Promise<void> => {
    request = await watch.watch(
      `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`,
      { fieldSelector: `metadata.name=${name}` },
      (_type: string, object: unknown) => void seen.push(object),
      () => {
        // The server ends watches now and then: open another (a few duplicates do no harm).
        if (!stopped) setTimeout(() => void open().catch(() => undefined), 200);
      },
    );
  };
  await open();
  return {
    seen,
    stop() {
      stopped = true;
      request?.abort();
    },
  };
}

/**
 * Deletes every ShardDistributor in `namespace` and waits until they are gone, while the
 * operator that removes their finalizers still runs (call before stopping it).
 */
export async function deleteSdsAndWait(namespace: string, timeoutMs = 90_000): Promise<void> {
  kubectl(['delete', 'sd', '--all', '-n', namespace, '--wait=false']);
  await eventually(
    () => {
      const left = kubectl(['get', 'sd', '-n', namespace, '-o', 'name']).stdout.trim();
      if (left !== '') throw new Error(`still there: ${left}`);
    },
    { timeoutMs, description: `the ShardDistributors of ${namespace} to be deleted` },
  );
}

export interface OperatorFixture {
  readonly book: AddressBook;
  readonly operator: Proc;
  readonly metricsPort: number;
}

/**
 * One operator process for the calling test file, started before its tests and stopped after
 * them, with its own address book for the distributors the tests run.
 */
export function useOperator(
  prefix: string,
  options: { extraArgs?: string[] } = {},
): OperatorFixture {
  let dir = '';
  const fixture = {} as { book: AddressBook; operator: Proc; metricsPort: number };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `sd-e2e-${prefix}-`));
    fixture.book = await AddressBook.create(dir);
    fixture.operator = startOperator({
      book: fixture.book,
      ...(options.extraArgs ? { extraArgs: options.extraArgs } : {}),
    });
    fixture.metricsPort = await loggedPort(fixture.operator, 'metricsPort');
  });
  afterAll(async () => {
    await fixture.operator?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (fixture.operator) expect(linesRepeatingKeys(fixture.operator.output())).toEqual([]);
  });
  return fixture;
}
