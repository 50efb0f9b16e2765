import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ShardDistributor } from '../../api/index.ts';
import { ShardDistributorError } from '../../errors.ts';
import { metricsServiceName } from '../desired/index.ts';
import { apiStatusMessage } from '../runtime/index.ts';

/** What the distributor's `/load` says (see src/distributor/load.ts; they meet only here, as JSON). */
export interface Load {
  shards: {
    /** The worker pool; absent for the default pool. `index` counts within the pool. */
    pool?: string;
    index: number;
    queue: string;
    backlog: number;
    dispatched: number;
    live: boolean;
    state: 'live' | 'draining' | 'drained';
    /** The distributor is moving its backlog to live shards (its worker must not run). */
    moving?: boolean;
    stuck?: boolean;
    /** A draining shard's retry queue: messages its worker rejected and will see again. */
    retryBacklog?: number;
  }[];
  mainLag: number;
  /** Pools whose limits hold the main queue now (`default` for the default pool); absent or empty: none. */
  backpressure?: { pool: string; reason: string; message?: string; since: string }[];
  updatedAt: string;
}

export class LoadUnavailableError extends ShardDistributorError {
  constructor(message: string, options?: ErrorOptions) {
    super('SD_ERR_LOAD_UNAVAILABLE', message, options);
  }
}

export type LoadRoute = 'service' | 'proxy';

export interface LoadReaderOptions {
  kc: KubeConfig;
  /**
   * `service`: the metrics Service's cluster DNS name (the operator runs in the cluster).
   * `proxy`: through the API server's service proxy (the operator runs outside it).
   */
  route: LoadRoute;
  /**
   * The one test seam: a JSON file mapping `namespace/name` to a base URL
   * (`{"ns/sd": "http://127.0.0.1:9464"}`), read on every call. End-to-end tests run a real
   * distributor as a local process, which no Service can reach; this points the operator at it.
   */
  addressOverrideFile?: string;
  timeoutMs?: number;
}

/**
 * What a refused GET says. Through the API server's proxy a refusal is a metav1.Status whose
 * message names what is missing (`cannot get resource "services/proxy"`) after some 150
 * characters of JSON, so its message is kept whole; anything else is cut short.
 */
export function refusalText(body: string): string {
  return apiStatusMessage(body) ?? body.slice(0, 200);
}

/** Reads a ShardDistributor's load from its distributor, through its metrics Service. */
export class LoadReader {
  private readonly options: LoadReaderOptions;

  constructor(options: LoadReaderOptions) {
    this.options = options;
  }

  async read(sd: ShardDistributor): Promise<Load> {
    const namespace = sd.metadata.namespace ?? 'default';
    const override = await this.override(`${namespace}/${sd.metadata.name}`);
    const port = sd.spec.distributor.metricsPort;
    const service = metricsServiceName(sd);
    const url = override
      ? new URL('/load', override)
      : this.options.route === 'service'
        ? new URL(`http://${service}.${namespace}.svc:${port}/load`)
        : new URL(
            `${this.serverUrl()}/api/v1/namespaces/${namespace}/services/${service}:${port}/proxy/load`,
          );
    const body = await this.get(url, !override && this.options.route === 'proxy');
    try {
      const load = JSON.parse(body) as Load;
      if (!Array.isArray(load.shards)) throw new Error('no shards list');
      return load;
    } catch (error) {
      throw new LoadUnavailableError(
        `distributor at ${url.href} answered something that is not a load report: ${(error as Error).message}`,
      );
    }
  }

  private serverUrl(): string {
    const cluster = this.options.kc.getCurrentCluster();
    if (!cluster) throw new LoadUnavailableError('no current cluster in the kubeconfig');
    return cluster.server.replace(/\/+$/, '');
  }

  private async override(key: string): Promise<string | undefined> {
    if (!this.options.addressOverrideFile) return undefined;
    try {
      const map = JSON.parse(await readFile(this.options.addressOverrideFile, 'utf8')) as Record<
        string,
        string
      >;
      return map[key];
    } catch {
      return undefined;
    }
  }

  private async get(url: URL, authenticated: boolean): Promise<string> {
    const options: https.RequestOptions = { timeout: this.options.timeoutMs ?? 3_000 };
    if (authenticated) await this.options.kc.applyToHTTPSOptions(options);
    const client = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = client.request(url, { ...options, method: 'GET' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(body)
            : reject(
                new LoadUnavailableError(
                  `GET ${url.pathname} answered ${res.statusCode}: ${refusalText(body)}`,
                ),
              ),
        );
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${options.timeout} ms`)));
      req.on('error', (error) =>
        reject(
          new LoadUnavailableError(
            `cannot reach the distributor at ${url.host}: ${error.message}`,
            { cause: error },
          ),
        ),
      );
      req.end();
    });
  }
}
