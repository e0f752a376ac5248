import { startTestServer, type TestServer } from '../helpers';
import { API_ONLY, create, expectStatus, JSON_PATCH, kind, manifest, MERGE_PATCH, pathOf, rv } from './fixtures';

/**
 * ObjectMeta as the API server owns it: identity, versions, generation,
 * generateName, fields kept verbatim, finalizers and two-phase deletion,
 * and the namespaces a cluster starts with.
 */

let ts: TestServer;
const deployments = kind('deployments');
const configmaps = kind('configmaps');
const pods = kind('pods');
const namespaces = kind('namespaces');

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
});
afterAll(() => ts.destroy());

test('the system namespaces exist from the first start', async () => {
  const list = await ts.api('GET', '/api/v1/namespaces');
  expect(list.status).toBe(200);
  const names = list.body.items.map((n: any) => n.metadata.name);
  expect(names).toEqual(expect.arrayContaining(['default', 'kube-system', 'kube-node-lease']));
  for (const n of list.body.items) expect(n.status.phase).toBe('Active');
});

test('default, kube-system and kube-public cannot be deleted', async () => {
  for (const name of ['default', 'kube-system', 'kube-public']) {
    expectStatus(await ts.api('DELETE', pathOf(namespaces, undefined, name)), 403, 'Forbidden');
    const ns = (await ts.api('GET', pathOf(namespaces, undefined, name))).body;
    expect(ns.metadata.deletionTimestamp).toBeUndefined();
    expect(ns.status.phase).toBe('Active');
  }
});

test('creating in a namespace that does not exist is 404 and stores nothing', async () => {
  const res = await ts.api('POST', pathOf(configmaps, 'no-such-ns'), manifest(configmaps, 'orphan'));
  expectStatus(res, 404, 'NotFound');
  expect(res.body.message).toContain('no-such-ns');
  const all = await ts.api('GET', pathOf(configmaps));
  expect(all.body.items.map((i: any) => i.metadata.name)).not.toContain('orphan');
});

test('a namespace in the body must match the one in the path', async () => {
  const obj = manifest(configmaps, 'wrong-ns');
  obj.metadata.namespace = 'kube-system';
  expectStatus(await ts.api('POST', pathOf(configmaps, 'default'), obj), 400, 'BadRequest');
});

test('uid and creationTimestamp are assigned by the server and cannot be changed', async () => {
  const obj = manifest(configmaps, 'identity');
  obj.metadata.uid = 'client-chosen';
  obj.metadata.creationTimestamp = '2000-01-01T00:00:00Z';
  const created = await create(ts, configmaps, 'default', obj);
  expect(created.metadata.uid).not.toBe('client-chosen');
  expect(created.metadata.creationTimestamp).not.toBe('2000-01-01T00:00:00Z');
  expect(Math.abs(Date.parse(created.metadata.creationTimestamp) - Date.now())).toBeLessThan(60_000);

  // A different uid in an update is a failed precondition (409), as in Kubernetes; creationTimestamp is carried over.
  const otherUid = await ts.api('PUT', pathOf(configmaps, 'default', 'identity'), {
    ...created,
    metadata: { ...created.metadata, uid: 'other' },
    data: { changed: 'yes' },
  });
  expectStatus(otherUid, 409, 'Conflict');
  expect(otherUid.body.message).toContain('Precondition failed: UID in precondition: other');
  const put = await ts.api('PUT', pathOf(configmaps, 'default', 'identity'), {
    ...created,
    metadata: { ...created.metadata, creationTimestamp: '2000-01-01T00:00:00Z' },
    data: { changed: 'yes' },
  });
  expect(put.status).toBe(200);
  expect(put.body.metadata.uid).toBe(created.metadata.uid);
  expect(put.body.metadata.creationTimestamp).toBe(created.metadata.creationTimestamp);
});

test('a resourceVersion on create is rejected', async () => {
  const obj = manifest(configmaps, 'with-rv');
  obj.metadata.resourceVersion = '5';
  expectStatus(await ts.api('POST', pathOf(configmaps, 'default'), obj), 422, 'Invalid');
});

test('resourceVersion increases on every write, status writes included', async () => {
  const created = await create(ts, deployments, 'default', manifest(deployments, 'versions'));
  const seen = [rv(created)];
  const p = pathOf(deployments, 'default', 'versions');
  const writes: Array<[string, string, unknown, Record<string, string>?]> = [
    ['PATCH', p, { metadata: { labels: { a: '1' } } }, MERGE_PATCH],
    ['PATCH', `${p}/status`, { status: { replicas: 1 } }, MERGE_PATCH],
    ['PATCH', `${p}/status`, [{ op: 'replace', path: '/status/replicas', value: 2 }], JSON_PATCH],
    ['PATCH', p, { spec: { replicas: 3 } }, MERGE_PATCH],
    ['PUT', `${p}/scale`, { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'versions' }, spec: { replicas: 4 } }],
  ];
  for (const [method, url, body, headers] of writes) {
    const res = await ts.api(method, url, body, headers);
    expect(res.status).toBe(200);
    const got = (await ts.api('GET', p)).body;
    seen.push(rv(got));
  }
  for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
});

test('generation is bumped by spec changes only', async () => {
  const created = await create(ts, deployments, 'default', manifest(deployments, 'gen'));
  expect(created.metadata.generation).toBe(1);
  const p = pathOf(deployments, 'default', 'gen');

  const label = await ts.api('PATCH', p, { metadata: { labels: { x: 'y' }, annotations: { note: 'n' } } }, MERGE_PATCH);
  expect(label.body.metadata.generation).toBe(1);

  const status = await ts.api('PATCH', `${p}/status`, { status: { observedGeneration: 1, replicas: 2 } }, MERGE_PATCH);
  expect(status.body.metadata.generation).toBe(1);

  const spec = await ts.api('PATCH', p, { spec: { replicas: 3 } }, MERGE_PATCH);
  expect(spec.body.metadata.generation).toBe(2);

  const template = await ts.api('PATCH', p, { spec: { template: { metadata: { labels: { app: 'gen', v: '2' } } } } }, MERGE_PATCH);
  expect(template.status).toBe(200);
  expect(template.body.metadata.generation).toBe(3);

  // A client cannot set generation itself.
  const forged = await ts.api('PATCH', p, { metadata: { generation: 42 } }, MERGE_PATCH);
  expect(forged.body.metadata.generation).toBe(3);
});

test('a no-op update does not bump resourceVersion or generation', async () => {
  const created = await create(ts, deployments, 'default', manifest(deployments, 'noop'));
  const p = pathOf(deployments, 'default', 'noop');

  const same = await ts.api('PUT', p, created);
  expect(same.status).toBe(200);
  expect(same.body.metadata.resourceVersion).toBe(created.metadata.resourceVersion);

  const emptyPatch = await ts.api('PATCH', p, {}, MERGE_PATCH);
  expect(emptyPatch.body.metadata.resourceVersion).toBe(created.metadata.resourceVersion);

  const sameLabels = await ts.api('PATCH', p, { metadata: { labels: { app: 'noop' } } }, MERGE_PATCH);
  expect(sameLabels.body.metadata.resourceVersion).toBe(created.metadata.resourceVersion);

  // The same object with its keys in another order is the same object.
  const reordered = JSON.parse(JSON.stringify(created, Object.keys(flattenKeys(created)).sort().reverse()));
  const put = await ts.api('PUT', p, reordered);
  expect(put.status).toBe(200);
  expect(put.body.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
  expect(put.body.metadata.generation).toBe(1);
});

/** Every key used anywhere in `value`, so JSON.stringify's allow-list keeps them all (in the list's order). */
function flattenKeys(value: unknown, into: Record<string, true> = {}): Record<string, true> {
  if (Array.isArray(value)) value.forEach((v) => flattenKeys(v, into));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      into[k] = true;
      flattenKeys(v, into);
    }
  }
  return into;
}

test('generateName makes a unique name with a random suffix', async () => {
  const obj = manifest(configmaps, '');
  delete obj.metadata.name;
  obj.metadata.generateName = 'web-';
  const names = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const created = await create(ts, configmaps, 'default', structuredClone(obj));
    expect(created.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
    expect(created.metadata.generateName).toBe('web-');
    names.add(created.metadata.name);
  }
  expect(names.size).toBe(5);

  const nameless = manifest(configmaps, '');
  delete nameless.metadata.name;
  const res = await ts.api('POST', pathOf(configmaps, 'default'), nameless);
  expectStatus(res, 422, 'Invalid');
  expect(res.body.details.causes).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'metadata.name' })]));
});

test('labels, annotations and ownerReferences are kept as given', async () => {
  const owner = await create(ts, deployments, 'default', manifest(deployments, 'owner'));
  const obj = manifest(configmaps, 'owned', { app: 'owned', 'example.com/tier': 'backend' });
  obj.metadata.annotations = { 'example.com/multi-line': 'a\nb', empty: '' };
  obj.metadata.ownerReferences = [{
    apiVersion: 'apps/v1', kind: 'Deployment', name: 'owner', uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true,
  }];
  const created = await create(ts, configmaps, 'default', structuredClone(obj));
  const got = (await ts.api('GET', pathOf(configmaps, 'default', 'owned'))).body;
  for (const o of [created, got]) {
    expect(o.metadata.labels).toEqual(obj.metadata.labels);
    expect(o.metadata.annotations).toEqual(obj.metadata.annotations);
    expect(o.metadata.ownerReferences).toEqual(obj.metadata.ownerReferences);
  }
});

describe('finalizers and two-phase deletion', () => {
  test('delete marks the object; it goes away when the last finalizer is removed', async () => {
    const obj = manifest(configmaps, 'held');
    obj.metadata.finalizers = ['example.com/a', 'example.com/b'];
    const created = await create(ts, configmaps, 'default', obj);
    const p = pathOf(configmaps, 'default', 'held');

    const del = await ts.api('DELETE', p);
    expect(del.status).toBe(200);
    expect(del.body.metadata.deletionTimestamp).toBeTruthy();
    expect(rv(del.body)).toBeGreaterThan(rv(created));

    const marked = (await ts.api('GET', p)).body;
    expect(marked.metadata.deletionTimestamp).toBe(del.body.metadata.deletionTimestamp);
    expect(marked.metadata.finalizers).toEqual(['example.com/a', 'example.com/b']);

    // Deleting again changes nothing; the deletion cannot be undone by an update.
    const again = await ts.api('DELETE', p);
    expect(again.status).toBe(200);
    expect(again.body.metadata.resourceVersion).toBe(marked.metadata.resourceVersion);
    const undo = await ts.api('PATCH', p, { metadata: { deletionTimestamp: null, finalizers: ['example.com/a', 'example.com/b', 'example.com/c'] } }, MERGE_PATCH);
    expect(undo.status).toBe(200);
    expect(undo.body.metadata.deletionTimestamp).toBe(marked.metadata.deletionTimestamp);
    expect(undo.body.metadata.finalizers).toEqual(['example.com/a', 'example.com/b']);

    // Removing one finalizer keeps it; removing the last removes it.
    const one = await ts.api('PATCH', p, [{ op: 'remove', path: '/metadata/finalizers/0' }], JSON_PATCH);
    expect(one.status).toBe(200);
    expect(one.body.metadata.finalizers).toEqual(['example.com/b']);
    expect((await ts.api('GET', p)).status).toBe(200);

    const current = (await ts.api('GET', p)).body;
    const last = await ts.api('PUT', p, { ...current, metadata: { ...current.metadata, finalizers: [] } });
    expect(last.status).toBe(200);
    expectStatus(await ts.api('GET', p), 404, 'NotFound');
  });

  test('an object without finalizers is removed at once', async () => {
    await create(ts, configmaps, 'default', manifest(configmaps, 'plain'));
    const del = await ts.api('DELETE', pathOf(configmaps, 'default', 'plain'));
    expect(del.status).toBe(200);
    expectStatus(await ts.api('GET', pathOf(configmaps, 'default', 'plain')), 404, 'NotFound');
  });

  test('a pod on a node waits out its grace period; gracePeriodSeconds=0 removes it', async () => {
    await create(ts, pods, 'default', manifest(pods, 'graceful'));
    const p = pathOf(pods, 'default', 'graceful');
    const bound = await ts.api('POST', `${p}/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'graceful' }, target: { kind: 'Node', name: 'node-1' } });
    expect(bound.status).toBe(201);

    const del = await ts.api('DELETE', p);
    expect(del.status).toBe(200);
    expect(del.body.metadata.deletionGracePeriodSeconds).toBe(30);
    expect(del.body.metadata.deletionTimestamp).toBeTruthy();

    const now = await ts.api('DELETE', `${p}?gracePeriodSeconds=0`);
    expect(now.status).toBe(200);
    expectStatus(await ts.api('GET', p), 404, 'NotFound');
  });

  test('propagationPolicy: Background removes now, Foreground and Orphan leave the garbage collector a finalizer; a bad one is 400', async () => {
    const finalizerOf: Record<string, string | undefined> = { Background: undefined, Foreground: 'foregroundDeletion', Orphan: 'orphan' };
    for (const [policy, finalizer] of Object.entries(finalizerOf)) {
      await create(ts, configmaps, 'default', manifest(configmaps, `prop-${policy.toLowerCase()}`));
      const res = await ts.api('DELETE', `${pathOf(configmaps, 'default', `prop-${policy.toLowerCase()}`)}?propagationPolicy=${policy}`);
      expect(res.status).toBe(200);
      if (finalizer) {
        // No collector runs here: the object waits, marked, with the finalizer the policy asks for.
        expect(res.body.metadata.deletionTimestamp).toBeTruthy();
        expect(res.body.metadata.finalizers).toEqual([finalizer]);
      }
    }
    await create(ts, configmaps, 'default', manifest(configmaps, 'prop-body'));
    const body = await ts.api('DELETE', pathOf(configmaps, 'default', 'prop-body'), { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' });
    expect(body.status).toBe(200);
    expect(body.body.metadata.finalizers).toEqual(['foregroundDeletion']);
    // The deprecated orphanDependents=false means Foreground, and only it gets 202 Accepted (as in Kubernetes).
    await create(ts, configmaps, 'default', manifest(configmaps, 'prop-legacy'));
    const legacy = await ts.api('DELETE', pathOf(configmaps, 'default', 'prop-legacy'), { kind: 'DeleteOptions', apiVersion: 'v1', orphanDependents: false });
    expect(legacy.status).toBe(202);
    expect(legacy.body.metadata.finalizers).toEqual(['foregroundDeletion']);
    // Deleting again with another policy swaps the finalizer; the deletionTimestamp stays.
    const swapped = await ts.api('DELETE', `${pathOf(configmaps, 'default', 'prop-body')}?propagationPolicy=Orphan`);
    expect(swapped.body.metadata.finalizers).toEqual(['orphan']);
    expect(swapped.body.metadata.deletionTimestamp).toBe(body.body.metadata.deletionTimestamp);
    expectStatus(await ts.api('DELETE', `${pathOf(configmaps, 'default', 'x')}?propagationPolicy=Sideways`), 400, 'BadRequest');
  });

  test('delete preconditions: a stale uid or resourceVersion is 409', async () => {
    const created = await create(ts, configmaps, 'default', manifest(configmaps, 'precond'));
    const p = pathOf(configmaps, 'default', 'precond');
    expectStatus(await ts.api('DELETE', p, { preconditions: { uid: 'not-the-uid' } }), 409, 'Conflict');
    expectStatus(await ts.api('DELETE', p, { preconditions: { resourceVersion: '1' } }), 409, 'Conflict');
    const ok = await ts.api('DELETE', p, { preconditions: { uid: created.metadata.uid, resourceVersion: created.metadata.resourceVersion } });
    expect(ok.status).toBe(200);
  });

  test('a namespace with spec.finalizers terminates, and /finalize lets it go', async () => {
    const ns = manifest(namespaces, 'finalized');
    ns.spec = { finalizers: ['kubernetes'] };
    await create(ts, namespaces, undefined, ns);
    const p = pathOf(namespaces, undefined, 'finalized');

    const del = await ts.api('DELETE', p);
    expect(del.status).toBe(200);
    expect(del.body.status.phase).toBe('Terminating');
    expect(del.body.metadata.deletionTimestamp).toBeTruthy();

    const fin = await ts.api('PUT', `${p}/finalize`, { ...del.body, spec: { finalizers: [] } });
    expect(fin.status).toBe(200);
    expect(fin.body.spec.finalizers ?? []).toEqual([]);
    expect((await ts.api('GET', p)).body.spec.finalizers ?? []).toEqual([]);

    // With nothing left to wait for, the namespace controller's second DELETE removes it.
    const again = await ts.api('DELETE', p);
    expect(again.status).toBe(200);
    expectStatus(await ts.api('GET', p), 404, 'NotFound');
  });

  test('a terminating namespace accepts no new objects', async () => {
    await create(ts, namespaces, undefined, manifest(namespaces, 'doomed'));
    const held = await ts.api('PATCH', pathOf(namespaces, undefined, 'doomed'), { metadata: { finalizers: ['example.com/hold'] } }, MERGE_PATCH);
    expect(held.status).toBe(200);
    const del = await ts.api('DELETE', pathOf(namespaces, undefined, 'doomed'));
    expect(del.status).toBe(200);
    expect(del.body.status.phase).toBe('Terminating');
    expectStatus(await ts.api('POST', pathOf(configmaps, 'doomed'), manifest(configmaps, 'late')), 403, 'Forbidden');
  });
});
