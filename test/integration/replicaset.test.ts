import { eventually, openWatch, startTestServer, type TestServer } from '../helpers';

/** The ReplicaSet controller against a real server with a fake node (pods become Running/Ready at once). */

jest.setTimeout(60_000);

let ts: TestServer;
const NS = 'default';
const RS_PATH = `/apis/apps/v1/namespaces/${NS}/replicasets`;
const PODS_PATH = `/api/v1/namespaces/${NS}/pods`;

beforeAll(async () => {
  ts = await startTestServer({ agent: { runtime: 'fake', nodeName: `n-${Math.random().toString(36).slice(2, 8)}`, port: 0 } });
});
afterAll(async () => ts?.destroy());

function rs(name: string, replicas: number): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { restartPolicy: 'Always', containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
      },
    },
  };
}

async function pods(app: string): Promise<any[]> {
  const res = await ts.api('GET', `${PODS_PATH}?labelSelector=app%3D${app}`);
  return res.body.items;
}

const active = (ps: any[]) => ps.filter((p) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase));

async function expectReady(name: string, n: number, timeout = 15_000): Promise<any> {
  return eventually(async () => {
    const r = (await ts.api('GET', `${RS_PATH}/${name}`)).body;
    expect(r.status?.observedGeneration).toBe(r.metadata.generation);
    expect(r.status?.replicas).toBe(n);
    expect(r.status?.readyReplicas ?? 0).toBe(n);
    expect(r.status?.availableReplicas ?? 0).toBe(n);
    expect(r.status?.fullyLabeledReplicas ?? 0).toBe(n);
    expect(active(await pods(name))).toHaveLength(n);
    return r;
  }, timeout);
}

test('creates pods with controller ownerReferences and scales up and down through the scale subresource', async () => {
  const created = await ts.api('POST', RS_PATH, rs('web', 3));
  expect(created.status).toBe(201);
  await expectReady('web', 3);
  for (const p of active(await pods('web'))) {
    expect(p.metadata.generateName).toBe('web-');
    expect(p.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'ReplicaSet', name: 'web', uid: created.body.metadata.uid, controller: true, blockOwnerDeletion: true }),
    ]);
  }
  await ts.api('PATCH', `${RS_PATH}/web/scale`, { spec: { replicas: 5 } }, { 'Content-Type': 'application/merge-patch+json' });
  await expectReady('web', 5);
  await ts.api('PATCH', `${RS_PATH}/web/scale`, { spec: { replicas: 1 } }, { 'Content-Type': 'application/merge-patch+json' });
  await expectReady('web', 1);
});

test('replaces a deleted pod and a pod that failed', async () => {
  await ts.api('POST', RS_PATH, rs('heal', 2));
  await expectReady('heal', 2);
  const [first, second] = active(await pods('heal'));
  expect((await ts.api("DELETE", `${PODS_PATH}/${first.metadata.name}`)).status).toBeLessThan(300);
  await eventually(async () => {
    const names = active(await pods('heal')).map((p) => p.metadata.name);
    expect(names).not.toContain(first.metadata.name);
    expect(names).toHaveLength(2);
  });
  // An evicted pod: its phase becomes Failed; it no longer counts and is replaced.
  const status = { ...second, status: { ...second.status, phase: 'Failed', reason: 'Evicted', conditions: [] } };
  expect((await ts.api('PUT', `${PODS_PATH}/${second.metadata.name}/status`, status)).status).toBe(200);
  await eventually(async () => {
    const names = active(await pods('heal')).map((p) => p.metadata.name);
    expect(names).not.toContain(second.metadata.name);
    expect(names).toHaveLength(2);
  });
  await expectReady('heal', 2);
});

test('adopts matching orphans and releases pods whose labels stop matching', async () => {
  const orphan = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'orphan-1', labels: { app: 'adopt' } },
    spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
  };
  expect((await ts.api('POST', PODS_PATH, orphan)).status).toBe(201);
  const owner = (await ts.api('POST', RS_PATH, rs('adopt', 2))).body;
  await expectReady('adopt', 2);
  const adopted = (await ts.api('GET', `${PODS_PATH}/orphan-1`)).body;
  expect(adopted.metadata.ownerReferences?.[0]).toMatchObject({ uid: owner.metadata.uid, controller: true });

  // Relabel it: the RS lets go of it and makes a replacement.
  await ts.api('PATCH', `${PODS_PATH}/orphan-1`, { metadata: { labels: { app: 'gone' } } }, { 'Content-Type': 'application/merge-patch+json' });
  await eventually(async () => {
    const released = (await ts.api('GET', `${PODS_PATH}/orphan-1`)).body;
    expect(released.metadata.ownerReferences ?? []).toEqual([]);
  });
  await expectReady('adopt', 2);
});

test('never over-creates: replicas=20 at once ends with exactly 20 pods', async () => {
  await ts.api('POST', RS_PATH, rs('many', 20));
  await expectReady('many', 20, 30_000);
  // Stays at 20 (no late duplicates).
  const all = await pods('many');
  expect(all).toHaveLength(20);
  const names = new Set(all.map((p) => p.metadata.name));
  expect(names.size).toBe(20);
  await ts.api('PATCH', `${RS_PATH}/many/scale`, { spec: { replicas: 0 } }, { 'Content-Type': 'application/merge-patch+json' });
  await expectReady('many', 0, 30_000);
});

test('creates never overshoot while a large batch is in flight (watched continuously)', async () => {
  const list = (await ts.api('GET', `${PODS_PATH}?labelSelector=app%3Dburst`)).body;
  const watch = await openWatch(ts, `${PODS_PATH}?watch=true&labelSelector=app%3Dburst&resourceVersion=${list.metadata.resourceVersion}`);
  const live = new Map<string, any>();
  let most = 0;
  let stop = false;
  const watching = (async () => {
    while (!stop) {
      let e: any;
      try {
        e = await watch.next(200);
      } catch {
        continue;
      }
      if (e.type === 'DELETED') live.delete(e.object.metadata.name);
      else live.set(e.object.metadata.name, e.object);
      most = Math.max(most, active([...live.values()]).length);
    }
  })();
  await ts.api('POST', RS_PATH, rs('burst', 30));
  // Bump it while the first creates are still landing.
  await ts.api('PATCH', `${RS_PATH}/burst/scale`, { spec: { replicas: 25 } }, { 'Content-Type': 'application/merge-patch+json' });
  await expectReady('burst', 25, 30_000);
  stop = true;
  await watching;
  watch.close();
  expect(most).toBeLessThanOrEqual(30);
  expect(active(await pods('burst'))).toHaveLength(25);
});

test('scale-down deletes the least valuable pod first (an unscheduled one)', async () => {
  await ts.api('POST', RS_PATH, rs('order', 2));
  await expectReady('order', 2);
  const keep = active(await pods('order')).map((p) => p.metadata.name).sort();
  // An orphan no node can take: the RS adopts it, has 3 pods for 2 replicas, and removes the unscheduled one.
  const orphan = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'order-unschedulable', labels: { app: 'order' } },
    spec: { nodeSelector: { 'no-such-label': 'x' }, containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
  };
  expect((await ts.api('POST', PODS_PATH, orphan)).status).toBe(201);
  await eventually(async () => {
    expect(active(await pods('order')).map((p) => p.metadata.name).sort()).toEqual(keep);
  });
  await expectReady('order', 2);
});

test('availableReplicas waits minReadySeconds after readiness', async () => {
  const spec = rs('slow', 2);
  spec.spec.minReadySeconds = 2;
  await ts.api('POST', RS_PATH, spec);
  await eventually(async () => {
    const r = (await ts.api('GET', `${RS_PATH}/slow`)).body;
    expect(r.status).toMatchObject({ readyReplicas: 2, availableReplicas: 0 });
  });
  await expectReady('slow', 2, 10_000);
});
