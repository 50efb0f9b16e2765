import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, kubeConfig, kubectl, kubectlOk, useNamespace } from '../support.ts';
import {
  CHART_DIR,
  helmCluster,
  helmOk,
  installChart,
  releaseName,
  releaseObjects,
  uninstallIfPresent,
} from './helm.ts';

const apps = () => kubeConfig().makeApiClient(k8s.AppsV1Api);
const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);

/** What a cluster-mode install creates (kubectl's kind/name, as releaseObjects lists them). */
function releaseKinds(release: string): string[] {
  const fullname = `${release}-shard-distributor`;
  return [
    `clusterrole.rbac.authorization.k8s.io/${fullname}`,
    `clusterrolebinding.rbac.authorization.k8s.io/${fullname}`,
    `deployment.apps/${fullname}`,
    `role.rbac.authorization.k8s.io/${fullname}-leader-election`,
    `rolebinding.rbac.authorization.k8s.io/${fullname}-leader-election`,
    `service/${fullname}-metrics`,
    `serviceaccount/${fullname}`,
  ].sort();
}

async function operatorPods(namespace: string, release: string): Promise<k8s.V1Pod[]> {
  const pods = await core().listNamespacedPod({
    namespace,
    labelSelector: `app.kubernetes.io/instance=${release},app.kubernetes.io/component=operator`,
  });
  return pods.items;
}

describe('the Helm chart on a real cluster', () => {
  const ns = useNamespace('chart');
  let release = '';
  afterEach(() => {
    if (release) uninstallIfPresent(release, ns.name);
    release = '';
  });

  it('ships the CRD the cluster runs (kubectl diff against crds/ shows nothing)', () => {
    const diff = kubectl(['diff', '--server-side', '-f', `${CHART_DIR}/crds/`]);
    expect(diff.stderr).toBe('');
    expect(diff.stdout).toBe('');
    expect(diff.status).toBe(0);
  });

  it('installs the operator, whose pods pass the restricted Pod Security admission', async () => {
    kubectlOk(['label', 'namespace', ns.name, 'pod-security.kubernetes.io/enforce=restricted']);
    // The namespace really enforces it: a pod without a security context is turned away.
    const bare = kubectl(['run', 'bare', '-n', ns.name, '--image=busybox', '--dry-run=server']);
    expect(bare.stderr).toContain('violates PodSecurity "restricted');

    release = releaseName();
    const notes = installChart(release, ns.name);
    expect(notes).toContain('kubectl get sd -A');
    expect(releaseObjects(release)).toEqual(releaseKinds(release));

    const deployment = await apps().readNamespacedDeployment({
      name: `${release}-shard-distributor`,
      namespace: ns.name,
    });
    expect(deployment.spec?.template.spec?.containers[0]?.args).toContain('--leader-elect');
    // kwok runs no container, but the pod exists only if admission let it in.
    const pods = await eventually(
      async () => {
        const found = await operatorPods(ns.name, release);
        if (found.length !== 1) throw new Error(`${found.length} operator pods`);
        return found;
      },
      { description: 'the operator pod to be admitted' },
    );
    expect(pods[0]?.spec?.serviceAccountName).toBe(`${release}-shard-distributor`);
  });

  it('helm upgrade changes the operator Deployment', async () => {
    release = releaseName();
    installChart(release, ns.name);
    const name = `${release}-shard-distributor`;
    const before = await apps().readNamespacedDeployment({ name, namespace: ns.name });
    expect(before.spec?.replicas).toBe(1);

    helmOk([
      'upgrade',
      release,
      CHART_DIR,
      '--namespace',
      ns.name,
      '--reuse-values',
      '--set',
      'replicaCount=2',
      '--set',
      'logLevel=debug',
    ]);
    const after = await apps().readNamespacedDeployment({ name, namespace: ns.name });
    expect(after.spec?.replicas).toBe(2);
    const args = after.spec?.template.spec?.containers[0]?.args ?? [];
    expect(args[args.indexOf('--log-level') + 1]).toBe('debug');
    expect(after.metadata?.generation).toBeGreaterThan(before.metadata?.generation ?? 0);
    expect(helmOk(['history', release, '--namespace', ns.name])).toContain('Upgrade complete');
  });

  it('helm uninstall removes every object of the release, the cluster-scoped ones too', async () => {
    release = releaseName();
    installChart(release, ns.name, { podDisruptionBudget: { enabled: true }, replicaCount: 2 });
    expect(releaseObjects(release)).toContain(
      `poddisruptionbudget.policy/${release}-shard-distributor`,
    );

    helmOk(['uninstall', release, '--namespace', ns.name, '--wait']);
    await eventually(
      () => {
        const left = releaseObjects(release);
        if (left.length > 0) throw new Error(`still there: ${left.join(', ')}`);
      },
      { description: 'the release objects to be gone' },
    );
    // The CRD stays: Helm never deletes what crds/ installed.
    expect(kubectlOk(['get', 'crd', 'sharddistributors.shards.veda.dev', '-o', 'name'])).toContain(
      'sharddistributors.shards.veda.dev',
    );
  });

  it.each([
    [['--set', 'replicaCount=-1'], "at '/replicaCount': minimum: got -1, want 0"],
    [['--set', 'replicas=2'], "additional properties 'replicas' not allowed"],
  ])('helm install %j fails with the schema message and creates nothing', (args, message) => {
    const name = releaseName();
    const result = helmCluster([
      'install',
      name,
      CHART_DIR,
      '--namespace',
      ns.name,
      '--skip-crds',
      ...args,
    ]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('INSTALLATION FAILED');
    expect(result.stderr).toContain(message);
    expect(helmOk(['list', '--namespace', ns.name, '--all', '--short']).trim()).toBe('');
    expect(releaseObjects(name)).toEqual([]);
  });
});
