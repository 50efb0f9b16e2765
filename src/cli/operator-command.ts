import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import type { Env } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import { startOperator } from '../operator/index.ts';
import { portFlag } from './port-flag.ts';
import { UsageError } from './usage-error.ts';

export const DEFAULT_IMAGE = 'ghcr.io/veda-project/shard-distributor:0.1.0';

export const OPERATOR_USAGE = `shard-distributor operator [options]

Reconciles ShardDistributors into a ConfigMap, a distributor, one worker Deployment per shard
and a metrics Service. Uses the in-cluster ServiceAccount, or KUBECONFIG outside a cluster.

  --leader-elect               elect one active replica through a Lease (use with replicas > 1)
  --lease-name NAME            default shard-distributor-leader
  --lease-namespace NS         default $POD_NAMESPACE, else "default"
  --namespaces a,b             watch only these namespaces (default: all)
  --metrics-port N             /metrics (default 8080)
  --health-port N              /healthz and /readyz (default 8081)
  --distributor-image IMAGE    the distributor's image when a ShardDistributor names none
                               (default $OPERATOR_IMAGE, else ${DEFAULT_IMAGE})
  --concurrency N              ShardDistributors reconciled at once (default 4)
  --load-route service|proxy   how /load is read: the Service's cluster DNS name (default in a
                               cluster) or the API server's service proxy (default outside)
  --load-address-override FILE test seam: JSON {"ns/name": "http://host:port"} of distributors
                               the operator reads /load from directly
  --resync-seconds N           re-reconcile everything this often (default 600)
  --requeue-seconds N          look at a steady ShardDistributor again this often, its status's
                               backlog included (default 30; 15 at most with maxWorkers set)
  --lease-duration-seconds N   leader lease (default 15; renew deadline 2/3 of it)
  --scale-down-stabilization-seconds N
                               with maxWorkers: scale down only to the highest count
                               recommended within this window (default 300)
  --log-level LEVEL            trace, debug, info (default), warn, error, fatal`;

interface Flags {
  'leader-elect'?: boolean;
  'lease-name'?: string;
  'lease-namespace'?: string;
  namespaces?: string;
  'metrics-port'?: string;
  'health-port'?: string;
  'distributor-image'?: string;
  concurrency?: string;
  'load-route'?: string;
  'load-address-override'?: string;
  'resync-seconds'?: string;
  'requeue-seconds'?: string;
  'lease-duration-seconds'?: string;
  'scale-down-stabilization-seconds'?: string;
  'log-level'?: string;
}

function port(value: string | undefined, flag: string, fallback: number): number {
  return portFlag(value, flag, OPERATOR_USAGE) ?? fallback;
}

function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!(n > 0))
    throw new UsageError(`${flag} ${value} is not a positive number of seconds`, OPERATOR_USAGE);
  return n * 1000;
}

/** 0 allowed: no stabilisation, scale down as soon as the backlog allows. */
function nonNegativeSeconds(value: string, flag: string): number {
  const n = Number(value);
  if (!(n >= 0) || !Number.isFinite(n))
    throw new UsageError(`${flag} ${value} is not a number of seconds >= 0`, OPERATOR_USAGE);
  return n * 1000;
}

/** client-go's proportions: renew deadline 2/3 and retry period 2/15 of the lease. */
function leaseTimings(value: string | undefined) {
  if (value === undefined) return {};
  const lease = seconds(value, '--lease-duration-seconds');
  return {
    leaseDurationMs: lease,
    renewDeadlineMs: Math.round((lease * 2) / 3),
    retryPeriodMs: Math.round((lease * 2) / 15),
  };
}

export async function operatorCommand(
  argv: string[],
  env: Env,
  log: Logger,
  signal: AbortSignal,
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'leader-elect': { type: 'boolean' },
      'lease-name': { type: 'string' },
      'lease-namespace': { type: 'string' },
      namespaces: { type: 'string' },
      'metrics-port': { type: 'string' },
      'health-port': { type: 'string' },
      'distributor-image': { type: 'string' },
      concurrency: { type: 'string' },
      'load-route': { type: 'string' },
      'load-address-override': { type: 'string' },
      'resync-seconds': { type: 'string' },
      'requeue-seconds': { type: 'string' },
      'lease-duration-seconds': { type: 'string' },
      'scale-down-stabilization-seconds': { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
  }) as { values: Flags };
  const level = values['log-level'];
  if (level !== undefined) {
    const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
    if (!levels.includes(level)) {
      throw new UsageError(
        `--log-level ${level} is not one of ${levels.join(', ')}`,
        OPERATOR_USAGE,
      );
    }
    log.level = level;
  }
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new UsageError(
      `--concurrency ${values.concurrency} is not a whole number >= 1`,
      OPERATOR_USAGE,
    );
  const inCluster = Boolean(env['KUBERNETES_SERVICE_HOST']);
  const route = values['load-route'] ?? (inCluster ? 'service' : 'proxy');
  if (route !== 'service' && route !== 'proxy')
    throw new UsageError(`--load-route ${route} is not service or proxy`, OPERATOR_USAGE);

  // Made before starting: a SIGTERM while the caches sync (for ever, if the CRD or the RBAC
  // is missing) must still stop the process, and a signal already given must count.
  const stopped = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const starting = startOperator({
    kc,
    log,
    namespaces: (values.namespaces ?? '')
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean),
    defaultImage: values['distributor-image'] ?? env['OPERATOR_IMAGE'] ?? DEFAULT_IMAGE,
    concurrency,
    metricsPort: port(values['metrics-port'], '--metrics-port', 8080),
    healthPort: port(values['health-port'], '--health-port', 8081),
    loadRoute: route,
    ...(values['load-address-override']
      ? { loadAddressOverrideFile: values['load-address-override'] }
      : {}),
    ...(values['resync-seconds']
      ? { resyncMs: seconds(values['resync-seconds'], '--resync-seconds') }
      : {}),
    ...(values['requeue-seconds']
      ? { steadyRequeueMs: seconds(values['requeue-seconds'], '--requeue-seconds') }
      : {}),
    ...(values['scale-down-stabilization-seconds'] !== undefined
      ? {
          scaleDownStabilizationMs: nonNegativeSeconds(
            values['scale-down-stabilization-seconds'],
            '--scale-down-stabilization-seconds',
          ),
        }
      : {}),
    ...(values['leader-elect']
      ? {
          leaderElection: {
            name: values['lease-name'] ?? 'shard-distributor-leader',
            namespace: values['lease-namespace'] ?? env['POD_NAMESPACE'] ?? 'default',
            ...(env['POD_NAME'] ? { identity: `${env['POD_NAME']}_${process.pid}` } : {}),
            ...leaseTimings(values['lease-duration-seconds']),
          },
        }
      : {}),
  });
  const operator = await Promise.race([starting, stopped.then(() => undefined)]);
  if (!operator) {
    // Nothing leads yet (leader election starts once the caches are synced): the process
    // may simply end.
    log.info('stopped while starting (waiting for the caches to sync)');
    starting.catch(() => undefined);
    return 0;
  }
  try {
    await Promise.race([stopped, operator.done]);
  } finally {
    await operator.stop();
  }
  log.info('operator stopped');
  return 0;
}
