import type {
  KubernetesObject,
  V1ConfigMap,
  V1Deployment,
  V1Service,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  CONDITION_BACKPRESSURE,
  DEFAULT_POOL,
  FINALIZER,
  GROUP,
  KIND,
  LABEL_COMPONENT,
  LABEL_DISTRIBUTOR,
  LABEL_SHARD,
  withSpecDefaults,
  type ShardDistributor,
} from '../../api/index.ts';
import { CONFIG_FILE_NAME, parseIni, type DistributorConfig } from '../../config/index.ts';
import type { Logger } from '../../observability/index.ts';
import {
  COMPONENT_WORKER,
  configMapFor,
  configMapName,
  desiredObjects,
  distributorName,
  distributorSelectorLabels,
  labelSelector,
  workerName,
  nextShardPlan,
  poolOfLabels,
  mostSeriousFirst,
  poolsOf,
  REASON_APPLY_FAILED,
  REASON_INVALID_SPEC,
  REASON_NOT_OWNED,
  REASON_SIDECAR_HOST_NOT_FOUND,
  REASON_SIDECAR_HOST_RUNS_AS_ROOT,
  REASON_VOLUME_CLAIM_NOT_FOUND,
  shardsWithWorkers,
  sidecarFieldManager,
  sidecarRemovalFor,
  specProblems,
  workerPodSelector,
  type DesiredState,
  type PoolPlans,
  type Problem,
  type ShardPlan,
  type SidecarTarget,
  type WorkerPool,
} from '../desired/index.ts';
import type { Cache } from '../caches.ts';
import type { ReconcileContext, ReconcileResult } from '../runtime/index.ts';
import {
  decideWorkers,
  findCondition,
  scaledUpMessage,
  scalingDownMessage,
  shardList,
  statusEqual,
  statusFor,
  type PoolObserved,
  type Recommendation,
  type WorkerObservation,
} from '../status/index.ts';
import type { EventRecorder } from './events.ts';
import {
  failureMessage,
  NamespaceTerminatingError,
  NotOwnedError,
  type KubeWriter,
} from './kube.ts';
import type { Load, LoadReader } from './load-reader.ts';
import { forEachConcurrently } from './concurrently.ts';
import {
  drainedShards,
  iniMovingOf,
  iniPlanOf,
  liveBacklog,
  loadShardsOf,
  retiringPoolFor,
  withMovingShards,
  renderedPlanOf,
  samePlan,
  returning,
  stillMoving,
  undrainedShards,
  type LoadShard,
  type RetiringPool,
} from './pool-plans.ts';

/** A sidecar placement's host workload: its pod labels once found; why it is refused when unfit. */
interface SidecarHost {
  readonly target: SidecarTarget;
  readonly labels?: Record<string, string>;
  readonly refusal?: Problem;
}

/** Writes of one reconcile in flight at once (a pool of many shards must not open a connection each). */
const MAX_CONCURRENT_APPLIES = 8;

/** kube-controller-manager's default --horizontal-pod-autoscaler-sync-period. */
const AUTOSCALE_REQUEUE_MS = 15_000;

/** Where the sidecar was applied last, so it can be removed when the spec stops naming it. */
export const ANNOTATION_SIDECAR_OF = `${GROUP}/sidecar-of`;

/** One pool's shard set before and after this reconcile, and why its count is what it is. */
interface PoolState {
  readonly pool: WorkerPool;
  readonly previous: ShardPlan;
  readonly plan: ShardPlan;
  /** decideWorkers' sentence. */
  readonly reason: string;
  /** Live shards whose worker waits for the distributor to stop moving their backlog. */
  readonly held?: readonly number[];
  /** /load could not be read while pods that run the distributor exist. */
  readonly distributorUnseen?: boolean;
}

/** What planning each pool of one reconcile shares. */
interface PlanInputs {
  /** The INI as last rendered (the cached ConfigMap). */
  readonly ini: DistributorConfig | undefined;
  readonly load: Load | undefined;
  /** Autoscaling recommendations per pool, kept across reconciles. */
  readonly history: Map<string, Recommendation[]>;
  /** Whether any pod that runs the distributor exists (listed once, on first use). */
  readonly distributorRuns: () => Promise<boolean>;
}

export interface ReconcilerOptions {
  kube: KubeWriter;
  events: EventRecorder;
  load: LoadReader;
  sds: Cache<ShardDistributor & KubernetesObject>;
  deployments: Cache<V1Deployment>;
  configMaps: Cache<V1ConfigMap>;
  services: Cache<V1Service>;
  /**
   * Every claim of the watched namespaces, metadata only (PartialObjectMetadata): the veda
   * queue's claim is looked up here.
   */
  claims: Cache<KubernetesObject>;
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
  /** Autoscaling recommendations per ShardDistributor key, then per pool. */
  private readonly history = new Map<string, Map<string, Recommendation[]>>();
  /**
   * Worker Deployments held stopped (stillMoving) in the last reconcile, per ShardDistributor
   * key: starting one once released is the plan, not a restore of a hand edit.
   */
  private readonly held = new Map<string, Set<string>>();

  constructor(options: ReconcilerOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  reconcile = async (key: string, ctx: ReconcileContext): Promise<ReconcileResult | void> => {
    const cached = this.o.sds.getByKey(key);
    if (!cached) {
      this.history.delete(key);
      this.held.delete(key);
      return;
    }
    const sd = withSpecDefaults(cached);
    try {
      if (sd.metadata.deletionTimestamp) return await this.reconcileDelete(sd, ctx.log, ctx.signal);
      const finalizers = sd.metadata.finalizers ?? [];
      if (!finalizers.includes(FINALIZER)) {
        await this.o.kube.patchMetadata(sd, { finalizers: [...finalizers, FINALIZER] });
        return; // the update wakes us again with the finalizer in the cache
      }
      return await this.reconcileNormal(sd, key, ctx.log, ctx.signal);
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

  /**
   * `signal` fires when the controller stops (shutdown, or leadership lost): what was read
   * before may be stale and another leader may be writing, so nothing more is written (as a
   * cancelled context fails controller-runtime's writes). Checked after the reads that can
   * take seconds (/load, pod lists) and between the write phases.
   */
  private async reconcileNormal(
    sd: ShardDistributor,
    key: string,
    log: Logger,
    signal: AbortSignal,
  ): Promise<ReconcileResult> {
    const problems = [...specProblems(sd), ...this.worldProblems(sd)];
    const { load, loadError } = await this.readLoad(sd);
    const ini = this.renderedConfig(sd, log);
    const history = this.history.get(key) ?? new Map<string, Recommendation[]>();
    this.history.set(key, history);
    const host = await this.sidecarHost(sd, problems);
    let runs: Promise<boolean> | undefined;
    const distributorRuns = () => (runs ??= this.distributorPodsExist(sd, host));
    const states: PoolState[] = [];
    for (const pool of poolsOf(sd))
      states.push(await this.planPool(sd, pool, { ini, load, history, distributorRuns }));
    // Recommendations of pools taken out of the spec are of no more use.
    for (const name of history.keys())
      if (!states.some((s) => s.pool.name === name)) history.delete(name);
    const retiring = await this.retiringPools(sd, ini, load);
    signal.throwIfAborted();

    if (problems.some((p) => p.reason === REASON_INVALID_SPEC)) {
      // Nothing valid can be built: say why, and look again with backoff (no hot loop).
      // Nothing of this generation is applied, so observedGeneration stays where it was.
      await this.writeStatus(sd, states, load, loadError, problems, log, false);
      this.warn(sd, REASON_INVALID_SPEC, problems);
      return { requeue: true };
    }
    if (host && !host.labels) {
      // Sidecar of a workload that does not exist (yet): nothing to attach to, and no pods for
      // the metrics Service to select. Say so, and look again (workloads are not watched).
      await this.writeStatus(sd, states, load, loadError, problems, log, false);
      const missing = problems.filter((p) => p.reason === REASON_SIDECAR_HOST_NOT_FOUND);
      this.warn(sd, REASON_SIDECAR_HOST_NOT_FOUND, missing);
      return { requeueAfterMs: this.o.busyRequeueMs ?? 5_000 };
    }
    const [main, ...named] = states;
    const desired = desiredObjects(sd, {
      defaultImage: this.o.defaultImage,
      shardSet: main!.plan,
      poolShardSets: poolPlans(named),
      retiringPools: retiring.flatMap((r) => (r.config ? [r.config] : [])),
      ...(host?.labels ? { hostPodLabels: host.labels } : {}),
    });
    const released = this.releasedFromHold(sd, key, states);
    try {
      const notOwned = await this.applyOwned(sd, desired, states, released, log, signal);
      if (notOwned.length > 0) {
        problems.push(...notOwned);
        this.warn(sd, REASON_NOT_OWNED, notOwned);
      }
      signal.throwIfAborted();
      if (host?.refusal) this.warn(sd, host.refusal.reason, [host.refusal]);
      await this.reconcilePlacement(sd, desired, host, log);
      signal.throwIfAborted();
      await this.deleteRetiredWorkers(sd, states, retiring, log);
    } catch (error) {
      if (!signal.aborted && !(error instanceof NamespaceTerminatingError)) {
        // Said where `kubectl get sd` shows it, not only in the operator's log; the status
        // changes only when the message does, so a retried failure writes it once.
        const failed: Problem = {
          reason: REASON_APPLY_FAILED,
          message: `a write failed: ${failureMessage(error)}; retried with backoff`,
        };
        const failing = [...problems, failed];
        // And where `kubectl describe` shows it (a repeat of the same message counts into it).
        this.warn(sd, REASON_APPLY_FAILED, [failed]);
        await this.writeStatus(sd, states, load, loadError, failing, log, false).catch(
          (statusError: unknown) =>
            log.debug({ err: statusError }, 'could not write the failure into the status'),
        );
      }
      throw error;
    }
    signal.throwIfAborted();
    for (const state of states) this.recordScaling(sd, state);
    await this.writeStatus(sd, states, load, loadError, problems, log);

    const busy =
      loadError !== undefined ||
      // Workloads are not watched: a host fixed to run non-root is seen on the next look.
      host?.refusal !== undefined ||
      retiring.length > 0 ||
      states.some(
        (s) =>
          s.plan.drainingShards.length > 0 ||
          s.plan.liveShards !== s.previous.liveShards ||
          (s.held ?? []).length > 0,
      );
    return { requeueAfterMs: this.requeueAfterMs(busy, states) };
  }

  /**
   * When to look again. Its own status writes do not wake a ShardDistributor, so this is also
   * how often the status's backlog is refreshed; with autoscaling on, at least as often as
   * the HPA's sync period, so built-in autoscaling reacts as fast as the HPA would.
   */
  private requeueAfterMs(busy: boolean, states: readonly PoolState[]): number {
    if (busy) return this.o.busyRequeueMs ?? 5_000;
    const steady = this.o.steadyRequeueMs ?? 30_000;
    const autoscaled = states.some((s) => s.pool.maxWorkers !== undefined);
    return autoscaled ? Math.min(steady, AUTOSCALE_REQUEUE_MS) : steady;
  }

  /** One Warning Event saying what `problems` say, the most serious first (as Degraded does). */
  private warn(sd: ShardDistributor, reason: string, problems: readonly Problem[]): void {
    const message = mostSeriousFirst(problems)
      .map((p) => p.message)
      .join('; ');
    this.o.events.record(this.target(sd), 'Warning', reason, message);
  }

  /** Worker Deployments held in the last reconcile and not in this one (and remembers these). */
  private releasedFromHold(
    sd: ShardDistributor,
    key: string,
    states: readonly PoolState[],
  ): ReadonlySet<string> {
    const now = new Set(
      states.flatMap((s) => (s.held ?? []).map((shard) => workerName(sd, shard, s.pool.name))),
    );
    const before = this.held.get(key) ?? new Set<string>();
    this.held.set(key, now);
    return new Set([...before].filter((name) => !now.has(name)));
  }

  /**
   * One pool's next shard set: the count autoscaling (or minWorkers) wants, the shards
   * leaving it draining, the ones the distributor reports drained dropped.
   */
  private async planPool(
    sd: ShardDistributor,
    pool: WorkerPool,
    { ini, load, history, distributorRuns }: PlanInputs,
  ): Promise<PoolState> {
    const previous = this.previousPlan(sd, pool, ini);
    const shards = load ? loadShardsOf(load, pool.name) : undefined;
    const decision = decideWorkers({
      spec: pool,
      backlog: shards ? liveBacklog(shards) : undefined,
      current: previous.liveShards || pool.minWorkers,
      history: history.get(pool.name) ?? [],
      now: this.now(),
      ...(this.o.stabilizationWindowMs !== undefined
        ? { stabilizationWindowMs: this.o.stabilizationWindowMs }
        : {}),
    });
    history.set(pool.name, decision.history);
    const next = nextShardPlan(previous, decision.workers, shards ? drainedShards(shards) : []);
    const moves = await this.withMoves(sd, pool, next);
    const stopped = this.workerShards(sd, pool.name, (d) => d.spec?.replicas === 0);
    const distributorUnseen =
      shards === undefined &&
      returning(moves, stopped).length > 0 &&
      // Pods are listed only when a stopped worker would come back with /load unread.
      (await distributorRuns());
    const held = stillMoving({
      plan: moves,
      rendered: renderedPlanOf(ini, pool),
      stopped,
      shards,
      distributorUnseen,
    });
    const plan =
      held.length === 0
        ? moves
        : { ...moves, stoppedShards: [...(moves.stoppedShards ?? []), ...held] };
    return { pool, previous, plan, reason: decision.reason, held, distributorUnseen };
  }

  /**
   * Pools gone from spec.pools whose workers are still there or whose shards still drain.
   * `moves`: look up (one pod list per stopped shard) which stopped shards the distributor
   * can move; a deletion drains every pool and has nowhere to move them.
   */
  private async retiringPools(
    sd: ShardDistributor,
    ini: DistributorConfig | undefined,
    load: Load | undefined,
    moves = true,
  ): Promise<RetiringPool[]> {
    const inSpec = new Set(poolsOf(sd).map((p) => p.name));
    const names = new Set([
      ...(ini?.pools ?? []).map((p) => p.name),
      ...this.workerDeployments(sd).map((d) => poolOfLabels(d.metadata?.labels)),
    ]);
    const retiring: RetiringPool[] = [];
    for (const name of names) {
      if (name === DEFAULT_POOL || inSpec.has(name)) continue;
      const pool = retiringPoolFor(
        name,
        ini?.pools.find((p) => p.name === name),
        this.workerShards(sd, name),
        load,
      );
      // Shards stopped before the pool left the spec: nobody drains them but the distributor.
      const stopped =
        moves && pool.config
          ? await this.stoppedWithoutPods(sd, name, pool.plan.drainingShards)
          : [];
      retiring.push(withMovingShards(pool, stopped));
    }
    return retiring;
  }

  /**
   * A scale-down stops the removed shards' workers at once and, once their pods are gone,
   * has the distributor move their backlog to the pool's live shards: nothing is stranded
   * behind a slow worker, and the mover never races a running one on the same queue.
   */
  private async withMoves(
    sd: ShardDistributor,
    pool: WorkerPool,
    plan: ShardPlan,
  ): Promise<ShardPlan> {
    const stopped = plan.drainingShards;
    const moving = await this.stoppedWithoutPods(sd, pool.name, stopped);
    return { ...plan, stoppedShards: stopped, movingShards: moving };
  }

  /**
   * Of `shards`, those whose worker is stopped (Deployment at 0 replicas, or none) and whose
   * pods are all gone: the distributor may read their queues as the worker would.
   */
  private async stoppedWithoutPods(
    sd: ShardDistributor,
    pool: string,
    shards: readonly number[],
  ): Promise<number[]> {
    const stopped: number[] = [];
    const deployments = this.workerDeployments(sd, pool);
    for (const shard of shards) {
      const deployment = deployments.find(
        (d) => Number(d.metadata?.labels?.[LABEL_SHARD]) === shard,
      );
      const scaledToZero = !deployment || deployment.spec?.replicas === 0;
      if (
        scaledToZero &&
        (await this.o.kube.podCount(
          sd.metadata.namespace ?? 'default',
          workerPodSelector(sd, shard, pool),
        )) === 0
      ) {
        stopped.push(shard);
      }
    }
    return stopped;
  }

  /** A pool's shard set in effect: the rendered INI's, plus worker Deployments it does not name. */
  private previousPlan(
    sd: ShardDistributor,
    pool: WorkerPool,
    ini: DistributorConfig | undefined,
  ): ShardPlan {
    const fromIni = iniPlanOf(ini, pool);
    const existing = this.workerShards(sd, pool.name);
    const live = fromIni?.liveShards ?? existing.filter((s) => s < pool.minWorkers).length;
    const draining = new Set(fromIni?.drainingShards ?? []);
    // A worker Deployment beyond the live set that the INI does not list (a crash between
    // writes, a hand-made one) still drains before it goes.
    for (const shard of existing) if (shard >= live) draining.add(shard);
    return {
      liveShards: live,
      drainingShards: [...draining].sort((a, b) => a - b),
      movingShards: iniMovingOf(ini, pool),
    };
  }

  /** The INI last rendered into the ConfigMap: where every pool's shard set is kept. */
  private renderedConfig(sd: ShardDistributor, log: Logger): DistributorConfig | undefined {
    const cm = this.o.configMaps.get(sd.metadata.namespace, configMapName(sd));
    const text = cm?.data?.[CONFIG_FILE_NAME];
    if (!text) return undefined;
    try {
      return parseIni(text, { file: `ConfigMap ${configMapName(sd)}`, env: {} });
    } catch (error) {
      // Edited by hand into nonsense: the Deployments tell the rest, and this reconcile
      // applies the rendered INI over it. Which shards were being moved is not known.
      log.warn(
        { err: error, configMap: configMapName(sd) },
        'the ConfigMap does not parse (edited by hand?): planning from the Deployments, and rendering it again',
      );
      return undefined;
    }
  }

  /** Worker Deployments this ShardDistributor controls: of one pool, or of all. */
  private workerDeployments(sd: ShardDistributor, pool?: string): V1Deployment[] {
    return this.o.deployments
      .list(sd.metadata.namespace)
      .filter(
        (d) =>
          d.metadata?.labels?.[LABEL_DISTRIBUTOR] === sd.metadata.name &&
          d.metadata?.labels?.[LABEL_COMPONENT] === COMPONENT_WORKER &&
          (pool === undefined || poolOfLabels(d.metadata?.labels) === pool) &&
          isControlledBy(d, sd),
      );
  }

  private workerShards(
    sd: ShardDistributor,
    pool: string,
    which: (d: V1Deployment) => boolean = () => true,
  ): number[] {
    return this.workerDeployments(sd, pool)
      .filter(which)
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
  private worldProblems(sd: ShardDistributor): Problem[] {
    const claim = sd.spec.queue.veda?.persistentVolumeClaim;
    if (sd.spec.queue.backend !== 'veda' || !claim) return [];
    const namespace = sd.metadata.namespace ?? 'default';
    if (this.o.claims.get(namespace, claim)) return [];
    return [
      {
        reason: REASON_VOLUME_CLAIM_NOT_FOUND,
        message: `queue.veda.persistentVolumeClaim names ${claim}, which does not exist in namespace ${namespace}; create the claim (its pods stay Pending until it exists) or fix the name`,
      },
    ];
  }

  private async sidecarHost(
    sd: ShardDistributor,
    problems: Problem[],
  ): Promise<SidecarHost | undefined> {
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
        reason: REASON_SIDECAR_HOST_NOT_FOUND,
        message: `distributor.sidecarOf names ${target.kind} ${target.name}, which does not exist in namespace ${sd.metadata.namespace}; create it or change sidecarOf`,
      });
      return { target };
    }
    const labels = host.spec?.selector?.matchLabels ?? {};
    if (host.spec?.template?.spec?.securityContext?.runAsUser === 0) {
      // The sidecar runs non-root; with the pod's runAsUser 0 and none of its own, the kubelet
      // refuses to start it, and a sidecar that does not start keeps the host's own
      // containers from starting: the operator would take the host workload down.
      const refusal: Problem = {
        reason: REASON_SIDECAR_HOST_RUNS_AS_ROOT,
        message: `${target.kind} ${target.name} runs its pods as root (spec.template.spec.securityContext.runAsUser: 0), and the distributor sidecar runs as non-root (restricted Pod Security Standard): added there it would keep the host's pods from starting, so it is not added; run the host as a non-root user that can write the main queue's files, or set distributor.placement: Standalone`,
      };
      problems.push(refusal);
      return { target, labels, refusal };
    }
    return { target, labels };
  }

  /** Applies what this ShardDistributor owns; says which objects someone else holds instead. */
  private async applyOwned(
    sd: ShardDistributor,
    desired: DesiredState,
    states: readonly PoolState[],
    released: ReadonlySet<string>,
    log: Logger,
    signal: AbortSignal,
  ): Promise<Problem[]> {
    const notOwned: Problem[] = [];
    const refused = new Set<KubernetesObject>();
    const steady =
      sd.metadata.generation === sd.status?.observedGeneration &&
      states.every((s) => samePlan(s.previous, s.plan));
    const applyOne = async (object: KubernetesObject): Promise<void> => {
      const live = this.cached(object);
      let outcome;
      try {
        outcome = await this.o.kube.apply(object, live);
      } catch (error) {
        if (!(error instanceof NotOwnedError)) throw error;
        notOwned.push({ reason: REASON_NOT_OWNED, message: error.message });
        refused.add(object);
        log.warn({ kind: error.kind, name: error.objectName }, 'not ours; left alone');
        return;
      }
      if (outcome === 'unchanged') return;
      log.info({ kind: object.kind, name: object.metadata?.name, outcome }, 'applied');
      if (released.has(object.metadata?.name ?? '')) return;
      // Changed after our last apply of the same render: by someone else. A changed render
      // (the spec, or a new operator version) is an update, not a repair.
      const deleted =
        outcome === 'created' &&
        steady &&
        sd.status?.observedGeneration !== undefined &&
        this.knownBefore(object, states);
      if (outcome === 'restored' || deleted) {
        const what = `${object.kind} ${object.metadata?.name}`;
        const how = deleted ? 'was deleted' : 'was changed by hand';
        this.o.events.record(this.target(sd), 'Normal', 'Restored', `${what} ${how}; restored it`);
      }
    };
    // Only the distributor mounts the ConfigMap: it waits for it, so that a new distributor pod
    // never starts on the old config. Everything else goes at once with the config: an edit
    // that adds shards costs one round trip, not one per Deployment.
    const reader = desired.distributorDeployment;
    const rest = desired.owned.filter((object) => object !== reader);
    // The first failure fails the reconcile; the others would go unseen without this line.
    await forEachConcurrently(
      rest,
      MAX_CONCURRENT_APPLIES,
      applyOne,
      (object, error) => {
        // A namespace being deleted refuses every write alike; the reconcile says so once.
        if (error instanceof NamespaceTerminatingError) return;
        log.error(
          { err: error, kind: object.kind, name: object.metadata?.name },
          'apply failed (besides the error this reconcile returns)',
        );
      },
      signal,
    );
    signal.throwIfAborted();
    // A distributor must never start on a ConfigMap someone else wrote.
    if (reader && !refused.has(desired.configMap)) await applyOne(reader);
    return notOwned;
  }

  /** Whether the object existed after the last successful reconcile (so a create restores it). */
  private knownBefore(object: KubernetesObject, states: readonly PoolState[]): boolean {
    if (object.kind !== 'Deployment') return true;
    const shard = Number(object.metadata?.labels?.[LABEL_SHARD]);
    if (Number.isNaN(shard)) return true;
    const pool = poolOfLabels(object.metadata?.labels);
    const previous = states.find((s) => s.pool.name === pool)?.previous;
    if (previous === undefined) return true;
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
    host: SidecarHost | undefined,
    log: Logger,
  ): Promise<void> {
    const previous = parseTarget(sd.metadata.annotations?.[ANNOTATION_SIDECAR_OF]);
    const current = desired.sidecar && host?.labels && !host.refusal ? host.target : undefined;
    if (
      previous &&
      (!current || previous.kind !== current.kind || previous.name !== current.name)
    ) {
      // Moving to another host: its annotation is written once, below (a second patch with
      // the same resourceVersion would be refused with a conflict).
      await this.removeSidecar(sd, previous, log, current === undefined);
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
        this.o.events.record(
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
    clearAnnotation = true,
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
      await this.o.kube.release(sidecarRemovalFor(sd, target), sidecarFieldManager(sd));
      log.info({ host: `${target.kind}/${target.name}` }, 'distributor sidecar removed');
      this.o.events.record(
        this.target(sd),
        'Normal',
        'SidecarRemoved',
        `distributor sidecar removed from ${target.kind} ${target.name}`,
      );
    }
    if (clearAnnotation && !sd.metadata.deletionTimestamp)
      await this.o.kube.patchMetadata(sd, { annotations: { [ANNOTATION_SIDECAR_OF]: null } });
  }

  /** Workers of shards that are neither live nor draining in their pool: their queue is drained. */
  private async deleteRetiredWorkers(
    sd: ShardDistributor,
    states: readonly PoolState[],
    retiring: readonly RetiringPool[],
    log: Logger,
  ): Promise<void> {
    const keep = new Map<string, Set<number>>([
      ...states.map((s) => [s.pool.name, new Set(shardsWithWorkers(s.plan))] as const),
      ...retiring.map((r) => [r.name, new Set(r.plan.drainingShards)] as const),
    ]);
    for (const deployment of this.workerDeployments(sd)) {
      const shard = Number(deployment.metadata?.labels?.[LABEL_SHARD]);
      const pool = poolOfLabels(deployment.metadata?.labels);
      if (keep.get(pool)?.has(shard)) continue;
      await this.o.kube.delete(deployment);
      log.info({ pool, shard, deployment: deployment.metadata?.name }, 'drained worker deleted');
      this.o.events.record(
        this.target(sd),
        'Normal',
        'ShardDrained',
        `shard ${shard}${ofPool(pool)} is drained; deleted its worker Deployment ${deployment.metadata?.name}`,
      );
    }
  }

  private recordScaling(sd: ShardDistributor, state: PoolState): void {
    const { previous, plan, reason, held = [] } = state;
    const which = state.pool.isDefault ? '' : `pool ${state.pool.name} `;
    if (held.length > 0)
      this.o.events.record(
        this.target(sd),
        'Normal',
        'WorkerHeld',
        (held.length === 1
          ? `the worker of ${which}shard ${held[0]} starts once the distributor has stopped moving its backlog`
          : `the workers of ${which}shards ${held.join(', ')} start once the distributor has stopped moving their backlog`) +
          (state.distributorUnseen
            ? ": the distributor's pods run but its /load cannot be read, so what it moves is unknown"
            : ''),
      );
    if (plan.liveShards > previous.liveShards) {
      this.o.events.record(
        this.target(sd),
        'Normal',
        'ScaledUp',
        scaledUpMessage(which, previous.liveShards, plan.liveShards, reason),
      );
    } else if (plan.liveShards < previous.liveShards) {
      this.o.events.record(
        this.target(sd),
        'Normal',
        'ScalingDown',
        scalingDownMessage(
          which,
          previous.liveShards,
          plan.liveShards,
          reason,
          plan.drainingShards,
        ),
      );
    }
  }

  private async writeStatus(
    sd: ShardDistributor,
    states: readonly PoolState[],
    load: Load | undefined,
    loadError: string | undefined,
    problems: readonly Problem[],
    log: Logger,
    applied = true,
  ): Promise<void> {
    const observe = (state: PoolState): PoolObserved => {
      const byShard = new Map(
        this.workerDeployments(sd, state.pool.name).map((d) => [
          Number(d.metadata?.labels?.[LABEL_SHARD]),
          d,
        ]),
      );
      return {
        workerDeployments: shardsWithWorkers(state.plan).map((shard) =>
          observeWorker(shard, byShard.get(shard)),
        ),
        desiredWorkers: state.plan.liveShards,
        draining: state.plan.drainingShards,
        autoscaleReason: state.reason,
      };
    };
    const [main, ...named] = states;
    const status = statusFor(sd, {
      ...observe(main!),
      ...(named.length === 0
        ? {}
        : { pools: named.map((state) => ({ name: state.pool.name, ...observe(state) })) }),
      ...(load ? { load } : {}),
      ...(loadError ? { loadError } : {}),
      problems,
      now: new Date(this.now()),
      ...(applied ? {} : { applied: false }),
    });
    if (sd.status && statusEqual(sd.status, status)) return;
    await this.o.kube.patchStatus(sd, status);
    log.debug({ workers: status.workers, ready: status.readyWorkers }, 'status written');
    const pressure = findCondition(status.conditions, CONDITION_BACKPRESSURE);
    if (
      pressure?.status === 'True' &&
      findCondition(sd.status?.conditions, CONDITION_BACKPRESSURE)?.status !== 'True'
    ) {
      log.warn({ reason: pressure.reason }, 'backpressure: the distributor holds the main queue');
      this.o.events.record(this.target(sd), 'Warning', 'Backpressure', pressure.message);
    }
  }

  /** Deletion: drain every shard (or abandon knowingly), take the sidecar off, then let go. */
  private async reconcileDelete(
    sd: ShardDistributor,
    log: Logger,
    signal: AbortSignal,
  ): Promise<ReconcileResult | void> {
    if (!(sd.metadata.finalizers ?? []).includes(FINALIZER)) return;
    if (sd.spec.deletionPolicy === 'Drain') {
      const ini = this.renderedConfig(sd, log);
      // Every shard of every pool drains, its worker running until it is done.
      const states: PoolState[] = poolsOf(sd).map((pool) => {
        const shards = [
          ...new Set([
            ...shardsWithWorkers(this.previousPlan(sd, pool, ini)),
            ...this.workerShards(sd, pool.name),
          ]),
        ].sort((a, b) => a - b);
        const plan: ShardPlan = { liveShards: 0, drainingShards: shards };
        return { pool, previous: plan, plan, reason: 'deleting' };
      });
      const invalid = specProblems(sd).filter((p) => p.reason === REASON_INVALID_SPEC);
      if (invalid.length > 0 && (await this.builtAnything(sd))) {
        // The drain's INI is rendered from the spec, which cannot be rendered: wait for an
        // edit (it wakes this reconcile) rather than fail here for ever with nothing said.
        const why = `cannot drain for the deletion: ${invalid.map((p) => p.message).join('; ')}; fix the spec, or set spec.deletionPolicy: Abandon to delete without draining`;
        log.warn({ why }, 'deletion waits for a valid spec');
        this.o.events.record(this.target(sd), 'Warning', REASON_INVALID_SPEC, why);
        await this.writeStatus(sd, states, undefined, undefined, invalid, log, false);
        return { requeue: true };
      }
      if (invalid.length === 0) {
        const waiting = await this.drainForDeletion(sd, states, ini, log, signal);
        if (waiting) return waiting;
      }
      // Invalid, and nothing was ever made from it: nothing to drain.
    }
    signal.throwIfAborted();
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

  /**
   * The drain of a deletion: the ConfigMap with no live shard, and stopped workers run again to
   * drain their own shards. What to wait for while a shard is not drained; nothing once every
   * one is (or when draining is impossible, which an Event says).
   */
  private async drainForDeletion(
    sd: ShardDistributor,
    states: PoolState[],
    ini: DistributorConfig | undefined,
    log: Logger,
    signal: AbortSignal,
  ): Promise<ReconcileResult | undefined> {
    const [main, ...named] = states;
    // Only the ConfigMap: the full desired state of a Sidecar placement needs the host's
    // pod labels (for the metrics Service), which a deletion has no use for.
    const desiredConfigMap = configMapFor(sd, main!.plan, {
      pools: poolPlans(named),
      retiringPools: (await this.retiringPools(sd, ini, undefined, false)).flatMap((r) =>
        r.config ? [r.config] : [],
      ),
    });
    const configMap = this.cached(desiredConfigMap);
    // Only an existing ConfigMap is updated: in a namespace being deleted nothing new can be made.
    if (configMap) await this.o.kube.apply(desiredConfigMap, configMap);
    const { load, loadError } = await this.readLoad(sd);
    signal.throwIfAborted(); // as in reconcileNormal
    if (load) await this.restartStoppedWorkers(sd, load, log);
    const pending = load ? undrainedShards(load.shards) : undefined;
    const distributorGone = !(await this.distributorExists(sd));
    if (!load && distributorGone) {
      // Deleted with its namespace (the distributor went first), or a sidecar whose host is
      // gone or never existed: nothing can drain now, and waiting would block for ever.
      this.o.events.record(
        this.target(sd),
        'Warning',
        'DrainImpossible',
        sd.spec.distributor.placement === 'Standalone'
          ? 'the distributor Deployment is gone (is the namespace being deleted?), so the shards cannot be drained; their messages stay in the shard queues on the volume'
          : 'no host workload runs the distributor sidecar (gone, or never found), so the shards cannot be drained; their messages stay in the shard queues on the volume',
      );
    } else if (!load || (pending && pending.length > 0)) {
      // No counts in the Event: they change on every look, and each new message would be a
      // new Event every few seconds for the whole drain. The log and the status carry them.
      const named = (shards: LoadShard[], counts: boolean) =>
        shardList(
          shards.map(
            (s) =>
              `${s.index}${ofPool(s.pool ?? DEFAULT_POOL)}${counts ? ` (${s.backlog} left${s.retryBacklog ? `, ${s.retryBacklog} to retry` : ''})` : ''}`,
          ),
        );
      const waitingFor = (counts: boolean) => {
        const live = pending!.filter((s) => s.state === 'live');
        return live.length > 0
          ? `${named(live, counts)} still ${live.length === 1 ? 'takes' : 'take'} new messages: waiting for the distributor to read the deletion's config (a pod sees a ConfigMap change within about a minute), then for every shard to drain`
          : `waiting for ${named(pending!, counts)} to drain`;
      };
      const why = load
        ? waitingFor(false)
        : `cannot read the distributor's load (${loadError}); it must report every shard drained, or set spec.deletionPolicy: Abandon to delete without draining`;
      log.info({ why: load ? waitingFor(true) : why }, 'deletion waits for the drain');
      this.o.events.record(this.target(sd), load ? 'Normal' : 'Warning', 'DeletionDraining', why);
      await this.writeStatus(sd, states, load, loadError, [], log);
      return { requeueAfterMs: this.o.busyRequeueMs ?? 5_000 };
    }
    return undefined;
  }

  /**
   * A scale-down stops a shard's worker and the distributor moves its backlog to the live
   * shards; a deletion leaves none, so each stopped worker runs again to drain its own shard,
   * once /load says the distributor has stopped moving it (it reads the deletion's INI late).
   */
  private async restartStoppedWorkers(
    sd: ShardDistributor,
    load: Load,
    log: Logger,
  ): Promise<void> {
    for (const deployment of this.workerDeployments(sd)) {
      if (deployment.spec?.replicas !== 0) continue;
      const labels = deployment.metadata?.labels;
      const shards = loadShardsOf(load, poolOfLabels(labels));
      const reported = shards.find((s) => s.index === Number(labels?.[LABEL_SHARD]));
      // Not before the distributor runs the deletion's INI (no live shard, nothing moved),
      // and not for a shard it does not know or has drained.
      const lagging = shards.some((s) => s.state === 'live' || s.moving === true);
      if (lagging || reported === undefined || reported.state === 'drained') continue;
      const shard = `shard ${labels?.[LABEL_SHARD]}${ofPool(poolOfLabels(labels))}`;
      await this.o.kube.setReplicas(deployment, 1);
      log.info({ name: deployment.metadata?.name }, 'stopped worker restarted to drain its shard');
      this.o.events.record(
        this.target(sd),
        'Normal',
        'WorkerRestarted',
        `the worker of ${shard} runs again to drain it: being deleted, the ShardDistributor has no live shard to move its backlog to`,
      );
    }
  }

  /**
   * Whether a pod that may run the distributor exists: the standalone Deployment's pods, or the
   * sidecar host's (terminating ones included: one still running moves as it did before).
   */
  private async distributorPodsExist(
    sd: ShardDistributor,
    host: { labels?: Record<string, string> } | undefined,
  ): Promise<boolean> {
    const labels = host ? host.labels : distributorSelectorLabels(sd);
    // A sidecar host that does not exist runs nothing; one selecting by expressions alone
    // cannot be looked up by labels here, so it counts as running.
    if (labels === undefined) return false;
    if (Object.keys(labels).length === 0) return true;
    const pods = await this.o.kube.podCount(
      sd.metadata.namespace ?? 'default',
      labelSelector(labels),
    );
    return pods > 0;
  }

  /** Whether anything still runs this ShardDistributor's distributor. */
  /** Whether anything was made for `sd`: its ConfigMap, a worker Deployment or its distributor. */
  private async builtAnything(sd: ShardDistributor): Promise<boolean> {
    return (
      this.o.configMaps.get(sd.metadata.namespace, configMapName(sd)) !== undefined ||
      this.workerDeployments(sd).length > 0 ||
      (await this.distributorExists(sd))
    );
  }

  private async distributorExists(sd: ShardDistributor): Promise<boolean> {
    if (sd.spec.distributor.placement === 'Standalone')
      return this.o.deployments.get(sd.metadata.namespace, distributorName(sd)) !== undefined;
    const host = parseTarget(sd.metadata.annotations?.[ANNOTATION_SIDECAR_OF]);
    if (!host) return false;
    const live = await this.o.kube.read(
      'apps/v1',
      host.kind,
      sd.metadata.namespace ?? 'default',
      host.name,
    );
    return live !== undefined;
  }

  private target(sd: ShardDistributor) {
    return {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: sd.metadata as { name: string; namespace?: string; uid?: string },
    };
  }
}

/** The named pools' plans, by name, as desiredObjects and configFor take them. */
function poolPlans(states: readonly PoolState[]): PoolPlans {
  return Object.fromEntries(states.map((s) => [s.pool.name, s.plan]));
}

/** ` of pool NAME` after a shard of a named pool; nothing for the default pool. */
function ofPool(pool: string): string {
  return pool === DEFAULT_POOL ? '' : ` of pool ${pool}`;
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

/** What the status needs of shard `shard`'s worker Deployment (exported for its tests). */
export function observeWorker(
  shard: number,
  deployment: V1Deployment | undefined,
): WorkerObservation {
  if (!deployment) return { shard, exists: false };
  const stalled = deployment.status?.conditions?.find(
    (c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded',
  );
  const replicaFailure = deployment.status?.conditions?.find(
    (c) => c.type === 'ReplicaFailure' && c.status === 'True',
  );
  const failing = stalled?.message ?? replicaFailure?.message;
  // As `kubectl rollout status` judges it: the controller has seen this generation, and every
  // wanted pod is of it and available, with no old one left.
  const status = deployment.status ?? {};
  const wanted = deployment.spec?.replicas ?? 1;
  const rolledOut =
    (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0) &&
    (status.updatedReplicas ?? 0) >= wanted &&
    (status.availableReplicas ?? 0) >= wanted &&
    (status.replicas ?? 0) <= wanted;
  return {
    shard,
    exists: true,
    replicas: status.replicas ?? 0,
    readyReplicas: status.readyReplicas ?? 0,
    // A rollout past its deadline is Degraded (WorkerFailing), not still rolling out.
    ...(failing ? { failing } : { rolledOut }),
  };
}
