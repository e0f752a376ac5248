import { launchAgents, type RunningAgents } from '../../src/agent/launcher';
import { LocalClient } from '../../src/apiserver/local-client';
import { eventually, podManifest, startTestServer, tempDir, type TestServer } from '../helpers';

/**
 * Node lifecycle with a real server and two fake nodes heartbeating every
 * 300 ms, a 3 s --node-monitor-grace-period: `nl-dead` is stopped (its
 * Lease goes stale), `nl-live` keeps running.
 */

const GRACE_MS = 3000;
let ts: TestServer;
const running: RunningAgents[] = [];

async function startNode(nodeName: string): Promise<RunningAgents> {
  const agents = await launchAgents({
    client: new LocalClient(ts.server.resources),
    token: ts.token,
    runtime: 'fake',
    nodeName,
    dataDir: tempDir(),
    port: 0,
    heartbeatIntervalMs: 300,
    leaseDurationSeconds: 1,
  });
  running.push(agents);
  return agents;
}

beforeAll(async () => {
  ts = await startTestServer({ nodeMonitorGracePeriodMs: GRACE_MS, defaultTolerationSeconds: 7 });
});

afterAll(async () => {
  for (const a of running) await a.stop();
  await ts?.destroy();
});

const NS = '/api/v1/namespaces/default';
const node = async (name: string) => (await ts.api('GET', `/api/v1/nodes/${name}`)).body;
const ready = (n: any) => n.status?.conditions?.find((c: any) => c.type === 'Ready');
const noExecute = (n: any) => (n.spec?.taints ?? []).filter((t: any) => t.effect === 'NoExecute').map((t: any) => t.key);

test('--default-toleration-seconds sets the defaulted tolerationSeconds', async () => {
  const res = await ts.api('POST', `${NS}/pods?dryRun=All`, podManifest('tol'));
  expect(res.status).toBe(201);
  expect(res.body.spec.tolerations).toEqual(expect.arrayContaining([
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 7 },
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 7 },
  ]));
});

test('a node that stops heartbeating goes Unknown and unreachable; its pods are evicted after their toleration and replaced on a live node; it comes back untainted', async () => {
  await startNode('nl-live');
  const dead = await startNode('nl-dead');
  const unreachable = (seconds?: number) => ({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', ...(seconds === undefined ? {} : { tolerationSeconds: seconds }) });

  // Pinned to the node that will die: one tolerating it 2 s, one forever.
  const short = podManifest('short', { spec: { nodeName: 'nl-dead', tolerations: [unreachable(2)] } });
  const forever = podManifest('forever', { spec: { nodeName: 'nl-dead', tolerations: [unreachable()] } });
  for (const p of [short, forever]) expect((await ts.api('POST', `${NS}/pods`, p)).status).toBe(201);
  // A ReplicaSet with a pod on each node (the scheduler spreads one owner's pods).
  const template = podManifest('web', { spec: { tolerations: [unreachable(2)] } });
  template.metadata = { labels: { app: 'web' } };
  expect((await ts.api('POST', '/apis/apps/v1/namespaces/default/replicasets', {
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web' },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template },
  })).status).toBe(201);
  const webPods = async () => (await ts.api('GET', `${NS}/pods?labelSelector=app%3Dweb`)).body.items as any[];
  await eventually(async () => {
    const pods = await webPods();
    expect(pods.map((p) => `${p.spec.nodeName}/${p.status.phase}`).sort()).toEqual(['nl-dead/Running', 'nl-live/Running']);
    for (const n of ['short', 'forever']) expect((await ts.api('GET', `${NS}/pods/${n}`)).body.status.phase).toBe('Running');
  }, 15_000);
  expect(ready(await node('nl-dead')).status).toBe('True');

  await dead.stop();
  const stoppedAt = Date.now();
  await eventually(async () => {
    const n = await node('nl-dead');
    expect(ready(n)).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' });
    expect(n.status.conditions.every((c: any) => c.status === 'Unknown')).toBe(true);
    expect(noExecute(n)).toEqual(['node.kubernetes.io/unreachable']);
    expect(n.spec.taints).toContainEqual({ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' });
  }, GRACE_MS + 3000);
  expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(GRACE_MS - 500);
  const taintedAt = Date.parse((await node('nl-dead')).spec.taints.find((t: any) => t.effect === 'NoExecute').timeAdded);
  expect(ready(await node('nl-live')).status).toBe('True');

  // Evicted once the 2 s toleration runs out, not before; the pod tolerating forever stays.
  await eventually(async () => expect((await ts.api('GET', `${NS}/pods/short`)).status).toBe(404), 2000 + 3000);
  expect(Date.now()).toBeGreaterThanOrEqual(taintedAt + 1000);
  expect((await ts.api('GET', `${NS}/pods/forever`)).body.metadata.deletionTimestamp).toBeUndefined();
  // The ReplicaSet's pod on the dead node is replaced on the live one.
  await eventually(async () => {
    const pods = await webPods();
    expect(pods.map((p) => `${p.spec.nodeName}/${p.status.phase}`)).toEqual(['nl-live/Running', 'nl-live/Running']);
  }, 2000 + 5000);
  expect(Date.now() - stoppedAt).toBeLessThan(GRACE_MS + 2000 + 6000);

  // The node comes back: its agent posts Ready, and the taints go.
  await startNode('nl-dead');
  await eventually(async () => {
    const n = await node('nl-dead');
    expect(ready(n).status).toBe('True');
    expect(n.spec.taints ?? []).toEqual([]);
  }, 5000);
  expect((await ts.api('GET', `${NS}/pods/forever`)).body.metadata.deletionTimestamp).toBeUndefined();
});

test('a node reporting Ready False gets the not-ready taint, which goes when it is Ready again', async () => {
  const setReady = async (status: string) => {
    const n = await node('nl-live');
    const conditions = n.status.conditions.map((c: any) => (c.type === 'Ready' ? { ...c, status, reason: 'Test' } : c));
    const res = await ts.api('PATCH', '/api/v1/nodes/nl-live/status', { status: { conditions } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(res.status).toBe(200);
  };
  await setReady('False');
  await eventually(async () => expect(noExecute(await node('nl-live'))).toEqual(['node.kubernetes.io/not-ready']), 3000);
  await setReady('True');
  await eventually(async () => expect((await node('nl-live')).spec.taints ?? []).toEqual([]), 3000);
});
