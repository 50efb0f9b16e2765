import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { GROUP, PLURAL, VERSION } from '../src/api/index.ts';
import { ControlPlane } from '../test/harness/control-plane.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(REPO_ROOT, 'src', 'cli.ts');

let compiledCli: string | undefined;

/**
 * The CLI as the image runs it: compiled to `dist/` (`npm run build`, as the Dockerfile does).
 * Running `src/cli.ts` strips types at load, and that loader alone holds about 30 MB, which
 * the shipped operator does not; the operator benchmarks measure memory, so they run this.
 */
export function builtCli(): string {
  if (!compiledCli) {
    execFileSync(
      process.execPath,
      [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: REPO_ROOT,
        stdio: 'inherit',
      },
    );
    compiledCli = join(REPO_ROOT, 'dist', 'cli.js');
  }
  return compiledCli;
}

/** One row of a benchmark's verdict table: ours against the peer measured in the same run. */
export interface Row {
  metric: string;
  ours: number;
  peer: number;
  peerName: string;
  /** ours / peer for throughput; for "lower is better" rows the caller passes what it means. */
  ratio: number;
  target: string;
  pass: boolean;
  unit: string;
  /** Overrides PASS/MISS, e.g. '–' for a row the issue sets no target for. */
  verdict?: string;
}

export function machine(): Record<string, string | number> {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
  };
}

const fmt = (n: number) =>
  Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);

export function printTable(title: string, rows: readonly Row[]): void {
  const head = ['metric', 'ours', 'peer', 'ratio', 'target', 'verdict'];
  const body = rows.map((r) => [
    `${r.metric} (${r.unit})`,
    fmt(r.ours),
    `${fmt(r.peer)} ${r.peerName}`,
    r.ratio.toFixed(2),
    r.target,
    r.verdict ?? (r.pass ? 'PASS' : 'MISS'),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const b of body) console.log(line(b));
}

/** Writes bench/results/<name>-<timestamp>.json and returns its path. */
export function writeResults(name: string, data: object): string {
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replaceAll(':', '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ name, machine: machine(), ...data }, null, 2)}\n`);
  console.log(`results: ${file}`);
  return file;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `--name value` from argv, or the fallback. */
export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

export function toolPath(name: string): string {
  return execFileSync('bash', [join(REPO_ROOT, 'test/cluster/build.sh'), '--path', name], {
    encoding: 'utf8',
  }).trim();
}

export interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function run(cmd: string, args: readonly string[], env: Record<string, string> = {}): Proc {
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited };
}

/** `node src/cli.ts distributor --config FILE` with quiet logs. */
export function distributorProcess(ini: string, nodeArgs: readonly string[] = []): Proc {
  return run(
    process.execPath,
    [...nodeArgs, CLI, 'distributor', '--config', ini, '--metrics-port', '0'],
    {
      LOG_LEVEL: 'info',
    },
  );
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  intervalMs = 100,
  timeoutMs = 1_800_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** VmRSS and VmHWM (peak) of a process, in bytes. */
export function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) =>
    Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

// ---------------------------------------------------------------------------------------------
// The operator benchmarks (reconcile-latency, operator-scale): a real control plane, the
// operator as a process, client-side watches.

/** The nearest-rank percentile (p in 0…100) of a sample. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The test harness's control plane with the ShardDistributor CRD installed and Established. */
export async function startControlPlane(): Promise<ControlPlane> {
  const cp = new ControlPlane();
  await cp.start();
  try {
    const kubectl = toolPath('kubectl');
    const env = { ...process.env, KUBECONFIG: cp.kubeconfigPath };
    execFileSync(
      kubectl,
      [
        'apply',
        '--server-side',
        '-f',
        join(REPO_ROOT, 'crds/shards.veda.dev_sharddistributors.yaml'),
      ],
      { env, stdio: 'pipe' },
    );
    // Just after the apply the CRD has no conditions yet, and kubectl's jsonpath filter fails
    // on the missing list: not established yet, look again.
    const established = () => {
      try {
        return (
          execFileSync(
            kubectl,
            [
              'get',
              'crd/sharddistributors.shards.veda.dev',
              '-o',
              "jsonpath={.status.conditions[?(@.type=='Established')].status}",
            ],
            { env, encoding: 'utf8', stdio: 'pipe' },
          ).trim() === 'True'
        );
      } catch {
        return false;
      }
    };
    await waitFor(established, 250, 60_000);
  } catch (error) {
    await cp.stop();
    throw error;
  }
  return cp;
}

/**
 * Another kwok node (kwok manages every node with the fake annotation), with room for many
 * pods: the harness's one node takes 110, which thousands of workers would overflow.
 */
export async function addFakeNode(kc: k8s.KubeConfig, name: string, pods: number): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const capacity = { cpu: '1000', memory: '4Ti', pods: String(pods) };
  await core.createNode({
    body: {
      metadata: {
        name,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': name, type: 'kwok' },
      },
      status: { capacity, allocatable: capacity },
    },
  });
  await waitFor(
    async () => {
      const node = await core.readNode({ name });
      return (
        node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
      );
    },
    250,
    60_000,
  );
}

/** A namespace with the claim the benchmark's ShardDistributors name, bound to a PV of its own. */
export async function namespaceWithClaim(
  kc: k8s.KubeConfig,
  namespace: string,
  claim = 'veda-queue',
): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
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

/** A ShardDistributor as the e2e tests make them: a veda queue on a claim, a worker image. */
export function benchSd(name: string, minWorkers: number): object {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ShardDistributor',
    metadata: { name },
    spec: {
      queue: { mainQueue: 'individuals-flow', veda: { persistentVolumeClaim: 'veda-queue' } },
      minWorkers,
      worker: {
        image: 'registry.example/worker:1',
        command: ['python3', '-m', 'worker.queue_worker'],
      },
    },
  };
}

export function sdApi(kc: k8s.KubeConfig): {
  create(namespace: string, body: object): Promise<unknown>;
  patchSpec(namespace: string, name: string, spec: Record<string, unknown>): Promise<unknown>;
} {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const where = { group: GROUP, version: VERSION, plural: PLURAL };
  return {
    create: (namespace, body) => api.createNamespacedCustomObject({ ...where, namespace, body }),
    patchSpec: (namespace, name, spec) =>
      api.patchNamespacedCustomObject(
        { ...where, namespace, name, body: { spec } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
  };
}

/** `node src/cli.ts operator …` against a kubeconfig, logging at `info`. */
/**
 * The node flags the Helm chart gives the operator by default (values.yaml `nodeOptions`, set
 * as NODE_OPTIONS): the benchmarks run the operator as it is installed. OPERATOR_NODE_OPTIONS
 * overrides them, to try others.
 */
export function chartNodeOptions(): string[] {
  const override = process.env['OPERATOR_NODE_OPTIONS'];
  if (override !== undefined) return override.split(/\s+/).filter(Boolean);
  const values = parseYaml(
    readFileSync(join(REPO_ROOT, 'charts', 'shard-distributor', 'values.yaml'), 'utf8'),
  ) as { nodeOptions?: string };
  return (values.nodeOptions ?? '').split(/\s+/).filter(Boolean);
}

export function operatorProcess(options: {
  kubeconfig: string;
  overrideFile: string;
  args?: readonly string[];
  nodeArgs?: readonly string[];
}): Proc {
  return run(
    process.execPath,
    [
      ...chartNodeOptions(),
      ...(options.nodeArgs ?? []),
      builtCli(),
      'operator',
      '--metrics-port',
      '0',
      '--health-port',
      '0',
      '--load-route',
      'proxy',
      '--load-address-override',
      options.overrideFile,
      '--distributor-image',
      'registry.example/shard-distributor:bench',
      ...(options.args ?? []),
    ],
    { KUBECONFIG: options.kubeconfig, LOG_LEVEL: process.env['OPERATOR_LOG_LEVEL'] ?? 'info' },
  );
}

/** SIGTERM and wait (the process writes its --cpu-prof profile on a clean exit). */
export async function stopProc(proc: Proc): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
  await proc.exited;
}

/** The port a process logged under `field` (pino JSON), e.g. the operator's "metricsPort". */
export async function loggedPort(proc: Proc, field: string): Promise<number> {
  let port = 0;
  await waitFor(
    () => {
      if (proc.child.exitCode !== null) throw new Error(`process exited:\n${proc.output()}`);
      const match = new RegExp(`"${field}":(\\d+)`).exec(proc.output());
      if (match) port = Number(match[1]);
      return port > 0;
    },
    50,
    120_000,
  );
  return port;
}

/** The sum of a metric's samples on a process's /metrics (0 when absent). */
export async function metricSum(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] === name) sum += Number(match[3]);
  }
  return sum;
}

export interface WatchedObject {
  type: string;
  object: k8s.KubernetesObject & {
    spec?: Record<string, unknown> & { replicas?: number };
    status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
  };
  /** performance.now() when the event arrived here. */
  at: number;
}

/**
 * A client-side watch of one collection: every event, stamped with its arrival time, goes to
 * `onEvent`; the latest version of each object is kept. A watch the server ends is reopened
 * from the last resourceVersion seen.
 */
export class ObjectWatch {
  readonly objects = new Map<string, WatchedObject>();
  private readonly watch: k8s.Watch;
  private request: AbortController | undefined;
  private stopped = false;
  private resourceVersion = '';
  private readonly listeners = new Set<(e: WatchedObject) => void>();
  private readonly path: string;
  private readonly query: Record<string, string>;

  private constructor(kc: k8s.KubeConfig, path: string, query: Record<string, string>) {
    this.watch = new k8s.Watch(kc);
    this.path = path;
    this.query = query;
  }

  static async start(
    kc: k8s.KubeConfig,
    path: string,
    query: Record<string, string> = {},
  ): Promise<ObjectWatch> {
    const w = new ObjectWatch(kc, path, query);
    await w.open();
    return w;
  }

  onEvent(listener: (e: WatchedObject) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the arrival time of the event after which `done()` first holds. */
  until(done: () => boolean, timeoutMs = 600_000): Promise<number> {
    return new Promise((resolve, reject) => {
      if (done()) return resolve(performance.now());
      const timer = setTimeout(() => {
        off();
        reject(new Error(`watch of ${this.path}: condition not met in ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onEvent((e) => {
        if (!done()) return;
        clearTimeout(timer);
        off();
        resolve(e.at);
      });
    });
  }

  stop(): void {
    this.stopped = true;
    this.request?.abort();
  }

  private reopen(afterMs: number): void {
    setTimeout(() => {
      if (!this.stopped) void this.open().catch(() => this.reopen(1_000));
    }, afterMs);
  }

  private async open(): Promise<void> {
    this.request = await this.watch.watch(
      this.path,
      {
        ...this.query,
        allowWatchBookmarks: 'true',
        ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}),
      },
      (type: string, object: WatchedObject['object']) => {
        const at = performance.now();
        const rv = object.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (type === 'BOOKMARK') return;
        const key = `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
        const event = { type, object, at };
        if (type === 'DELETED') this.objects.delete(key);
        else this.objects.set(key, event);
        for (const listener of [...this.listeners]) listener(event);
      },
      (error: unknown) => {
        if (this.stopped) return;
        // 410 Gone: start afresh (the server replays the current state as ADDED events).
        if (String((error as { message?: string } | undefined)?.message ?? '').includes('410'))
          this.resourceVersion = '';
        this.reopen(200);
      },
    );
  }
}
