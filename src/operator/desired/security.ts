import type { V1PodSecurityContext, V1SecurityContext } from '@kubernetes/client-node';

// The "restricted" Pod Security Standard, plus a read-only root filesystem.

export function restrictedPodSecurityContext(): V1PodSecurityContext {
  return { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
}

export function restrictedContainerSecurityContext(): V1SecurityContext {
  return {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/**
 * A user's pod-level security context with the restricted fields put back on top: the user
 * may add (a non-root runAsUser, fsGroup, supplementalGroups…) but not weaken.
 */
export function enforceRestrictedPod(user: V1PodSecurityContext | undefined): V1PodSecurityContext {
  const rest: V1PodSecurityContext = { ...user };
  if (rest.runAsUser === 0) delete rest.runAsUser;
  const merged: V1PodSecurityContext = { ...rest, ...restrictedPodSecurityContext() };
  if (user?.seccompProfile?.type === 'Localhost') merged.seccompProfile = user.seccompProfile;
  return merged;
}

/** The same for a container: privileged and root are dropped, every restricted field forced. */
export function enforceRestrictedContainer(user: V1SecurityContext | undefined): V1SecurityContext {
  const rest: V1SecurityContext = { ...user };
  delete rest.privileged;
  delete rest.procMount;
  if (rest.runAsUser === 0) delete rest.runAsUser;
  const merged: V1SecurityContext = { ...rest, ...restrictedContainerSecurityContext() };
  if (user?.seccompProfile?.type === 'Localhost') merged.seccompProfile = user.seccompProfile;
  return merged;
}
