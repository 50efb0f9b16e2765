import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { writeKubeconfig } from './kubeconfig.ts';
import { createPki, type Pki } from './pki.ts';
import { freePort } from './ports.ts';
import { claimRunDir, ManagedProcess } from './process.ts';
import { toolPath } from './tools.ts';
import { eventually } from './eventually.ts';

const RUN_PREFIX = 'sd-control-plane-';
export const FAKE_NODE = 'kwok-node-0';

/**
 * A real Kubernetes control plane on loopback, built from the Go modules in test/cluster:
 * etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and kwok faking one node
 * so that scheduled pods turn Running. What envtest does, plus the controllers and a node.
 */
export class ControlPlane {
  readonly dir: string;
  readonly kubeconfigPath: string;
  server = '';
  pki!: Pki;
  private etcd?: ManagedProcess;
  private etcdUrl = '';
  private apiServer?: ManagedProcess;
  private apiServerArgs: string[] = [];
  private readonly others: ManagedProcess[] = [];

  constructor() {
    const parent = tmpdir();
    this.dir = mkdtempSync(join(parent, RUN_PREFIX));
    claimRunDir(this.dir, RUN_PREFIX, parent);
    this.kubeconfigPath = join(this.dir, 'admin.kubeconfig');
  }

  async start(): Promise<void> {
    try {
      await this.startEtcdAndApiServer();
      await this.startControllers();
      await this.createFakeNode();
    } catch (error) {
      await this.stop({ keepDir: true });
      throw new Error(
        `control plane did not start (logs in ${this.dir}): ${(error as Error).message}\n${this.logs()}`,
        {
          cause: error,
        },
      );
    }
  }

  private async startEtcdAndApiServer(): Promise<void> {
    this.pki = createPki(this.dir);
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    this.etcdUrl = etcdUrl;
    mkdirSync(join(this.dir, 'etcd'));
    this.etcd = ManagedProcess.start(this.dir, 'etcd', toolPath('etcd'), [
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    this.server = `https://127.0.0.1:${apiPort}`;
    this.apiServerArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${this.pki.adminCert}`,
      `--tls-private-key-file=${this.pki.adminKey}`,
      `--client-ca-file=${this.pki.caCert}`,
      `--service-account-issuer=${this.server}`,
      `--service-account-key-file=${this.pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${this.pki.serviceAccountKey}`,
      // Room for thousands of ClusterIPs: the operator-scale bench makes a metrics Service per
      // ShardDistributor (500 of them), and a /24 holds 253.
      '--service-cluster-ip-range=10.0.0.0/16',
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount',
    ];
    this.apiServer = ManagedProcess.start(
      this.dir,
      'kube-apiserver',
      toolPath('kube-apiserver'),
      this.apiServerArgs,
    );
    writeKubeconfig(this.kubeconfigPath, this.server, this.pki, { name: 'admin' });
    await this.waitForApiServer();
  }

  private async waitForApiServer(): Promise<void> {
    await eventually(
      async () => {
        for (const p of [this.etcd, this.apiServer]) {
          if (p && !p.running) throw new FatalStartError(`${p.name} exited:\n${p.tail()}`);
        }
        const body = await this.getRaw('/readyz');
        if (body.trim() !== 'ok') throw new Error(`/readyz says ${body}`);
      },
      { timeoutMs: 90_000, intervalMs: 250, description: 'kube-apiserver /readyz' },
    );
  }

  private async startControllers(): Promise<void> {
    const kubeconfig = `--kubeconfig=${this.kubeconfigPath}`;
    this.others.push(
      ManagedProcess.start(
        this.dir,
        'kube-controller-manager',
        toolPath('kube-controller-manager'),
        [
          kubeconfig,
          '--bind-address=127.0.0.1',
          `--secure-port=${await freePort()}`,
          '--leader-elect=false',
          `--root-ca-file=${this.pki.caCert}`,
          `--service-account-private-key-file=${this.pki.serviceAccountKey}`,
          '--use-service-account-credentials=false',
        ],
      ),
      ManagedProcess.start(this.dir, 'kube-scheduler', toolPath('kube-scheduler'), [
        kubeconfig,
        '--bind-address=127.0.0.1',
        `--secure-port=${await freePort()}`,
        '--leader-elect=false',
      ]),
    );
    const kwokConfig = join(this.dir, 'kwok.yaml');
    writeFileSync(kwokConfig, kwokConfiguration());
    this.others.push(
      ManagedProcess.start(this.dir, 'kwok', toolPath('kwok'), [
        kubeconfig,
        `--config=${kwokConfig}`,
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--node-ip=127.0.0.2',
        `--server-address=127.0.0.1:${await freePort()}`,
      ]),
    );
  }

  private async createFakeNode(): Promise<void> {
    const core = this.kubeConfig().makeApiClient(k8s.CoreV1Api);
    const capacity = { cpu: '32', memory: '256Gi', pods: '110' };
    await core.createNode({
      body: {
        metadata: {
          name: FAKE_NODE,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: {
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'kubernetes.io/hostname': FAKE_NODE,
            type: 'kwok',
          },
        },
        status: { capacity, allocatable: capacity },
      },
    });
    await eventually(
      async () => {
        for (const p of this.others)
          if (!p.running) throw new FatalStartError(`${p.name} exited:\n${p.tail()}`);
        const node = await core.readNode({ name: FAKE_NODE });
        const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status !== 'True') throw new Error(`node ${FAKE_NODE} is not Ready yet`);
      },
      { timeoutMs: 60_000, intervalMs: 250, description: `kwok node ${FAKE_NODE} Ready` },
    );
  }

  kubeConfig(): k8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /** GET a raw API path with the admin credentials. */
  getRaw(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.server}${path}`,
        {
          ca: readFileSync(this.pki.caCert),
          cert: readFileSync(this.pki.adminCert),
          key: readFileSync(this.pki.adminKey),
          timeout: 5_000,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
      req.end();
    });
  }

  /** Kills the API server (-9) and starts it again on the same port: for chaos tests. */
  async restartApiServer(downMs = 0): Promise<void> {
    await this.apiServer?.kill();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    this.apiServer = ManagedProcess.start(
      this.dir,
      'kube-apiserver',
      toolPath('kube-apiserver'),
      this.apiServerArgs,
    );
    await this.waitForApiServer();
  }

  /**
   * Compacts etcd's history up to its current revision (through etcd's JSON gateway), as the
   * API server does every few minutes: a watch from an older resourceVersion then gets 410 Gone.
   */
  async compactEtcd(): Promise<void> {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${this.etcdUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`etcd ${path} answered ${res.status}: ${text}`);
      return JSON.parse(text) as { header?: { revision?: string } };
    };
    const range = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
    const revision = range.header?.revision;
    if (!revision) throw new Error('etcd did not report its revision');
    await post('/v3/kv/compaction', { revision, physical: true });
  }

  logs(): string {
    return [this.etcd, this.apiServer, ...this.others]
      .filter((p): p is ManagedProcess => p !== undefined)
      .map((p) => `--- ${p.name} (last lines of ${p.logPath})\n${p.tail(15)}`)
      .join('\n');
  }

  async stop(options: { keepDir?: boolean } = {}): Promise<void> {
    // Controllers first, so none of them logs a storm of errors against a vanished API.
    await Promise.all(this.others.map((p) => p.stop()));
    await this.apiServer?.stop();
    await this.etcd?.stop();
    if (!options.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

class FatalStartError extends Error {
  override name = 'FatalStartError';
}

/** kwok's configuration: manage only annotated nodes, with the stages its module ships. */
function kwokConfiguration(): string {
  const stagesDir = join(toolPath('kwok'), '..', 'stages');
  const stageFiles = [
    'node-initialize',
    'node-heartbeat-with-lease',
    'pod-create',
    'pod-init-container-running',
    'pod-init-container-completed',
    'pod-ready',
    'pod-complete',
    'pod-delete',
    'pod-container-running-failed',
  ];
  const config = {
    apiVersion: 'config.kwok.x-k8s.io/v1alpha1',
    kind: 'KwokConfiguration',
    // A config file replaces kwok's defaults wholesale, so the parallelism settings must be given.
    options: {
      manageAllNodes: false,
      manageNodesWithAnnotationSelector: 'kwok.x-k8s.io/node=fake',
      nodeLeaseDurationSeconds: 40,
      nodeLeaseParallelism: 4,
      nodePlayStageParallelism: 4,
      podPlayStageParallelism: 4,
      podsOnNodeSyncParallelism: 4,
      enablePodsOnNodeSyncListPager: true,
      enablePodsOnNodeSyncStreamWatch: true,
    },
  };
  const stages = stageFiles.flatMap((name) =>
    parseAllDocuments(readFileSync(join(stagesDir, `${name}.yaml`), 'utf8')).map((doc) =>
      doc.toString(),
    ),
  );
  return [stringify(config), ...stages].join('---\n');
}
