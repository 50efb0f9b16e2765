import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { inject } from 'vitest';
import { writeKubeconfig } from '../harness/kubeconfig.ts';
import type { Pki } from '../harness/pki.ts';
import { kubeConfig } from './support.ts';

export interface ServiceAccountAccess {
  /** A kubeconfig file that authenticates as the ServiceAccount (for kubectl, helm, a process). */
  kubeconfigPath: string;
  token: string;
  /** `system:serviceaccount:<namespace>:<name>` */
  username: string;
  kubeConfig(): k8s.KubeConfig;
}

/**
 * Acts as a ServiceAccount: asks the TokenRequest API for a short-lived token of
 * `namespace/name` and writes a kubeconfig with it (the test control plane's CA embedded).
 * What a pod running as that ServiceAccount gets, without a pod — so a test can prove what
 * RBAC grants, or run the operator with exactly the chart's permissions.
 */
export async function serviceAccountAccess(
  namespace: string,
  name: string,
  options: { expirationSeconds?: number } = {},
): Promise<ServiceAccountAccess> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const request = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    // No audiences: the API server's own.
    body: { spec: { audiences: [], expirationSeconds: options.expirationSeconds ?? 3600 } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  const dir = inject('controlPlaneDir');
  const kubeconfigPath = join(dir, `sa-${namespace}-${name}.kubeconfig`);
  const username = `system:serviceaccount:${namespace}:${name}`;
  writeKubeconfig(kubeconfigPath, inject('apiServer'), controlPlanePki(dir), {
    name: username,
    token,
  });
  return {
    kubeconfigPath,
    token,
    username,
    kubeConfig() {
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      return kc;
    },
  };
}

/** The control plane's PKI files (test/harness/pki.ts names them); a token needs only the CA. */
function controlPlanePki(dir: string): Pki {
  const p = (file: string) => join(dir, file);
  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    serviceAccountKey: p('sa.key'),
    serviceAccountPub: p('sa.pub'),
  };
}

export interface Access {
  verb: string;
  /** '' for the core group. */
  group: string;
  resource: string;
  subresource?: string;
  /** Omitted: every namespace (cluster-wide). */
  namespace?: string;
  name?: string;
}

/** Whether the identity of `kc` may do `access` (a SelfSubjectAccessReview, as `kubectl auth can-i`). */
export async function canI(kc: k8s.KubeConfig, access: Access): Promise<boolean> {
  const review = await kc.makeApiClient(k8s.AuthorizationV1Api).createSelfSubjectAccessReview({
    body: { spec: { resourceAttributes: { ...access } } },
  });
  return review.status?.allowed === true;
}

/** `Access` as `kubectl auth can-i` would spell it, for messages. */
export function describeAccess(a: Access): string {
  const resource = `${a.resource}${a.group ? `.${a.group}` : ''}${a.subresource ? `/${a.subresource}` : ''}`;
  return `${a.verb} ${resource}${a.name ? `/${a.name}` : ''} in ${a.namespace ?? 'all namespaces'}`;
}

/**
 * The resource rules the identity of `kc` holds in `namespace` (a SelfSubjectRulesReview),
 * including what the cluster grants every authenticated user or ServiceAccount (self reviews,
 * ClusterTrustBundles, …): compare against a ServiceAccount without bindings to see what a
 * role added.
 */
export async function rulesIn(
  kc: k8s.KubeConfig,
  namespace: string,
): Promise<k8s.V1ResourceRule[]> {
  const review = await kc.makeApiClient(k8s.AuthorizationV1Api).createSelfSubjectRulesReview({
    body: { spec: { namespace } },
  });
  return review.status?.resourceRules ?? [];
}
