import type {
  KubernetesObject,
  V1ConfigMap,
  V1Deployment,
  V1Service,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  FINALIZER,
  GROUP,
  KIND,
  LABEL_COMPONENT,
  LABEL_DISTRIBUTOR,
  LABEL_SHARD,
  type ShardDistributor,
} from '../../api/index.ts';
import { CONFIG_FILE_NAME, parseIni } from '../../config/index.ts';
import type { Logger } from '../../observability/index.ts';
import {
  COMPONENT_WORKER,
  configMapFor,
  configMapName,
  desiredObjects,
  distributorName,
  nextShardPlan,
  REASON_INVALID_SPEC,
  shardsWithWorkers,
  sidecarFieldManager,
  sidecarRemovalFor,
  specProblems,
  workerSelectorLabels,
  type DesiredState,
  type Problem,
  type ShardPlan,
  type SidecarTarget,
} from '../desired/index.ts';
import type { Cache } from '../caches.ts';
import type { ReconcileContext, ReconcileResult } from '../runtime/index.ts';
import {
  decideWorkers,
  statusEqual,
  statusFor,
  type Recommendation,
  type WorkerObservation,
} from '../status/index.ts';
import type { EventRecorder } from './events.ts';
import { NamespaceTerminatingError, type KubeWriter } from './kube.ts';
import type { Load, LoadReader } from './load-reader.ts';

/** Where the sidecar was applied last, so it can be removed when the spec stops naming it. */
export const ANNOTATION_SIDECAR_OF = `${GROUP}/sidecar-of`;

export interface ReconcilerOptions {
  kube: KubeWriter;
  events: EventRecorder;
  load: LoadReader;
  sds: Cache<ShardDistributor & KubernetesObject>;
  deployments: Cache<V1Deployment>;
  configMaps: Cache<V1ConfigMap>;
  services: Cache<V1Service>;
  defaultImage: string;
  now?: () => number;
  /** How often a steady ShardDistributor is looked at again (load, backlog, autoscaling). */
  steadyRequeueMs?: number;
  /** How often while something moves (scaling, draining, distributor not reporting). */
  busyRequeueMs?: number;
  /** Autoscaling scales down only to the highest count recommended within this window. */
  stabilizationWindowMs?: number;
}

/**
 * Reconciles one ShardDistributor, in cluster-api's order: fetch; being deleted → drain
 * behind the finalizer; add the finalizer; then config, distributor, workers, metrics
 * Service; delete drained workers; one status write when the status changed.
 * Level-based: it reads the world (caches, /load), never the event that woke it.
 */
export class ShardDistributorReconciler {
  private readonly o: ReconcilerOptions;
  private readonly now: () => number;
  private readonly history = new Map<string, Recommendation[]>();

  constructor(options: ReconcilerOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  reconcile = async (key: string, ctx: ReconcileContext): Promise<ReconcileResult | void> => {
    const sd = this.o.sds.getByKey(key);
    if (!sd) {
      this.history.delete(key);
      return;
    }
    try {
      if (sd.metadata.deletionTimestamp) return await this.reconcileDelete(sd, ctx.log);
      const finalizers = sd.metadata.finalizers ?? [];
      if (!finalizers.includes(FINALIZER)) {
        await this.o.kube.patchMetadata(sd, { finalizers: [...finalizers, FINALIZER] });
        return; // the update wakes us again with the finalizer in the cache
      }
      return await this.reconcileNormal(sd, key, ctx.log);
    } catch (error) {
      // Its namespace is going away: the ShardDistributor's own deletion follows; no retry storm.
      if (error instanceof NamespaceTerminatingError) {
        ctx.log.info(
          { namespace: sd.metadata.namespace },
          'namespace is being deleted; waiting for the deletion',
        );
        return;
      }
      throw error;
    }
  };

  private async reconcileNormal(
    sd: ShardDistributor,
    key: string,
    log: Logger,
  ): Promise<ReconcileResult> {
    const problems = [...specProblems(sd), ...(await this.worldProblems(sd))];
    const { load, loadError } = await this.readLoad(sd);
    const previous = this.previousPlan(sd);
    const decision = decideWorkers({
      spec: sd.spec,
      backlog: load ? liveBacklog(load) : undefined,
      current: previous.liveShards || sd.spec.minWorkers,
      history: this.history.get(key) ?? [],
      now: this.now(),
      ...(this.o.stabilizationWindowMs !== undefined
        ? { stabilizationWindowMs: this.o.stabilizationWindowMs }
        : {}),
    });
    this.history.set(key, decision.history);
    const drained = load
      ? load.shards.filter((s) => s.state === 'drained').map((s) => s.index)
      : [];
    const plan = await this.withMoves(sd, nextShardPlan(previous, decision.workers, drained));

    const host = await this.sidecarHost(sd, problems);
    if (problems.some((p) => p.reason === REASON_INVALID_SPEC)) {
      // Nothing valid can be built: say why, and look again with backoff (no hot loop).
      await this.writeStatus(sd, plan, load, loadError, problems, decision.reason, log);
      await this.o.events.record(
        this.target(sd),
        'Warning',
        'InvalidSpec',
        problems.map((p) => p.message).join('; '),
      );
      return { requeue: true };
    }
    if (host && !host.labels) {
      // Sidecar of a workload that does not exist (yet): nothing to attach to, and no pods for
      // the metrics Service to select. Say so, and look again (workloads are not watched).
      await this.writeStatus(sd, plan, load, loadError, problems, decision.reason, log);
      const missing = problems.filter((p) => p.reason === 'SidecarHostNotFound');
      await this.o.events.record(
        this.target(sd),
        'Warning',
        'SidecarHostNotFound',
        missing.map((p) => p.message).join('; '),
      );
      return { requeueAfterMs: this.o.busyRequeueMs ?? 5_000 };
    }
    const desired = desiredObjects(sd, {
      defaultImage: this.o.defaultImage,
      shardSet: plan,
      ...(host?.labels ? { hostPodLabels: host.labels } : {}),
    });
    await this.applyOwned(sd, desired, previous, plan, log);
    await this.reconcilePlacement(sd, desired, host, log);
    await this.deleteRetiredWorkers(sd, plan, log);
    await this.recordScaling(sd, previous, plan, decision.reason);
    await this.writeStatus(sd, plan, load, loadError, problems, decision.reason, log);

    const busy =
      plan.drainingShards.length > 0 ||
      loadError !== undefined ||
      plan.liveShards !== previous.liveShards;
    return {
      requeueAfterMs: busy ? (this.o.busyRequeueMs ?? 5_000) : (this.o.steadyRequeueMs ?? 30_000),
    };
  }

  /**
   * A scale-down stops the removed shards' workers at once and, once their pods are gone,
   * has the distributor move their backlog to the live shards: nothing is stranded behind a
   * slow worker, and the mover never races a running one on the same queue.
   */
  private async withMoves(sd: ShardDistributor, plan: ShardPlan): Promise<ShardPlan> {
    const stopped = plan.drainingShards;
    const moving: number[] = [];
    for (const shard of stopped) {
      const deployment = this.workerDeployments(sd).find(
        (d) => Number(d.metadata?.labels?.[LABEL_SHARD]) === shard,
      );
      const scaledToZero = !deployment || deployment.spec?.replicas === 0;
      if (
        scaledToZero &&
        (await this.o.kube.podCount(
          sd.metadata.namespace ?? 'default',
          workerPodSelector(sd, shard),
        )) === 0
      ) {
        moving.push(shard);
      }
    }
    return { ...plan, stoppedShards: stopped, movingShards: moving };
  }

  /** The shard set in effect: the rendered INI's, plus worker Deployments it does not name. */
  private previousPlan(sd: ShardDistributor): ShardPlan {
    const fromIni = this.iniPlan(sd);
    const existing = this.workerShards(sd);
    const live = fromIni?.liveShards ?? existing.filter((s) => s < sd.spec.minWorkers).length;
    const draining = new Set(fromIni?.drainingShards ?? []);
    // A worker Deployment beyond the live set that the INI does not list (a crash between
    // writes, a hand-made one) still drains before it goes.
    for (const shard of existing) if (shard >= live) draining.add(shard);
    return { liveShards: live, drainingShards: [...draining].sort((a, b) => a - b) };
  }

  private iniPlan(sd: ShardDistributor): ShardPlan | undefined {
    const cm = this.o.configMaps.get(sd.metadata.namespace, configMapName(sd));
    const text = cm?.data?.[CONFIG_FILE_NAME];
    if (!text) return undefined;
    try {
      const config = parseIni(text, { file: `ConfigMap ${configMapName(sd)}`, env: {} });
      return {
        liveShards: config.dispatcher.minWorkers,
        drainingShards: config.dispatcher.drainingShards,
      };
    } catch {
      return undefined; // edited by hand into nonsense: the Deployments tell the rest
    }
  }

  private workerDeployments(sd: ShardDistributor): V1Deployment[] {
    return this.o.deployments
      .list(sd.metadata.namespace)
      .filter(
        (d) =>
          d.metadata?.labels?.[LABEL_DISTRIBUTOR] === sd.metadata.name &&
          d.metadata?.labels?.[LABEL_COMPONENT] === COMPONENT_WORKER &&
          isControlledBy(d, sd),
      );
  }

  private workerShards(sd: ShardDistributor): number[] {
    return this.workerDeployments(sd)
      .map((d) => Number(d.metadata?.labels?.[LABEL_SHARD]))
      .filter((n) => Number.isInteger(n) && n >= 0)
      .sort((a, b) => a - b);
  }

  private async readLoad(sd: ShardDistributor): Promise<{ load?: Load; loadError?: string }> {
    try {
      return { load: await this.o.load.read(sd) };
    } catch (error) {
      return { loadError: (error as Error).message };
    }
  }

  /** What the schema cannot know: objects the spec names that do not exist. */
  private async worldProblems(sd: ShardDistributor): Promise<Problem[]> {
    const claim = sd.spec.queue.veda?.persistentVolumeClaim;
    if (sd.spec.queue.backend !== 'veda' || !claim) return [];
    const namespace = sd.metadata.namespace ?? 'default';
    if (await this.o.kube.read('v1', 'PersistentVolumeClaim', namespace, claim)) return [];
    return [
      {
        reason: 'VolumeClaimNotFound',
        message: `queue.veda.persistentVolumeClaim names ${claim}, which does not exist in namespace ${namespace}; create the claim (its pods stay Pending until it exists) or fix the name`,
      },
    ];
  }

  private async sidecarHost(
    sd: ShardDistributor,
    problems: Problem[],
  ): Promise<{ target: SidecarTarget; labels?: Record<string, string> } | undefined> {
    const target =
      sd.spec.distributor.placement === 'Sidecar' ? sd.spec.distributor.sidecarOf : undefined;
    if (!target) return undefined;
    const host = await this.o.kube.read<V1Deployment>(
      'apps/v1',
      target.kind,
      sd.metadata.namespace ?? 'default',
      target.name,
    );
    if (!host) {
      problems.push({
        reason: 'SidecarHostNotFound',
        message: `distributor.sidecarOf names ${target.kind} ${target.name}, which does not exist in namespace ${sd.metadata.namespace}; create it or change sidecarOf`,
      });
      return { target };
    }
    return { target, labels: host.spec?.selector?.matchLabels ?? {} };
  }

  private async applyOwned(
    sd: ShardDistributor,
    desired: DesiredState,
    previous: ShardPlan,
    plan: ShardPlan,
    log: Logger,
  ): Promise<void> {
    const steady =
      sd.metadata.generation === sd.status?.observedGeneration && samePlan(previous, plan);
    for (const object of desired.owned) {
      const live = this.cached(object);
      const outcome = await this.o.kube.apply(object, live);
      if (outcome === 'unchanged') continue;
      log.info({ kind: object.kind, name: object.metadata?.name, outcome }, 'applied');
      const wasThere =
        outcome === 'updated' ||
        (sd.status?.observedGeneration !== undefined && this.knownBefore(sd, object, previous));
      if (steady && wasThere) {
        const what = `${object.kind} ${object.metadata?.name}`;
        const how = outcome === 'created' ? 'was deleted' : 'was changed by hand';
        await this.o.events.record(
          this.target(sd),
          'Normal',
          'Restored',
          `${what} ${how}; restored it`,
        );
      }
    }
  }

  /** Whether the object existed after the last successful reconcile (so a create restores it). */
  private knownBefore(
    sd: ShardDistributor,
    object: KubernetesObject,
    previous: ShardPlan,
  ): boolean {
    if (object.kind !== 'Deployment') return true;
    const shard = Number(object.metadata?.labels?.[LABEL_SHARD]);
    if (Number.isNaN(shard)) return true;
    return shard < previous.liveShards || previous.drainingShards.includes(shard);
  }

  private cached(object: KubernetesObject): KubernetesObject | undefined {
    const { namespace, name } = object.metadata ?? {};
    if (!name) return undefined;
    switch (object.kind) {
      case 'Deployment':
        return this.o.deployments.get(namespace, name);
      case 'ConfigMap':
        return this.o.configMaps.get(namespace, name);
      case 'Service':
        return this.o.services.get(namespace, name);
      default:
        return undefined;
    }
  }

  /** Sidecar on its host (and off the previous one); the standalone Deployment gone when not wanted. */
  private async reconcilePlacement(
    sd: ShardDistributor,
    desired: DesiredState,
    host: { target: SidecarTarget; labels?: Record<string, string> } | undefined,
    log: Logger,
  ): Promise<void> {
    const previous = parseTarget(sd.metadata.annotations?.[ANNOTATION_SIDECAR_OF]);
    const current = desired.sidecar && host?.labels ? host.target : undefined;
    if (
      previous &&
      (!current || previous.kind !== current.kind || previous.name !== current.name)
    ) {
      await this.removeSidecar(sd, previous, log);
    }
    if (desired.sidecar && current) {
      const live = await this.o.kube.read(
        'apps/v1',
        current.kind,
        sd.metadata.namespace ?? 'default',
        current.name,
      );
      const outcome = await this.o.kube.apply(
        desired.sidecar.object,
        live,
        desired.sidecar.fieldManager,
      );
      if (outcome !== 'unchanged') {
        log.info({ host: `${current.kind}/${current.name}` }, 'distributor sidecar applied');
        await this.o.events.record(
          this.target(sd),
          'Normal',
          'SidecarApplied',
          `distributor added as a sidecar to ${current.kind} ${current.name}`,
        );
      }
      const wanted = `${current.kind}/${current.name}`;
      if (sd.metadata.annotations?.[ANNOTATION_SIDECAR_OF] !== wanted) {
        await this.o.kube.patchMetadata(sd, { annotations: { [ANNOTATION_SIDECAR_OF]: wanted } });
      }
    }
    if (!desired.distributorDeployment) {
      const standalone = this.o.deployments.get(sd.metadata.namespace, distributorName(sd));
      if (standalone && isControlledBy(standalone, sd)) await this.o.kube.delete(standalone);
    }
  }

  private async removeSidecar(
    sd: ShardDistributor,
    target: SidecarTarget,
    log: Logger,
  ): Promise<void> {
    const live = await this.o.kube.read(
      'apps/v1',
      target.kind,
      sd.metadata.namespace ?? 'default',
      target.name,
    );
    if (live) {
      // Applying our object with none of our entries makes the API server drop what this
      // field manager owned, and nothing else of the workload's.
      await this.o.kube.apply(sidecarRemovalFor(sd, target), undefined, sidecarFieldManager(sd));
      log.info({ host: `${target.kind}/${target.name}` }, 'distributor sidecar removed');
      await this.o.events.record(
        this.target(sd),
        'Normal',
        'SidecarRemoved',
        `distributor sidecar removed from ${target.kind} ${target.name}`,
      );
    }
    if (!sd.metadata.deletionTimestamp)
      await this.o.kube.patchMetadata(sd, { annotations: { [ANNOTATION_SIDECAR_OF]: null } });
  }

  /** Workers of shards that are neither live nor draining: their queue is drained. */
  private async deleteRetiredWorkers(
    sd: ShardDistributor,
    plan: ShardPlan,
    log: Logger,
  ): Promise<void> {
    const keep = new Set(shardsWithWorkers(plan));
    for (const deployment of this.workerDeployments(sd)) {
      const shard = Number(deployment.metadata?.labels?.[LABEL_SHARD]);
      if (keep.has(shard)) continue;
      await this.o.kube.delete(deployment);
      log.info({ shard, deployment: deployment.metadata?.name }, 'drained worker deleted');
      await this.o.events.record(
        this.target(sd),
        'Normal',
        'ShardDrained',
        `shard ${shard} is drained; deleted its worker Deployment ${deployment.metadata?.name}`,
      );
    }
  }

  private async recordScaling(
    sd: ShardDistributor,
    previous: ShardPlan,
    plan: ShardPlan,
    reason: string,
  ): Promise<void> {
    if (plan.liveShards > previous.liveShards) {
      await this.o.events.record(
        this.target(sd),
        'Normal',
        'ScaledUp',
        `scaled up from ${previous.liveShards} to ${plan.liveShards} workers: ${reason}`,
      );
    } else if (plan.liveShards < previous.liveShards) {
      await this.o.events.record(
        this.target(sd),
        'Normal',
        'ScalingDown',
        `scaling down from ${previous.liveShards} to ${plan.liveShards} workers: ${reason}; shards ${plan.drainingShards.join(', ')} drain first`,
      );
    }
  }

  private async writeStatus(
    sd: ShardDistributor,
    plan: ShardPlan,
    load: Load | undefined,
    loadError: string | undefined,
    problems: readonly Problem[],
    autoscaleReason: string,
    log: Logger,
  ): Promise<void> {
    const byShard = new Map(
      this.workerDeployments(sd).map((d) => [Number(d.metadata?.labels?.[LABEL_SHARD]), d]),
    );
    const workerDeployments: WorkerObservation[] = shardsWithWorkers(plan).map((shard) =>
      observeWorker(shard, byShard.get(shard)),
    );
    const status = statusFor(sd, {
      workerDeployments,
      ...(load ? { load } : {}),
      ...(loadError ? { loadError } : {}),
      desiredWorkers: plan.liveShards,
      draining: plan.drainingShards,
      problems,
      autoscaleReason,
      now: new Date(this.now()),
    });
    if (sd.status && statusEqual(sd.status, status)) return;
    await this.o.kube.patchStatus(sd, status);
    log.debug({ workers: status.workers, ready: status.readyWorkers }, 'status written');
  }

  /** Deletion: drain every shard (or abandon knowingly), take the sidecar off, then let go. */
  private async reconcileDelete(
    sd: ShardDistributor,
    log: Logger,
  ): Promise<ReconcileResult | void> {
    if (!(sd.metadata.finalizers ?? []).includes(FINALIZER)) return;
    if (sd.spec.deletionPolicy === 'Drain') {
      const shards = [
        ...new Set([...shardsWithWorkers(this.previousPlan(sd)), ...this.workerShards(sd)]),
      ].sort((a, b) => a - b);
      const plan: ShardPlan = { liveShards: 0, drainingShards: shards };
      // Only the ConfigMap: the full desired state of a Sidecar placement needs the host's
      // pod labels (for the metrics Service), which a deletion has no use for.
      const desiredConfigMap = configMapFor(sd, plan);
      const configMap = this.cached(desiredConfigMap);
      // Only an existing ConfigMap is updated: in a namespace being deleted nothing new can be made.
      if (configMap) await this.o.kube.apply(desiredConfigMap, configMap);
      const { load, loadError } = await this.readLoad(sd);
      const pending = load
        ? load.shards.filter((s) => s.state !== 'drained' && s.backlog > 0)
        : undefined;
      const distributorGone =
        sd.spec.distributor.placement === 'Standalone' &&
        !this.o.deployments.get(sd.metadata.namespace, distributorName(sd));
      if (!load && distributorGone) {
        // Deleted with its namespace: the distributor went first and nothing can drain now.
        await this.o.events.record(
          this.target(sd),
          'Warning',
          'DrainImpossible',
          'the distributor Deployment is gone (is the namespace being deleted?), so the shards cannot be drained; their messages stay in the shard queues on the volume',
        );
      } else if (!load || (pending && pending.length > 0)) {
        const why = load
          ? `waiting for shards ${pending!.map((s) => `${s.index} (${s.backlog} left)`).join(', ')} to drain`
          : `cannot read the distributor's load (${loadError}); it must report every shard drained, or set spec.deletionPolicy: Abandon to delete without draining`;
        log.info({ why }, 'deletion waits for the drain');
        await this.o.events.record(
          this.target(sd),
          load ? 'Normal' : 'Warning',
          'DeletionDraining',
          why,
        );
        await this.writeStatus(sd, plan, load, loadError, [], 'deleting', log);
        return { requeueAfterMs: this.o.busyRequeueMs ?? 5_000 };
      }
    }
    const sidecar = parseTarget(sd.metadata.annotations?.[ANNOTATION_SIDECAR_OF]);
    if (sidecar) await this.removeSidecar(sd, sidecar, log);
    await this.o.kube.patchMetadata(sd, {
      finalizers: (sd.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
    });
    log.info(
      { policy: sd.spec.deletionPolicy },
      'finalizer removed; owned objects go with the ShardDistributor',
    );
  }

  private target(sd: ShardDistributor) {
    return {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: sd.metadata as { name: string; namespace?: string; uid?: string },
    };
  }
}

/** The label selector of one shard's worker pods (the Deployment's own selector). */
function workerPodSelector(sd: ShardDistributor, shard: number): string {
  return Object.entries(workerSelectorLabels(sd, shard))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

function liveBacklog(load: Load): number {
  return load.shards.filter((s) => s.state === 'live').reduce((sum, s) => sum + s.backlog, 0);
}

function samePlan(a: ShardPlan, b: ShardPlan): boolean {
  return a.liveShards === b.liveShards && a.drainingShards.join(',') === b.drainingShards.join(',');
}

function isControlledBy(obj: KubernetesObject, sd: ShardDistributor): boolean {
  return (obj.metadata?.ownerReferences ?? []).some(
    (r) => r.controller === true && r.kind === KIND && r.uid === sd.metadata.uid,
  );
}

function parseTarget(annotation: string | undefined): SidecarTarget | undefined {
  const match = /^(Deployment|StatefulSet)\/(.+)$/.exec(annotation ?? '');
  return match ? { kind: match[1] as SidecarTarget['kind'], name: match[2]! } : undefined;
}

function observeWorker(shard: number, deployment: V1Deployment | undefined): WorkerObservation {
  if (!deployment) return { shard, exists: false };
  const stalled = deployment.status?.conditions?.find(
    (c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded',
  );
  const replicaFailure = deployment.status?.conditions?.find(
    (c) => c.type === 'ReplicaFailure' && c.status === 'True',
  );
  const failing = stalled?.message ?? replicaFailure?.message;
  return {
    shard,
    exists: true,
    replicas: deployment.status?.replicas ?? 0,
    readyReplicas: deployment.status?.readyReplicas ?? 0,
    ...(failing ? { failing } : {}),
  };
}
