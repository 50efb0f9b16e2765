import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../harness/tools.ts';
import { kubeConfig, kubectl, kubectlOk, useNamespace } from '../support.ts';
import {
  canI,
  describeAccess,
  rulesIn,
  serviceAccountAccess,
  type Access,
} from '../support-rbac.ts';
import {
  leaderElectionRules,
  OPERATOR_RULES,
  permissions,
} from '../../unit/chart/expected-rbac.ts';
import { installChart, releaseName, uninstallIfPresent } from './helm.ts';

/** The chart's default Lease: `<fullname>-leader`, one per release. */
const leaseOf = (release: string) => `${release}-shard-distributor-leader`;
const SD = 'shards.veda.dev';

/** Every access in `accesses` that the identity is not granted as `expected` says. */
async function mismatches(
  kc: k8s.KubeConfig,
  accesses: Access[],
  expected: boolean,
): Promise<string[]> {
  const wrong: string[] = [];
  for (const access of accesses)
    if ((await canI(kc, access)) !== expected) wrong.push(describeAccess(access));
  return wrong;
}

/** `on(verb, group, resource, subresource?)`: one access in `namespace`. */
function accessIn(namespace: string) {
  return (verb: string, group: string, resource: string, subresource?: string): Access => ({
    verb,
    group,
    resource,
    namespace,
    ...(subresource ? { subresource } : {}),
  });
}

/** What the operator must be able to do in a namespace it watches. */
function operatorNeeds(namespace: string): Access[] {
  const on = accessIn(namespace);
  return [
    on('list', SD, 'sharddistributors'),
    on('watch', SD, 'sharddistributors'),
    on('patch', SD, 'sharddistributors'),
    on('patch', SD, 'sharddistributors', 'status'),
    on('update', SD, 'sharddistributors', 'finalizers'),
    on('create', 'apps', 'deployments'),
    on('patch', 'apps', 'deployments'),
    on('delete', 'apps', 'deployments'),
    on('get', 'apps', 'statefulsets'),
    on('patch', 'apps', 'statefulsets'),
    on('create', '', 'configmaps'),
    on('patch', '', 'services'),
    on('list', '', 'persistentvolumeclaims'),
    on('watch', '', 'persistentvolumeclaims'),
    on('list', '', 'pods'),
    on('create', '', 'events'),
  ];
}

/** What the operator's code never sends, so its ServiceAccount must not hold it. */
function operatorNeverSends(namespace: string): Access[] {
  const on = accessIn(namespace);
  return [
    on('update', SD, 'sharddistributors'),
    on('update', SD, 'sharddistributors', 'status'),
    on('update', 'apps', 'deployments'),
    on('watch', 'apps', 'statefulsets'),
    on('update', '', 'services'),
    on('delete', '', 'configmaps'),
    on('delete', '', 'services'),
    on('get', '', 'pods'),
    on('watch', '', 'pods'),
    on('get', '', 'services', 'proxy'),
    on('patch', '', 'events'),
    on('create', 'events.k8s.io', 'events'),
  ];
}

/** What the operator never needs anywhere. */
function operatorMustNot(namespace: string): Access[] {
  return [
    { verb: 'get', group: '', resource: 'secrets', namespace },
    { verb: 'list', group: '', resource: 'secrets' },
    { verb: 'create', group: SD, resource: 'sharddistributors', namespace },
    { verb: 'delete', group: SD, resource: 'sharddistributors', namespace },
    { verb: 'create', group: '', resource: 'pods', namespace },
    { verb: 'delete', group: '', resource: 'pods', namespace },
    { verb: 'create', group: '', resource: 'pods', subresource: 'exec', namespace },
    { verb: 'create', group: 'apps', resource: 'statefulsets', namespace },
    { verb: 'delete', group: 'apps', resource: 'statefulsets', namespace },
    { verb: 'delete', group: '', resource: 'namespaces', name: namespace },
    { verb: 'get', group: '', resource: 'nodes' },
    { verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token', namespace },
    { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace },
    { verb: 'update', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
  ];
}

describe("the chart's RBAC, as its ServiceAccount sees it", () => {
  const ns = useNamespace('rbac');
  let release = '';

  /**
   * What `kc` may do in `namespace` beyond what a ServiceAccount without any binding may
   * (the cluster's defaults for every authenticated user), one permission per string.
   */
  async function granted(kc: k8s.KubeConfig, namespace: string): Promise<string[]> {
    await kubeConfig()
      .makeApiClient(k8s.CoreV1Api)
      .createNamespacedServiceAccount({
        namespace: ns.name,
        body: { metadata: { name: 'nobody' } },
      })
      .catch((error: unknown) => {
        if (!(error instanceof k8s.ApiException && error.code === 409)) throw error;
      });
    const nobody = (await serviceAccountAccess(ns.name, 'nobody')).kubeConfig();
    const everyone = new Set(permissions(await rulesIn(nobody, namespace)));
    return permissions(await rulesIn(kc, namespace)).filter((p) => !everyone.has(p));
  }
  const extraNamespaces: string[] = [];
  afterEach(async () => {
    if (release) uninstallIfPresent(release, ns.name);
    release = '';
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    for (const name of extraNamespaces.splice(0)) await core.deleteNamespace({ name });
  });

  async function createNamespace(suffix: string): Promise<string> {
    const name = `${ns.name}-${suffix}-${randomBytes(2).toString('hex')}`;
    await kubeConfig()
      .makeApiClient(k8s.CoreV1Api)
      .createNamespace({ body: { metadata: { name } } });
    extraNamespaces.push(name);
    return name;
  }

  it('cluster mode: exactly the operator rules in every namespace, and its own Lease', async () => {
    release = releaseName();
    installChart(release, ns.name);
    const other = await createNamespace('other');
    const sa = await serviceAccountAccess(ns.name, `${release}-shard-distributor`);
    const kc = sa.kubeConfig();

    expect(await mismatches(kc, operatorNeeds(other), true)).toEqual([]);
    expect(await mismatches(kc, operatorNeeds(ns.name), true)).toEqual([]);
    expect(
      await mismatches(
        kc,
        [{ verb: 'watch', group: SD, resource: 'sharddistributors' }], // all namespaces
        true,
      ),
    ).toEqual([]);
    expect(await mismatches(kc, operatorMustNot(other), false)).toEqual([]);
    expect(await mismatches(kc, operatorNeverSends(other), false)).toEqual([]);

    // The complete list, so that nothing more slips in unnoticed.
    expect(await granted(kc, other)).toEqual(permissions(OPERATOR_RULES));
    expect(await granted(kc, ns.name)).toEqual(
      permissions([...OPERATOR_RULES, ...leaderElectionRules(leaseOf(release))]),
    );
  });

  it('leader election: create any Lease, but read and renew only its own, only at home', async () => {
    release = releaseName();
    installChart(release, ns.name);
    const other = await createNamespace('other');
    const kc = (await serviceAccountAccess(ns.name, `${release}-shard-distributor`)).kubeConfig();
    const LEASE = leaseOf(release);
    const lease = (verb: string, namespace: string, name?: string): Access => ({
      verb,
      group: 'coordination.k8s.io',
      resource: 'leases',
      namespace,
      ...(name ? { name } : {}),
    });
    expect(
      await mismatches(
        kc,
        [lease('create', ns.name), lease('get', ns.name, LEASE), lease('update', ns.name, LEASE)],
        true,
      ),
    ).toEqual([]);
    expect(
      await mismatches(
        kc,
        [
          lease('get', ns.name, 'someone-elses-lease'),
          lease('update', ns.name, 'someone-elses-lease'),
          // Another release's Lease in the same namespace.
          lease('update', ns.name, 'shard-distributor-leader'),
          lease('patch', ns.name, LEASE),
          lease('delete', ns.name, LEASE),
          lease('list', ns.name),
          lease('create', other),
          lease('update', other, LEASE),
        ],
        false,
      ),
    ).toEqual([]);

    // And for real: the ServiceAccount creates and renews its Lease but cannot touch another.
    const leases = kc.makeApiClient(k8s.CoordinationV1Api);
    const created = await leases.createNamespacedLease({
      namespace: ns.name,
      body: { metadata: { name: LEASE }, spec: { holderIdentity: 'test' } },
    });
    await leases.replaceNamespacedLease({
      name: LEASE,
      namespace: ns.name,
      body: { ...created, spec: { holderIdentity: 'test', leaseDurationSeconds: 15 } },
    });
    const forbidden = await leases
      .readNamespacedLease({ name: 'kube-scheduler', namespace: 'kube-system' })
      .then(
        () => 0,
        (error: unknown) => (error instanceof k8s.ApiException ? error.code : -1),
      );
    expect(forbidden).toBe(403);
  });

  it('namespace mode: the operator rules only in the watched namespaces', async () => {
    const watched = await createNamespace('watched');
    const unwatched = await createNamespace('unwatched');
    release = releaseName();
    installChart(release, ns.name, { watchNamespaces: [watched] });
    const sa = await serviceAccountAccess(ns.name, `${release}-shard-distributor`);
    const kc = sa.kubeConfig();

    expect(await mismatches(kc, operatorNeeds(watched), true)).toEqual([]);
    expect(await mismatches(kc, operatorNeeds(unwatched), false)).toEqual([]);
    expect(
      await mismatches(kc, [{ verb: 'list', group: SD, resource: 'sharddistributors' }], false),
    ).toEqual([]);
    expect(await granted(kc, watched)).toEqual(permissions(OPERATOR_RULES));
    expect(await granted(kc, unwatched)).toEqual([]);
    // The release namespace is not watched: only the Lease there.
    expect(await granted(kc, ns.name)).toEqual(permissions(leaderElectionRules(leaseOf(release))));
  });

  it('gives kubectl a working kubeconfig for the ServiceAccount', async () => {
    release = releaseName();
    installChart(release, ns.name);
    const sa = await serviceAccountAccess(ns.name, `${release}-shard-distributor`);
    const whoami = kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], {
      kubeconfig: sa.kubeconfigPath,
    });
    expect(whoami.stdout).toBe(sa.username);
    const secrets = kubectl(['get', 'secrets', '-n', ns.name], { kubeconfig: sa.kubeconfigPath });
    expect(secrets.status).not.toBe(0);
    expect(secrets.stderr).toContain('forbidden');
    // Reads ShardDistributors in every namespace (the admin creates one for it to find).
    kubectlOk([
      'apply',
      '-n',
      ns.name,
      '-f',
      `${REPO_ROOT}config/samples/shards_v1alpha1_sharddistributor_minimal.yaml`,
    ]);
    const sds = kubectl(['get', 'sd', '-A', '-o', 'name'], { kubeconfig: sa.kubeconfigPath });
    expect(sds.stderr).toBe('');
    expect(sds.stdout).toContain('sharddistributor.shards.veda.dev/minimal');
    expect(sds.status).toBe(0);
  });
});
