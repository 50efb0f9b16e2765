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

/*
 * Strip or reject. A switch whose only effect is to loosen confinement and whose restricted
 * value is the runtime's default (privileged, procMount, root, a seccomp or AppArmor profile
 * other than RuntimeDefault/Localhost, Windows hostProcess; host namespaces, by the merge) is
 * dropped or forced, as the pod still does what was asked, only confined. A setting that carries a
 * value the workload depends on and that has no restricted equivalent to put in its place
 * (a volume source, a hostPort, an unsafe sysctl, an SELinux label) is not dropped, which
 * would silently run another pod than the one written: podTemplateProblems (problems.ts)
 * rejects it as InvalidSpec.
 */

/** AppArmor profiles the restricted (and baseline) standard allows; unset is allowed too. */
const ALLOWED_APPARMOR_TYPES = new Set(['RuntimeDefault', 'Localhost']);

/** The loosening switches common to the pod and the container context, removed in place. */
function dropLoosening(context: V1PodSecurityContext | V1SecurityContext): void {
  if (context.runAsUser === 0) delete context.runAsUser;
  const appArmor = context.appArmorProfile;
  if (appArmor !== undefined && !ALLOWED_APPARMOR_TYPES.has(appArmor.type)) {
    delete context.appArmorProfile;
  }
  if (context.windowsOptions?.hostProcess !== undefined) {
    const { hostProcess: _h, ...windowsOptions } = context.windowsOptions;
    if (Object.keys(windowsOptions).length === 0) delete context.windowsOptions;
    else context.windowsOptions = windowsOptions;
  }
}

/**
 * A user's pod-level security context with the restricted fields put back on top: the user
 * may add (a non-root runAsUser, fsGroup, supplementalGroups…) but not weaken.
 */
export function enforceRestrictedPod(user: V1PodSecurityContext | undefined): V1PodSecurityContext {
  const rest: V1PodSecurityContext = { ...user };
  dropLoosening(rest);
  const merged: V1PodSecurityContext = { ...rest, ...restrictedPodSecurityContext() };
  if (user?.seccompProfile?.type === 'Localhost') merged.seccompProfile = user.seccompProfile;
  return merged;
}

/** The same for a container: privileged and root are dropped, every restricted field forced. */
export function enforceRestrictedContainer(user: V1SecurityContext | undefined): V1SecurityContext {
  const rest: V1SecurityContext = { ...user };
  delete rest.privileged;
  delete rest.procMount;
  dropLoosening(rest);
  const merged: V1SecurityContext = { ...rest, ...restrictedContainerSecurityContext() };
  if (user?.seccompProfile?.type === 'Localhost') merged.seccompProfile = user.seccompProfile;
  return merged;
}
