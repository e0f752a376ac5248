import { eventually, podManifest, startTestServer, type TestServer } from '../helpers';

/**
 * The garbage collector with a real server, scheduler and fake node:
 * cascading deletes in the three propagation modes. Owners are ConfigMaps
 * (no controller of their own to interfere); dependents are pods (which
 * run on the fake node, so their deletion is graceful) and ConfigMaps.
 */

let ts: TestServer;
const NS = '/api/v1/namespaces/default';

beforeAll(async () => {
  ts = await startTestServer({ agent: { runtime: 'fake', nodeName: 'gc-node', port: 0 } });
});

afterAll(async () => {
  await ts?.destroy();
});

function ref(owner: any, extra: Record<string, unknown> = {}): any {
  return { apiVersion: 'v1', kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, ...extra };
}

async function configMap(name: string, ownerReferences?: any[], finalizers?: string[]): Promise<any> {
  const res = await ts.api('POST', `${NS}/configmaps`, {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ownerReferences, finalizers }, data: { a: '1' },
  });
  expect(res.status).toBe(201);
  return res.body;
}

async function pod(name: string, ownerReferences?: any[]): Promise<any> {
  const m = podManifest(name);
  m.metadata.ownerReferences = ownerReferences;
  const res = await ts.api('POST', `${NS}/pods`, m);
  expect(res.status).toBe(201);
  return res.body;
}

async function gone(path: string): Promise<void> {
  await eventually(async () => expect((await ts.api('GET', path)).status).toBe(404), 15_000);
}

async function get(path: string): Promise<any> {
  const res = await ts.api('GET', path);
  expect(res.status).toBe(200);
  return res.body;
}

test('Background (the default): the owner goes at once, its dependents after; a dependent with a live owner only loses the reference', async () => {
  const owner = await configMap('bg-owner');
  const other = await configMap('bg-other');
  await pod('bg-a', [ref(owner, { controller: true, blockOwnerDeletion: true })]);
  await configMap('bg-b', [ref(owner)]);
  await configMap('bg-shared', [ref(owner), ref(other)]);
  await eventually(async () => expect((await get(`${NS}/pods/bg-a`)).status.phase).toBe('Running'), 10_000);

  const del = await ts.api('DELETE', `${NS}/configmaps/bg-owner`);
  expect(del.status).toBe(200);
  await gone(`${NS}/configmaps/bg-owner`);
  await gone(`${NS}/pods/bg-a`);
  await gone(`${NS}/configmaps/bg-b`);
  await eventually(async () => {
    const shared = await get(`${NS}/configmaps/bg-shared`);
    expect(shared.metadata.ownerReferences.map((r: any) => r.name)).toEqual(['bg-other']);
  });
});

test('Foreground: the owner keeps foregroundDeletion until its blocking dependents are gone', async () => {
  const owner = await configMap('fg-owner');
  await pod('fg-a', [ref(owner, { blockOwnerDeletion: true })]);
  // A dependent that cannot go away until the test lets it: the owner must wait for it.
  await configMap('fg-held', [ref(owner, { blockOwnerDeletion: true })], ['example.com/hold']);

  const del = await ts.api('DELETE', `${NS}/configmaps/fg-owner`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' });
  expect(del.status).toBe(200);
  expect(del.body.metadata.deletionTimestamp).toBeDefined();
  expect(del.body.metadata.finalizers).toEqual(['foregroundDeletion']);

  await gone(`${NS}/pods/fg-a`);
  await eventually(async () => expect((await get(`${NS}/configmaps/fg-held`)).metadata.deletionTimestamp).toBeDefined());
  const waiting = await get(`${NS}/configmaps/fg-owner`);
  expect(waiting.metadata.finalizers).toEqual(['foregroundDeletion']);

  const held = await get(`${NS}/configmaps/fg-held`);
  const released = await ts.api('PATCH', `${NS}/configmaps/fg-held`, { metadata: { finalizers: null, resourceVersion: held.metadata.resourceVersion } }, {
    'Content-Type': 'application/merge-patch+json',
  });
  expect(released.status).toBe(200);
  await gone(`${NS}/configmaps/fg-held`);
  await gone(`${NS}/configmaps/fg-owner`);
});

test('Foreground cascades through a chain of owners', async () => {
  const top = await configMap('chain-top');
  const mid = await configMap('chain-mid', [ref(top, { blockOwnerDeletion: true })]);
  await pod('chain-leaf', [ref(mid, { controller: true, blockOwnerDeletion: true })]);
  const del = await ts.api('DELETE', `${NS}/configmaps/chain-top?propagationPolicy=Foreground`);
  expect(del.status).toBe(200);
  await gone(`${NS}/pods/chain-leaf`);
  await gone(`${NS}/configmaps/chain-mid`);
  await gone(`${NS}/configmaps/chain-top`);
});

test('Orphan: the dependents stay, without the reference; orphanDependents: true means the same', async () => {
  const owner = await configMap('or-owner');
  const other = await configMap('or-other');
  await pod('or-a', [ref(owner, { controller: true, blockOwnerDeletion: true })]);
  await configMap('or-b', [ref(owner), ref(other)]);

  const del = await ts.api('DELETE', `${NS}/configmaps/or-owner`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' });
  expect(del.status).toBe(200);
  expect(del.body.metadata.finalizers).toEqual(['orphan']);
  await gone(`${NS}/configmaps/or-owner`);
  const a = await get(`${NS}/pods/or-a`);
  expect(a.metadata.ownerReferences).toBeUndefined();
  expect(a.metadata.deletionTimestamp).toBeUndefined();
  expect((await get(`${NS}/configmaps/or-b`)).metadata.ownerReferences.map((r: any) => r.name)).toEqual(['or-other']);

  const owner2 = await configMap('or-owner2');
  await configMap('or-c', [ref(owner2)]);
  expect((await ts.api('DELETE', `${NS}/configmaps/or-owner2`, { kind: 'DeleteOptions', apiVersion: 'v1', orphanDependents: true })).status).toBe(200);
  await gone(`${NS}/configmaps/or-owner2`);
  expect((await get(`${NS}/configmaps/or-c`)).metadata.ownerReferences).toBeUndefined();
});

test('an owner is matched by uid: a new object under the old name does not keep the old dependents', async () => {
  const old = await configMap('uid-owner');
  expect((await ts.api('DELETE', `${NS}/configmaps/uid-owner`)).status).toBe(200);
  const fresh = await configMap('uid-owner');
  expect(fresh.metadata.uid).not.toBe(old.metadata.uid);
  // Created after its owner is gone: collected as soon as the collector sees it.
  await configMap('uid-dep', [ref(old)]);
  await configMap('uid-keep', [ref(fresh)]);
  await gone(`${NS}/configmaps/uid-dep`);
  expect((await get(`${NS}/configmaps/uid-keep`)).metadata.ownerReferences[0].uid).toBe(fresh.metadata.uid);
  expect((await get(`${NS}/configmaps/uid-owner`)).metadata.uid).toBe(fresh.metadata.uid);
});

test('Foreground on a running pod: the finalizer goes at once (no dependents), the pod when its node has stopped it', async () => {
  await pod('fg-self');
  await eventually(async () => expect((await get(`${NS}/pods/fg-self`)).status.phase).toBe('Running'), 10_000);
  const del = await ts.api('DELETE', `${NS}/pods/fg-self?propagationPolicy=Foreground`);
  expect(del.status).toBe(200);
  expect(del.body.metadata.finalizers).toEqual(['foregroundDeletion']);
  expect(del.body.metadata.deletionGracePeriodSeconds).toBe(30);
  await gone(`${NS}/pods/fg-self`);
});
