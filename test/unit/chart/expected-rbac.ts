/**
 * The operator's permissions, exactly: what the ClusterRole (cluster mode) and each Role
 * (namespace mode) hold. Adding a permission to the chart means changing this list too.
 */
export const OPERATOR_RULES = [
  {
    apiGroups: ['shards.veda.dev'],
    resources: ['sharddistributors'],
    verbs: ['get', 'list', 'watch', 'update', 'patch'],
  },
  {
    apiGroups: ['shards.veda.dev'],
    resources: ['sharddistributors/status'],
    verbs: ['get', 'update', 'patch'],
  },
  {
    apiGroups: ['shards.veda.dev'],
    resources: ['sharddistributors/finalizers'],
    verbs: ['update'],
  },
  {
    apiGroups: ['apps'],
    resources: ['deployments'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get', 'list', 'watch', 'patch'] },
  {
    apiGroups: [''],
    resources: ['configmaps', 'services'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  {
    apiGroups: [''],
    resources: ['persistentvolumeclaims', 'pods'],
    verbs: ['get', 'list', 'watch'],
  },
  { apiGroups: [''], resources: ['services/proxy'], verbs: ['get'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];

/** The leader-election Role, in the lease's namespace. */
export function leaderElectionRules(leaseName: string) {
  return [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: [leaseName],
      verbs: ['get', 'update', 'patch'],
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
