import type { KubernetesObject } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { silentLogger, type Logger } from '../../observability/index.ts';
import type { Controller } from './controller.ts';
import type { LeaderElectionLostError } from './errors.ts';
import type { Informer } from './informer.ts';
import { LeaderElector, type LeaderElectorOptions } from './leader-election.ts';

export interface ManagerOptions {
  log?: Logger;
  registry?: Registry;
  /** Without it this replica always reconciles (one replica, or tests). */
  leaderElection?: Omit<
    LeaderElectorOptions,
    'onStartedLeading' | 'onStoppedLeading' | 'log' | 'registry'
  >;
}

/**
 * Runs informers on every replica (so a standby's cache is warm), and controllers only on
 * the leader. `done()` rejects when leadership is lost: the process should then exit, as
 * controller-runtime's manager does, rather than carry on with a half-stopped state.
 */
export class Manager {
  private readonly log: Logger;
  private readonly informers: Informer[] = [];
  private readonly controllers: Controller[] = [];
  private readonly elector: LeaderElector | undefined;
  private lost: LeaderElectionLostError | undefined;
  private readonly lostWaiters: Array<(error: LeaderElectionLostError) => void> = [];
  private started = false;

  constructor(options: ManagerOptions = {}) {
    // `component` is the command's (operator); a second one would repeat the key in each line.
    this.log = (options.log ?? silentLogger).child({ subsystem: 'manager' });
    if (options.leaderElection) {
      this.elector = new LeaderElector({
        ...options.leaderElection,
        log: this.log,
        ...(options.registry ? { registry: options.registry } : {}),
        onStartedLeading: () => this.startControllers(),
        onStoppedLeading: async (lost) => {
          await this.stopControllers();
          if (lost) {
            this.lost = lost;
            for (const reject of this.lostWaiters.splice(0)) reject(lost);
          }
        },
      });
    }
  }

  addInformer<T extends KubernetesObject>(informer: Informer<T>): this {
    this.informers.push(informer as unknown as Informer);
    return this;
  }

  addController(controller: Controller): this {
    this.controllers.push(controller);
    return this;
  }

  /** Starts the informers, waits for their first list, then elects (or just runs) the controllers. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const informer of this.informers) informer.start();
    await Promise.all(this.informers.map((i) => i.waitForSync()));
    this.log.info({ informers: this.informers.length }, 'caches synced');
    if (this.elector) this.elector.start();
    else this.startControllers();
  }

  /** Stops the controllers first, then releases the Lease (unless `release: false`), then the informers. */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (this.elector) await this.elector.stop(options);
    else await this.stopControllers();
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : this.started;
  }

  get identity(): string | undefined {
    return this.elector?.identity;
  }

  /** Never resolves while all is well; rejects with LeaderElectionLostError. */
  done(): Promise<never> {
    const lost = this.lost;
    if (lost) return Promise.reject(lost);
    return new Promise((_resolve, reject) => this.lostWaiters.push(reject));
  }

  /** For /readyz: ready once every informer has listed. */
  readyz = (): string | undefined => {
    const waiting = this.informers.filter((i) => !i.hasSynced()).map((i) => i.description);
    return waiting.length > 0 ? `informers not synced: ${waiting.join(', ')}` : undefined;
  };

  /** For /healthz: unhealthy once leadership is lost, so the kubelet restarts a stuck process. */
  healthz = (): string | undefined => (this.lost ? this.lost.message : undefined);

  private startControllers(): void {
    for (const controller of this.controllers) controller.start();
  }

  private async stopControllers(): Promise<void> {
    await Promise.all(this.controllers.map((c) => c.stop()));
  }
}
