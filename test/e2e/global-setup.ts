import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { startControlEndpoint, type ControlEndpoint } from '../harness/control-endpoint.ts';
import { ControlPlane } from '../harness/control-plane.ts';
import { REPO_ROOT, toolPath } from '../harness/tools.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    apiServer: string;
    controlPlaneDir: string;
    /** For restartApiServer() from test/harness/control-endpoint.ts. */
    controlPlaneControl: string;
  }
}

/**
 * One real control plane for the whole e2e run (envtest's suite_test.go), with the
 * generated CRD installed; every test works in a namespace of its own.
 */
export default async function setup(project: TestProject) {
  const controlPlane = new ControlPlane();
  await controlPlane.start();
  let control: ControlEndpoint;
  try {
    installCrd(controlPlane.kubeconfigPath);
    control = await startControlEndpoint(controlPlane);
  } catch (error) {
    await controlPlane.stop();
    throw error;
  }
  project.provide('kubeconfig', controlPlane.kubeconfigPath);
  project.provide('apiServer', controlPlane.server);
  project.provide('controlPlaneDir', controlPlane.dir);
  project.provide('controlPlaneControl', control.url);
  return async () => {
    await control.close();
    await controlPlane.stop();
  };
}

function installCrd(kubeconfig: string): void {
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  execFileSync(
    toolPath('kubectl'),
    ['apply', '--server-side', '-f', `${REPO_ROOT}crds/shards.veda.dev_sharddistributors.yaml`],
    { env, stdio: 'pipe' },
  );
  execFileSync(
    toolPath('kubectl'),
    [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/sharddistributors.shards.veda.dev',
    ],
    { env, stdio: 'pipe' },
  );
}
