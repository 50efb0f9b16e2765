// The operator at scale on a real control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok): N ShardDistributors × 4 shards in one namespace (default 500, as the
// issue asks: 2,000 worker Deployments, 500 distributor Deployments, 500 ConfigMaps, 500
// Services, 2,500 pods).
//   converge: from the first create to (a) every owned object existing, (b) every
//             ShardDistributor Ready (workers' pods Running on kwok, load reported);
//   quiet:    API writes the operator counts (shard_distributor_operator_api_writes_total)
//             during --quiet-seconds (300) after it converged and its writes stopped — target 0;
//   memory:   the operator's VmRSS / VmHWM — target < 200 MB;
//   errors:   controller_runtime_reconcile_errors_total over the whole run — target 0.
// Every distributor's /load is answered by one stub server in this process (kwok pods run no
// containers): 4 live shards, backlog 0, so a converged ShardDistributor is steady and Ready.
// Peer, same run, after the operator has stopped: the same objects (read back from the API
// server) server-side-applied by this process into another namespace, one ShardDistributor's
// objects after another, 4 at a time (the operator's default concurrency) — what the writes
// alone cost on this control plane. The ratio of (a) to it is the operator's overhead.
//   node bench/operator-scale.ts [--sds N] [--quiet-seconds N] [--timeout-minutes N] [--cpu-prof]
import { createServer } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { GROUP, LABEL_DISTRIBUTOR, PLURAL, VERSION } from '../src/api/index.ts';
import {
  addFakeNode,
  arg,
  benchSd,
  loggedPort,
  metricSum,
  namespaceWithClaim,
  ObjectWatch,
  operatorProcess,
  printTable,
  REPO_ROOT,
  rssOf,
  sdApi,
  sleep,
  startControlPlane,
  stopProc,
  waitFor,
  writeResults,
  type Proc,
  type Row,
} from './lib.ts';

// Every metrics Service takes a ClusterIP: the harness's range (test/harness/control-plane.ts)
// is a /16, so the peer's copies get ClusterIPs of their own too.
const SDS = arg('sds', 500);
const SHARDS = 4;
const QUIET_S = arg('quiet-seconds', 300);
const TIMEOUT_MS = arg('timeout-minutes', 30) * 60_000;
const CONCURRENCY = 4;
const cpuProf = process.argv.includes('--cpu-prof');
const NS = 'scale';
const PEER_NS = 'scale-peer';
const WRITES = 'shard_distributor_operator_api_writes_total';
const ERRORS = 'controller_runtime_reconcile_errors_total';
const MB = 1e6;

const names = Array.from({ length: SDS }, (_, i) => `sd-${String(i).padStart(4, '0')}`);
const expected = { deployments: SDS * (SHARDS + 1), configmaps: SDS, services: SDS };
const elapsed = (t0: number) => ((performance.now() - t0) / 1000).toFixed(0);

/** Runs `fn` over `items`, `n` at a time. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Watches of what the operator owns in a namespace; first-seen times of each object. */
async function ownedWatches(kc: k8s.KubeConfig, namespace: string) {
  const query = { labelSelector: LABEL_DISTRIBUTOR };
  const watches = {
    deployments: await ObjectWatch.start(
      kc,
      `/apis/apps/v1/namespaces/${namespace}/deployments`,
      query,
    ),
    configmaps: await ObjectWatch.start(kc, `/api/v1/namespaces/${namespace}/configmaps`, query),
    services: await ObjectWatch.start(kc, `/api/v1/namespaces/${namespace}/services`, query),
  };
  const firstSeen = new Map<string, number>();
  for (const [kind, w] of Object.entries(watches))
    w.onEvent((e) => {
      const key = `${kind}/${e.object.metadata?.name}`;
      if (e.type !== 'DELETED' && !firstSeen.has(key)) firstSeen.set(key, e.at);
    });
  return {
    watches,
    counts: () => ({
      deployments: watches.deployments.objects.size,
      configmaps: watches.configmaps.objects.size,
      services: watches.services.objects.size,
    }),
    complete: () =>
      watches.deployments.objects.size >= expected.deployments &&
      watches.configmaps.objects.size >= expected.configmaps &&
      watches.services.objects.size >= expected.services,
    lastSeen: () => Math.max(...firstSeen.values()),
    stop: () => Object.values(watches).forEach((w) => w.stop()),
  };
}

const cp = await startControlPlane();
const dir = await mkdtemp(join(tmpdir(), 'sd-bench-scale-'));
const stoppers: (() => void)[] = [];
let operator: Proc | undefined;
try {
  const kc = cp.kubeConfig();
  await namespaceWithClaim(kc, NS);
  await namespaceWithClaim(kc, PEER_NS);
  // The harness's node takes 110 pods; ours and the peer's need 2 × N × 5.
  await addFakeNode(kc, 'kwok-node-bench', 2 * SDS * (SHARDS + 1) + 200);

  // One stub /load for every distributor: all shards live, nothing waiting.
  const load = JSON.stringify({
    shards: Array.from({ length: SHARDS }, (_, index) => ({
      index,
      queue: `individuals-flow-shard-${index}`,
      backlog: 0,
      dispatched: 0,
      live: true,
      state: 'live',
    })),
    mainLag: 0,
    updatedAt: new Date().toISOString(),
  });
  const stub = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(load);
  });
  await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
  stoppers.push(() => stub.close());
  const stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  const book = join(dir, 'load-addresses.json');
  await writeFile(
    book,
    JSON.stringify(Object.fromEntries(names.map((n) => [`${NS}/${n}`, stubUrl]))),
  );

  operator = operatorProcess({
    kubeconfig: cp.kubeconfigPath,
    overrideFile: book,
    args: ['--requeue-seconds', '30'],
    nodeArgs: cpuProf
      ? ['--cpu-prof', `--cpu-prof-dir=${join(REPO_ROOT, 'bench', 'results')}`]
      : [],
  });
  const op = operator;
  const metricsPort = await loggedPort(op, 'metricsPort');
  await waitFor(() => op.output().includes('controller started'), 100, 60_000);
  const pid = op.child.pid!;
  let rssMax = 0;
  const sampler = setInterval(() => {
    try {
      rssMax = Math.max(rssMax, rssOf(pid).rss);
    } catch {
      // exited
    }
  }, 1_000);
  stoppers.push(() => clearInterval(sampler));
  await sleep(3_000);
  const idle = rssOf(pid);
  console.log(`operator idle (0 ShardDistributors): RSS ${(idle.rss / MB).toFixed(0)} MB`);

  const owned = await ownedWatches(kc, NS);
  stoppers.push(owned.stop);
  const sdWatch = await ObjectWatch.start(
    kc,
    `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`,
  );
  stoppers.push(() => sdWatch.stop());
  const readyCount = () =>
    [...sdWatch.objects.values()].filter(
      ({ object: sd }) =>
        sd.status?.observedGeneration === sd.metadata?.generation &&
        (sd.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;

  // --- converge
  const sds = sdApi(kc);
  const t0 = performance.now();
  const progress = setInterval(() => {
    const c = owned.counts();
    console.log(
      `${elapsed(t0)} s: deployments ${c.deployments}/${expected.deployments}, configmaps ${c.configmaps}, services ${c.services}, ready ${readyCount()}/${SDS}, operator RSS ${(rssOf(pid).rss / MB).toFixed(0)} MB`,
    );
  }, 15_000);
  stoppers.push(() => clearInterval(progress));
  await pool(names, 8, (name) => sds.create(NS, benchSd(name, SHARDS)));
  const createdS = (performance.now() - t0) / 1000;
  console.log(`${SDS} ShardDistributors created in ${createdS.toFixed(1)} s`);
  await waitFor(owned.complete, 250, TIMEOUT_MS);
  const objectsS = (owned.lastSeen() - t0) / 1000;
  console.log(`every owned object exists after ${objectsS.toFixed(1)} s`);
  await waitFor(() => readyCount() === SDS, 500, TIMEOUT_MS);
  const readyS = (performance.now() - t0) / 1000;
  console.log(`every ShardDistributor Ready after ${readyS.toFixed(1)} s`);
  clearInterval(progress);

  // Converged means the operator stopped writing too: wait for 15 s without a write.
  let last = await metricSum(metricsPort, WRITES);
  let still = performance.now();
  await waitFor(
    async () => {
      const now = await metricSum(metricsPort, WRITES);
      if (now !== last) [last, still] = [now, performance.now()];
      return performance.now() - still >= 15_000;
    },
    1_000,
    TIMEOUT_MS,
  );
  const settledS = (still - t0) / 1000;
  console.log(`operator's last write at ${settledS.toFixed(1)} s; quiet period of ${QUIET_S} s`);

  // --- quiet
  const writesBefore = await metricSum(metricsPort, WRITES);
  const reconcilesBefore = await metricSum(metricsPort, 'controller_runtime_reconcile_total');
  const quietStart = new Date();
  let sdVersionsInQuiet = 0;
  const offSd = sdWatch.onEvent((e) => {
    if (e.type === 'MODIFIED') sdVersionsInQuiet++;
  });
  await sleep(QUIET_S * 1000);
  offSd();
  const writesQuiet = (await metricSum(metricsPort, WRITES)) - writesBefore;
  const reconcilesQuiet =
    (await metricSum(metricsPort, 'controller_runtime_reconcile_total')) - reconcilesBefore;
  const errors = await metricSum(metricsPort, ERRORS);
  const events = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: NS });
  const eventsInQuiet = events.items.filter(
    (e) =>
      e.source?.component === 'shard-distributor' &&
      (e.lastTimestamp ?? e.eventTime ?? new Date(0)).getTime() >= quietStart.getTime(),
  ).length;
  const mem = rssOf(pid);
  rssMax = Math.max(rssMax, mem.rss, mem.peak);
  console.log(
    `quiet ${QUIET_S} s: ${writesQuiet} writes, ${eventsInQuiet} events, ${sdVersionsInQuiet} ShardDistributor versions, ${reconcilesQuiet} reconciles; RSS ${(mem.rss / MB).toFixed(0)} MB, peak ${(mem.peak / MB).toFixed(0)} MB; reconcile errors ${errors}`,
  );
  clearInterval(sampler);
  await stopProc(op);
  operator = undefined;

  // --- peer: the same objects, applied directly, 4 ShardDistributors at a time
  const objects = new Map<string, k8s.KubernetesObject[]>();
  const kinds = [
    ['configmaps', 'v1', 'ConfigMap'],
    ['deployments', 'apps/v1', 'Deployment'],
    ['services', 'v1', 'Service'],
  ] as const;
  for (const [plural, apiVersion, kind] of kinds) {
    for (const { object } of owned.watches[plural].objects.values()) {
      const sd = object.metadata?.labels?.[LABEL_DISTRIBUTOR] ?? '';
      const copy: Record<string, unknown> = {
        apiVersion,
        kind,
        metadata: {
          name: object.metadata?.name,
          namespace: PEER_NS,
          labels: object.metadata?.labels,
          annotations: object.metadata?.annotations,
        },
      };
      if (kind === 'ConfigMap') copy['data'] = (object as k8s.V1ConfigMap).data;
      else {
        const spec = structuredClone(object.spec ?? {});
        if (kind === 'Service') {
          // The API server allocates the copy's own address.
          delete spec.clusterIP;
          delete spec.clusterIPs;
        }
        copy['spec'] = spec;
      }
      objects.set(sd, [...(objects.get(sd) ?? []), copy as k8s.KubernetesObject]);
    }
  }
  const peerOwned = await ownedWatches(kc, PEER_NS);
  stoppers.push(peerOwned.stop);
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  const p0 = performance.now();
  await pool([...objects.values()], CONCURRENCY, async (list) => {
    for (const object of list)
      await client.patch(
        object,
        undefined,
        undefined,
        'bench-peer',
        true,
        k8s.PatchStrategy.ServerSideApply,
      );
  });
  await waitFor(peerOwned.complete, 100, TIMEOUT_MS);
  const peerS = (peerOwned.lastSeen() - p0) / 1000;
  console.log(`peer: every object exists after ${peerS.toFixed(1)} s`);

  const rows: Row[] = [
    {
      metric: `${SDS} × ${SHARDS}: create → every owned object exists`,
      unit: 's',
      ours: objectsS,
      peer: peerS,
      peerName: 'same objects applied directly',
      ratio: objectsS / peerS,
      target: '–',
      pass: true,
      verdict: '–',
    },
    {
      metric: `${SDS} × ${SHARDS}: create → every ShardDistributor Ready`,
      unit: 's',
      ours: readyS,
      peer: peerS,
      peerName: 'same objects applied directly',
      ratio: readyS / peerS,
      target: '–',
      pass: true,
      verdict: '–',
    },
    {
      metric: `API writes in ${QUIET_S} s quiet`,
      unit: 'writes',
      ours: writesQuiet,
      peer: reconcilesQuiet,
      peerName: 'reconciles in the same window',
      ratio: reconcilesQuiet > 0 ? writesQuiet / reconcilesQuiet : 0,
      target: '0',
      pass: writesQuiet === 0 && eventsInQuiet === 0,
    },
    {
      metric: 'operator peak RSS (VmHWM)',
      unit: 'MB',
      ours: rssMax / MB,
      peer: idle.rss / MB,
      peerName: 'idle, 0 ShardDistributors',
      ratio: rssMax / idle.rss,
      target: '< 200 MB',
      pass: rssMax < 200 * MB,
    },
    {
      metric: 'reconcile errors, whole run',
      unit: 'errors',
      ours: errors,
      peer: 0,
      peerName: '–',
      ratio: 0,
      target: '0',
      pass: errors === 0,
    },
  ];
  printTable(`operator at scale (${SDS} ShardDistributors × ${SHARDS} shards)`, rows);
  writeResults('operator-scale', {
    sds: SDS,
    shards: SHARDS,
    quietSeconds: QUIET_S,
    seconds: {
      created: createdS,
      objects: objectsS,
      ready: readyS,
      lastWrite: settledS,
      peer: peerS,
    },
    quiet: {
      writes: writesQuiet,
      events: eventsInQuiet,
      sdVersions: sdVersionsInQuiet,
      reconciles: reconcilesQuiet,
    },
    bytes: { idleRss: idle.rss, rssMax, rssEnd: mem.rss, hwm: mem.peak },
    reconcileErrors: errors,
    rows,
  });
} finally {
  for (const stop of stoppers) stop();
  if (operator) await stopProc(operator);
  await cp.stop();
  await rm(dir, { recursive: true, force: true });
}
