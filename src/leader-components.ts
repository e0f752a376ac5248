import type { KubeClient } from './client/api-client';
import { fencedClient, LeaderElector, type LeaderElectionTimings, type LeaderTerm } from './client/leader-election';
import { ControllerManager, type ControllerFactory } from './controllers/manager';
import { Scheduler } from './scheduler/scheduler';
import type { Store } from './storage';

/**
 * The parts of `mk server` that one server of a cluster runs at a time:
 * the scheduler, the controller manager and datastore compaction. Every
 * server serves the API; these run only in the server that holds their
 * Lease in kube-system, and stop the moment it loses it (their writes are
 * refused from then on, see fencedClient), while the server campaigns again.
 *
 * One Lease per component, as kube-scheduler and kube-controller-manager
 * each have theirs: a server started with --disable-scheduler must not win
 * the scheduler's election and leave the cluster without one, and the
 * components of one cluster may lead from different servers.
 */

export const LEASE_NAMESPACE = 'kube-system';
export const SCHEDULER_LEASE = 'kube-scheduler';
export const CONTROLLER_MANAGER_LEASE = 'kube-controller-manager';
/** kube-apiserver compacts etcd from every server and lets etcd refuse the extra ones; here one server does it. */
export const COMPACTOR_LEASE = 'mk-datastore-compactor';

export interface LeaderComponentsOptions {
  /** The in-process client: elections and the components go through the API. */
  client: KubeClient;
  store: Store;
  /** This server as a candidate (leaderIdentity()). */
  identity: string;
  timings: Required<LeaderElectionTimings>;
  /** Whether other servers may share the datastore (etcd). SQLite: this server is the only candidate. */
  shared: boolean;
  scheduler: boolean;
  controllers: { factories: readonly ControllerFactory[]; disabled?: string[] };
  log: (line: string) => void;
}

/** What runs while a Lease is held: started with a client fenced to the term, stopped by the function it returns. */
type Duty = (client: KubeClient) => Promise<() => Promise<void>>;

export class LeaderComponents {
  readonly electors: LeaderElector[] = [];
  private runningScheduler?: Scheduler;
  private runningControllers?: ControllerManager;

  constructor(private readonly opts: LeaderComponentsOptions) {
    if (opts.scheduler) {
      this.elect(SCHEDULER_LEASE, async (client) => {
        const scheduler = new Scheduler(client, { log: opts.log });
        await scheduler.start();
        this.runningScheduler = scheduler;
        return async () => {
          this.runningScheduler = undefined;
          await scheduler.stop();
        };
      });
    }
    const disabled = new Set(opts.controllers.disabled ?? []);
    const anyController = !disabled.has('all') && !disabled.has('*') && opts.controllers.factories.some((f) => !disabled.has(f.name));
    if (anyController) {
      this.elect(CONTROLLER_MANAGER_LEASE, async (client) => {
        const manager = new ControllerManager(client, opts.controllers.factories, { disabled: opts.controllers.disabled, log: opts.log });
        await manager.start();
        this.runningControllers = manager;
        return async () => {
          this.runningControllers = undefined;
          await manager.stop();
        };
      });
    }
    this.elect(COMPACTOR_LEASE, async () => {
      opts.store.setAutoCompaction(true);
      return async () => opts.store.setAutoCompaction(false);
    });
  }

  /** The scheduler, while this server leads it. */
  get scheduler(): Scheduler | undefined {
    return this.runningScheduler;
  }

  /** The controller manager, while this server leads it. */
  get controllers(): ControllerManager | undefined {
    return this.runningControllers;
  }

  /** Campaigns for every Lease; resolves after the first attempt at each (on SQLite: leading them all). */
  async start(): Promise<void> {
    // Only the leader compacts; the store starts compacting by itself otherwise.
    this.opts.store.setAutoCompaction(false);
    await Promise.all(this.electors.map((e) => e.start()));
  }

  /** Stops everything this server leads and hands the Leases over (released, so others need not wait them out). */
  async stop(): Promise<void> {
    await Promise.all(this.electors.map((e) => e.stop()));
  }

  /** `kube-system/kube-scheduler: <holder>` for each Lease, as last seen. */
  describe(): string[] {
    return this.electors.map((e) => `${e.description} held by ${e.isLeader() ? 'this server' : e.leader() || 'nobody'}`);
  }

  private elect(lease: string, duty: Duty): void {
    let stop: (() => Promise<void>) | undefined;
    const elector = new LeaderElector(this.opts.client, {
      namespace: LEASE_NAMESPACE,
      name: lease,
      identity: this.opts.identity,
      soleCandidate: !this.opts.shared,
      ...this.opts.timings,
      log: (line) => this.opts.log(`mk server: ${line}`),
      onStartedLeading: async (term: LeaderTerm) => {
        stop = await duty(fencedClient(this.opts.client, term, `${LEASE_NAMESPACE}/${lease}`));
      },
      onStoppedLeading: async () => {
        const stopping = stop;
        stop = undefined;
        await stopping?.();
      },
    });
    this.electors.push(elector);
  }
}
