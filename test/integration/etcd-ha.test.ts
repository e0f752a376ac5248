import * as fs from 'node:fs';
import { Etcd3 } from 'etcd3';
import { resolveResourceName } from '../../src/api/registry';
import { BOOTSTRAP_KEY } from '../../src/apiserver/cluster-bootstrap';
import { ApiClient } from '../../src/client/api-client';
import { loadClientConfig } from '../../src/client/kubeconfig';
import { COMPACTOR_LEASE, CONTROLLER_MANAGER_LEASE, SCHEDULER_LEASE } from '../../src/leader-components';
import { startServer, type ServerOptions } from '../../src/server';
import type { EtcdStore } from '../../src/storage/etcd';
import { requireEtcd, startEtcd, startTcpProxy, type TestEtcd } from '../etcd-helpers';
import { eventually, openWatch, startTestServer, tempDir, type TestServer } from '../helpers';
import { MERGE_PATCH } from './fixtures';

/**
 * Several `mk server`s on one etcd (in this process, each with its own data
 * dir and port): one cluster, every server serving it, one leader per
 * control loop, and the control loops moving when their leader goes.
 */

const describeEtcd = requireEtcd();

/** Short terms so take-overs happen within seconds: the lease lasts 3 s, renewed every 0.6 s. */
const FAST = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300, renewIntervalMs: 600 };
const LEASES = ['kube-scheduler', 'kube-controller-manager', 'mk-datastore-compactor'];
const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${name}`;
const NAMESPACES = resolveResourceName('namespaces')!;

/** The kubernetes Endpoints' subsets for these servers: one per port, as the endpoint reconciler writes them. */
const apiservers = (group: TestServer[]) => group.map((s) => s.server.port).sort((a, b) => a - b)
  .map((port) => ({ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port, protocol: 'TCP' }] }));

describeEtcd('several servers on one etcd', () => {
  let etcd: TestEtcd;
  let clusters = 0;
  const servers: TestServer[] = [];

  /** The first server makes the cluster; the others join it with its token, all at once. */
  async function startCluster(n: number, options: Partial<ServerOptions> = {}): Promise<TestServer[]> {
    const shared = { datastoreEndpoint: etcd.endpoint, datastorePrefix: `/mk-ha-${clusters++}/`, leaderElection: FAST, ...options };
    const first = await startTestServer(shared);
    servers.push(first);
    const rest = await Promise.all(Array.from({ length: n - 1 }, () => startTestServer({ ...shared, token: first.token })));
    servers.push(...rest);
    return [first, ...rest];
  }

  /** The one server whose elector for `lease` says it leads (eventually exactly one). */
  async function leaderOf(group: TestServer[], lease: string): Promise<TestServer> {
    return eventually(() => {
      const leading = group.filter((s) => s.server.leaders.electors.find((e) => e.description === `kube-system/${lease}`)?.isLeader());
      expect(leading).toHaveLength(1);
      return leading[0]!;
    }, 10_000);
  }

  beforeAll(async () => {
    etcd = await startEtcd();
  }, 60_000);
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.destroy()));
  });
  afterAll(async () => {
    await etcd?.destroy();
  });

  test('one leader per Lease, the same one seen through every server; one token, one CA, so a kubeconfig works against all', async () => {
    const group = await startCluster(3);
    for (const lease of LEASES) {
      const leader = await leaderOf(group, lease);
      await eventually(async () => {
        for (const s of group) {
          const res = await s.api('GET', leasePath(lease));
          expect(res.status).toBe(200);
          expect(res.body.spec).toMatchObject({ holderIdentity: leader.server.identity, leaseDurationSeconds: 3 });
        }
      });
    }
    expect(group.filter((s) => s.server.scheduler)).toHaveLength(1);
    expect(group.filter((s) => s.server.controllers)).toHaveLength(1);
    // `mk get lease -n kube-system` shows the holders (the Holder column of the server-side table).
    const table = await group[1]!.api('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases', undefined, {
      Accept: 'application/json;as=Table;g=meta.k8s.io;v=v1',
    });
    const holder = (name: string) => table.body.rows.find((r: any) => r.cells[0] === name)?.cells[1];
    expect(holder(SCHEDULER_LEASE)).toBe((await leaderOf(group, SCHEDULER_LEASE)).server.identity);
    expect(holder(CONTROLLER_MANAGER_LEASE)).toMatch(/^.+_[0-9a-f-]{36}$/);

    // The kubernetes Service's Endpoints list every server (here all on 127.0.0.1, each on its own port).
    await eventually(async () => {
      const ep = (await group[2]!.api('GET', '/api/v1/namespaces/default/endpoints/kubernetes')).body;
      expect(ep.subsets).toEqual(apiservers(group));
    });

    for (const s of group) {
      expect(s.token).toBe(group[0]!.token);
      expect(s.server.caPem).toBe(group[0]!.server.caPem);
    }
    // The first server's kubeconfig (its CA and token) against the others: TLS verifies, the token is accepted.
    const config = loadClientConfig({ kubeconfig: group[0]!.server.kubeconfigPath });
    for (const s of group.slice(1)) {
      const client = new ApiClient({ ...config, server: s.url });
      try {
        const list = await client.list(NAMESPACES);
        expect(list.items.map((n) => n.metadata.name)).toEqual(expect.arrayContaining(['default', 'kube-system']));
      } finally {
        client.close();
      }
    }
  });

  test('the bootstrap data is encrypted with the token; a server with a wrong token, or none, refuses to start', async () => {
    const [first] = await startCluster(1);
    const prefix = (first!.server.store as EtcdStore).prefix;
    const raw = new Etcd3({ hosts: etcd.endpoint });
    try {
      const stored = await raw.get(prefix + BOOTSTRAP_KEY.slice('/registry/'.length)).string();
      expect(stored).toBeTruthy();
      expect(stored).not.toContain('PRIVATE KEY');
      expect(stored).not.toContain(first!.token);
    } finally {
      raw.close();
    }
    const join = async (token?: string) => {
      const dataDir = tempDir();
      try {
        return await startServer({ dataDir, port: 0, bindAddress: '127.0.0.1', datastoreEndpoint: etcd.endpoint, datastorePrefix: prefix, compactIntervalMs: 0, token });
      } finally {
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    };
    await expect(join('not-the-cluster-token')).rejects.toThrow(/bootstrap data already found in the datastore and encrypted with a different token: the token from --token is not this cluster's/);
    await expect(join()).rejects.toThrow(/already holds a cluster: a server joining it needs the cluster token \(--token/);
  });

  test('writes through one server are seen by a watch on another, in order, with the same resourceVersions', async () => {
    const [a, b, c] = await startCluster(3);
    const watch = await openWatch(b!, '/api/v1/namespaces/default/configmaps?watch=true');
    try {
      const created = await a!.api('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shared' }, data: { v: '1' } });
      expect(created.status).toBe(201);
      const patched = await eventually(async () => {
        // c may not have seen the create yet (its watch cache follows etcd a moment later).
        const res = await c!.api('PATCH', '/api/v1/namespaces/default/configmaps/shared', { data: { v: '2' } }, MERGE_PATCH);
        expect(res.status).toBe(200);
        return res;
      });
      const events = await watch.until((e) => e.type === 'MODIFIED');
      expect(events.map((e) => [e.type, e.object.metadata.resourceVersion, e.object.data.v])).toEqual([
        ['ADDED', created.body.metadata.resourceVersion, '1'],
        ['MODIFIED', patched.body.metadata.resourceVersion, '2'],
      ]);
    } finally {
      watch.close();
    }
  });

  test('servers creating Services at the same time never hand out the same cluster IP or node port', async () => {
    // A /27 leaves 28 addresses for dynamic allocation (.1 and .10 are kept for the kubernetes and DNS Services), and 28 node ports.
    const group = await startCluster(3, { serviceCidr: '10.99.0.0/27', serviceNodePortRange: '30000-30027' });
    const service = (i: number) => ({
      apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}` },
      spec: { type: 'NodePort', selector: { app: `svc-${i}` }, ports: [{ port: 80 }] },
    });
    const created = await Promise.all(Array.from({ length: 28 }, (_, i) => group[i % 3]!.api('POST', '/api/v1/namespaces/default/services', service(i))));
    expect(created.map((r) => r.status)).toEqual(Array(28).fill(201));
    const ips = created.map((r) => r.body.spec.clusterIP);
    const ports = created.map((r) => r.body.spec.ports[0].nodePort);
    expect(new Set(ips).size).toBe(28);
    expect(new Set(ports).size).toBe(28);
    expect(ips).not.toContain('10.99.0.1');
    // Every server now finds both pools full.
    for (const s of group) {
      const full = await s.api('POST', '/api/v1/namespaces/default/services', service(100 + group.indexOf(s)));
      expect(full.status).toBe(500);
      expect(full.body.message).toBe('Internal error occurred: failed to allocate a serviceIP: range is full');
    }
    // A deleted Service's address goes back to the shared pool, for any server to hand out.
    expect((await group[0]!.api('DELETE', '/api/v1/namespaces/default/services/svc-0')).status).toBe(200);
    const again = await group[2]!.api('POST', '/api/v1/namespaces/default/services', service(200));
    expect(again.status).toBe(201);
    expect(again.body.spec.clusterIP).toBe(ips[0]);
  });

  test('the leader stops: another server takes its Leases within lease duration + renew interval and runs the controllers', async () => {
    const group = await startCluster(3);
    const leader = await leaderOf(group, CONTROLLER_MANAGER_LEASE);
    const others = group.filter((s) => s !== leader);
    const stoppedAt = Date.now();
    await leader.stop();
    const next = await leaderOf(others, CONTROLLER_MANAGER_LEASE);
    expect(Date.now() - stoppedAt).toBeLessThanOrEqual(FAST.leaseDurationMs + FAST.renewIntervalMs);
    // It took itself out of the kubernetes Endpoints on the way.
    await eventually(async () => {
      expect((await others[0]!.api('GET', '/api/v1/namespaces/default/endpoints/kubernetes')).body.subsets).toEqual(apiservers(others));
    });
    expect(next.server.controllers).toBeDefined();
    const lease = (await next.api('GET', leasePath(CONTROLLER_MANAGER_LEASE))).body;
    expect(lease.spec).toMatchObject({ holderIdentity: next.server.identity, leaseTransitions: 1 });

    // The controllers run there: a Deployment made through the third server gets its ReplicaSet and pods.
    const third = others.find((s) => s !== next)!;
    const deployment = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
      spec: {
        replicas: 3, selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox:1.36' }] } },
      },
    };
    expect((await third.api('POST', '/apis/apps/v1/namespaces/default/deployments', deployment)).status).toBe(201);
    await eventually(async () => {
      const pods = (await third.api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).body.items;
      expect(pods.filter((p: any) => !p.metadata.deletionTimestamp)).toHaveLength(3);
      expect((await third.api('GET', '/apis/apps/v1/namespaces/default/deployments/web')).body.status?.replicas).toBe(3);
    }, 15_000);
  });

  test('a leader that finds its Lease held by another stops at once; the server keeps serving and campaigns again', async () => {
    const group = await startCluster(2, { disableScheduler: true });
    const leader = await leaderOf(group, CONTROLLER_MANAGER_LEASE);
    const other = group.find((s) => s !== leader)!;
    // The other server writes the Lease as if the leader's term had run out (as a partitioned leader would see it).
    const current = (await other.api('GET', leasePath(CONTROLLER_MANAGER_LEASE))).body;
    const stolen = await other.api('PUT', leasePath(CONTROLLER_MANAGER_LEASE), {
      ...current, spec: { ...current.spec, holderIdentity: 'elsewhere_0', leaseTransitions: current.spec.leaseTransitions + 1 },
    });
    expect(stolen.status).toBe(200);
    // The leader notices at its next renewal and stops at once; nobody leads until 'elsewhere' has been silent for 3 s.
    await eventually(() => expect(leader.server.controllers).toBeUndefined(), FAST.renewIntervalMs + 2_000);
    expect((await leader.api('GET', '/readyz')).status).toBe(200);
    const next = await eventually(() => {
      const leading = group.filter((s) => s.server.controllers);
      expect(leading).toHaveLength(1);
      return leading[0]!;
    }, FAST.leaseDurationMs + 3 * FAST.retryPeriodMs + 2_000);
    expect((await next.api('GET', leasePath(CONTROLLER_MANAGER_LEASE))).body.spec.holderIdentity).toBe(next.server.identity);
  });

  test('a leader cut off from etcd stops at its renew deadline, before another server takes over', async () => {
    const proxy = await startTcpProxy(etcd.endpoint);
    try {
      const events: Array<{ at: number; who: string; line: string }> = [];
      const logTo = (who: string) => (line: string) => events.push({ at: Date.now(), who, line });
      const prefix = `/mk-ha-${clusters++}/`;
      const common = { datastorePrefix: prefix, leaderElection: FAST, disableScheduler: true };
      const cutOff = await startTestServer({ ...common, datastoreEndpoint: proxy.endpoint, log: logTo('cut') });
      servers.push(cutOff);
      const other = await startTestServer({ ...common, datastoreEndpoint: etcd.endpoint, token: cutOff.token, log: logTo('other') });
      servers.push(other);
      expect(await leaderOf([cutOff, other], CONTROLLER_MANAGER_LEASE)).toBe(cutOff);

      proxy.cut('blackhole');
      const cutAt = Date.now();
      await eventually(() => expect(cutOff.server.controllers).toBeUndefined(), FAST.renewDeadlineMs + 1_000);
      await eventually(() => expect(other.server.controllers).toBeDefined(), FAST.leaseDurationMs + FAST.renewIntervalMs + 2_000);
      const stopped = events.find((e) => e.who === 'cut' && /stopped leading kube-system\/kube-controller-manager: the renew deadline passed/.test(e.line));
      const acquired = events.find((e) => e.who === 'other' && /successfully acquired lease kube-system\/kube-controller-manager/.test(e.line));
      expect(stopped).toBeDefined();
      expect(acquired).toBeDefined();
      expect(stopped!.at - cutAt).toBeLessThanOrEqual(FAST.renewDeadlineMs + 200);
      // Never two leaders: the cut-off one had stopped a whole (lease duration - renew deadline) before.
      expect(acquired!.at).toBeGreaterThan(stopped!.at + (FAST.leaseDurationMs - FAST.renewDeadlineMs) / 2);

      // Back in touch, it finds the Lease taken and stays a candidate.
      proxy.restore();
      await eventually(async () => expect((await cutOff.api('GET', '/readyz')).status).toBe(200), 15_000);
      await eventually(async () => {
        const seen = (await cutOff.api('GET', leasePath(CONTROLLER_MANAGER_LEASE))).body;
        expect(seen.spec.holderIdentity).toBe(other.server.identity);
      }, 15_000);
      expect(cutOff.server.controllers).toBeUndefined();
    } finally {
      await Promise.all(servers.splice(0).map((s) => s.destroy()));
      await proxy.close();
    }
  });
});
