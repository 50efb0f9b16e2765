/**
 * The operator's permissions, exactly: what the ClusterRole (cluster mode) and each Role
 * (namespace mode) hold. Adding a permission to the chart means changing this list too.
 * Only verbs the operator sends: its writes are server-side apply (PATCH; `create` for an
 * apply that creates) and merge patches, never PUT, so no `update` except on the finalizers
 * subresource (blockOwnerDeletion). `get services/proxy` is the kubeconfig user's business
 * when the operator runs outside the cluster, never this ServiceAccount's.
 */
export const OPERATOR_RULES = [
  {
    apiGroups: ['shards.veda.dev'],
    resources: ['sharddistributors'],
    verbs: ['get', 'list', 'watch', 'patch'],
  },
  { apiGroups: ['shards.veda.dev'], resources: ['sharddistributors/status'], verbs: ['patch'] },
  {
    apiGroups: ['shards.veda.dev'],
    resources: ['sharddistributors/finalizers'],
    verbs: ['update'],
  },
  {
    apiGroups: ['apps'],
    resources: ['deployments'],
    verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
  },
  { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get', 'patch'] },
  {
    apiGroups: [''],
    resources: ['configmaps', 'services'],
    verbs: ['get', 'list', 'watch', 'create', 'patch'],
  },
  { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
];

/**
 * Permissions the operator's ServiceAccount must not hold: verbs its code never sends, which
 * earlier versions of the chart granted. Each is `group/resource:verb`, as `permissions` spells them.
 */
export const NEVER_GRANTED = [
  'shards.veda.dev/sharddistributors:update',
  'shards.veda.dev/sharddistributors/status:get',
  'shards.veda.dev/sharddistributors/status:update',
  'apps/deployments:update',
  'apps/statefulsets:list',
  'apps/statefulsets:watch',
  'apps/statefulsets:create',
  '/configmaps:update',
  '/configmaps:delete',
  '/services:update',
  '/services:delete',
  '/services/proxy:get',
  '/pods:get',
  '/pods:watch',
  '/persistentvolumeclaims:get',
  '/events:patch',
  'events.k8s.io/events:create',
  'events.k8s.io/events:patch',
];

/**
 * The leader-election Role, in the lease's namespace: the Lease is read (GET), created (POST)
 * and renewed by replacing it (PUT, with its resourceVersion); never patched, listed or
 * deleted. `create` cannot be limited by resourceNames (the name is not in a POST's URL), so
 * it has a rule of its own; the rest is limited to the one Lease.
 */
export function leaderElectionRules(leaseName: string) {
  return [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: [leaseName],
      verbs: ['get', 'update'],
    },
  ];
}

/** One `group/resource:verb[:name]` string per permission, for comparing rule sets. */
export function permissions(
  rules: {
    apiGroups?: string[];
    resources?: string[];
    verbs: string[];
    resourceNames?: string[];
  }[],
): string[] {
  const out = new Set<string>();
  for (const rule of rules)
    for (const group of rule.apiGroups ?? [])
      for (const resource of rule.resources ?? [])
        for (const verb of rule.verbs)
          for (const name of rule.resourceNames?.length ? rule.resourceNames : [''])
            out.add(`${group}/${resource}:${verb}${name ? `:${name}` : ''}`);
  return [...out].sort();
}
