/**
 * The checks of the restricted Pod Security Standard (kubernetes.io/docs/concepts/security/
 * pod-security-standards) on a pod spec, plus the chart's own: a read-only root file system
 * and user 65532. Returns what is wrong, one sentence each; empty means compliant.
 */
export function restrictedViolations(pod: Record<string, any>): string[] {
  const problems: string[] = [];
  const podContext = pod.securityContext ?? {};
  const containers: Record<string, any>[] = [
    ...(pod.initContainers ?? []),
    ...(pod.containers ?? []),
    ...(pod.ephemeralContainers ?? []),
  ];
  if (containers.length === 0) problems.push('the pod has no containers');
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'])
    if (pod[field] === true) problems.push(`${field} is true`);
  const allowedVolumes = new Set([
    'configMap',
    'csi',
    'downwardAPI',
    'emptyDir',
    'ephemeral',
    'persistentVolumeClaim',
    'projected',
    'secret',
  ]);
  for (const volume of pod.volumes ?? []) {
    for (const key of Object.keys(volume))
      if (key !== 'name' && !allowedVolumes.has(key))
        problems.push(`volume ${volume.name} is of type ${key}`);
  }
  for (const c of containers) {
    const ctx = c.securityContext ?? {};
    const name = `container ${c.name}`;
    if (ctx.privileged === true) problems.push(`${name} is privileged`);
    if (ctx.allowPrivilegeEscalation !== false)
      problems.push(`${name} does not set allowPrivilegeEscalation: false`);
    const drop: string[] = ctx.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) problems.push(`${name} does not drop ALL capabilities`);
    for (const cap of ctx.capabilities?.add ?? [])
      if (cap !== 'NET_BIND_SERVICE') problems.push(`${name} adds capability ${cap}`);
    if ((ctx.runAsNonRoot ?? podContext.runAsNonRoot) !== true)
      problems.push(`${name} may run as root (runAsNonRoot is not true)`);
    const user = ctx.runAsUser ?? podContext.runAsUser;
    if (user === 0) problems.push(`${name} runs as user 0`);
    if (user !== 65532) problems.push(`${name} runs as user ${user}, not 65532`);
    const seccomp = ctx.seccompProfile?.type ?? podContext.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      problems.push(`${name} has seccomp profile ${seccomp ?? 'unset'}`);
    if (ctx.readOnlyRootFilesystem !== true)
      problems.push(`${name} has a writable root file system`);
    for (const port of c.ports ?? [])
      if (port.hostPort) problems.push(`${name} uses host port ${port.hostPort}`);
  }
  return problems;
}
