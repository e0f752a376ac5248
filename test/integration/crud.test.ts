import { apiVersionOf, resourceTypes, type ResourceType } from '../../src/api/registry';
import { startTestServer, type TestServer } from '../helpers';
import { API_ONLY, create, expectStatus, JSON_PATCH, kind, manifest, MERGE_PATCH, pathOf, rv, userLabels } from './fixtures';

/**
 * Every verb on every kind the registry serves, over HTTP against the real
 * server: create, get, list, update, both patch types, delete and
 * deletecollection, then the subresources (status, binding, scale).
 */

let ts: TestServer;
const NS = 'crud';

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
  await create(ts, kind('namespaces'), undefined, manifest(kind('namespaces'), NS));
});
afterAll(() => ts.destroy());

/** Deletes an object and waits until it is really gone (namespaces may pass through Terminating). */
async function deleteFully(rt: ResourceType, ns: string | undefined, name: string): Promise<void> {
  const res = await ts.api('DELETE', pathOf(rt, ns, name));
  expect(res.status).toBe(200);
  const pending = !!res.body.metadata?.deletionTimestamp;
  // Removed at once, most kinds answer with a Status naming what went; a few with the object, as in Kubernetes.
  if (!pending && !rt.returnDeletedObject) {
    expect(res.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name, kind: rt.plural } });
  } else {
    expect(res.body.metadata.name).toBe(name);
  }
  if (pending) {
    // Only namespaces wait here in this suite: spec.finalizers holds them until /finalize empties it.
    expect(rt.kind).toBe('Namespace');
    expect(res.body.metadata.deletionTimestamp).toBeTruthy();
    const fin = await ts.api('PUT', pathOf(rt, undefined, name, 'finalize'), { ...res.body, spec: { finalizers: [] } });
    expect(fin.status).toBe(200);
    const again = await ts.api('DELETE', pathOf(rt, undefined, name));
    expect([200, 404]).toContain(again.status);
  }
  expectStatus(await ts.api('GET', pathOf(rt, ns, name)), 404, 'NotFound');
}

describe.each(resourceTypes.map((rt) => [rt.plural, rt] as const))('%s', (_plural, rt) => {
  const ns = rt.namespaced ? NS : undefined;
  const name = `crud-${rt.singular}`;

  test('create 201, get, list, update, merge patch, JSON patch, delete', async () => {
    // create
    const created = await ts.api('POST', pathOf(rt, ns), manifest(rt, name, undefined, NS));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ apiVersion: apiVersionOf(rt), kind: rt.kind, metadata: { name, labels: { app: name } } });
    expect(created.body.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.body.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    if (rt.namespaced) expect(created.body.metadata.namespace).toBe(NS);
    else expect(created.body.metadata.namespace).toBeUndefined();
    const rv1 = rv(created.body);

    // a second create of the same name
    expectStatus(await ts.api('POST', pathOf(rt, ns), manifest(rt, name, undefined, NS)), 409, 'AlreadyExists');

    // get
    const got = await ts.api('GET', pathOf(rt, ns, name));
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);

    // list: in the namespace, and across namespaces for namespaced kinds
    const lists = [pathOf(rt, ns), ...(rt.namespaced ? [pathOf(rt)] : [])];
    for (const p of lists) {
      const list = await ts.api('GET', p);
      expect(list.status).toBe(200);
      expect(list.body.kind).toBe(`${rt.kind}List`);
      expect(list.body.apiVersion).toBe(apiVersionOf(rt));
      expect(rv(list.body)).toBeGreaterThanOrEqual(rv1);
      expect(list.body.items.map((i: any) => i.metadata.name)).toContain(name);
      const item = list.body.items.find((i: any) => i.metadata.name === name);
      expect(item).toEqual(created.body);
    }

    // update (PUT) with the resourceVersion just read
    const desired = structuredClone(got.body);
    desired.metadata.labels.stage = 'updated';
    const updated = await ts.api('PUT', pathOf(rt, ns, name), desired);
    expect(updated.status).toBe(200);
    expect(userLabels(updated.body)).toEqual({ app: name, stage: 'updated' });
    expect(updated.body.metadata.uid).toBe(created.body.metadata.uid);
    expect(updated.body.metadata.creationTimestamp).toBe(created.body.metadata.creationTimestamp);
    const rv2 = rv(updated.body);
    expect(rv2).toBeGreaterThan(rv1);

    // merge patch
    const merged = await ts.api('PATCH', pathOf(rt, ns, name), { metadata: { labels: { stage: null, patched: 'merge' } } }, MERGE_PATCH);
    expect(merged.status).toBe(200);
    expect(userLabels(merged.body)).toEqual({ app: name, patched: 'merge' });
    const rv3 = rv(merged.body);
    expect(rv3).toBeGreaterThan(rv2);

    // JSON patch
    const jsonPatched = await ts.api('PATCH', pathOf(rt, ns, name), [
      { op: 'test', path: '/metadata/labels/patched', value: 'merge' },
      { op: 'add', path: '/metadata/annotations', value: { 'example.com/note': 'json' } },
      { op: 'remove', path: '/metadata/labels/patched' },
    ], JSON_PATCH);
    expect(jsonPatched.status).toBe(200);
    expect(userLabels(jsonPatched.body)).toEqual({ app: name });
    expect(jsonPatched.body.metadata.annotations).toEqual({ 'example.com/note': 'json' });
    expect(rv(jsonPatched.body)).toBeGreaterThan(rv3);
    expect((await ts.api('GET', pathOf(rt, ns, name))).body).toEqual(jsonPatched.body);

    // delete
    await deleteFully(rt, ns, name);
    const after = await ts.api('GET', pathOf(rt, ns));
    expect(after.body.items.map((i: any) => i.metadata.name)).not.toContain(name);
    expectStatus(await ts.api('DELETE', pathOf(rt, ns, name)), 404, 'NotFound');
  });

  test('deletecollection with a labelSelector deletes only what matches', async () => {
    const names = ['a', 'b', 'c'].map((s) => `dc-${rt.singular}-${s}`);
    await create(ts, rt, ns, manifest(rt, names[0], { batch: 'one' }, NS));
    await create(ts, rt, ns, manifest(rt, names[1], { batch: 'one' }, NS));
    await create(ts, rt, ns, manifest(rt, names[2], { batch: 'two' }, NS));

    const res = await ts.api('DELETE', `${pathOf(rt, ns)}?labelSelector=batch%3Done`);
    expect(res.status).toBe(200);
    expect(res.body.kind).toBe(`${rt.kind}List`);
    expect(res.body.items.map((i: any) => i.metadata.name).sort()).toEqual([names[0], names[1]]);

    if (rt.kind === 'Namespace') {
      // Namespaces are only marked (Terminating) until their finalizers are done; they no longer match Active.
      for (const n of names.slice(0, 2)) {
        const got = await ts.api('GET', pathOf(rt, undefined, n));
        if (got.status === 200) expect(got.body.metadata.deletionTimestamp).toBeTruthy();
      }
    } else {
      for (const n of names.slice(0, 2)) expectStatus(await ts.api('GET', pathOf(rt, ns, n)), 404, 'NotFound');
    }
    const left = await ts.api('GET', pathOf(rt, ns, names[2]));
    expect(left.status).toBe(200);
    expect(left.body.metadata.deletionTimestamp).toBeUndefined();
  });
});

describe('status subresource', () => {
  const statusOf: Record<string, any> = {
    pods: { phase: 'Running', podIP: '10.42.0.9', conditions: [{ type: 'Ready', status: 'True' }] },
    nodes: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }], capacity: { cpu: '2', memory: '4Gi', pods: '110' } },
    deployments: { replicas: 2, readyReplicas: 1, observedGeneration: 1 },
    replicasets: { replicas: 2, readyReplicas: 2, observedGeneration: 1 },
  };
  const statusPatchOf: Record<string, any> = {
    pods: { message: 'patched' },
    nodes: { addresses: [{ type: 'InternalIP', address: '10.0.0.7' }] },
    deployments: { observedGeneration: 5 },
    replicasets: { observedGeneration: 5 },
  };

  test.each(Object.keys(statusOf))('%s: status writes change only status, spec writes only spec', async (plural) => {
    const rt = kind(plural);
    const ns = rt.namespaced ? NS : undefined;
    const name = `status-${rt.singular}`;
    const created = await create(ts, rt, ns, manifest(rt, name));

    // PUT status with a changed spec and label: only status lands.
    const withStatus = structuredClone(created);
    withStatus.status = statusOf[plural];
    withStatus.metadata.labels.sneaky = 'label';
    const specBefore = structuredClone(created.spec);
    withStatus.spec = { ...withStatus.spec, ...(plural === 'pods' ? { nodeName: 'sneaky-node' } : plural === 'nodes' ? { unschedulable: true } : { replicas: 7 }) };
    const put = await ts.api('PUT', pathOf(rt, ns, name, 'status'), withStatus);
    expect(put.status).toBe(200);
    expect(put.body.status).toMatchObject(statusOf[plural]);
    expect(put.body.spec).toEqual(specBefore);
    expect(put.body.metadata.labels.sneaky).toBeUndefined();
    expect(rv(put.body)).toBeGreaterThan(rv(created));
    if (rt.hasGeneration) expect(put.body.metadata.generation).toBe(created.metadata.generation);

    // GET status answers the whole object.
    const got = await ts.api('GET', pathOf(rt, ns, name, 'status'));
    expect(got.status).toBe(200);
    expect(got.body).toEqual(put.body);

    // PATCH status
    const patchedStatus = await ts.api('PATCH', pathOf(rt, ns, name, 'status'), { status: statusPatchOf[plural], spec: { changed: true } }, MERGE_PATCH);
    expect(patchedStatus.status).toBe(200);
    expect(patchedStatus.body.status).toMatchObject(statusPatchOf[plural]);
    expect(patchedStatus.body.spec).toEqual(specBefore);

    // A spec write through the main resource keeps the status as it is.
    const specWrite = structuredClone(patchedStatus.body);
    specWrite.status = { phase: 'Failed', replicas: 99 };
    specWrite.metadata.labels.spec = 'write';
    const main = await ts.api('PUT', pathOf(rt, ns, name), specWrite);
    expect(main.status).toBe(200);
    expect(main.body.status).toEqual(patchedStatus.body.status);
    expect(main.body.metadata.labels.spec).toBe('write');

    const mainPatch = await ts.api('PATCH', pathOf(rt, ns, name), { status: { phase: 'Failed', replicas: 99 } }, MERGE_PATCH);
    expect(mainPatch.status).toBe(200);
    expect(mainPatch.body.status).toEqual(patchedStatus.body.status);
  });

  test('status sent on create is dropped for pods and workloads', async () => {
    const pods = kind('pods');
    const pod = { ...manifest(pods, 'born-running'), status: { phase: 'Running', podIP: '10.0.0.1' } };
    const created = await create(ts, pods, NS, pod);
    expect(created.status.phase).toBe('Pending');
    expect(created.status.podIP).toBeUndefined();
    const deployments = kind('deployments');
    const d = await create(ts, deployments, NS, { ...manifest(deployments, 'born-ready'), status: { readyReplicas: 9 } });
    expect(d.status?.readyReplicas).toBeUndefined();
  });

  test('kinds without a status subresource answer 404 on /status', async () => {
    const rt = kind('configmaps');
    await create(ts, rt, NS, manifest(rt, 'no-status'));
    expectStatus(await ts.api('GET', pathOf(rt, NS, 'no-status', 'status')), 404, 'NotFound');
  });

  test('a status write is checked against the status schema and rules, and unknown status fields are dropped', async () => {
    const pods = kind('pods');
    const pod = await create(ts, pods, NS, manifest(pods, 'status-checked'));
    const wrongType = await ts.api('PATCH', pathOf(pods, NS, 'status-checked', 'status'), { status: { phase: 5 } }, MERGE_PATCH);
    expectStatus(wrongType, 422, 'Invalid');
    expect(wrongType.body.details.causes).toEqual([expect.objectContaining({ field: 'status.phase' })]);
    const unknownField = await ts.api('PATCH', pathOf(pods, NS, 'status-checked', 'status'), { status: { podIP: '10.0.0.9', bogus: 1 } }, MERGE_PATCH);
    expect(unknownField.status).toBe(200);
    expect(unknownField.body.status.podIP).toBe('10.0.0.9');
    expect(unknownField.body.status.bogus).toBeUndefined();
    expect(unknownField.body.spec).toEqual(pod.spec);

    const nodes = kind('nodes');
    await create(ts, nodes, undefined, manifest(nodes, 'status-checked-node'));
    const negative = await ts.api('PATCH', pathOf(nodes, undefined, 'status-checked-node', 'status'), { status: { capacity: { cpu: '-1' } } }, MERGE_PATCH);
    expectStatus(negative, 422, 'Invalid');
    expect(negative.body.message).toContain('status.capacity.cpu: Invalid value: -1: must be greater than or equal to 0');
  });
});

describe('pods/binding', () => {
  const pods = kind('pods');
  const binding = (pod: string, node: string): any => ({
    apiVersion: 'v1',
    kind: 'Binding',
    metadata: { name: pod },
    target: { apiVersion: 'v1', kind: 'Node', name: node },
  });

  test('sets spec.nodeName and PodScheduled, once', async () => {
    const created = await create(ts, pods, NS, manifest(pods, 'bind-me'));
    expect(created.spec.nodeName).toBeUndefined();

    const res = await ts.api('POST', pathOf(pods, NS, 'bind-me', 'binding'), binding('bind-me', 'node-1'));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kind: 'Status', status: 'Success' });

    const pod = (await ts.api('GET', pathOf(pods, NS, 'bind-me'))).body;
    expect(pod.spec.nodeName).toBe('node-1');
    expect(pod.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'PodScheduled', status: 'True' })]));
    expect(rv(pod)).toBeGreaterThan(rv(created));

    const second = await ts.api('POST', pathOf(pods, NS, 'bind-me', 'binding'), binding('bind-me', 'node-2'));
    expectStatus(second, 409, 'Conflict');
    expect((await ts.api('GET', pathOf(pods, NS, 'bind-me'))).body.spec.nodeName).toBe('node-1');
  });

  test('binding a missing pod is 404, a binding without a target 422', async () => {
    expectStatus(await ts.api('POST', pathOf(pods, NS, 'nope', 'binding'), binding('nope', 'node-1')), 404, 'NotFound');
    await create(ts, pods, NS, manifest(pods, 'bind-no-target'));
    const res = await ts.api('POST', pathOf(pods, NS, 'bind-no-target', 'binding'), { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'bind-no-target' } });
    expectStatus(res, 422, 'Invalid');
  });
});

describe('scale subresource', () => {
  test.each(['deployments', 'replicasets'])('%s: GET, PUT and PATCH scale', async (plural) => {
    const rt = kind(plural);
    const name = `scale-${rt.singular}`;
    const created = await create(ts, rt, NS, manifest(rt, name));

    const scale = await ts.api('GET', pathOf(rt, NS, name, 'scale'));
    expect(scale.status).toBe(200);
    expect(scale.body).toMatchObject({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name, namespace: NS, uid: created.metadata.uid, resourceVersion: created.metadata.resourceVersion },
      spec: { replicas: 2 },
      status: { selector: `app=${name}` },
    });

    const put = await ts.api('PUT', pathOf(rt, NS, name, 'scale'), { ...scale.body, spec: { replicas: 5 } });
    expect(put.status).toBe(200);
    expect(put.body.spec.replicas).toBe(5);
    let obj = (await ts.api('GET', pathOf(rt, NS, name))).body;
    expect(obj.spec.replicas).toBe(5);
    expect(obj.metadata.generation).toBe(created.metadata.generation + 1);

    const patched = await ts.api('PATCH', pathOf(rt, NS, name, 'scale'), { spec: { replicas: 1 } }, MERGE_PATCH);
    expect(patched.status).toBe(200);
    expect(patched.body.spec.replicas).toBe(1);
    obj = (await ts.api('GET', pathOf(rt, NS, name))).body;
    expect(obj.spec.replicas).toBe(1);

    // A stale resourceVersion on the Scale is a conflict; a negative count is invalid.
    expectStatus(await ts.api('PUT', pathOf(rt, NS, name, 'scale'), scale.body), 409, 'Conflict');
    expectStatus(await ts.api('PATCH', pathOf(rt, NS, name, 'scale'), { spec: { replicas: -1 } }, MERGE_PATCH), 422, 'Invalid');
    expect((await ts.api('GET', pathOf(rt, NS, name))).body.spec.replicas).toBe(1);
  });

  test('kinds without scale answer 404', async () => {
    const rt = kind('daemonsets');
    await create(ts, rt, NS, manifest(rt, 'no-scale'));
    expectStatus(await ts.api('GET', pathOf(rt, NS, 'no-scale', 'scale')), 404, 'NotFound');
  });
});

describe('optimistic concurrency', () => {
  const cms = kind('configmaps');

  test('PUT with a stale resourceVersion is 409 Conflict and changes nothing', async () => {
    const created = await create(ts, cms, NS, manifest(cms, 'occ'));
    const first = await ts.api('PUT', pathOf(cms, NS, 'occ'), { ...created, data: { v: '1' } });
    expect(first.status).toBe(200);

    const stale = await ts.api('PUT', pathOf(cms, NS, 'occ'), { ...created, data: { v: '2' } });
    expectStatus(stale, 409, 'Conflict');
    expect(stale.body.details).toMatchObject({ name: 'occ', kind: 'configmaps' });
    const now = (await ts.api('GET', pathOf(cms, NS, 'occ'))).body;
    expect(now.data).toEqual({ v: '1' });
    expect(now.metadata.resourceVersion).toBe(first.body.metadata.resourceVersion);

    // A patch carrying a stale resourceVersion is a conflict too.
    const stalePatch = await ts.api('PATCH', pathOf(cms, NS, 'occ'), { metadata: { resourceVersion: created.metadata.resourceVersion }, data: { v: '3' } }, MERGE_PATCH);
    expectStatus(stalePatch, 409, 'Conflict');
  });

  test('concurrent patches without a resourceVersion all land', async () => {
    await create(ts, cms, NS, manifest(cms, 'many-hands'));
    const p = pathOf(cms, NS, 'many-hands');
    // The first round also opens the connections, so the later rounds arrive truly at once.
    for (const round of ['a', 'b', 'c']) {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => ts.api('PATCH', p, { metadata: { labels: { [`${round}-${i}`]: 'yes' } } }, MERGE_PATCH)),
      );
      expect(results.filter((r) => r.status !== 200).map((r) => r.text)).toEqual([]);
      expect(new Set(results.map((r) => r.body.metadata.resourceVersion)).size).toBe(50);
    }
    const final = (await ts.api('GET', p)).body;
    for (const round of ['a', 'b', 'c']) for (let i = 0; i < 50; i++) expect(final.metadata.labels[`${round}-${i}`]).toBe('yes');

    // Deletes race with updates the same way: a delete retries against the newest object.
    const deleted = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => ts.api('PATCH', p, { data: { [`k${i}`]: 'v' } }, MERGE_PATCH)),
      ts.api('DELETE', p),
    ]);
    expect(deleted[deleted.length - 1].status).toBe(200);
    for (const r of deleted.slice(0, -1)) expect([200, 404]).toContain(r.status);
    expectStatus(await ts.api('GET', p), 404, 'NotFound');
  });

  test('concurrent creates of one name: exactly one 201, the rest 409 AlreadyExists', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => ts.api('POST', pathOf(cms, NS), { ...manifest(cms, 'contested'), data: { by: String(i) } })));
    const codes = results.map((r) => r.status).sort();
    expect(codes).toEqual([201, ...Array(9).fill(409)]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.reason).toBe('AlreadyExists');
    const winner = results.find((r) => r.status === 201)!.body;
    expect((await ts.api('GET', pathOf(cms, NS, 'contested'))).body).toEqual(winner);
  });

  test('concurrent PUTs from the same read: exactly one wins', async () => {
    const created = await create(ts, cms, NS, manifest(cms, 'race'));
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => ts.api('PUT', pathOf(cms, NS, 'race'), { ...created, data: { winner: String(i) } })),
    );
    const codes = results.map((r) => r.status).sort();
    expect(codes).toEqual([200, ...Array(9).fill(409)]);
  });
});
