import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { shardDistributorResource } from '../../../../src/operator/operator.ts';
import { kubeListerWatcher } from '../../../../src/operator/runtime/list-watch.ts';

let server: http.Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** An API server that answers every request with `status` and `body`, as kube-apiserver does. */
async function apiServer(
  status: number,
  body: string,
  type = 'application/json',
): Promise<KubeConfig> {
  server = http.createServer((_req, res) => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node refuses plain HTTP unless TLS verification is off.
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function listError(kc: KubeConfig, resource = shardDistributorResource): Promise<Error> {
  return kubeListerWatcher(kc, resource)
    .list({ limit: 10 })
    .then(
      () => {
        throw new Error('the list succeeded');
      },
      (error: unknown) => error as Error,
    );
}

async function watchError(kc: KubeConfig): Promise<Error | undefined> {
  return new Promise((resolve) => {
    kubeListerWatcher(kc, shardDistributorResource).watch(
      { resourceVersion: '1', timeoutSeconds: 5 },
      () => undefined,
      resolve,
    );
  });
}

describe('kubeListerWatcher', () => {
  it('says the CRD is not installed, and how to install it, when listing ShardDistributors answers 404', async () => {
    // What kube-apiserver answers for a group it does not serve: not even an API Status.
    const kc = await apiServer(404, '404 page not found\n', 'text/plain');
    const error = await listError(kc);
    expect(error.message).toBe(
      'list sharddistributors failed with HTTP 404: 404 page not found; the informer retries with backoff — ' +
        'the API server does not serve sharddistributors in shards.veda.dev/v1alpha1: ' +
        'the CustomResourceDefinition sharddistributors.shards.veda.dev is not installed; ' +
        'install it with `kubectl apply --server-side -f charts/shard-distributor/crds/`, or install the chart, which brings it',
    );
    expect((await watchError(kc))?.message).toContain(
      'CustomResourceDefinition sharddistributors.shards.veda.dev is not installed',
    );
  });

  it('says a built-in resource is not served without naming a CRD', async () => {
    const kc = await apiServer(404, '404 page not found\n', 'text/plain');
    const error = await listError(kc, { apiVersion: 'apps/v1', plural: 'deployments' });
    expect(error.message).toContain(
      'the informer retries with backoff — the API server does not serve deployments in apps/v1',
    );
  });

  it('points at RBAC when the list is forbidden', async () => {
    const status = {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message:
        'sharddistributors.shards.veda.dev is forbidden: User "op" cannot list resource "sharddistributors" in API group "shards.veda.dev" at the cluster scope',
      reason: 'Forbidden',
      code: 403,
    };
    const error = await listError(await apiServer(403, JSON.stringify(status)));
    expect(error.message).toBe(
      `list sharddistributors failed with HTTP 403: ${status.message}; the informer retries with backoff — check the API server and the operator’s RBAC`,
    );
  });
});
