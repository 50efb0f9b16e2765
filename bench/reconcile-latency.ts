// Reconcile latency on a real control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok): N edits of one ShardDistributor's minWorkers 4 → 8 → 4, timed from the
// PATCH to the operator's answer as a client-side watch of the worker Deployments sees it:
//   up (4 → 8):   all 8 worker Deployments exist with spec.replicas 1;
//   down (8 → 4): the removed shards' Deployments are at spec.replicas 0 (a scale-down stops
//                 those workers at once and deletes them only once the distributor reports
//                 the shards drained; the stub distributor here never does, so they stay at 0).
// No real distributor runs (kwok pods run no containers): a stub answers /load as a distributor
// that reads each new INI at once would, from the ConfigMap as the API server has it now.
// Peer, interleaved in the same run (up, peer, down, peer, …): kube-controller-manager's time
// from a Deployment's creation (the POST) to its ReplicaSet, seen on a watch of ReplicaSets.
// Target: p50(up) <= 1.5 × p50(peer).
//   node bench/reconcile-latency.ts [--edits N] [--settle-ms N] [--cpu-prof] [--operator-log]
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { LABEL_COMPONENT, LABEL_DISTRIBUTOR, LABEL_SHARD } from '../src/api/index.ts';
import { CONFIG_FILE_NAME, parseIni } from '../src/config/index.ts';
import { SharedConnectionKubeConfig } from '../src/operator/runtime/index.ts';
import {
  addFakeNode,
  arg,
  benchSd,
  loggedPort,
  metricSum,
  namespaceWithClaim,
  ObjectWatch,
  operatorProcess,
  percentile,
  printTable,
  REPO_ROOT,
  sdApi,
  sleep,
  startControlPlane,
  stopProc,
  writeResults,
  type Proc,
  type Row,
} from './lib.ts';

const EDITS = arg('edits', 50);
const SETTLE_MS = arg('settle-ms', 1_500);
const cpuProf = process.argv.includes('--cpu-prof');
const NS = 'bench';
const PEER_NS = 'bench-peer';
const NAME = 'latency';
const LOW = 4;
const HIGH = 8;

/** What a distributor running `ini` (one pool) reports on /load. */
function loadOfIni(ini: string) {
  const { dispatcher } = parseIni(ini, { file: 'ConfigMap', env: {} });
  const moving = new Set(dispatcher.movingShards ?? []);
  const shard = (index: number, live: boolean) => ({
    index,
    queue: `individuals-flow-shard-${index}`,
    backlog: live ? 0 : 1,
    dispatched: 0,
    live,
    state: live ? 'live' : 'draining',
    ...(moving.has(index) ? { moving: true } : {}),
  });
  return {
    shards: [
      ...Array.from({ length: dispatcher.minWorkers }, (_, i) => shard(i, true)),
      ...dispatcher.drainingShards.map((i) => shard(i, false)),
    ],
    mainLag: 0,
    updatedAt: new Date().toISOString(),
  };
}

const cp = await startControlPlane();
const dir = await mkdtemp(join(tmpdir(), 'sd-bench-latency-'));
const watches: ObjectWatch[] = [];
let operator: Proc | undefined;
try {
  const kc = cp.kubeConfig();
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const sds = sdApi(kc);
  await namespaceWithClaim(kc, NS);
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: PEER_NS } } });
  // Room for the peer's pods next to the harness's 110-pod node.
  await addFakeNode(kc, 'kwok-node-bench', 1_000);

  // The operator holds a stopped shard's worker until the distributor shows it no longer moves
  // the shard's backlog, and the distributor's (kwok) pod exists: /load must answer. The stub
  // reports the INI the ConfigMap holds when asked: its live shards live and empty, its draining
  // ones never drained (backlog 1), moving as it says. Read directly from loopback, not through
  // the API server's service proxy, which cannot reach this process; the stub's own GET of the
  // ConfigMap stands in for that round trip. That GET goes over a kept-alive connection, as the
  // operator's proxied reads do: client-node's own would open a TLS connection each time
  // (7–9 ms a request here, 3.9 ms kept alive).
  const core = SharedConnectionKubeConfig.from(kc).makeApiClient(k8s.CoreV1Api);
  const stub = createServer((_req, res) => {
    core
      .readNamespacedConfigMap({ namespace: NS, name: `${NAME}-config` })
      .then((cm) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(loadOfIni(cm.data?.[CONFIG_FILE_NAME] ?? '')));
      })
      .catch((error: unknown) => res.writeHead(503).end(String(error)));
  });
  await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
  stub.unref();
  const book = join(dir, 'load-addresses.json');
  await writeFile(
    book,
    JSON.stringify({
      [`${NS}/${NAME}`]: `http://127.0.0.1:${(stub.address() as AddressInfo).port}`,
    }),
  );
  operator = operatorProcess({
    kubeconfig: cp.kubeconfigPath,
    overrideFile: book,
    args: ['--requeue-seconds', '30'],
    nodeArgs: cpuProf
      ? ['--cpu-prof', `--cpu-prof-dir=${join(REPO_ROOT, 'bench', 'results')}`]
      : [],
  });
  const metricsPort = await loggedPort(operator, 'metricsPort');

  const workers = await ObjectWatch.start(kc, `/apis/apps/v1/namespaces/${NS}/deployments`, {
    labelSelector: `${LABEL_DISTRIBUTOR}=${NAME},${LABEL_COMPONENT}=worker`,
  });
  const replicaSets = await ObjectWatch.start(
    kc,
    `/apis/apps/v1/namespaces/${PEER_NS}/replicasets`,
  );
  watches.push(workers, replicaSets);

  /** spec.replicas of each shard's worker Deployment, as the watch last saw it. */
  const replicasByShard = () => {
    const map = new Map<number, number>();
    for (const { object } of workers.objects.values())
      map.set(Number(object.metadata?.labels?.[LABEL_SHARD]), object.spec?.replicas ?? 1);
    return map;
  };
  const scaledTo = (live: number) => () => {
    const replicas = replicasByShard();
    for (let shard = 0; shard < HIGH; shard++) {
      const want = shard < live ? 1 : 0;
      const have = replicas.get(shard);
      // Before the first scale-up, shards over LOW have no Deployment at all: as good as 0.
      if (want === 1 ? have !== 1 : have !== undefined && have !== 0) return false;
    }
    return true;
  };

  /** Timed from just before the request to the watch event after which `done` holds. */
  const timed = async (
    request: () => Promise<unknown>,
    watch: ObjectWatch,
    done: () => boolean,
  ) => {
    if (done()) throw new Error('the condition already holds before the request');
    const seen = watch.until(done, 120_000);
    const t0 = performance.now();
    await request();
    return (await seen) - t0;
  };

  await sds.create(NS, benchSd(NAME, LOW));
  await workers.until(scaledTo(LOW), 120_000);
  await sleep(3_000);

  const up: number[] = [];
  const down: number[] = [];
  const peer: number[] = [];
  let peerIndex = 0;
  const peerOnce = async () => {
    const name = `peer-${peerIndex++}`;
    const ms = await timed(
      () =>
        apps.createNamespacedDeployment({
          namespace: PEER_NS,
          body: {
            metadata: { name, labels: { app: name } },
            spec: {
              replicas: 1,
              selector: { matchLabels: { app: name } },
              template: {
                metadata: { labels: { app: name } },
                spec: { containers: [{ name: 'worker', image: 'registry.example/worker:1' }] },
              },
            },
          },
        }),
      replicaSets,
      () =>
        [...replicaSets.objects.values()].some((o) =>
          (o.object.metadata?.ownerReferences ?? []).some((r) => r.name === name),
        ),
    );
    peer.push(ms);
    await sleep(SETTLE_MS);
  };

  const writesBefore = await metricSum(metricsPort, 'shard_distributor_operator_api_writes_total');
  for (let i = 0; i < EDITS; i++) {
    up.push(
      await timed(() => sds.patchSpec(NS, NAME, { minWorkers: HIGH }), workers, scaledTo(HIGH)),
    );
    await sleep(SETTLE_MS);
    await peerOnce();
    down.push(
      await timed(() => sds.patchSpec(NS, NAME, { minWorkers: LOW }), workers, scaledTo(LOW)),
    );
    await sleep(SETTLE_MS);
    await peerOnce();
    if ((i + 1) % 10 === 0)
      console.log(
        `${i + 1}/${EDITS}: up p50 ${percentile(up, 50).toFixed(0)} ms, down p50 ${percentile(down, 50).toFixed(0)} ms, peer p50 ${percentile(peer, 50).toFixed(0)} ms`,
      );
  }
  const writes =
    (await metricSum(metricsPort, 'shard_distributor_operator_api_writes_total')) - writesBefore;
  const errors = await metricSum(metricsPort, 'controller_runtime_reconcile_errors_total');
  await stopProc(operator);
  if (process.argv.includes('--operator-log'))
    await writeFile(
      join(REPO_ROOT, 'bench', 'results', 'reconcile-latency-operator.log'),
      operator.output(),
    );

  const p = (values: number[], q: number) => percentile(values, q);
  const rows: Row[] = [
    {
      metric: `edit ${LOW}→${HIGH} → all ${HIGH} worker Deployments (replicas 1), p50`,
      unit: 'ms',
      ours: p(up, 50),
      peer: p(peer, 50),
      peerName: 'Deployment → ReplicaSet (kcm)',
      ratio: p(up, 50) / p(peer, 50),
      target: '<= 1.5',
      pass: p(up, 50) / p(peer, 50) <= 1.5,
    },
    {
      metric: `edit ${LOW}→${HIGH}, p99`,
      unit: 'ms',
      ours: p(up, 99),
      peer: p(peer, 99),
      peerName: 'kcm',
      ratio: p(up, 99) / p(peer, 99),
      target: '–',
      pass: true,
      verdict: '–',
    },
    {
      metric: `edit ${HIGH}→${LOW} → removed shards at replicas 0, p50`,
      unit: 'ms',
      ours: p(down, 50),
      peer: p(peer, 50),
      peerName: 'kcm',
      ratio: p(down, 50) / p(peer, 50),
      target: '<= 1.5',
      pass: p(down, 50) / p(peer, 50) <= 1.5,
    },
    {
      metric: `edit ${HIGH}→${LOW}, p99`,
      unit: 'ms',
      ours: p(down, 99),
      peer: p(peer, 99),
      peerName: 'kcm',
      ratio: p(down, 99) / p(peer, 99),
      target: '–',
      pass: true,
      verdict: '–',
    },
  ];
  printTable(
    `reconcile latency (${EDITS} edits each way, ${peer.length} peer Deployments, interleaved)`,
    rows,
  );
  console.log(`operator API writes during the edits: ${writes}; reconcile errors: ${errors}`);
  writeResults('reconcile-latency', {
    edits: EDITS,
    settleMs: SETTLE_MS,
    ms: { up, down, peer },
    operator: { writes, reconcileErrors: errors },
    rows,
  });
} finally {
  for (const w of watches) w.stop();
  if (operator) await stopProc(operator);
  await cp.stop();
  await rm(dir, { recursive: true, force: true });
}
