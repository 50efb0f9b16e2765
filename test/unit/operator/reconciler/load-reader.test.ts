import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadReader } from '../../../../src/operator/reconciler/load-reader.ts';
import { sample } from '../desired/samples.ts';

let server: http.Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** An API server that answers every request with `status` and `body`. */
async function apiServer(status: number, body: string): Promise<KubeConfig> {
  server = http.createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
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

describe('LoadReader through the API server proxy', () => {
  it('keeps the whole message of a refusal, which names the missing permission at its end', async () => {
    const message =
      'services "individuals-flow-metrics:9464" is forbidden: User "system:serviceaccount:team-a:developer" cannot get resource "services/proxy" in API group "" in the namespace "team-a"';
    const status = JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason: 'Forbidden',
      details: { name: 'individuals-flow-metrics:9464', kind: 'services' },
      code: 403,
    });
    const reader = new LoadReader({ kc: await apiServer(403, status), route: 'proxy' });
    const error = await reader.read(sample('full')).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/^GET \/api\/v1\/namespaces\/\S+\/proxy\/load answered 403: /);
    expect(error?.message).toContain(message);
  });

  it('cuts a body that is not an API Status short', async () => {
    const reader = new LoadReader({ kc: await apiServer(502, 'x'.repeat(1000)), route: 'proxy' });
    const error = await reader.read(sample('full')).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/answered 502: x{200}$/);
  });
});
