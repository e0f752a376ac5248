import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import { microTime, realClock, type Clock } from '../agent/clock';
import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from './api-client';
import { EventRecorder } from './events';

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * tools/leaderelection does it for kube-scheduler and
 * kube-controller-manager. Several processes campaign for one Lease; the
 * one whose name is in `spec.holderIdentity` leads.
 *
 * - The leader renews: it writes `renewTime` every renew interval, each
 *   write an update carrying the resourceVersion it last wrote, so a write
 *   that lost a race is a 409 Conflict and never overwrites a newer holder.
 * - A candidate reads the Lease every retry period. It does not trust the
 *   timestamps in it (they come from another machine's clock): it notes on
 *   its own clock when it last saw the Lease *change*, and takes the Lease
 *   over only when `leaseDurationSeconds` have passed since then without a
 *   change (it wakes at that moment, not up to a retry period later). The take-over is again an update with the resourceVersion it
 *   read, so of several candidates exactly one wins; it sets `acquireTime`
 *   and counts one more `leaseTransitions`.
 * - A leader that has not renewed successfully for the renew deadline
 *   (shorter than the lease duration) stops leading at once, so it has
 *   stopped before any candidate can think the Lease expired. Seeing
 *   another holder in the Lease ends leadership at once too.
 *
 * This is not fencing: a write sent just before leadership ended may still
 * land. `fencedClient` narrows that window to writes already in flight.
 */

const LEASES = resolveResourceName('leases.coordination.k8s.io')!;

/** Candidates wait the retry period plus up to this fraction of it, so they do not all read at once. */
const JITTER = 0.2;

export interface LeaderElectionTimings {
  /** How long candidates wait after the last change they saw before taking the Lease over (--leader-elect-lease-duration, 15 s). */
  leaseDurationMs: number;
  /** How long a leader keeps leading without a successful renewal (--leader-elect-renew-deadline, 10 s). */
  renewDeadlineMs: number;
  /** How often candidates try, and a leader retries a failed renewal (--leader-elect-retry-period, 2 s). */
  retryPeriodMs: number;
  /** How often a leader renews (default: half the renew deadline, 5 s, so a failed renewal has time for retries). */
  renewIntervalMs?: number;
}

export const DEFAULT_LEADER_ELECTION: Readonly<Required<LeaderElectionTimings>> = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  renewIntervalMs: 5_000,
};

/**
 * One period of leadership. `active` turns false the moment it ends, before
 * onStoppedLeading is even called: what was started for the term checks it
 * (fencedClient does) instead of waiting to be stopped.
 */
export interface LeaderTerm {
  readonly active: boolean;
}

export interface LeaderElectionConfig extends LeaderElectionTimings {
  /** The Lease that is the lock, e.g. kube-system/kube-scheduler. */
  namespace: string;
  name: string;
  /** This candidate: unique per process (see leaderIdentity). */
  identity: string;
  /**
   * Nobody else can ever campaign for this Lease (a server on SQLite, which
   * one process alone opens): a holder in it is an earlier run of this
   * server, so it is taken over at once instead of waiting out its term.
   */
  soleCandidate?: boolean;
  /** Starts what only the leader runs. Leadership may end while it is running: onStoppedLeading waits for it. */
  onStartedLeading(term: LeaderTerm): Promise<void> | void;
  /** Stops it again; called once per term, after the term's `active` turned false. */
  onStoppedLeading(): Promise<void> | void;
  /** A different holder was seen (including the first one, and this candidate itself). */
  onNewLeader?(identity: string): void;
  clock?: Clock;
  log?: (line: string) => void;
}

/** A unique candidate name: the host name and a random id, as kube-controller-manager's `hostname_uuid`. */
export function leaderIdentity(): string {
  return `${os.hostname()}_${randomUUID()}`;
}

/** The timings to use: the defaults for what is not given (renewing every half renew deadline), checked. */
export function leaderElectionTimings(given: Partial<LeaderElectionTimings> = {}): Required<LeaderElectionTimings> {
  const renewDeadlineMs = given.renewDeadlineMs ?? DEFAULT_LEADER_ELECTION.renewDeadlineMs;
  const timings = {
    leaseDurationMs: given.leaseDurationMs ?? DEFAULT_LEADER_ELECTION.leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs: given.retryPeriodMs ?? DEFAULT_LEADER_ELECTION.retryPeriodMs,
    renewIntervalMs: given.renewIntervalMs ?? renewDeadlineMs / 2,
  };
  checkTimings(timings);
  return timings;
}

/** Rejects timings under which a leader could still act after a candidate took over. */
export function checkTimings(t: LeaderElectionTimings): void {
  const renewInterval = t.renewIntervalMs ?? t.renewDeadlineMs / 2;
  if (!(t.retryPeriodMs > 0)) throw new Error('the leader election retry period must be positive');
  if (t.leaseDurationMs < 1000) throw new Error('the leader election lease duration must be at least 1s');
  if (!(t.leaseDurationMs > t.renewDeadlineMs)) throw new Error('the leader election lease duration must be greater than the renew deadline');
  if (!(t.renewDeadlineMs > t.retryPeriodMs * (1 + JITTER))) throw new Error('the leader election renew deadline must be greater than 1.2 times the retry period');
  if (!(renewInterval > 0 && renewInterval < t.renewDeadlineMs)) throw new Error('the leader election renew interval must be positive and shorter than the renew deadline');
}

type Phase = 'idle' | 'candidate' | 'leader' | 'stopped';

interface Term extends LeaderTerm {
  active: boolean;
  /** Resolves once onStartedLeading has returned: true if it ran (a term can end before it starts). */
  started: Promise<boolean>;
}

export class LeaderElector {
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private readonly renewIntervalMs: number;
  private readonly events: EventRecorder;
  private phase: Phase = 'idle';
  /** The Lease as last read or written (its resourceVersion is the precondition of the next write). */
  private lease?: KubeObject;
  /** Its spec as JSON, to notice a change. */
  private observedSpec = '';
  /** When (on our clock) the spec last changed, or we last wrote it. */
  private observedAt = 0;
  private reportedLeader = '';
  private term?: Term;
  /** The previous term's onStoppedLeading: the next term starts after it. */
  private lastStop: Promise<void> = Promise.resolve();
  private cancelTick?: () => void;
  private cancelDeadline?: () => void;
  private ticking: Promise<void> = Promise.resolve();

  constructor(private readonly client: KubeClient, private readonly config: LeaderElectionConfig) {
    checkTimings(config);
    this.clock = config.clock ?? realClock;
    this.log = config.log ?? (() => undefined);
    this.renewIntervalMs = config.renewIntervalMs ?? config.renewDeadlineMs / 2;
    this.events = new EventRecorder(client, config.name, os.hostname(), () => undefined);
  }

  get description(): string {
    return `${this.config.namespace}/${this.config.name}`;
  }

  private get stopped(): boolean {
    return this.phase === 'stopped';
  }

  /** Whether this candidate leads now. */
  isLeader(): boolean {
    return this.phase === 'leader';
  }

  /** The holder last seen in the Lease ('' when none). */
  leader(): string {
    return this.lease?.spec?.holderIdentity ?? '';
  }

  /** Campaigns: resolves after the first attempt (leading already, if the Lease was free), then goes on by itself. */
  async start(): Promise<void> {
    if (this.phase !== 'idle') return;
    this.phase = 'candidate';
    // A sole candidate has nobody to wait for or to report: it only speaks when something goes wrong.
    if (!this.config.soleCandidate) this.log(`attempting to acquire leader lease ${this.description}...`);
    await this.tick();
  }

  /**
   * Stops campaigning. A leader stops what it leads, then releases the
   * Lease (holder cleared, duration 1 s) so another candidate takes over
   * within a retry period instead of a whole lease duration.
   */
  async stop(): Promise<void> {
    if (this.phase === 'stopped') return;
    this.phase = 'stopped';
    this.cancelTick?.();
    await this.ticking;
    await this.endTerm('shutting down');
    // Also when an attempt in flight took the Lease just as we stopped.
    await this.release();
  }

  /** One attempt, then the next is scheduled: a leader renews every renew interval, and retries sooner after a failure. */
  private async tick(): Promise<void> {
    this.cancelTick = undefined;
    if (this.stopped) return;
    let ok = false;
    const attempt = (async () => {
      ok = await this.tryAcquireOrRenew();
      if (this.stopped) return;
      this.reportTransition();
      if (ok) {
        if (this.phase === 'candidate') {
          if (!this.config.soleCandidate) this.log(`successfully acquired lease ${this.description}`);
          this.phase = 'leader';
          this.beginTerm();
        }
        this.renewed();
      } else if (this.phase === 'leader' && this.leader() !== this.config.identity) {
        void this.endTerm(`the lease is held by ${this.leader() || 'nobody'} now`);
      }
    })();
    this.ticking = attempt;
    await attempt;
    if (this.stopped) return;
    let delay: number;
    if (this.phase === 'leader') {
      delay = ok ? this.renewIntervalMs : this.config.retryPeriodMs;
    } else {
      // A candidate also wakes the moment the holder's term would run out, rather than up to a retry period later.
      const untilExpiry = this.expiresAt() - this.clock.now();
      delay = this.config.retryPeriodMs * (1 + Math.random() * JITTER);
      if (untilExpiry > 0 && this.leader()) delay = Math.min(delay, untilExpiry + 1);
    }
    this.cancelTick = this.clock.after(delay, () => void this.tick());
  }

  /**
   * A renewal succeeded just now: leadership lasts until the renew deadline
   * from now, unless renewed again. A sole candidate has no deadline: nobody
   * could take over, so stopping (on a stalled event loop, say) gains nothing.
   */
  private renewed(): void {
    if (this.config.soleCandidate) return;
    this.cancelDeadline?.();
    this.cancelDeadline = this.clock.after(this.config.renewDeadlineMs, () => {
      this.cancelDeadline = undefined;
      if (this.phase === 'leader') void this.endTerm('the renew deadline passed without a successful renewal');
    });
  }

  private beginTerm(): void {
    const previous = this.lastStop;
    const term = { active: true } as Term;
    term.started = (async () => {
      await previous;
      if (!term.active) return false;
      try {
        await this.config.onStartedLeading(term);
        return true;
      } catch (err) {
        // Leading without running the component would leave the cluster without it: give the term up.
        this.log(`starting what ${this.description} leads failed: ${(err as Error).message}`);
        if (this.term === term) void this.endTerm('it could not start');
        return false;
      }
    })();
    this.term = term;
    this.events.record(this.lease!, 'Normal', 'LeaderElection', `${this.config.identity} became leader`);
  }

  /** Leadership is over: the term goes inactive now, then what it started is stopped; a candidate campaigns on. */
  private endTerm(why: string): Promise<void> {
    const term = this.term;
    if (!term) return this.lastStop;
    this.term = undefined;
    term.active = false;
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    if (this.phase === 'leader') this.phase = 'candidate';
    if (!(this.stopped && this.config.soleCandidate)) this.log(`stopped leading ${this.description}: ${why}`);
    if (this.lease) this.events.record(this.lease, 'Normal', 'LeaderElection', `${this.config.identity} stopped leading`);
    this.lastStop = (async () => {
      if (!(await term.started)) return;
      try {
        await this.config.onStoppedLeading();
      } catch (err) {
        this.log(`stopping what ${this.description} leads failed: ${(err as Error).message}`);
      }
    })();
    return this.lastStop;
  }

  /**
   * client-go's tryAcquireOrRenew: renew the Lease we hold, or take it if it
   * is free or expired. True when this candidate holds it afterwards.
   */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const spec = {
      holderIdentity: this.config.identity,
      leaseDurationSeconds: Math.ceil(this.config.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };

    // Fast path: a leader whose Lease is still valid writes on top of what it wrote last.
    if (this.phase === 'leader' && this.lease && this.isValid(now)) {
      try {
        const held = this.lease.spec ?? {};
        await this.write({ ...this.lease, spec: { ...spec, acquireTime: held.acquireTime, leaseTransitions: held.leaseTransitions ?? 0 } });
        return true;
      } catch (err) {
        this.log(`failed to renew lease ${this.description} optimistically, reading it again: ${(err as Error).message}`);
      }
    }

    let current: KubeObject;
    try {
      current = await this.client.get(LEASES, this.config.namespace, this.config.name);
    } catch (err) {
      if (!ApiStatusError.isNotFound(err)) {
        this.log(`error retrieving lease ${this.description}: ${(err as Error).message}`);
        return false;
      }
      try {
        const created = await this.client.create(LEASES, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.config.name, namespace: this.config.namespace },
          spec,
        });
        this.observe(created, true);
        return true;
      } catch (createErr) {
        if (!ApiStatusError.isAlreadyExists(createErr)) this.log(`error creating lease ${this.description}: ${(createErr as Error).message}`);
        return false;
      }
    }

    this.observe(current, false);
    const held = current.spec ?? {};
    const holder: string = held.holderIdentity ?? '';
    const mine = holder === this.config.identity;
    if (holder && !mine && this.isValid(now) && !this.config.soleCandidate) return false;
    // Ours (a renewal on the slow path keeps acquireTime), or free or expired (a take-over).
    const next = mine
      ? { ...spec, acquireTime: held.acquireTime ?? spec.acquireTime, leaseTransitions: held.leaseTransitions ?? 0 }
      : { ...spec, leaseTransitions: (held.leaseTransitions ?? 0) + 1 };
    try {
      await this.write({ ...current, spec: { ...held, ...next } });
      return true;
    } catch (err) {
      if (!ApiStatusError.isConflict(err)) this.log(`failed to update lease ${this.description}: ${(err as Error).message}`);
      return false;
    }
  }

  /** Writes the Lease; the resourceVersion it carries makes a lost race a 409 Conflict. */
  private async write(lease: KubeObject): Promise<void> {
    const written = await this.client.update(LEASES, lease);
    this.observe(written, true);
  }

  /** Notes what the Lease says; the clock restarts when its spec changed (or we just wrote it). */
  private observe(lease: KubeObject, ourWrite: boolean): void {
    const spec = JSON.stringify(lease.spec ?? {});
    if (ourWrite || spec !== this.observedSpec) {
      this.observedSpec = spec;
      this.observedAt = this.clock.now();
    }
    this.lease = lease;
  }

  /** Whether the holder last seen is still within its lease duration, measured from when we saw it change. */
  private isValid(now: number): boolean {
    return this.expiresAt() > now;
  }

  private expiresAt(): number {
    return this.observedAt + Number(this.lease?.spec?.leaseDurationSeconds ?? 0) * 1000;
  }

  private reportTransition(): void {
    const holder = this.leader();
    if (!holder || holder === this.reportedLeader) return;
    this.reportedLeader = holder;
    if (holder !== this.config.identity && !this.config.soleCandidate) this.log(`new leader for ${this.description}: ${holder}`);
    this.config.onNewLeader?.(holder);
  }

  /** client-go's release: the Lease is left holder-less with a 1 s duration, its transitions kept. */
  private async release(): Promise<void> {
    if (!this.lease || this.leader() !== this.config.identity) return;
    const now = microTime(this.clock.now());
    try {
      await this.client.update(LEASES, {
        ...this.lease,
        spec: { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: this.lease.spec?.leaseTransitions ?? 0 },
      });
    } catch (err) {
      this.log(`failed to release lease ${this.description}: ${(err as Error).message}`);
    }
  }
}

/**
 * A client for what runs only while `term` lasts: reads pass, writes are
 * refused once the term has ended, so a controller finishing a reconcile
 * after leadership was lost cannot act on the cluster any more.
 */
export function fencedClient(client: KubeClient, term: LeaderTerm, lease: string): KubeClient {
  const check = () => {
    if (!term.active) throw new Error(`not the leader of ${lease} any more: write refused`);
  };
  return {
    inProcess: client.inProcess,
    get: (rt, namespace, name) => client.get(rt, namespace, name),
    list: (rt, namespace, opts) => client.list(rt, namespace, opts),
    watch: (rt, namespace, opts, onEvent) => client.watch(rt, namespace, opts, onEvent),
    create: async (rt, obj, opts) => (check(), client.create(rt, obj, opts)),
    update: async (rt, obj) => (check(), client.update(rt, obj)),
    updateStatus: async (rt, obj) => (check(), client.updateStatus(rt, obj)),
    patch: async (rt, namespace, name, patch, type, opts) => (check(), client.patch(rt, namespace, name, patch, type, opts)),
    delete: async (rt, namespace, name, opts) => (check(), client.delete(rt, namespace, name, opts)),
    deleteCollection: async (rt, namespace, opts) => (check(), client.deleteCollection(rt, namespace, opts)),
    bind: async (namespace, podName, nodeName, podUid) => (check(), client.bind(namespace, podName, nodeName, podUid)),
    finalizeNamespace: async (ns) => (check(), client.finalizeNamespace(ns)),
  };
}
