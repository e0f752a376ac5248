import * as path from 'node:path';
import { resolveResourceName } from '../../src/api/registry';
import type { KubeObject } from '../../src/api/types';
import { LocalClient } from '../../src/apiserver/local-client';
import { ResourceStorage } from '../../src/apiserver/resources';
import type { KubeClient } from '../../src/client/api-client';
import { checkTimings, fencedClient, LeaderElector, type LeaderElectionConfig, type LeaderTerm } from '../../src/client/leader-election';
import { SqliteStore } from '../../src/storage/sqlite';
import { tempDir } from '../helpers';
import { manualClock, type ManualClock } from '../manual-clock';

/**
 * The election logic against the real API storage (SQLite), with a clock
 * the test moves: two candidates for one Lease, renewals, a leader cut off
 * from the API, a graceful hand-over.
 */

const LEASES = resolveResourceName('leases.coordination.k8s.io')!;
const NAMESPACES = resolveResourceName('namespaces')!;
const TIMINGS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, renewIntervalMs: 5_000 };

/**
 * The client one candidate uses: counts calls in flight (so the clock knows
 * when a tick is done), and can be cut off from the API like a server that
 * lost its datastore.
 */
class CandidateClient {
  inflight = 0;
  cut = false;
  readonly client: KubeClient;

  constructor(inner: KubeClient, counter: { inflight: number }) {
    const wrap = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
      counter.inflight++;
      try {
        if (this.cut) throw new Error('etcd is unavailable: connection refused');
        return await fn(...args);
      } finally {
        counter.inflight--;
      }
    };
    this.client = {
      ...inner,
      get: wrap((rt, ns, name) => inner.get(rt, ns, name)),
      create: wrap((rt, obj) => inner.create(rt, obj)),
      update: wrap((rt, obj) => inner.update(rt, obj)),
    } as KubeClient;
  }
}

describe('LeaderElector', () => {
  let store: SqliteStore;
  let resources: ResourceStorage;
  let api: LocalClient;
  const counter = { inflight: 0 };
  const idle = async () => {
    // Settled when no call has been in flight for a few turns of the event loop.
    for (let quiet = 0; quiet < 3; ) {
      await new Promise((r) => setImmediate(r));
      quiet = counter.inflight === 0 ? quiet + 1 : 0;
    }
  };
  let clock: ManualClock;
  const electors: LeaderElector[] = [];

  beforeEach(async () => {
    store = new SqliteStore(path.join(tempDir('mk-election-'), 'state.db'), { compactIntervalMs: 0 });
    resources = new ResourceStorage(store);
    await resources.start({ exclusive: true });
    api = new LocalClient(resources);
    for (const name of ['default', 'kube-system']) await api.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    // Each firing runs until its API calls are done.
    clock = manualClock({ start: 1_700_000_000_000, settle: idle });
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
    resources.stop();
    await store.close();
  });

  /** A candidate; `log` records what it started and stopped, on the test's clock. */
  function candidate(identity: string, extra: Partial<LeaderElectionConfig> = {}) {
    const conn = new CandidateClient(api, counter);
    const log: string[] = [];
    let term: LeaderTerm | undefined;
    const elector = new LeaderElector(conn.client, {
      namespace: 'kube-system',
      name: 'test-component',
      identity,
      ...TIMINGS,
      clock,
      onStartedLeading: (t) => {
        term = t;
        log.push(`started@${clock.now()}`);
      },
      onStoppedLeading: () => {
        log.push(`stopped@${clock.now()}`);
      },
      ...extra,
    });
    electors.push(elector);
    return { elector, conn, log, term: () => term };
  }
  const lease = () => api.get(LEASES, 'kube-system', 'test-component') as Promise<KubeObject>;

  test('the first candidate takes the free Lease; the second waits while the leader renews', async () => {
    const a = candidate('host-a_1');
    const b = candidate('host-b_2');
    const t0 = clock.now();
    await a.elector.start();
    await b.elector.start();
    expect(a.elector.isLeader()).toBe(true);
    expect(b.elector.isLeader()).toBe(false);
    expect(b.elector.leader()).toBe('host-a_1');
    const first = await lease();
    expect(first.spec).toEqual({
      holderIdentity: 'host-a_1',
      leaseDurationSeconds: 15,
      acquireTime: new Date(t0).toISOString().replace('Z', '000Z'),
      renewTime: new Date(t0).toISOString().replace('Z', '000Z'),
      leaseTransitions: 0,
    });

    await clock.advance(60_000);
    expect(b.elector.isLeader()).toBe(false);
    expect(a.log).toEqual([`started@${t0}`]);
    const renewed = await lease();
    // Renewed every 5 s: the last renewal is at most one interval old; acquireTime stays.
    expect(Date.parse(renewed.spec.renewTime)).toBeGreaterThanOrEqual(clock.now() - 5_000);
    expect(renewed.spec.acquireTime).toBe(first.spec.acquireTime);
    expect(renewed.spec.leaseTransitions).toBe(0);
  });

  test('a leader cut off stops at its renew deadline, before anyone can take over; another takes over after the lease duration', async () => {
    const a = candidate('host-a_1');
    const b = candidate('host-b_2');
    await a.elector.start();
    await b.elector.start();
    await clock.advance(7_000);
    const lastRenewal = Date.parse((await lease()).spec.renewTime);

    a.conn.cut = true;
    await clock.advance(30_000);
    const stoppedAt = Number(a.log[1]?.split('@')[1]);
    const startedAt = Number(b.log[0]?.split('@')[1]);
    expect(a.log).toHaveLength(2);
    expect(a.term()!.active).toBe(false);
    expect(a.elector.isLeader()).toBe(false);
    // a gave up exactly at its deadline (10 s after its last renewal) ...
    expect(stoppedAt).toBe(lastRenewal + TIMINGS.renewDeadlineMs);
    // ... b took over only once 15 s had passed without a change it could see (it saw the last renewal
    // at its next read, at most a jittered retry period later), and at that moment.
    expect(startedAt).toBeGreaterThanOrEqual(lastRenewal + TIMINGS.leaseDurationMs);
    expect(startedAt).toBeLessThanOrEqual(lastRenewal + TIMINGS.leaseDurationMs + TIMINGS.retryPeriodMs * 1.2 + 1);
    expect(b.elector.isLeader()).toBe(true);
    const taken = await lease();
    expect(taken.spec).toMatchObject({ holderIdentity: 'host-b_2', leaseTransitions: 1 });
    expect(Date.parse(taken.spec.acquireTime)).toBe(Math.floor(startedAt));

    // a comes back: it sees b's Lease and stays a candidate.
    a.conn.cut = false;
    await clock.advance(20_000);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.leader()).toBe('host-b_2');
    expect(a.log).toHaveLength(2);
  });

  test('a leader whose Lease was taken over stops at once, and its fenced client refuses writes', async () => {
    const a = candidate('host-a_1');
    await a.elector.start();
    const fenced = fencedClient(api, a.term()!, 'kube-system/test-component');
    await fenced.create(resolveResourceName('configmaps')!, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'while-leading', namespace: 'default' } });
    // Someone else writes the Lease (as a candidate that saw it expire would).
    const current = await lease();
    await api.update(LEASES, { ...current, spec: { ...current.spec, holderIdentity: 'intruder', leaseTransitions: 1 } });
    await clock.advance(TIMINGS.renewIntervalMs);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log).toHaveLength(2);
    expect(a.log[1]).toBe(`stopped@${clock.now()}`);
    await expect(fenced.create(resolveResourceName('configmaps')!, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after', namespace: 'default' } }))
      .rejects.toThrow('not the leader of kube-system/test-component any more');
  });

  test('stop() hands over: the Lease is released and the other candidate leads within a retry period', async () => {
    const a = candidate('host-a_1');
    const b = candidate('host-b_2');
    await a.elector.start();
    await b.elector.start();
    await clock.advance(3_000);
    await a.elector.stop();
    expect(a.log).toHaveLength(2);
    expect((await lease()).spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
    const released = clock.now();
    await clock.advance(TIMINGS.retryPeriodMs * 1.2);
    expect(b.elector.isLeader()).toBe(true);
    expect(Number(b.log[0]!.split('@')[1]) - released).toBeLessThanOrEqual(TIMINGS.retryPeriodMs * 1.2);
    expect((await lease()).spec).toMatchObject({ holderIdentity: 'host-b_2', leaseTransitions: 1 });
  });

  test('a sole candidate (a server on SQLite) takes over at once what an earlier run of it held', async () => {
    const before = candidate('host-a_old');
    await before.elector.start();
    // The old process died without releasing (kill -9): its Lease looks valid for 15 s more.
    const after = candidate('host-a_new', { soleCandidate: true });
    await after.elector.start();
    expect(after.elector.isLeader()).toBe(true);
    expect((await lease()).spec).toMatchObject({ holderIdentity: 'host-a_new', leaseTransitions: 1 });
    electors.splice(electors.indexOf(before.elector), 1);
  });

  test('timings that would let a leader act after a take-over are refused', () => {
    expect(() => checkTimings({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })).toThrow('lease duration must be greater than the renew deadline');
    expect(() => checkTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow('renew deadline must be greater than 1.2 times the retry period');
    expect(() => checkTimings({ ...TIMINGS, renewIntervalMs: 10_000 })).toThrow('renew interval');
    expect(() => checkTimings(TIMINGS)).not.toThrow();
  });
});
