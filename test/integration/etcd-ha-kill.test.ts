import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { launchAgents, type RunningAgents } from '../../src/agent/launcher';
import { resolveResourceName } from '../../src/api/registry';
import type { KubeObject } from '../../src/api/types';
import { ApiClient } from '../../src/client/api-client';
import { Informer } from '../../src/client/informer';
import { ensureBuilt, killMk, startMkServer, type MkProcess } from '../cli-build';
import { requireEtcd, startEtcdCluster, type TestEtcdCluster } from '../etcd-helpers';
import { eventually, tempDir } from '../helpers';

/**
 * Three real `mk server` processes on a three-member etcd cluster (every
 * server given all three members), with the default leader
 * election timings (15 s lease, renewed every 5 s): the leader is killed
 * with SIGKILL while a Deployment scales, so it neither finishes its work
 * nor hands its Leases over. Another server must take over within 20 s
 * (issue 8), and the Deployment must converge without ever running more
 * pods than asked for: two controller managers acting at once would.
 */

const describeEtcd = requireEtcd();
const PODS = resolveResourceName('pods')!;
const LEASE = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${name}`;
const DEPLOYMENT = '/apis/apps/v1/namespaces/default/deployments/web';
const MERGE = 'merge' as const;

interface MkServer extends MkProcess {
  url: string;
  /** Its leader candidate name (hostname_uuid), from its log. */
  identity: string;
  dataDir: string;
}

async function spawnServer(etcdEndpoint: string, prefix: string, token: string): Promise<MkServer> {
  const dataDir = tempDir('mk-ha-kill-');
  const child = await startMkServer([
    '--data-dir', dataDir, '--port', '0', '--disable-agent',
    '--datastore-endpoint', etcdEndpoint, '--datastore-prefix', prefix, '--token', token,
  ]);
  const identity = /leader candidate (\S+);/.exec(child.stderr())?.[1];
  if (!identity) throw new Error(`no leader candidate line in:\n${child.stderr()}`);
  return { ...child, identity, dataDir };
}

describeEtcd('kill -9 the leader of three mk server processes on a three-member etcd', () => {
  let etcd: TestEtcdCluster;
  const servers: MkServer[] = [];
  const clients: ApiClient[] = [];
  let agents: RunningAgents | undefined;
  let pods: Informer | undefined;
  const agentDir = tempDir('mk-agent-');

  beforeAll(async () => {
    ensureBuilt();
    etcd = await startEtcdCluster(3);
  }, 180_000);
  afterAll(async () => {
    pods?.stop();
    await agents?.stop();
    for (const c of clients) c.close();
    await Promise.all(servers.map(killMk));
    for (const dir of [...servers.map((s) => s.dataDir), agentDir]) fs.rmSync(dir, { recursive: true, force: true });
    await etcd?.destroy();
  });

  test('another server takes over within 20 s and the Deployment converges with no extra pods', async () => {
    const token = randomBytes(32).toString('hex');
    const prefix = `/mk-ha-kill-${process.pid}/`;
    // The first one creates the cluster (its CA); the other two join it.
    servers.push(await spawnServer(etcd.endpoint, prefix, token));
    servers.push(...(await Promise.all([spawnServer(etcd.endpoint, prefix, token), spawnServer(etcd.endpoint, prefix, token)])));
    const caData = fs.readFileSync(path.join(servers[0]!.dataDir, 'tls', 'ca.crt'), 'utf8');
    for (const s of servers.slice(1)) expect(fs.readFileSync(path.join(s.dataDir, 'tls', 'ca.crt'), 'utf8')).toBe(caData);
    const clientOf = (s: MkServer) => {
      const c = new ApiClient({ server: s.url, token, caData });
      clients.push(c);
      return c;
    };
    const api = clientOf(servers[2]!);
    const leaseHolder = async (name: string): Promise<KubeObject> => api.get(resolveResourceName('leases.coordination.k8s.io')!, 'kube-system', name);

    const holder = (await eventually(() => leaseHolder('kube-controller-manager'), 20_000)).spec.holderIdentity;
    const leader = servers.find((s) => s.identity === holder)!;
    expect(leader).toBeDefined();
    const survivor = servers.find((s) => s !== leader)!;
    const client = clientOf(survivor);

    // A node (the fake runtime) whose agent talks to a server that stays up.
    agents = await launchAgents({ client, token, nodeName: 'ha-node', runtime: 'fake', dataDir: agentDir, port: 0 });
    // Every pod the cluster ever has at once, per ReplicaSet, as seen through the survivor's watch.
    const live = new Map<string, KubeObject>();
    const most = new Map<string, number>();
    const count = () => {
      const perOwner = new Map<string, number>();
      for (const p of live.values()) {
        if (p.metadata.deletionTimestamp) continue;
        const owner = p.metadata.ownerReferences?.[0]?.name ?? '';
        perOwner.set(owner, (perOwner.get(owner) ?? 0) + 1);
      }
      for (const [owner, n] of perOwner) most.set(owner, Math.max(most.get(owner) ?? 0, n));
      return perOwner;
    };
    pods = new Informer(client, PODS, { namespace: 'default' }).on({
      add: (p) => (live.set(p.metadata.name!, p), count()),
      update: (_o, p) => (live.set(p.metadata.name!, p), count()),
      delete: (p) => (live.delete(p.metadata.name!), count()),
    });
    await pods.start();

    const deployments = resolveResourceName('deployments')!;
    await client.create(deployments, {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 3, selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox:1.36', command: ['sleep', '3600'] }] } },
      },
    });
    await eventually(async () => {
      const d = await client.get(deployments, 'default', 'web');
      expect(d.status).toMatchObject({ replicas: 3, availableReplicas: 3 });
    }, 30_000);

    // Scale up and kill the leader in the middle of it: no chance to finish, nor to release its Leases.
    await client.patch(deployments, 'default', 'web', { spec: { replicas: 10 } }, MERGE);
    const killedAt = Date.now();
    await killMk(leader);

    const next = await eventually(async () => {
      const lease = await leaseHolder('kube-controller-manager');
      expect(lease.spec.holderIdentity).not.toBe(leader.identity);
      return lease;
    }, 30_000, 200);
    expect(servers.map((s) => s.identity)).toContain(next.spec.holderIdentity);
    // acquireTime is written by the new leader's clock (the same machine's): within 20 s of the kill.
    expect(Date.parse(next.spec.acquireTime) - killedAt).toBeLessThanOrEqual(20_000);
    expect(next.spec.leaseTransitions).toBeGreaterThanOrEqual(1);

    // Scaled again after the kill: the new leader converges it.
    await client.patch(deployments, 'default', 'web', { spec: { replicas: 6 } }, MERGE);
    await eventually(async () => {
      const d = await client.get(deployments, 'default', 'web');
      expect(d.status).toMatchObject({ observedGeneration: d.metadata.generation, replicas: 6, updatedReplicas: 6, availableReplicas: 6 });
      const perOwner = count();
      expect([...perOwner.values()]).toEqual([6]);
    }, 60_000, 200);
    // One ReplicaSet the whole time, never more pods than the most ever asked for (10; maxSurge only applies to rollouts).
    expect(most.size).toBe(1);
    expect([...most.values()][0]).toBeLessThanOrEqual(10);
    const deployment = await client.get(deployments, 'default', 'web');
    expect(deployment.spec.strategy.rollingUpdate.maxSurge).toBe('25%');

    // The dead server's Lease ran out, so the kubernetes Endpoints no longer send anyone to it.
    const ports = (group: MkServer[]) => group.map((s) => Number(new URL(s.url).port)).sort((a, b) => a - b);
    await eventually(async () => {
      const ep = await client.get(resolveResourceName('endpoints')!, 'default', 'kubernetes');
      expect(ep.subsets.map((s: any) => s.ports[0].port)).toEqual(ports(servers.filter((s) => s !== leader)));
    }, 30_000, 500);
  }, 180_000);
});
