import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { CHART_DIR, helm, type RunResult } from '../../unit/chart/helm.ts';
import { kubectl } from '../support.ts';

export { CHART_DIR };

/** helm against the test control plane (the admin kubeconfig unless told otherwise). */
export function helmCluster(args: string[], options: { input?: string } = {}): RunResult {
  return helm(args, { ...options, kubeconfig: inject('kubeconfig') });
}

export function helmOk(args: string[], options: { input?: string } = {}): string {
  const result = helmCluster(args, options);
  if (result.status !== 0)
    throw new Error(`helm ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/**
 * A release name of its own: the ClusterRole and ClusterRoleBinding are named after the
 * release, so releases in different test namespaces must not share a name.
 */
export function releaseName(): string {
  return `sd-${randomBytes(3).toString('hex')}`;
}

/** `helm install` of the chart into `namespace`; the CRD is already there (global setup). */
export function installChart(
  release: string,
  namespace: string,
  values: object = {},
  extraArgs: string[] = [],
): string {
  return helmOk(
    [
      'install',
      release,
      CHART_DIR,
      '--namespace',
      namespace,
      '--skip-crds',
      '--values',
      '-',
      ...extraArgs,
    ],
    { input: JSON.stringify(values) },
  );
}

/** Uninstalls when still installed; for afterEach, so a failed test leaves no ClusterRole. */
export function uninstallIfPresent(release: string, namespace: string): void {
  const listed = helmCluster(['list', '--namespace', namespace, '--short']).stdout.split('\n');
  if (listed.includes(release)) helmOk(['uninstall', release, '--namespace', namespace, '--wait']);
}

/** The kind/name of every object of the release, namespaced and cluster-scoped. */
export function releaseObjects(release: string): string[] {
  const result = kubectl([
    'get',
    'deployments,serviceaccounts,services,roles,rolebindings,clusterroles,clusterrolebindings,poddisruptionbudgets',
    '--all-namespaces',
    '--selector',
    `app.kubernetes.io/instance=${release}`,
    '--output',
    'name',
    '--ignore-not-found',
  ]);
  return result.stdout.split('\n').filter(Boolean).sort();
}
