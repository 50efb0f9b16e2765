import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../harness/tools.ts';
import { leaderElectionRules, OPERATOR_RULES, permissions } from './expected-rbac.ts';
import { kustomize, ofKind, onlyOfKind, renderChart, type Manifest } from './helm.ts';

const SLOW = 30_000;

describe('the chart RBAC in cluster mode (default values)', { timeout: SLOW }, () => {
  let rendered: Manifest[];
  beforeAll(() => {
    rendered = renderChart({}, { release: 'sd', namespace: 'ops' });
  }, SLOW);

  it('grants exactly the operator rules through a ClusterRole', () => {
    expect(onlyOfKind(rendered, 'ClusterRole').rules).toEqual(OPERATOR_RULES);
  });

  it('uses no wildcard anywhere and never mentions secrets', () => {
    for (const kind of ['ClusterRole', 'Role'])
      for (const role of ofKind(rendered, kind)) {
        const text = JSON.stringify(role.rules);
        expect(text, `${kind} ${role.metadata.name}`).not.toContain('*');
        expect(text, `${kind} ${role.metadata.name}`).not.toContain('secrets');
      }
  });

  it('binds the ClusterRole to the chart ServiceAccount in the release namespace', () => {
    const account = onlyOfKind(rendered, 'ServiceAccount');
    const binding = onlyOfKind(rendered, 'ClusterRoleBinding');
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: onlyOfKind(rendered, 'ClusterRole').metadata.name,
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: account.metadata.name, namespace: 'ops' },
    ]);
    const deployment = onlyOfKind(rendered, 'Deployment');
    expect(deployment.spec.template.spec.serviceAccountName).toBe(account.metadata.name);
  });

  it('limits the leader-election Role to the one Lease, in the release namespace', () => {
    const role = onlyOfKind(rendered, 'Role');
    expect(role.metadata.namespace).toBe('ops');
    expect(role.rules).toEqual(leaderElectionRules('shard-distributor-leader'));
    const binding = onlyOfKind(rendered, 'RoleBinding');
    expect(binding.metadata.namespace).toBe('ops');
    expect(binding.roleRef.name).toBe(role.metadata.name);
  });
});

describe('the chart RBAC in namespace mode (watchNamespaces)', { timeout: SLOW }, () => {
  let rendered: Manifest[];
  beforeAll(() => {
    rendered = renderChart(
      { watchNamespaces: ['team-a', 'team-b'], leaderElection: { leaseName: 'my-lease' } },
      { namespace: 'ops' },
    );
  }, SLOW);

  it('creates nothing cluster-wide', () => {
    expect(ofKind(rendered, 'ClusterRole')).toEqual([]);
    expect(ofKind(rendered, 'ClusterRoleBinding')).toEqual([]);
  });

  it('creates a Role with the operator rules and a RoleBinding in each watched namespace', () => {
    const operatorRoles = ofKind(rendered, 'Role').filter(
      (r) => !r.metadata.name.endsWith('-leader-election'),
    );
    expect(operatorRoles.map((r) => r.metadata.namespace)).toEqual(['team-a', 'team-b']);
    for (const role of operatorRoles) expect(role.rules).toEqual(OPERATOR_RULES);
    const bindings = ofKind(rendered, 'RoleBinding').filter(
      (b) => !b.metadata.name.endsWith('-leader-election'),
    );
    expect(bindings.map((b) => b.metadata.namespace)).toEqual(['team-a', 'team-b']);
    for (const binding of bindings) {
      expect(binding.roleRef.kind).toBe('Role');
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'sd-shard-distributor', namespace: 'ops' },
      ]);
    }
  });

  it('keeps the leader-election Role in the release namespace, on the configured Lease', () => {
    const role = ofKind(rendered, 'Role').find((r) => r.metadata.name.endsWith('-leader-election'));
    expect(role?.metadata.namespace).toBe('ops');
    expect(role?.rules).toEqual(leaderElectionRules('my-lease'));
  });
});

describe('rbac.create and leaderElection.enabled', { timeout: SLOW }, () => {
  it('rbac.create=false renders no Role, ClusterRole or binding, but still the ServiceAccount', () => {
    const rendered = renderChart({ rbac: { create: false } });
    for (const kind of ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'])
      expect(ofKind(rendered, kind), kind).toEqual([]);
    expect(ofKind(rendered, 'ServiceAccount')).toHaveLength(1);
  });

  it('leader election off drops the leader-election Role', () => {
    const rendered = renderChart({ leaderElection: { enabled: false } });
    expect(ofKind(rendered, 'Role')).toEqual([]);
    expect(ofKind(rendered, 'RoleBinding')).toEqual([]);
  });
});

describe('config/rbac (kubectl-only install)', { timeout: SLOW }, () => {
  let manifests: Manifest[];
  beforeAll(() => {
    manifests = kustomize(`${REPO_ROOT}config/default`);
  }, SLOW);

  it('grants the same permissions as the chart', () => {
    expect(permissions(onlyOfKind(manifests, 'ClusterRole').rules)).toEqual(
      permissions(OPERATOR_RULES),
    );
  });

  it('limits leader election to the Lease the manager is told to use', () => {
    const role = onlyOfKind(manifests, 'Role');
    expect(role.rules).toEqual(leaderElectionRules('shard-distributor-leader'));
    const args: string[] = onlyOfKind(manifests, 'Deployment').spec.template.spec.containers[0]
      .args;
    expect(args[args.indexOf('--lease-name') + 1]).toBe('shard-distributor-leader');
    expect(args[args.indexOf('--lease-namespace') + 1]).toBe(role.metadata.namespace);
  });

  it('binds both roles to the manager ServiceAccount', () => {
    const account = onlyOfKind(manifests, 'ServiceAccount');
    const subject = {
      kind: 'ServiceAccount',
      name: account.metadata.name,
      namespace: account.metadata.namespace,
    };
    expect(onlyOfKind(manifests, 'ClusterRoleBinding').subjects).toEqual([subject]);
    expect(onlyOfKind(manifests, 'RoleBinding').subjects).toEqual([subject]);
    expect(onlyOfKind(manifests, 'Deployment').spec.template.spec.serviceAccountName).toBe(
      account.metadata.name,
    );
  });
});
