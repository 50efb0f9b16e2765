import type { V1Container, V1Deployment, V1EnvVar } from '@kubernetes/client-node';
import type { ShardDistributor } from '../../api/index.ts';
import {
  DEFAULT_FAILURE,
  failureEnv,
  NATS_ENV,
  natsEnv,
  quoteArgv,
  renderWorkerArgv,
  splitArgv,
} from '../../config/index.ts';
import { configFor, type ShardPlan } from './ini.ts';
import { ownedMetadata, workerLabels, workerName, workerSelectorLabels } from './names.ts';
import { withPodTemplateOverrides } from './pod-template-overrides.ts';
import { defaultPoolOf, type WorkerPool } from './pools.ts';
import { resourcesFor } from './resources.ts';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './security.ts';
import {
  natsCredentialsFile,
  natsCredentialsMount,
  natsCredentialsSecret,
  natsCredentialsVolume,
  natsTlsMount,
  natsTlsVolume,
  queueMounts,
  queueVolume,
  tmpMount,
  tmpVolume,
} from './volumes.ts';

export const WORKER_CONTAINER = 'worker';
const NATS_CREDENTIALS_VOLUME = 'nats-credentials';
const NATS_TLS_VOLUME = 'nats-tls';
/** For what a worker is given that does not depend on the shard set. */
const ANY_PLAN: ShardPlan = { liveShards: 1, drainingShards: [] };

/**
 * Shard i's worker argv, rendered by the same code as `run` mode renders it from the INI:
 * each template item is one argv item, placeholders filled inside it, nothing re-split. A
 * named pool's worker gets its own command, template and queue prefix in place of [worker]'s.
 */
export function workerArgvFor(
  sd: ShardDistributor,
  shard: number,
  pool: WorkerPool = defaultPoolOf(sd),
): { command: string[]; args: string[] } {
  // The shard set does not enter the argv; any plan that is valid for this shard will do.
  const base = configFor(sd, { ...ANY_PLAN, liveShards: shard + 1 });
  const config = pool.isDefault
    ? base
    : {
        ...base,
        worker: {
          ...base.worker,
          subQueuePrefix: pool.subQueuePrefix,
          sleepEmptySec: pool.worker.sleepEmptySeconds,
          workerModule: quoteArgv(pool.worker.command),
          workerArgsTemplate: quoteArgv(pool.worker.argsTemplate),
        },
      };
  const argv = renderWorkerArgv(config, shard);
  const split = splitArgv(config.worker.workerModule);
  const commandLength = split.ok ? split.args.length : pool.worker.command.length;
  return { command: argv.slice(0, commandLength), args: argv.slice(commandLength) };
}

/**
 * The `SD_*` variables of `pool`'s failure policy (`failureEnv`, as `run` mode gives them),
 * by name: its own or spec.failure, else the defaults (DeadLetter), so a rejected message is
 * retried and dead-lettered rather than stopping the worker.
 */
export function failureEnvFor(pool: WorkerPool): Record<string, string> {
  return failureEnv(pool.failure ?? DEFAULT_FAILURE, pool.name);
}

/**
 * The worker container's env: the failure policy's `SD_*` variables first, then the
 * template's env without the names they take (ours win; specProblems reports the clash),
 * then on nats the connection's `SD_NATS_*` variables the template does not set itself, the
 * credentials file being the workers' own Secret when the spec names one, and the TLS files
 * (SD_NATS_TLS_*) the same mounted paths as the distributor's INI.
 */
export function workerEnvFor(sd: ShardDistributor, pool: WorkerPool): V1EnvVar[] {
  const asEnv = (vars: Record<string, string>) =>
    Object.entries(vars).map(([name, value]) => ({ name, value }));
  const ours = asEnv(failureEnvFor(pool));
  const taken = new Set(ours.map((e) => e.name));
  const theirs = ((pool.worker.env ?? []) as V1EnvVar[]).filter((e) => !taken.has(e.name));
  const set = new Set(theirs.map((e) => e.name));
  const credentials = natsCredentialsSecret(sd, 'worker');
  const connection = asEnv({
    ...natsEnv(configFor(sd, ANY_PLAN)),
    // The distributor's file unless the workers have credentials of their own.
    ...(credentials ? { [NATS_ENV.credentialsFile]: natsCredentialsFile(credentials.key) } : {}),
  }).filter((e) => !set.has(e.name));
  return [...ours, ...theirs, ...connection];
}

/**
 * The worker pod's automountServiceAccountToken. Workers (the reference worker included) talk
 * to no API server, so by default they get no token, like the distributor. A podTemplate that
 * sets automountServiceAccountToken wins either way. One that names a ServiceAccount
 * (serviceAccountName, or the deprecated serviceAccount) and says nothing about the token is
 * left unset, so that ServiceAccount's own automountServiceAccountToken decides: naming one is
 * how a worker asks for an identity, and its token is usually what it was named for.
 * Undefined means: leave the field out. The API server keeps an explicit false, so the
 * desired/live comparison (isSemanticSubset) sees no change once applied.
 */
function workerAutomountToken(
  podTemplate: Record<string, unknown> | undefined,
): boolean | undefined {
  const spec = podTemplate?.['spec'];
  const theirs =
    typeof spec === 'object' && spec !== null && !Array.isArray(spec)
      ? (spec as Record<string, unknown>)
      : {};
  const automount = theirs['automountServiceAccountToken'];
  if (typeof automount === 'boolean') return automount;
  const named = (field: string) => typeof theirs[field] === 'string' && theirs[field] !== '';
  return named('serviceAccountName') || named('serviceAccount') ? undefined : false;
}

/**
 * The Deployment of shard i's worker in `pool` (the default pool unless given): one pod,
 * which reads only that shard's queue; none once the shard is `stopped` (removed by a
 * scale-down, its backlog about to be moved). Deleted by the reconciler only after the
 * distributor reports the shard drained.
 */
export function workerDeploymentFor(
  sd: ShardDistributor,
  shard: number,
  options: { stopped?: boolean; pool?: WorkerPool } = {},
): V1Deployment {
  const pool = options.pool ?? defaultPoolOf(sd);
  const worker = pool.worker;
  const { command, args } = workerArgvFor(sd, shard, pool);
  const resources = resourcesFor(worker.resources);
  const queue = queueVolume(sd, 'queue');
  const natsCredentials = natsCredentialsVolume(sd, NATS_CREDENTIALS_VOLUME, 'worker');
  const natsTls = natsTlsVolume(sd, NATS_TLS_VOLUME);
  const env = workerEnvFor(sd, pool);
  const container: V1Container = {
    name: WORKER_CONTAINER,
    image: worker.image,
    command,
    args,
    ...(env.length === 0 ? {} : { env }),
    ...(resources === undefined ? {} : { resources }),
    securityContext: restrictedContainerSecurityContext(),
    volumeMounts: [
      ...queueMounts(sd, 'queue', 'worker'),
      ...(natsCredentials ? [natsCredentialsMount(NATS_CREDENTIALS_VOLUME)] : []),
      ...(natsTls ? [natsTlsMount(NATS_TLS_VOLUME)] : []),
      tmpMount('tmp'),
    ],
  };
  const labels = workerLabels(sd, shard, pool.name);
  const automount = workerAutomountToken(worker.podTemplate);
  const template = withPodTemplateOverrides(
    {
      metadata: { labels },
      spec: {
        ...(automount === undefined ? {} : { automountServiceAccountToken: automount }),
        securityContext: restrictedPodSecurityContext(),
        containers: [container],
        volumes: [
          ...(queue === undefined ? [] : [queue]),
          ...(natsCredentials ? [natsCredentials] : []),
          ...(natsTls ? [natsTls] : []),
          tmpVolume('tmp'),
        ],
      },
    },
    worker.podTemplate,
  );
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: ownedMetadata(sd, workerName(sd, shard, pool.name), labels),
    spec: {
      replicas: options.stopped ? 0 : 1,
      // A shard queue has one reader: a rolling update would briefly run two.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: workerSelectorLabels(sd, shard, pool.name) },
      template,
    },
  };
}
