import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, toolPath } from '../../harness/tools.ts';

export const CHART_DIR = `${REPO_ROOT}charts/shard-distributor`;
/** Rendered at the oldest Kubernetes the chart supports (kubeVersion in Chart.yaml). */
export const MIN_KUBE_VERSION = '1.30.0';

/** A Kubernetes object as rendered: loosely typed, the tests look into every corner of it. */
export type Manifest = Record<string, any> & {
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: any };
};

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

// Helm's cache/config/data homes outside the user's, so tests neither read nor write them.
const HELM_HOME = join(tmpdir(), 'shard-distributor-helm-home');

/** Runs the helm built by test/cluster/build.sh; `input` goes to stdin (`-f -` reads values). */
export function helm(
  args: string[],
  options: { input?: string; kubeconfig?: string } = {},
): RunResult {
  const result = spawnSync(toolPath('helm'), args, {
    input: options.input,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      HELM_CACHE_HOME: join(HELM_HOME, 'cache'),
      HELM_CONFIG_HOME: join(HELM_HOME, 'config'),
      HELM_DATA_HOME: join(HELM_HOME, 'data'),
      ...(options.kubeconfig ? { KUBECONFIG: options.kubeconfig } : {}),
    },
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The objects of a multi-document YAML stream. Invalid YAML throws, a key written twice in
 * one mapping included: the API server refuses such a manifest, so a chart must never render one.
 */
export function parseManifests(text: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const errors = docs.flatMap((doc) => doc.errors.map((e) => e.message));
  if (errors.length > 0) throw new Error(`invalid YAML:\n${errors.join('\n')}`);
  return docs
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null && typeof m === 'object');
}

/** `helm template` with the given values (as a values file on stdin); throws on failure. */
export function renderChart(
  values: object = {},
  options: { release?: string; namespace?: string } = {},
): Manifest[] {
  const result = templateChart(values, options);
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

export function templateChart(
  values: object,
  { release = 'sd', namespace = 'ops' }: { release?: string; namespace?: string } = {},
): RunResult {
  return helm(
    [
      'template',
      release,
      CHART_DIR,
      '--namespace',
      namespace,
      '--kube-version',
      MIN_KUBE_VERSION,
      '--values',
      '-',
    ],
    { input: JSON.stringify(values) },
  );
}

/** `kubectl kustomize DIR` (the kustomize built into kubectl, as `kubectl apply -k` uses it). */
export function kustomize(dir: string): Manifest[] {
  const result = spawnSync(toolPath('kubectl'), ['kustomize', dir], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

export function ofKind(manifests: Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind);
}

export function onlyOfKind(manifests: Manifest[], kind: string): Manifest {
  const found = ofKind(manifests, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}`);
  return found[0]!;
}
