import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, inject } from 'vitest';
import { toolPath } from '../harness/tools.ts';

export { eventually } from '../harness/eventually.ts';

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject('kubeconfig'));
  return kc;
}

export interface KubectlResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the kubectl built from the same Kubernetes module as the API server. */
export function kubectl(
  args: string[],
  options: { input?: string; kubeconfig?: string } = {},
): KubectlResult {
  const result = spawnSync(toolPath('kubectl'), args, {
    input: options.input,
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: options.kubeconfig ?? inject('kubeconfig') },
    timeout: 60_000,
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

export function kubectlOk(args: string[], options: { input?: string } = {}): string {
  const result = kubectl(args, options);
  if (result.status !== 0) {
    throw new Error(`kubectl ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  }
  return result.stdout;
}

/**
 * A fresh namespace for each test in the calling file, deleted afterwards; read
 * `ns.name` inside a test.
 */
export function useNamespace(prefix = 't'): { name: string } {
  const ns = { name: '' };
  const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);
  beforeEach(async () => {
    ns.name = `${prefix}-${randomBytes(4).toString('hex')}`;
    await core().createNamespace({ body: { metadata: { name: ns.name } } });
  });
  afterEach(async () => {
    await core().deleteNamespace({ name: ns.name });
  });
  return ns;
}
