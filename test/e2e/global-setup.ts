import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { startControlEndpoint, type ControlEndpoint } from '../harness/control-endpoint.ts';
import { ControlPlane } from '../harness/control-plane.ts';
import { eventually } from '../harness/eventually.ts';
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
    await installCrd(controlPlane.kubeconfigPath);
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

async function installCrd(kubeconfig: string): Promise<void> {
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  execFileSync(
    toolPath('kubectl'),
    ['apply', '--server-side', '-f', `${REPO_ROOT}crds/shards.veda.dev_sharddistributors.yaml`],
    { env, stdio: 'pipe' },
  );
  // Polled rather than `kubectl wait`: that fails outright ("conditions accessor error") when
  // it looks before the API server has written any condition.
  await eventually(
    () => {
      const status = execFileSync(
        toolPath('kubectl'),
        [
          'get',
          'crd/sharddistributors.shards.veda.dev',
          '-o',
          "jsonpath={.status.conditions[?(@.type=='Established')].status}",
        ],
        { env, encoding: 'utf8' },
      );
      if (status.trim() !== 'True') throw new Error(`Established is "${status.trim()}"`);
    },
    { timeoutMs: 60_000, description: 'the ShardDistributor CRD to be Established' },
  );
}
