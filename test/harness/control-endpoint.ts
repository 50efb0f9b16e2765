import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ControlPlane } from './control-plane.ts';

export interface ControlEndpoint {
  /** Base URL, secret included: `http://127.0.0.1:PORT/TOKEN`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Lets test files (which run in vitest workers, away from the global setup that owns the
 * ControlPlane) act on the control plane: a loopback HTTP endpoint behind a random token.
 * `POST {url}/restart-apiserver?downMs=N` kills kube-apiserver -9, waits N ms, starts it
 * again on the same port and answers once /readyz is ok; `POST {url}/compact-etcd` compacts
 * etcd's history. Actions run one at a time.
 */
export async function startControlEndpoint(controlPlane: ControlPlane): Promise<ControlEndpoint> {
  const token = randomBytes(16).toString('hex');
  let chain: Promise<unknown> = Promise.resolve();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const actions: Record<string, () => Promise<void>> = {
      [`/${token}/restart-apiserver`]: () =>
        controlPlane.restartApiServer(Number(url.searchParams.get('downMs') ?? '0')),
      [`/${token}/compact-etcd`]: () => controlPlane.compactEtcd(),
    };
    const action = actions[url.pathname];
    if (req.method !== 'POST' || !action) {
      res.writeHead(404).end();
      return;
    }
    const run = chain.then(action);
    chain = run.catch(() => undefined);
    run.then(
      () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'),
      (error: unknown) =>
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`${error instanceof Error ? error.message : String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${token}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Client side: restart the run's API server through the endpoint at `url`. */
export function restartApiServer(url: string, downMs = 0): Promise<void> {
  return call(`${url}/restart-apiserver?downMs=${downMs}`, 'API server restart');
}

/** Client side: compact etcd's history, so watches from older resourceVersions get 410 Gone. */
export function compactEtcd(url: string): Promise<void> {
  return call(`${url}/compact-etcd`, 'etcd compaction');
}

async function call(target: string, what: string): Promise<void> {
  const res = await fetch(target, { method: 'POST' });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${what} failed (${res.status}): ${body}`);
}
