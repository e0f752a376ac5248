import { eventually, openWatch, startTestServer, type TestServer } from '../helpers';

/** The Deployment controller (with the ReplicaSet controller) against a real server and a fake node. */

jest.setTimeout(60_000);

let ts: TestServer;
const NS = 'default';
const D_PATH = `/apis/apps/v1/namespaces/${NS}/deployments`;
const RS_PATH = `/apis/apps/v1/namespaces/${NS}/replicasets`;
const PODS_PATH = `/api/v1/namespaces/${NS}/pods`;
const MERGE = { 'Content-Type': 'application/merge-patch+json' };

beforeAll(async () => {
  ts = await startTestServer({ log: process.env.MK_TEST_LOG ? (l) => console.log(l) : undefined, agent: { runtime: 'fake', nodeName: `n-${Math.random().toString(36).slice(2, 8)}`, port: 0 } });
});
afterAll(async () => ts?.destroy());

function deployment(name: string, replicas: number, image = 'busybox:1.36', spec: Record<string, any> = {}): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image, command: ['sleep', '3600'] }] },
      },
      ...spec,
    },
  };
}

const getD = async (name: string) => (await ts.api('GET', `${D_PATH}/${name}`)).body;
const rsesOf = async (d: any) =>
  ((await ts.api('GET', RS_PATH)).body.items as any[]).filter((rs) => rs.metadata.ownerReferences?.[0]?.uid === d.metadata.uid);
const cond = (d: any, type: string) => d.status?.conditions?.find((c: any) => c.type === type);

async function setImage(name: string, image: string): Promise<void> {
  const res = await ts.api('PATCH', `${D_PATH}/${name}`, { spec: { template: { spec: { containers: [{ name: 'web', image, command: ['sleep', '3600'] }] } } } }, MERGE);
  expect(res.status).toBe(200);
}

/** Waits until the rollout of the current generation is complete (kubectl rollout status's test). */
async function rolledOut(name: string, replicas: number, timeout = 20_000): Promise<any> {
  return eventually(async () => {
    const d = await getD(name);
    expect(d.status?.observedGeneration).toBe(d.metadata.generation);
    expect(d.status).toMatchObject({ replicas, updatedReplicas: replicas, availableReplicas: replicas, readyReplicas: replicas });
    expect(cond(d, 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(cond(d, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
    const rses = await rsesOf(d);
    expect(rses.filter((rs) => rs.spec.replicas > 0)).toHaveLength(replicas > 0 ? 1 : 0);
    return d;
  }, timeout);
}

const imagesOf = (pods: any[]) => pods.map((p) => p.spec.containers[0].image);

test('creates a ReplicaSet named by pod-template-hash, with revision 1', async () => {
  await ts.api('POST', D_PATH, deployment('hello', 3));
  const d = await rolledOut('hello', 3);
  expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('1');
  const [rs] = await rsesOf(d);
  const hash = rs.metadata.labels['pod-template-hash'];
  expect(hash).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
  expect(rs.metadata.name).toBe(`hello-${hash}`);
  expect(rs.spec.selector.matchLabels).toEqual({ app: 'hello', 'pod-template-hash': hash });
  expect(rs.spec.template.metadata.labels['pod-template-hash']).toBe(hash);
  expect(rs.metadata.annotations['deployment.kubernetes.io/revision']).toBe('1');
  const pods = (await ts.api('GET', `${PODS_PATH}?labelSelector=app%3Dhello`)).body.items;
  expect(pods.every((p: any) => p.metadata.labels['pod-template-hash'] === hash)).toBe(true);
});

/**
 * Rolls `name` to a new image while a pod watch recounts, after every event,
 * the Ready pods that are not terminating and the pods that exist; returns
 * the lowest and highest counts seen during the rollout.
 */
async function watchedRollout(name: string, replicas: number, strategy: any): Promise<{ lowestReady: number; mostPods: number; d: any }> {
  await ts.api('POST', D_PATH, deployment(name, replicas, 'busybox:1.36', { strategy }));
  await rolledOut(name, replicas);
  const list = (await ts.api('GET', `${PODS_PATH}?labelSelector=app%3D${name}`)).body;
  const pods = new Map<string, any>(list.items.map((p: any) => [p.metadata.name, p]));
  const watch = await openWatch(ts, `${PODS_PATH}?watch=true&labelSelector=app%3D${name}&resourceVersion=${list.metadata.resourceVersion}`);
  const live = () => [...pods.values()].filter((p) => !p.metadata.deletionTimestamp);
  const readyNow = () => live().filter((p) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')).length;
  let lowestReady = readyNow();
  let mostPods = live().length;
  let stop = false;
  const watching = (async () => {
    while (!stop) {
      let e: any;
      try {
        e = await watch.next(200);
      } catch {
        continue;
      }
      if (e.type === 'DELETED') pods.delete(e.object.metadata.name);
      else if (e.type === 'ADDED' || e.type === 'MODIFIED') pods.set(e.object.metadata.name, e.object);
      lowestReady = Math.min(lowestReady, readyNow());
      mostPods = Math.max(mostPods, live().length);
    }
  })();
  await setImage(name, 'busybox:1.37');
  const d = await rolledOut(name, replicas);
  await eventually(async () => expect(imagesOf(live())).toEqual(Array(replicas).fill('busybox:1.37')));
  stop = true;
  await watching;
  watch.close();
  return { lowestReady, mostPods, d };
}

test('a rolling update never drops below replicas - maxUnavailable ready pods, watched continuously', async () => {
  const { lowestReady, mostPods, d } = await watchedRollout('roll', 4, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } });
  expect(lowestReady).toBeGreaterThanOrEqual(3);
  expect(mostPods).toBeLessThanOrEqual(5);
  expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('2');
  const rses = await rsesOf(d);
  expect(rses).toHaveLength(2);
  expect(rses.find((rs) => rs.spec.replicas === 0).metadata.annotations['deployment.kubernetes.io/revision']).toBe('1');
});

test('percentages round like Kubernetes: 25% of 10 is a surge of 3 (up) and 2 unavailable (down)', async () => {
  const { lowestReady, mostPods } = await watchedRollout('pct', 10, { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
  expect(lowestReady).toBeGreaterThanOrEqual(8);
  expect(mostPods).toBeLessThanOrEqual(13);
});

test('maxUnavailable 0 keeps every replica ready throughout', async () => {
  const { lowestReady, mostPods } = await watchedRollout('surge', 3, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  expect(lowestReady).toBeGreaterThanOrEqual(3);
  expect(mostPods).toBeLessThanOrEqual(4);
});

test('Recreate stops every old pod before starting new ones', async () => {
  await ts.api('POST', D_PATH, deployment('recreate', 3, 'busybox:1.36', { strategy: { type: 'Recreate' } }));
  await rolledOut('recreate', 3);
  const watch = await openWatch(ts, `${PODS_PATH}?watch=true&labelSelector=app%3Drecreate`);
  const seen = new Map<string, any>();
  let overlap = false;
  let stop = false;
  const watching = (async () => {
    while (!stop) {
      let e: any;
      try {
        e = await watch.next(200);
      } catch {
        continue;
      }
      if (e.type === 'DELETED') seen.delete(e.object.metadata.name);
      else seen.set(e.object.metadata.name, e.object);
      // Terminated pods (Succeeded/Failed) no longer run, as Kubernetes' Recreate counts them.
      const running = [...seen.values()].filter((p) => !['Succeeded', 'Failed'].includes(p.status?.phase));
      const images = new Set(imagesOf(running));
      if (images.has('busybox:1.36') && images.has('busybox:1.37')) overlap = true;
    }
  })();
  await setImage('recreate', 'busybox:1.37');
  await rolledOut('recreate', 3);
  stop = true;
  await watching;
  watch.close();
  expect(overlap).toBe(false);
});

test('rollback: copying the previous revision template back reuses its ReplicaSet and advances the revision', async () => {
  await ts.api('POST', D_PATH, deployment('undo', 2));
  await rolledOut('undo', 2);
  await setImage('undo', 'busybox:1.37');
  let d = await rolledOut('undo', 2);
  const old = (await rsesOf(d)).find((rs) => rs.metadata.annotations['deployment.kubernetes.io/revision'] === '1');
  const template = structuredClone(old.spec.template);
  delete template.metadata.labels['pod-template-hash'];
  // What kubectl rollout undo sends after its typed round trip: still the same template as the old RS's.
  template.metadata.creationTimestamp = null;
  template.spec.containers[0].resources = {};
  const res = await ts.api('PATCH', `${D_PATH}/undo`, [{ op: 'replace', path: '/spec/template', value: template }], { 'Content-Type': 'application/json-patch+json' });
  expect(res.status).toBe(200);
  d = await rolledOut('undo', 2);
  expect(d.spec.template.spec.containers[0].image).toBe('busybox:1.36');
  expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('3');
  const rses = await rsesOf(d);
  expect(rses).toHaveLength(2);
  const reused = rses.find((rs) => rs.metadata.uid === old.metadata.uid);
  expect(reused.spec.replicas).toBe(2);
  expect(reused.metadata.annotations['deployment.kubernetes.io/revision']).toBe('3');
});

test('paused Deployments do not roll out; resuming continues', async () => {
  await ts.api('POST', D_PATH, deployment('pause', 2));
  await rolledOut('pause', 2);
  await ts.api('PATCH', `${D_PATH}/pause`, { spec: { paused: true } }, MERGE);
  await eventually(async () => expect(cond(await getD('pause'), 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' }));
  await setImage('pause', 'busybox:1.37');
  await eventually(async () => {
    const d = await getD('pause');
    expect(d.status.observedGeneration).toBe(d.metadata.generation);
  });
  let d = await getD('pause');
  expect(await rsesOf(d)).toHaveLength(1);
  expect(d.status.updatedReplicas).toBe(0);
  await ts.api('PATCH', `${D_PATH}/pause`, { spec: { paused: null } }, MERGE);
  d = await rolledOut('pause', 2);
  expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('2');
});

test('scaling mid-rollout scales the ReplicaSets proportionally', async () => {
  // maxUnavailable 0 and a new image that never becomes ready keep the rollout stuck half-way.
  await ts.api('POST', D_PATH, deployment('prop', 10, 'busybox:1.36', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 0 } } }));
  await rolledOut('prop', 10);
  await setImage('prop', 'registry.local/does-not-exist:1');
  let d = await eventually(async () => {
    const x = await getD('prop');
    const rses = await rsesOf(x);
    expect(rses).toHaveLength(2);
    expect(rses.map((rs) => rs.spec.replicas).sort((a, b) => a - b)).toEqual([3, 10]);
    return x;
  });
  // The scale subresource answers 409 when the Deployment changes during the request (see report); retry as a client would.
  await eventually(async () => expect((await ts.api('PATCH', `${D_PATH}/prop/scale`, { spec: { replicas: 20 } }, MERGE)).status).toBe(200));
  d = await eventually(async () => {
    const x = await getD('prop');
    const rses = await rsesOf(x);
    // 20 + 3 surge = 23 allowed; 13 -> 23 adds 10 split 10:3, i.e. ~8 and ~2.
    const byRevision = Object.fromEntries(rses.map((rs) => [rs.metadata.annotations['deployment.kubernetes.io/revision'], rs.spec.replicas]));
    expect(byRevision['1'] + byRevision['2']).toBe(23);
    expect(byRevision['1']).toBe(18);
    expect(byRevision['2']).toBe(5);
    return x;
  });
  expect(d.spec.replicas).toBe(20);
});

test('a rollout that cannot progress gets ProgressDeadlineExceeded', async () => {
  await ts.api('POST', D_PATH, deployment('stuck', 2, 'busybox:1.36', { progressDeadlineSeconds: 2 }));
  await rolledOut('stuck', 2);
  await setImage('stuck', 'registry.local/does-not-exist:1');
  const d = await eventually(async () => {
    const x = await getD('stuck');
    expect(cond(x, 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    return x;
  }, 15_000);
  expect(cond(d, 'Progressing').message).toMatch(/^ReplicaSet "stuck-[a-z0-9]+" has timed out progressing\.$/);
  // The old pods keep serving: maxUnavailable 25% of 2 rounds down to 0.
  expect(d.status.availableReplicas).toBe(2);
  expect(cond(d, 'Available')).toMatchObject({ status: 'True' });
});

test('revisionHistoryLimit removes the oldest unused ReplicaSets', async () => {
  await ts.api('POST', D_PATH, deployment('hist', 1, 'busybox:1.30', { revisionHistoryLimit: 1 }));
  await rolledOut('hist', 1);
  for (const tag of ['1.31', '1.32', '1.33']) {
    await setImage('hist', `busybox:${tag}`);
    await rolledOut('hist', 1);
  }
  await eventually(async () => {
    const rses = await rsesOf(await getD('hist'));
    expect(rses.map((rs) => rs.metadata.annotations['deployment.kubernetes.io/revision']).sort()).toEqual(['3', '4']);
  });
});
