import type * as k8s from '@kubernetes/client-node';
import { Counter } from 'prom-client';
import {
  API_VERSION,
  CRD_NAME,
  KIND,
  LABEL_DISTRIBUTOR,
  PLURAL,
  type ShardDistributor,
} from '../api/index.ts';
import {
  createRegistry,
  startObservabilityServer,
  type Logger,
  type ObservabilityServer,
} from '../observability/index.ts';
import { combinedCache } from './caches.ts';
import { EventRecorder } from './reconciler/events.ts';
import { KubeWriter } from './reconciler/kube.ts';
import { LoadReader, type LoadRoute } from './reconciler/load-reader.ts';
import { ShardDistributorReconciler } from './reconciler/reconciler.ts';
import {
  Controller,
  Informer,
  kubeLeaseLock,
  kubeListerWatcher,
  Manager,
  objectKey,
  ownerKey,
  ownKey,
  SharedConnectionKubeConfig,
  specOrMetadataChanged,
  type ResourceDescriptor,
} from './runtime/index.ts';

export interface OperatorOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  /** Watch only these namespaces; empty: every namespace. */
  namespaces: readonly string[];
  /** The operator's own image: the distributor's default. */
  defaultImage: string;
  concurrency: number;
  metricsPort: number;
  healthPort: number;
  host?: string;
  leaderElection?: {
    namespace: string;
    name: string;
    identity?: string;
    leaseDurationMs?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
  };
  loadRoute: LoadRoute;
  loadAddressOverrideFile?: string;
  /** Informer resync; default 10 min. */
  resyncMs?: number;
  steadyRequeueMs?: number;
  /** Autoscaling's scale-down stabilisation window; default 300 s (the HPA's). */
  scaleDownStabilizationMs?: number;
}

export interface RunningOperator {
  readonly manager: Manager;
  readonly metrics: ObservabilityServer;
  readonly health: ObservabilityServer;
  /** Rejects when leadership is lost (the process should exit and restart). */
  readonly done: Promise<never>;
  stop(): Promise<void>;
}

/**
 * ShardDistributors, as the operator lists and watches them. Without the CRD the API server
 * answers 404, which on its own says nothing of the CRD.
 */
export const shardDistributorResource: Omit<ResourceDescriptor, 'namespace'> = {
  apiVersion: API_VERSION,
  plural: PLURAL,
  whenNotServed:
    `the CustomResourceDefinition ${CRD_NAME} is not installed; install it with ` +
    '`kubectl apply --server-side -f charts/shard-distributor/crds/`, or install the chart, which brings it',
};

/**
 * The operator: label-scoped informers for what it owns (never every Deployment in the
 * cluster), one controller for ShardDistributors, leader election, /metrics and probes.
 */
export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { log } = options;
  const kc = SharedConnectionKubeConfig.from(options.kc);
  const registry = createRegistry();
  const scopes: (string | undefined)[] =
    options.namespaces.length > 0 ? [...options.namespaces] : [undefined];
  const informersOf = <T extends k8s.KubernetesObject>(
    resource: Omit<ResourceDescriptor, 'namespace'>,
  ) =>
    new Map(
      scopes.map((namespace) => [
        namespace,
        new Informer<T>({
          listerWatcher: kubeListerWatcher(kc, {
            ...resource,
            ...(namespace ? { namespace } : {}),
          }),
          log,
          ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
        }),
      ]),
    );
  const owned = { labelSelector: LABEL_DISTRIBUTOR };
  const sds = informersOf<ShardDistributor & k8s.KubernetesObject>(shardDistributorResource);
  const sdCache = combinedCache(sds);
  const deployments = informersOf<k8s.V1Deployment>({
    apiVersion: 'apps/v1',
    plural: 'deployments',
    ...owned,
  });
  const configMaps = informersOf<k8s.V1ConfigMap>({
    apiVersion: 'v1',
    plural: 'configmaps',
    ...owned,
  });
  const services = informersOf<k8s.V1Service>({ apiVersion: 'v1', plural: 'services', ...owned });
  // Claims are not ours to label: every claim of the watched namespaces, read from this cache
  // instead of a GET per reconcile (controller-runtime's client reads from its cache likewise).
  // Whether a claim exists is all the operator asks, so only their metadata is kept.
  const claims = informersOf<k8s.KubernetesObject>({
    apiVersion: 'v1',
    plural: 'persistentvolumeclaims',
    metadataOnly: true,
  });

  const writes = new Counter({
    name: 'shard_distributor_operator_api_writes_total',
    help: 'Writes the operator sent to the API server, by verb and kind (a steady state sends none).',
    labelNames: ['verb', 'kind'],
    registers: [registry],
  });
  const events = new EventRecorder(kc, log);
  const reconciler = new ShardDistributorReconciler({
    kube: new KubeWriter(kc, writes),
    events,
    load: new LoadReader({
      kc,
      route: options.loadRoute,
      ...(options.loadAddressOverrideFile
        ? { addressOverrideFile: options.loadAddressOverrideFile }
        : {}),
    }),
    sds: sdCache,
    deployments: combinedCache(deployments),
    configMaps: combinedCache(configMaps),
    services: combinedCache(services),
    claims: combinedCache(claims),
    defaultImage: options.defaultImage,
    ...(options.steadyRequeueMs !== undefined ? { steadyRequeueMs: options.steadyRequeueMs } : {}),
    ...(options.scaleDownStabilizationMs !== undefined
      ? { stabilizationWindowMs: options.scaleDownStabilizationMs }
      : {}),
  });
  const controller = new Controller({
    name: 'sharddistributor',
    reconcile: reconciler.reconcile,
    concurrency: options.concurrency,
    log,
    registry,
  });
  const toOwner = ownerKey({ apiVersion: API_VERSION, kind: KIND });
  // Not woken by its own status writes: the status is refreshed on the requeue.
  for (const informer of sds.values())
    controller.watch(informer, ownKey, { updates: specOrMetadataChanged });
  for (const group of [deployments, configMaps, services]) {
    for (const informer of group.values()) controller.watch(informer as Informer, toOwner);
  }
  // A claim that appears (or goes) wakes the ShardDistributors that name it.
  for (const informer of claims.values())
    controller.watch(informer as Informer, (claim) =>
      sdCache
        .list(claim.metadata?.namespace)
        .filter((sd) => sd.spec.queue.veda?.persistentVolumeClaim === claim.metadata?.name)
        .map(objectKey),
    );

  const manager = new Manager({
    log,
    registry,
    ...(options.leaderElection
      ? {
          leaderElection: {
            lock: kubeLeaseLock(kc, options.leaderElection.namespace, options.leaderElection.name),
            ...(options.leaderElection.identity
              ? { identity: options.leaderElection.identity }
              : {}),
            ...(options.leaderElection.leaseDurationMs
              ? { leaseDurationMs: options.leaderElection.leaseDurationMs }
              : {}),
            ...(options.leaderElection.renewDeadlineMs
              ? { renewDeadlineMs: options.leaderElection.renewDeadlineMs }
              : {}),
            ...(options.leaderElection.retryPeriodMs
              ? { retryPeriodMs: options.leaderElection.retryPeriodMs }
              : {}),
          },
        }
      : {}),
  });
  for (const group of [sds, deployments, configMaps, services, claims])
    for (const informer of group.values()) manager.addInformer(informer as Informer);
  manager.addController(controller);

  const metrics = await startObservabilityServer({
    port: options.metricsPort,
    portSetting: '--metrics-port',
    host: options.host,
    registry,
    log,
  }).catch(async (error: unknown) => {
    await kc.close();
    throw error;
  });
  const health = await startObservabilityServer({
    port: options.healthPort,
    portSetting: '--health-port',
    host: options.host,
    registry,
    log,
    healthz: manager.healthz,
    readyz: manager.readyz,
  }).catch(async (error: unknown) => {
    // A port another process holds: what this start opened is closed, not left to the exit.
    await metrics.close();
    await kc.close();
    throw error;
  });
  log.info(
    {
      namespaces: options.namespaces.length ? options.namespaces : 'all',
      metricsPort: metrics.port,
      healthPort: health.port,
      leaderElection: Boolean(options.leaderElection),
    },
    'operator starting',
  );
  await manager.start();
  return {
    manager,
    metrics,
    health,
    done: manager.done(),
    async stop() {
      await manager.stop();
      // What the last reconciles recorded, before the connection closes.
      await events.flush();
      await metrics.close();
      await health.close();
      await kc.close();
    },
  };
}
