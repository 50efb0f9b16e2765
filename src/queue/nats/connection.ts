import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  AuthorizationError,
  connect,
  credsAuthenticator,
  UserAuthenticationExpiredError,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { serversWithoutSecret, withoutSecret } from '../../config/index.ts';
import type { Logger } from '../../observability/index.ts';
import {
  QueueClosedError,
  QueueConnectionClosedError,
  QueueNotFoundError,
  QueueTimeoutError,
} from '../errors.ts';

export interface ConnectOptions {
  readonly servers: readonly string[];
  readonly name?: string;
  readonly credentialsFile?: string;
  /** TLS: a private CA's bundle, and a client certificate with its key (mutual TLS). */
  readonly tlsCaFile?: string;
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  readonly timeoutMs: number;
}

/**
 * Connects and keeps reconnecting for as long as the process lives: a server restart or a
 * cluster failover is a pause for the queue, never the end of it. Requests made while
 * disconnected wait in the client's buffer and time out as QueueTimeoutError.
 */
export async function openConnection(
  options: ConnectOptions,
  log: Logger,
): Promise<NatsConnection> {
  const connectOptions: NodeConnectionOptions = {
    servers: [...options.servers],
    name: options.name ?? 'shard-distributor',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // A half-open connection (a server or a network path gone without a FIN) is found after
    // three unanswered pings: 30 s, where the client's default (2 min × 2) stalls for minutes.
    pingInterval: 10_000,
    maxPingOut: 3,
    timeout: options.timeoutMs,
    // An async trace is an Error (a captured stack) built for every request, whether it fails
    // or not: a third of the distributor's CPU at full rate. Our errors say what failed anyway.
    noAsyncTraces: true,
  };
  if (options.credentialsFile !== undefined) {
    const file = options.credentialsFile;
    // Read now, so a missing file fails the start; then again at each (re)connect, so a
    // rotated Secret (a new user JWT) is used without a restart.
    await readable(file, 'credentials');
    connectOptions.authenticator = credsAuthenticator(() => readFileSync(file));
  }
  const tlsFiles = {
    ...(options.tlsCaFile === undefined ? {} : { caFile: options.tlsCaFile }),
    ...(options.tlsCertFile === undefined ? {} : { certFile: options.tlsCertFile }),
    ...(options.tlsKeyFile === undefined ? {} : { keyFile: options.tlsKeyFile }),
  };
  if (Object.keys(tlsFiles).length > 0) {
    // Read now, so a missing file fails the start naming it; the client reads them again at
    // each (re)connect, so a renewed certificate (cert-manager) is used without a restart.
    for (const file of Object.values(tlsFiles)) await readable(file, 'TLS');
    connectOptions.tls = tlsFiles;
  }
  let nc: NatsConnection;
  try {
    nc = await connect(connectOptions);
  } catch (err) {
    // Refused credentials do not pass by waiting: say so, where an unreachable server is a
    // timeout, which the distributor waits out.
    if (err instanceof AuthorizationError || err instanceof UserAuthenticationExpiredError) {
      throw new QueueConnectionClosedError(
        `NATS at ${serversWithoutSecret(options.servers)} refused the connection: ${err.message}; ${CHECK_CREDENTIALS}`,
        { cause: err },
      );
    }
    throw new QueueTimeoutError(
      `could not connect to NATS at ${serversWithoutSecret(options.servers)}: ${(err as Error).message}; check [nats] url and that the server is up`,
      { cause: err },
    );
  }
  void watchStatus(nc, log);
  void watchClosed(nc, options.servers, log);
  return nc;
}

const CHECK_CREDENTIALS =
  "check the credentials ([nats] credentials_file, the ShardDistributor's queue.nats.credentialsSecret) and the user's authorisation on the server";

/** Why each connection the client closed on its own (not through `close`) ended. */
const closedForGood = new WeakMap<NatsConnection, QueueClosedError>();

/**
 * The error a consumer or writer of `nc` throws once `nc` is closed: why the client gave the
 * connection up, when it did so on its own, rather than the bare "is closed" of a handle.
 */
export function closedError(nc: NatsConnection, handle: string): QueueClosedError {
  return closedForGood.get(nc) ?? QueueClosedError.of(handle);
}

/**
 * The client closes a connection for good only when reconnecting cannot help: the same
 * authorisation error twice in a row, or an authenticator that throws (a credentials file
 * gone). Nothing in this process can reopen it, so every queue operation fails from then on
 * with this error, and the process exits with it for its supervisor to restart.
 */
async function watchClosed(
  nc: NatsConnection,
  servers: readonly string[],
  log: Logger,
): Promise<void> {
  const reason = await nc.closed();
  if (reason === undefined) return; // closed by us
  const auth =
    reason instanceof AuthorizationError || reason instanceof UserAuthenticationExpiredError;
  const error = new QueueConnectionClosedError(
    `the NATS client closed its connection to ${serversWithoutSecret(servers)} for good: ${reason.message}; ` +
      (auth ? `${CHECK_CREDENTIALS}, then restart` : 'restart the process once the cause is fixed'),
    { cause: reason },
  );
  closedForGood.set(nc, error);
  log.error({ err: error }, 'NATS connection closed for good; queue operations fail from now on');
}

/** Fails with the file and what it is for when it cannot be read. */
async function readable(file: string, what: string): Promise<void> {
  try {
    await readFile(file);
  } catch (err) {
    throw new QueueNotFoundError(
      `cannot read the NATS ${what} file ${file}: ${(err as Error).message}; check the [nats] keys that name it and that the file (or Secret) is there`,
      { cause: err },
    );
  }
}

async function watchStatus(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case 'disconnect':
        log.warn({ server: withoutSecret(status.server) }, 'nats disconnected');
        break;
      case 'reconnect':
        log.info({ server: withoutSecret(status.server) }, 'nats reconnected');
        break;
      case 'error':
        log.error({ err: status.error }, 'nats connection error');
        break;
      default:
        break;
    }
  }
}
