import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../harness/tools.ts';
import {
  leaderElectionRules,
  NEVER_GRANTED,
  OPERATOR_RULES,
  permissions,
} from './expected-rbac.ts';
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

  it('grants none of the verbs the operator never sends', () => {
    const granted = permissions(onlyOfKind(rendered, 'ClusterRole').rules);
    expect(NEVER_GRANTED.filter((p) => granted.includes(p))).toEqual([]);
    // Nothing of events.k8s.io, and nothing on the API server's service proxy.
    expect(granted.filter((p) => p.startsWith('events.k8s.io/') || p.includes('/proxy'))).toEqual(
      [],
    );
  });

  it('grants no update except on the finalizers subresource (writes are PATCH, never PUT)', () => {
    const updates = permissions(onlyOfKind(rendered, 'ClusterRole').rules).filter((p) =>
      p.endsWith(':update'),
    );
    expect(updates).toEqual(['shards.veda.dev/sharddistributors/finalizers:update']);
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

  it("limits the leader-election Role to the release's own Lease, in the release namespace", () => {
    const role = onlyOfKind(rendered, 'Role');
    expect(role.metadata.namespace).toBe('ops');
    // <fullname>-leader: release sd, chart shard-distributor.
    expect(role.rules).toEqual(leaderElectionRules('sd-shard-distributor-leader'));
    const binding = onlyOfKind(rendered, 'RoleBinding');
    expect(binding.metadata.namespace).toBe('ops');
    expect(binding.roleRef.name).toBe(role.metadata.name);
  });

  it('lets the leader-election Role get, create and update Leases, never patch, list or delete', () => {
    const verbs = permissions(onlyOfKind(rendered, 'Role').rules);
    expect(verbs).toEqual([
      'coordination.k8s.io/leases:create',
      'coordination.k8s.io/leases:get:sd-shard-distributor-leader',
      'coordination.k8s.io/leases:update:sd-shard-distributor-leader',
    ]);
  });
});

describe('the Lease name, one per release', { timeout: SLOW }, () => {
  /** The Lease the operator is told to use, and the one its Role allows. */
  function leaseOf(rendered: Manifest[]): { arg: string | undefined; allowed: string[] } {
    const args: string[] = onlyOfKind(rendered, 'Deployment').spec.template.spec.containers[0].args;
    const role = ofKind(rendered, 'Role').find((r) => r.metadata.name.endsWith('-leader-election'));
    return {
      arg: args[args.indexOf('--lease-name') + 1],
      allowed: role?.rules.flatMap((r: { resourceNames?: string[] }) => r.resourceNames ?? []),
    };
  }

  it('defaults to <fullname>-leader, the same in the --lease-name arg and the Role', () => {
    expect(leaseOf(renderChart({}, { release: 'sd' }))).toEqual({
      arg: 'sd-shard-distributor-leader',
      allowed: ['sd-shard-distributor-leader'],
    });
  });

  it('differs between two releases in one namespace', () => {
    const a = leaseOf(renderChart({}, { release: 'blue', namespace: 'ops' }));
    const b = leaseOf(renderChart({}, { release: 'green', namespace: 'ops' }));
    expect(a.arg).toBe('blue-shard-distributor-leader');
    expect(b.arg).toBe('green-shard-distributor-leader');
    expect(a.allowed).toEqual([a.arg]);
    expect(b.allowed).toEqual([b.arg]);
  });

  it("is the operator's own default for `helm install shard-distributor`", () => {
    expect(leaseOf(renderChart({}, { release: 'shard-distributor' })).arg).toBe(
      'shard-distributor-leader',
    );
  });

  it('follows fullnameOverride', () => {
    expect(leaseOf(renderChart({ fullnameOverride: 'sdo' })).arg).toBe('sdo-leader');
  });

  it('takes leaderElection.leaseName when it is set', () => {
    expect(leaseOf(renderChart({ leaderElection: { leaseName: 'my-lease' } }))).toEqual({
      arg: 'my-lease',
      allowed: ['my-lease'],
    });
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
    const args: string[] = onlyOfKind(rendered, 'Deployment').spec.template.spec.containers[0].args;
    expect(args[args.indexOf('--lease-name') + 1]).toBe('my-lease');
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
    expect(permissions(onlyOfKind(manifests, 'ClusterRole').rules)).toEqual(
      permissions(onlyOfKind(renderChart({}), 'ClusterRole').rules),
    );
  });

  it('grants none of the verbs the operator never sends', () => {
    const granted = permissions(onlyOfKind(manifests, 'ClusterRole').rules);
    expect(NEVER_GRANTED.filter((p) => granted.includes(p))).toEqual([]);
  });

  it('limits leader election to the Lease the manager is told to use', () => {
    const role = onlyOfKind(manifests, 'Role');
    expect(role.rules).toEqual(leaderElectionRules('shard-distributor-leader'));
    const args: string[] = onlyOfKind(manifests, 'Deployment').spec.template.spec.containers[0]
      .args;
    expect(args[args.indexOf('--lease-name') + 1]).toBe('shard-distributor-leader');
    expect(args[args.indexOf('--lease-namespace') + 1]).toBe(role.metadata.namespace);
    // The name is written twice, in the Role and in manager.yaml: the Role says so.
    expect(readFileSync(`${REPO_ROOT}config/rbac/leader_election_role.yaml`, 'utf8')).toContain(
      "the manager's `--lease-name` (config/manager/manager.yaml) must be",
    );
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
