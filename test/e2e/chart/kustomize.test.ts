import * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../harness/tools.ts';
import { eventually, kubeConfig, kubectl, kubectlOk } from '../support.ts';

const DEFAULT = `${REPO_ROOT}config/default`;
const NAMESPACE = 'shard-distributor-system';
const SELECTOR = 'app.kubernetes.io/part-of=shard-distributor';

/** The objects of a kubectl-only install, as `kubectl get -o name` spells them. */
const INSTALLED = [
  'clusterrole.rbac.authorization.k8s.io/shard-distributor',
  'clusterrolebinding.rbac.authorization.k8s.io/shard-distributor',
];
const IN_NAMESPACE = [
  'deployment.apps/shard-distributor',
  'role.rbac.authorization.k8s.io/shard-distributor-leader-election',
  'rolebinding.rbac.authorization.k8s.io/shard-distributor-leader-election',
  'service/shard-distributor-metrics',
  'serviceaccount/shard-distributor',
];

function present(names: string[], namespace?: string): string[] {
  const args = ['get', ...names, '--ignore-not-found', '-o', 'name'];
  if (namespace) args.push('-n', namespace);
  return kubectlOk(args).split('\n').filter(Boolean).sort();
}

// One namespace for the whole cluster (shard-distributor-system), so the steps run in order.
describe('the kubectl-only install (config/default)', () => {
  afterAll(() => {
    // A failed step must not leave the operator's ClusterRole behind for later tests.
    kubectl(['delete', '-k', DEFAULT, '-l', SELECTOR, '--ignore-not-found', '--wait=false']);
    // The uninstall keeps the namespace on purpose; the test removes it itself.
    kubectl(['delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=false']);
  });

  it('kubectl apply -k config/default installs everything the chart installs', async () => {
    kubectlOk(['apply', '--server-side', '-k', DEFAULT]);
    expect(present([`namespace/${NAMESPACE}`])).toEqual([`namespace/${NAMESPACE}`]);
    expect(present(INSTALLED)).toEqual([...INSTALLED].sort());
    expect(present(IN_NAMESPACE, NAMESPACE)).toEqual([...IN_NAMESPACE].sort());
    expect(
      kubectlOk(['get', 'namespace', NAMESPACE, '-o', 'jsonpath={.metadata.labels}']),
    ).toContain('"pod-security.kubernetes.io/enforce":"restricted"');
    // The namespace enforces the restricted standard, and the operator pod is still admitted.
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await eventually(
      async () => {
        const pods = await core.listNamespacedPod({
          namespace: NAMESPACE,
          labelSelector: 'app.kubernetes.io/component=operator',
        });
        if (pods.items.length !== 1) throw new Error(`${pods.items.length} operator pods`);
      },
      { description: 'the operator pod to be admitted' },
    );
    const crd = kubectlOk([
      'get',
      'crd',
      'sharddistributors.shards.veda.dev',
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Established")].status}',
    ]);
    expect(crd).toBe('True');
  });

  it('deleting with the part-of selector removes it all but keeps the CRD and the namespace', async () => {
    kubectlOk(['delete', '-k', DEFAULT, '-l', SELECTOR, '--wait=false']);
    await eventually(
      () => {
        const left = [...present(INSTALLED), ...present(IN_NAMESPACE, NAMESPACE)];
        if (left.length > 0) throw new Error(`still there: ${left.join(', ')}`);
      },
      { description: 'the kubectl-only install to be gone', timeoutMs: 90_000 },
    );
    expect(kubectlOk(['get', 'crd', 'sharddistributors.shards.veda.dev', '-o', 'name'])).toBe(
      'customresourcedefinition.apiextensions.k8s.io/sharddistributors.shards.veda.dev\n',
    );
    // The namespace carries no part-of label: it stays, and so would anything else in it.
    expect(kubectlOk(['get', 'namespace', NAMESPACE, '-o', 'jsonpath={.status.phase}'])).toBe(
      'Active',
    );
  });
});
