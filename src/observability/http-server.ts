import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ShardDistributorError } from '../errors.ts';
import type { Logger } from './logger.ts';

export interface Probe {
  /** Resolves to a reason when not healthy/ready, or undefined when all is well. */
  (): Promise<string | undefined> | string | undefined;
}

export interface ObservabilityServerOptions {
  port: number;
  host?: string;
  /** Where the port is set (a flag, an INI key), for the error when it cannot be had. */
  portSetting?: string;
  registry: Registry;
  /** Where a request that failed (a 500) is told; a scrape that fails must not go unseen. */
  log?: Logger;
  healthz?: Probe;
  readyz?: Probe;
  /** Extra JSON routes, e.g. the distributor's /load. */
  json?: Record<string, () => JsonAnswer>;
}

/**
 * A JSON route's answer: a body (200), or why there is none yet (503 with that text), so a
 * reader never mistakes "not open yet" for an empty report.
 */
export type JsonAnswer = { readonly body: unknown } | { readonly unavailable: string };

export interface ObservabilityServer {
  readonly port: number;
  close(): Promise<void>;
}

/** The port to serve on cannot be had: taken by another process, or not ours to bind. */
export class ListenError extends ShardDistributorError {
  constructor(
    host: string,
    port: number,
    setting: string | undefined,
    cause: NodeJS.ErrnoException,
  ) {
    const why =
      cause.code === 'EADDRINUSE'
        ? 'another process listens there (a second copy of this one?)'
        : cause.code === 'EACCES'
          ? 'ports below 1024 need privileges this process does not have'
          : cause.message;
    super(
      'SD_ERR_LISTEN',
      `cannot serve /metrics, /healthz and /readyz on ${host}:${port}: ${why}; set ${setting ?? 'the port'} to a free port (0 picks one)`,
      { cause },
    );
  }
}

/** Serves /metrics (Prometheus text), /healthz, /readyz and any JSON routes given. */
export async function startObservabilityServer(
  options: ObservabilityServerOptions,
): Promise<ObservabilityServer> {
  const server: Server = createServer((req, res) => {
    void route(options, req, res).catch((error: unknown) => {
      options.log?.warn({ err: error, path: req.url }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`internal error: ${(error as Error).message}\n`);
    });
  });
  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new ListenError(host, options.port, options.portSetting, error)),
    );
    server.listen(options.port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function route(
  options: ObservabilityServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (path === '/metrics') {
    const body = await options.registry.metrics();
    res.writeHead(200, { 'content-type': options.registry.contentType }).end(body);
    return;
  }
  if (path === '/healthz' || path === '/readyz') {
    const probe = path === '/healthz' ? options.healthz : options.readyz;
    const problem = probe ? await probe() : undefined;
    res
      .writeHead(problem ? 503 : 200, { 'content-type': 'text/plain' })
      .end(problem ? `${problem}\n` : 'ok\n');
    return;
  }
  const json = options.json?.[path];
  if (json) {
    const answer = json();
    if ('unavailable' in answer)
      res.writeHead(503, { 'content-type': 'text/plain' }).end(`${answer.unavailable}\n`);
    else
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
}
