import { describe, expect, it } from 'vitest';
import { shardDistributorResource } from '../../../../src/operator/operator.ts';
import { refusalOf } from '../../../../src/operator/runtime/list-watch.ts';

// What a refused list or watch says; against the real kube-apiserver, see
// test/e2e/runtime/informer.test.ts ("not served").
describe('refusalOf', () => {
  it('says the CRD is not installed, and how to install it, when listing ShardDistributors answers 404', () => {
    // What kube-apiserver answers for a group it does not serve: not even an API Status.
    const error = refusalOf(
      shardDistributorResource,
      'list sharddistributors',
      404,
      '404 page not found\n',
    );
    expect(error.message).toBe(
      'list sharddistributors failed with HTTP 404: 404 page not found; the informer retries with backoff — ' +
        'the API server does not serve sharddistributors in shards.veda.dev/v1alpha1: ' +
        'the CustomResourceDefinition sharddistributors.shards.veda.dev is not installed; ' +
        'install it with `kubectl apply --server-side -f charts/shard-distributor/crds/`, or install the chart, which brings it',
    );
  });

  it('says a built-in resource is not served without naming a CRD', () => {
    const error = refusalOf(
      { apiVersion: 'apps/v1', plural: 'deployments' },
      'watch deployments',
      404,
      '404 page not found\n',
    );
    expect(error.message).toContain(
      'the informer retries with backoff — the API server does not serve deployments in apps/v1',
    );
    expect(error.message).not.toContain('CustomResourceDefinition');
  });

  it('points at RBAC when the list is forbidden', () => {
    const status = {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message:
        'sharddistributors.shards.veda.dev is forbidden: User "op" cannot list resource "sharddistributors" in API group "shards.veda.dev" at the cluster scope',
      reason: 'Forbidden',
      code: 403,
    };
    const error = refusalOf(
      shardDistributorResource,
      'list sharddistributors',
      403,
      JSON.stringify(status),
    );
    expect(error.message).toBe(
      `list sharddistributors failed with HTTP 403: ${status.message}; the informer retries with backoff — check the API server and the operator’s RBAC`,
    );
  });
});
