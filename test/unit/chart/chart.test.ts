import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../harness/tools.ts';
import {
  CHART_DIR,
  helm,
  kustomize,
  ofKind,
  onlyOfKind,
  renderChart,
  templateChart,
  type Manifest,
} from './helm.ts';
import { restrictedViolations } from './pod-security.ts';
import { withDefaults } from '../../../src/api/index.ts';
import { metricsServiceFor } from '../../../src/operator/desired/index.ts';
import { sample } from '../operator/desired/samples.ts';

const SLOW = 30_000;

function operatorContainer(rendered: Manifest[]) {
  return onlyOfKind(rendered, 'Deployment').spec.template.spec.containers[0];
}

/** The value following a flag in an argv list (the chart passes `--flag value` pairs). */
function flag(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at < 0 ? undefined : args[at + 1];
}

describe('the Helm chart', { timeout: SLOW }, () => {
  it('passes helm lint --strict', () => {
    const result = helm(['lint', '--strict', CHART_DIR]);
    expect(result.stderr + result.stdout).toContain('0 chart(s) failed');
    expect(result.status).toBe(0);
  });

  it('ships exactly the generated CRD in crds/', () => {
    expect(readdirSync(`${CHART_DIR}/crds`)).toEqual(['shards.veda.dev_sharddistributors.yaml']);
    expect(readFileSync(`${CHART_DIR}/crds/shards.veda.dev_sharddistributors.yaml`, 'utf8')).toBe(
      readFileSync(`${REPO_ROOT}crds/shards.veda.dev_sharddistributors.yaml`, 'utf8'),
    );
  });

  it('has the appVersion of the package and requires Kubernetes 1.30 or later', () => {
    const chart = parse(readFileSync(`${CHART_DIR}/Chart.yaml`, 'utf8'));
    const pkg = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, 'utf8'));
    expect(chart).toMatchObject({ apiVersion: 'v2', appVersion: pkg.version });
    expect(chart.kubeVersion).toBe('>=1.30.0-0');
  });
});

describe('rendered with default values', { timeout: SLOW }, () => {
  let rendered: Manifest[];
  beforeAll(() => {
    rendered = renderChart({}, { release: 'sd', namespace: 'ops' });
  }, SLOW);

  it('renders one of each object of a cluster-mode install', () => {
    expect(rendered.map((m) => m.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    for (const m of rendered)
      expect(m.metadata.labels?.['app.kubernetes.io/managed-by'], m.kind).toBe('Helm');
  });

  it('runs `shard-distributor operator` with leader election and the contract flags', () => {
    const container = operatorContainer(rendered);
    expect(container.image).toBe('ghcr.io/veda-project/shard-distributor:0.1.0');
    expect(container.command).toBeUndefined();
    expect(container.args).toEqual([
      'operator',
      '--leader-elect',
      '--lease-name',
      'sd-shard-distributor-leader',
      '--lease-namespace',
      'ops',
      '--metrics-port',
      '8080',
      '--health-port',
      '8081',
      '--distributor-image',
      'ghcr.io/veda-project/shard-distributor:0.1.0',
      '--concurrency',
      '4',
      '--log-level',
      'info',
    ]);
    expect(onlyOfKind(rendered, 'Deployment').spec.replicas).toBe(1);
  });

  it('passes POD_NAMESPACE and POD_NAME from the downward API, and the node flags', () => {
    expect(operatorContainer(rendered).env).toEqual([
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NODE_OPTIONS', value: '--max-old-space-size=96 --max-semi-space-size=1' },
    ]);
  });

  it('sizes the heap below the memory limit, in the chart and in config/ alike', () => {
    const limitMiB = (container: { resources: { limits: { memory: string } } }) =>
      Number(/^(\d+)Mi$/.exec(container.resources.limits.memory)?.[1]);
    const oldSpaceMiB = (container: { env: { name: string; value?: string }[] }) =>
      Number(
        /--max-old-space-size=(\d+)/.exec(
          container.env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '',
        )?.[1],
      );
    const fromChart = operatorContainer(rendered);
    const fromConfig = operatorContainer(kustomize(`${REPO_ROOT}config/default`));
    expect(oldSpaceMiB(fromChart)).toBeLessThanOrEqual(limitMiB(fromChart) / 2);
    expect(fromConfig.env).toContainEqual(
      fromChart.env.find((e: { name: string }) => e.name === 'NODE_OPTIONS'),
    );
    expect(limitMiB(fromConfig)).toBe(limitMiB(fromChart));
  });

  it('leaves NODE_OPTIONS out when nodeOptions is empty', () => {
    const env = operatorContainer(renderChart({ nodeOptions: '' })).env;
    expect(env.map((e: { name: string }) => e.name)).not.toContain('NODE_OPTIONS');
  });

  it('probes /healthz and /readyz on the health port and exposes /metrics through the Service', () => {
    const container = operatorContainer(rendered);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(container.ports).toEqual([
      { name: 'metrics', containerPort: 8080, protocol: 'TCP' },
      { name: 'health', containerPort: 8081, protocol: 'TCP' },
    ]);
    expect(container.resources.requests).toBeDefined();
    const service = onlyOfKind(rendered, 'Service');
    expect(service.spec.ports).toEqual([
      { name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    const podLabels = onlyOfKind(rendered, 'Deployment').spec.template.metadata.labels;
    expect(podLabels).toMatchObject(service.spec.selector);
  });

  it('selects only the operator pods, never the distributor and worker pods it creates', () => {
    const selector = onlyOfKind(rendered, 'Deployment').spec.selector.matchLabels;
    expect(selector['app.kubernetes.io/component']).toBe('operator');
  });
});

describe('podLabels', { timeout: SLOW }, () => {
  const selectorKeys = [
    'app.kubernetes.io/name',
    'app.kubernetes.io/instance',
    'app.kubernetes.io/component',
  ];

  it('adds labels to the operator pods, and only to them', () => {
    const rendered = renderChart({ podLabels: { team: 'platform', 'example.com/tier': 'ops' } });
    const deployment = onlyOfKind(rendered, 'Deployment');
    expect(deployment.spec.template.metadata.labels).toMatchObject({
      team: 'platform',
      'example.com/tier': 'ops',
      'app.kubernetes.io/part-of': 'shard-distributor',
      'app.kubernetes.io/managed-by': 'Helm',
    });
    expect(deployment.metadata.labels.team).toBeUndefined();
    expect(deployment.spec.selector.matchLabels.team).toBeUndefined();
  });

  it('never overrides a selector label, so the Deployment still selects its pods', () => {
    const values = {
      podLabels: {
        'app.kubernetes.io/name': 'mine',
        'app.kubernetes.io/instance': 'mine',
        'app.kubernetes.io/component': 'mine',
        team: 'platform',
      },
    };
    // Written once each (a key written twice fails to parse in helm.ts), with the chart's values.
    const result = templateChart(values);
    expect(result.status).toBe(0);
    const template = /kind: Deployment[\s\S]*?template:\n\s+metadata:\n([\s\S]*?)\n\s+spec:/.exec(
      result.stdout,
    )![1]!;
    for (const key of selectorKeys) expect(template.split(`${key}:`).length - 1, key).toBe(1);
    const deployment = onlyOfKind(renderChart(values), 'Deployment');
    const podLabels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'shard-distributor',
      'app.kubernetes.io/instance': 'sd',
      'app.kubernetes.io/component': 'operator',
    });
    expect(podLabels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(podLabels.team).toBe('platform');
    expect(podLabels).toMatchObject(onlyOfKind(renderChart(values), 'Service').spec.selector);
  });

  it("may override the chart's other pod labels", () => {
    const labels = onlyOfKind(
      renderChart({ podLabels: { 'app.kubernetes.io/part-of': 'payments' } }),
      'Deployment',
    ).spec.template.metadata.labels;
    expect(labels['app.kubernetes.io/part-of']).toBe('payments');
  });
});

describe('NOTES.txt', () => {
  const notes = readFileSync(`${CHART_DIR}/templates/NOTES.txt`, 'utf8');

  it('points at no file of the repository, which an installed chart does not come with', () => {
    expect(notes).not.toMatch(/config\/samples|charts\/shard-distributor|crds\//);
  });

  it('says how to upgrade the CRD from a packaged chart', () => {
    expect(notes).toContain(
      'helm show crds <chart> --version <version> | kubectl apply --server-side --force-conflicts -f -',
    );
  });

  it('carries a ShardDistributor sample that the CRD accepts, as a paste-able heredoc', () => {
    const match = /^kubectl apply -n <namespace> -f - <<'SAMPLE'\n([\s\S]*?)\nSAMPLE$/m.exec(notes);
    expect(match).not.toBeNull();
    const text = match![1]!;
    expect(text).not.toContain('{{');
    const sample = parse(text);
    const crd = parse(
      readFileSync(`${CHART_DIR}/crds/shards.veda.dev_sharddistributors.yaml`, 'utf8'),
    );
    const served = crd.spec.versions.find((v: { storage: boolean }) => v.storage);
    expect(sample.apiVersion).toBe(`${crd.spec.group}/${served.name}`);
    expect(sample.kind).toBe(crd.spec.names.kind);
    expect(sample.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(Object.keys(sample)).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    // The schema the CRD is generated from (test/unit/api/crd.test.ts keeps them the same).
    expect(() => withDefaults(sample.spec)).not.toThrow();
    const required: string[] = served.schema.openAPIV3Schema.properties.spec.required;
    for (const key of required) expect(sample.spec[key], key).toBeDefined();
    // And it is the repository's minimal sample, which the e2e tests apply to a cluster.
    expect(sample).toEqual(
      parse(
        readFileSync(
          `${REPO_ROOT}config/samples/shards_v1alpha1_sharddistributor_minimal.yaml`,
          'utf8',
        ),
      ),
    );
    // NOTES step 3 describes it by name.
    expect(notes).toContain(`kubectl describe sd ${sample.metadata.name} -n <namespace>`);
  });
});

describe('the chart and the operator CLI', { timeout: SLOW }, () => {
  it('passes only flags that `shard-distributor operator --help` documents', () => {
    const help = spawnSync(process.execPath, [`${REPO_ROOT}src/cli.ts`, 'operator', '--help'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(help.status).toBe(0);
    const rendered = renderChart({ watchNamespaces: ['a'], leaderElection: { enabled: true } });
    const flags = operatorContainer(rendered).args.filter((a: string) => a.startsWith('--'));
    expect(flags.length).toBeGreaterThan(5);
    const undocumented = flags.filter(
      (f: string) => !new RegExp(`^\\s*${f}\\b`, 'm').test(help.stdout),
    );
    expect(undocumented).toEqual([]);
  });
});

describe('rendered in namespace mode, and with options', { timeout: SLOW }, () => {
  it('passes the watched namespaces as --namespaces', () => {
    const rendered = renderChart({ watchNamespaces: ['team-a', 'team-b'] });
    expect(flag(operatorContainer(rendered).args, '--namespaces')).toBe('team-a,team-b');
  });

  it('takes the replicas, log level, concurrency and distributor image from values', () => {
    const rendered = renderChart({
      replicaCount: 2,
      logLevel: 'debug',
      concurrency: 8,
      distributorImage: 'registry.example/distributor:2',
      image: { tag: '0.2.0' },
    });
    expect(onlyOfKind(rendered, 'Deployment').spec.replicas).toBe(2);
    const args = operatorContainer(rendered).args;
    expect(flag(args, '--log-level')).toBe('debug');
    expect(flag(args, '--concurrency')).toBe('8');
    expect(flag(args, '--distributor-image')).toBe('registry.example/distributor:2');
    expect(operatorContainer(rendered).image).toBe('ghcr.io/veda-project/shard-distributor:0.2.0');
  });

  it('pins the image by digest when one is given', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const rendered = renderChart({ image: { digest } });
    expect(operatorContainer(rendered).image).toBe(
      `ghcr.io/veda-project/shard-distributor@${digest}`,
    );
  });

  it('drops --leader-elect when leader election is off', () => {
    const args = operatorContainer(renderChart({ leaderElection: { enabled: false } })).args;
    expect(args).not.toContain('--leader-elect');
  });

  it('updates the operator with Recreate when leader election is off, so two never run at once', () => {
    const strategyOf = (values: object) =>
      onlyOfKind(renderChart(values), 'Deployment').spec.strategy;
    expect(strategyOf({ leaderElection: { enabled: false } })).toEqual({ type: 'Recreate' });
    // With an election the default rolling update is fine: the new pod waits for the Lease.
    expect(strategyOf({})).toBeUndefined();
    expect(strategyOf({ replicaCount: 2 })).toBeUndefined();
  });

  it('renders a ServiceMonitor on the metrics port and a PodDisruptionBudget of minAvailable 1', () => {
    const rendered = renderChart({
      replicaCount: 2,
      serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
      podDisruptionBudget: { enabled: true },
    });
    const monitor = ofKind(rendered, 'ServiceMonitor').find(
      (m) => !m.metadata.name.endsWith('-distributors'),
    )!;
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels.release).toBe('prometheus');
    expect(monitor.spec.endpoints).toEqual([
      { port: 'metrics', path: '/metrics', interval: '30s' },
    ]);
    expect(onlyOfKind(rendered, 'Service').metadata.labels).toMatchObject(
      monitor.spec.selector.matchLabels,
    );
    const pdb = onlyOfKind(rendered, 'PodDisruptionBudget');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(onlyOfKind(rendered, 'Deployment').spec.template.metadata.labels).toMatchObject(
      pdb.spec.selector.matchLabels,
    );
  });

  it("renders a ServiceMonitor for the distributors that selects each ShardDistributor's metrics Service", () => {
    const monitorOf = (values: object) =>
      ofKind(renderChart({ serviceMonitor: { enabled: true }, ...values }), 'ServiceMonitor').find(
        (m) => m.metadata.name.endsWith('-distributors'),
      );
    const monitor = monitorOf({})!;
    const service = metricsServiceFor(sample('full'));
    expect(service.metadata?.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints).toEqual([
      { port: service.spec?.ports?.[0]?.name, path: '/metrics', interval: '30s' },
    ]);
    expect(monitor.spec.namespaceSelector).toEqual({ any: true });
    expect(monitorOf({ watchNamespaces: ['a', 'b'] })!.spec.namespaceSelector).toEqual({
      matchNames: ['a', 'b'],
    });
    expect(monitorOf({ serviceMonitor: { enabled: true, distributors: false } })).toBeUndefined();
  });

  it('uses an existing ServiceAccount when serviceAccount.create is false', () => {
    const rendered = renderChart({ serviceAccount: { create: false, name: 'brought' } });
    expect(ofKind(rendered, 'ServiceAccount')).toEqual([]);
    expect(onlyOfKind(rendered, 'Deployment').spec.template.spec.serviceAccountName).toBe(
      'brought',
    );
    expect(onlyOfKind(rendered, 'ClusterRoleBinding').subjects[0].name).toBe('brought');
  });
});

describe('the restricted Pod Security Standard', { timeout: SLOW }, () => {
  const cases: [string, () => Manifest[]][] = [
    ['the chart, default values', () => renderChart({})],
    ['the chart, namespace mode', () => renderChart({ watchNamespaces: ['a', 'b'] })],
    [
      'the chart, ServiceMonitor and PDB on',
      () =>
        renderChart({
          replicaCount: 2,
          serviceMonitor: { enabled: true },
          podDisruptionBudget: { enabled: true },
        }),
    ],
    ['config/default', () => kustomize(`${REPO_ROOT}config/default`)],
  ];

  it.each(cases)('holds for every Deployment of %s', (_name, render) => {
    const deployments = ofKind(render(), 'Deployment');
    expect(deployments.length).toBeGreaterThan(0);
    for (const d of deployments)
      expect(restrictedViolations(d.spec.template.spec), d.metadata.name).toEqual([]);
  });

  it('is what the check reports on a privileged pod (the check can fail)', () => {
    expect(
      restrictedViolations({
        hostNetwork: true,
        volumes: [{ name: 'root', hostPath: { path: '/' } }],
        containers: [{ name: 'c', securityContext: { privileged: true, runAsUser: 0 } }],
      }),
    ).toEqual([
      'hostNetwork is true',
      'volume root is of type hostPath',
      'container c is privileged',
      'container c does not set allowPrivilegeEscalation: false',
      'container c does not drop ALL capabilities',
      'container c may run as root (runAsNonRoot is not true)',
      'container c runs as user 0',
      'container c runs as user 0, not 65532',
      'container c has seccomp profile unset',
      'container c has a writable root file system',
    ]);
  });
});

describe('values.schema.json', { timeout: SLOW }, () => {
  it.each([
    [{ replicaCount: -1 }, "at '/replicaCount': minimum: got -1, want 0"],
    [{ replicas: 2 }, "additional properties 'replicas' not allowed"],
    [{ leaderElection: { enable: false } }, "at '/leaderElection': additional properties 'enable'"],
    [{ image: { tag: 1 } }, "at '/image/tag': got number, want string"],
    [{ logLevel: 'loud' }, "at '/logLevel': value must be one of"],
    [{ watchNamespaces: ['Team_A'] }, "at '/watchNamespaces/0'"],
    [{ metrics: { port: 70000 } }, "at '/metrics/port': maximum"],
    [{ leaderElection: { leaseName: 'Bad_Lease' } }, "at '/leaderElection/leaseName'"],
  ])('rejects %j with the message %j', (values, message) => {
    const result = templateChart(values);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(message);
  });

  it('refuses more than one replica without leader election, saying why', () => {
    const result = templateChart({ replicaCount: 2, leaderElection: { enabled: false } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('replicaCount > 1 needs leaderElection.enabled=true');
  });

  it.each([
    [
      { replicaCount: 1, podDisruptionBudget: { enabled: true } },
      'replicaCount=1',
      'minAvailable=1',
    ],
    [
      { replicaCount: 2, podDisruptionBudget: { enabled: true, minAvailable: 2 } },
      'replicaCount=2',
      'minAvailable=2',
    ],
    [
      { replicaCount: 2, podDisruptionBudget: { enabled: true, minAvailable: '100%' } },
      'replicaCount=2',
      'minAvailable=100%',
    ],
    [
      { replicaCount: 3, podDisruptionBudget: { enabled: true, minAvailable: '70%' } },
      'replicaCount=3',
      'minAvailable=70%',
    ],
  ])(
    'refuses a PodDisruptionBudget that lets no operator pod be evicted: %j',
    (values, ...named) => {
      const result = templateChart(values);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('podDisruptionBudget.enabled=true with');
      for (const value of named) expect(result.stderr).toContain(value);
      expect(result.stderr).toContain('keep minAvailable below replicaCount');
    },
  );

  it.each([
    { replicaCount: 2, podDisruptionBudget: { enabled: true } },
    { replicaCount: 3, podDisruptionBudget: { enabled: true, minAvailable: '50%' } },
    { replicaCount: 1, podDisruptionBudget: { enabled: true, minAvailable: 0 } },
    { replicaCount: 0, podDisruptionBudget: { enabled: true } },
  ])('renders a PodDisruptionBudget that leaves a pod to evict: %j', (values) => {
    expect(ofKind(renderChart(values), 'PodDisruptionBudget')).toHaveLength(1);
  });

  it('requires serviceAccount.name when the chart does not create the ServiceAccount', () => {
    const result = templateChart({ serviceAccount: { create: false } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('serviceAccount.name is required');
  });
});

describe('values.yaml', () => {
  const schema = JSON.parse(readFileSync(`${CHART_DIR}/values.schema.json`, 'utf8'));
  const lines = readFileSync(`${CHART_DIR}/values.yaml`, 'utf8').split('\n');

  /** The schema node of our own key at `path`, or undefined for keys inside Kubernetes types. */
  function ownNode(path: string[]): { node: any; own: boolean } {
    let node = schema;
    for (const key of path) {
      if (node.additionalProperties !== false) return { node: undefined, own: false };
      node = node.properties?.[key];
      if (!node) return { node: undefined, own: true };
    }
    return { node, own: true };
  }

  it('documents every key the schema defines with a comment right above it', () => {
    const undocumented: string[] = [];
    const stack: { indent: number; key: string }[] = [];
    lines.forEach((line, i) => {
      const match = /^(\s*)([A-Za-z][\w-]*):/.exec(line);
      if (!match) return;
      const indent = match[1]!.length;
      while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
      const path = [...stack.map((s) => s.key), match[2]!];
      stack.push({ indent, key: match[2]! });
      const { node, own } = ownNode(path);
      if (!own) return;
      if (!node) {
        undocumented.push(`${path.join('.')} (not in values.schema.json)`);
        return;
      }
      const isGroup = node.additionalProperties === false;
      if (!isGroup && !lines[i - 1]?.trim().startsWith('#')) undocumented.push(path.join('.'));
    });
    expect(undocumented).toEqual([]);
  });

  it('has a default for every key of the schema (except global)', () => {
    const values = parse(lines.join('\n'));
    const missing: string[] = [];
    const visit = (node: any, value: any, path: string[]) => {
      if (node.additionalProperties !== false) return;
      for (const [key, child] of Object.entries<any>(node.properties ?? {})) {
        if (path.length === 0 && key === 'global') continue;
        if (value?.[key] === undefined) missing.push([...path, key].join('.'));
        else visit(child, value[key], [...path, key]);
      }
    };
    visit(schema, values, []);
    expect(missing).toEqual([]);
  });

  it('says how to upgrade the CRD, from a checkout and from a packaged chart', () => {
    expect(lines.join('\n')).toContain(
      'kubectl apply --server-side --force-conflicts -f charts/shard-distributor/crds/',
    );
    expect(lines.join('\n')).toContain(
      'helm show crds <chart> --version <version> | kubectl apply --server-side --force-conflicts -f -',
    );
  });

  it('leaves the Lease name empty, so that each release gets its own', () => {
    expect(parse(lines.join('\n')).leaderElection.leaseName).toBe('');
  });
});
