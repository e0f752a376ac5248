import { launchAgents, type RunningAgents } from '../../src/agent/launcher';
import { LocalClient } from '../../src/apiserver/local-client';
import { eventually, openWatch, startTestServer, tempDir, type TestServer } from '../helpers';

/**
 * The DaemonSet controller against a real server, its scheduler and fake
 * nodes: the server's own node plus agents this file starts and stops to
 * make nodes join and leave.
 */

jest.setTimeout(60_000);

let ts: TestServer;
let home: string;
const NS = 'default';
const DS = `/apis/apps/v1/namespaces/${NS}/daemonsets`;
const PODS = `/api/v1/namespaces/${NS}/pods`;
const started: RunningAgents[] = [];

beforeAll(async () => {
  home = `home-${Math.random().toString(36).slice(2, 8)}`;
  ts = await startTestServer({ agent: { runtime: 'fake', nodeName: home, port: 0 } });
});
afterAll(async () => {
  for (const a of started) await a.stop();
  await ts?.destroy();
});

async function addNodes(prefix: string, n: number): Promise<{ agents: RunningAgents; names: string[] }> {
  const agents = await launchAgents({ client: new LocalClient(ts.server.resources), token: ts.token, runtime: 'fake', nodeName: prefix, nodes: n, dataDir: tempDir(), port: 0 });
  started.push(agents);
  return { agents, names: agents.agents.map((_a, i) => `${prefix}-${String(i + 1).padStart(4, '0')}`) };
}

async function removeNodes(agents: RunningAgents, names: string[]): Promise<void> {
  await agents.stop();
  started.splice(started.indexOf(agents), 1);
  for (const n of names) await ts.api('DELETE', `/api/v1/nodes/${n}`);
}

function daemonSet(name: string, podSpec: Record<string, unknown> = {}, image = 'busybox:1.36'): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'main', image, command: ['sleep', '3600'] }], ...podSpec },
      },
    },
  };
}

const live = (ps: any[]) => ps.filter((p) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase));

async function podsOf(name: string): Promise<any[]> {
  return live((await ts.api('GET', `${PODS}?labelSelector=app%3D${name}`)).body.items);
}

/** Waits until exactly `nodes` run one ready pod of the DaemonSet each, and its status says so. */
async function expectOnNodes(name: string, nodes: string[], timeout = 20_000): Promise<any[]> {
  return eventually(async () => {
    const pods = await podsOf(name);
    expect(pods.map((p) => p.spec.nodeName).sort()).toEqual([...nodes].sort());
    for (const p of pods) expect(p.status?.conditions?.find((c: any) => c.type === 'Ready')?.status).toBe('True');
    const ds = (await ts.api('GET', `${DS}/${name}`)).body;
    expect(ds.status).toMatchObject({
      observedGeneration: ds.metadata.generation,
      desiredNumberScheduled: nodes.length,
      currentNumberScheduled: nodes.length,
      numberReady: nodes.length,
      numberAvailable: nodes.length,
      updatedNumberScheduled: nodes.length,
      numberMisscheduled: 0,
    });
    return pods;
  }, timeout);
}

test('runs one pod per node, following nodes that join and leave', async () => {
  const created = await ts.api('POST', DS, daemonSet('agent'));
  expect(created.status).toBe(201);
  const [pod] = await expectOnNodes('agent', [home]);
  // Placed by the default scheduler through a node-name affinity, with the daemon tolerations.
  expect(pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual({
    nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [home] }] }],
  });
  expect(pod.spec.tolerations).toEqual(expect.arrayContaining([
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  ]));
  expect(pod.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'DaemonSet', name: 'agent', uid: created.body.metadata.uid, controller: true })]);
  expect(pod.metadata.labels['controller-revision-hash']).toMatch(/^[0-9a-f]{10}$/);

  const { agents, names } = await addNodes('join', 2);
  await expectOnNodes('agent', [home, ...names]);

  await removeNodes(agents, names);
  await expectOnNodes('agent', [home]);

  // A deleted daemon pod is replaced.
  const [before] = await podsOf('agent');
  await ts.api('DELETE', `${PODS}/${before.metadata.name}`);
  await eventually(async () => {
    const pods = await expectOnNodes('agent', [home]);
    expect(pods[0].metadata.uid).not.toBe(before.metadata.uid);
  });
  await ts.api('DELETE', `${DS}/agent`);
});

test('nodeSelector and taints decide which nodes are eligible', async () => {
  const { names } = await addNodes('pool', 2);
  const [edge, tainted] = names;
  await ts.api('PATCH', `/api/v1/nodes/${edge}`, { metadata: { labels: { role: 'edge' } } }, { 'Content-Type': 'application/merge-patch+json' });
  await ts.api('POST', DS, daemonSet('edge', { nodeSelector: { role: 'edge' } }));
  await expectOnNodes('edge', [edge]);

  // Labelling another node makes it eligible; unlabelling removes the pod.
  await ts.api('PATCH', `/api/v1/nodes/${home}`, { metadata: { labels: { role: 'edge' } } }, { 'Content-Type': 'application/merge-patch+json' });
  await expectOnNodes('edge', [edge, home]);
  await ts.api('PATCH', `/api/v1/nodes/${home}`, { metadata: { labels: { role: null } } }, { 'Content-Type': 'application/merge-patch+json' });
  await expectOnNodes('edge', [edge]);
  await ts.api('DELETE', `${DS}/edge`);

  // A NoSchedule taint keeps the daemon off unless it is tolerated.
  await ts.api('PATCH', `/api/v1/nodes/${tainted}`, { spec: { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] } }, { 'Content-Type': 'application/merge-patch+json' });
  await ts.api('POST', DS, daemonSet('plain'));
  await expectOnNodes('plain', [home, edge]);
  await ts.api('POST', DS, daemonSet('tolerant', { tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] }));
  await expectOnNodes('tolerant', [home, edge, tainted]);
  // An untolerated NoExecute taint evicts the daemon pod from the node.
  await ts.api('PATCH', `/api/v1/nodes/${edge}`, { spec: { taints: [{ key: 'maintenance', effect: 'NoExecute' }] } }, { 'Content-Type': 'application/merge-patch+json' });
  await expectOnNodes('plain', [home]);
  await ts.api('PATCH', `/api/v1/nodes/${edge}`, { spec: { taints: null } }, { 'Content-Type': 'application/merge-patch+json' });
  await expectOnNodes('plain', [home, edge]);
  await ts.api('DELETE', `${DS}/plain`);
  await ts.api('DELETE', `${DS}/tolerant`);
  await ts.api('PATCH', `/api/v1/nodes/${tainted}`, { spec: { taints: null } }, { 'Content-Type': 'application/merge-patch+json' });
});

test('a template change rolls out node by node, never more than maxUnavailable down', async () => {
  let nodes: string[] = (await ts.api('GET', '/api/v1/nodes')).body.items.map((n: any) => n.metadata.name);
  if (nodes.length < 3) nodes = [...nodes, ...(await addNodes('roll', 3 - nodes.length)).names];
  await ts.api('POST', DS, daemonSet('roll'));
  const before = await expectOnNodes('roll', nodes);
  const oldHash = before[0].metadata.labels['controller-revision-hash'];

  // Ready pods, recounted on every pod event of the rollout (not sampled on a timer).
  const isReady = (p: any) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
  const listed = await ts.api('GET', `${PODS}?labelSelector=app%3Droll`);
  const ready = new Set<string>(listed.body.items.filter(isReady).map((p: any) => p.metadata.uid));
  let minReady = ready.size;
  const podWatch = await openWatch(ts, `${PODS}?watch=true&labelSelector=app%3Droll&resourceVersion=${listed.body.metadata.resourceVersion}`);
  const watcher = (async () => {
    for (;;) {
      let e: any;
      try {
        e = await podWatch.next(60_000);
      } catch {
        return; // closed
      }
      if (e.type !== 'DELETED' && isReady(e.object)) ready.add(e.object.metadata.uid);
      else ready.delete(e.object.metadata.uid);
      minReady = Math.min(minReady, ready.size);
    }
  })();
  const patched = await ts.api('PATCH', `${DS}/roll`, [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'busybox:1.37' }], { 'Content-Type': 'application/json-patch+json' });
  expect(patched.status).toBe(200);
  const after = await eventually(async () => {
    const pods = await expectOnNodes('roll', nodes);
    for (const p of pods) {
      expect(p.spec.containers[0].image).toBe('busybox:1.37');
      expect(p.metadata.labels['controller-revision-hash']).not.toBe(oldHash);
    }
    return pods;
  }, 30_000).finally(async () => {
    podWatch.close();
    await watcher;
  });
  expect(after).toHaveLength(nodes.length);
  expect(minReady).toBeGreaterThanOrEqual(nodes.length - 1);
});

test('daemonset tables have kubectl columns', async () => {
  const res = await ts.api('GET', DS, undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
  const row = res.body.rows.find((r: any) => r.cells[0] === 'roll');
  expect(res.body.columnDefinitions.map((c: any) => c.name).slice(0, 9)).toEqual(['Name', 'Desired', 'Current', 'Ready', 'Up-to-date', 'Available', 'Node Selector', 'Age', 'Containers']);
  expect(row.cells.slice(1, 7)).toEqual([3, 3, 3, 3, 3, '<none>']);
});
