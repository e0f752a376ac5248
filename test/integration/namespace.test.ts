import { eventually, podManifest, startTestServer, type TestServer } from '../helpers';

/** Namespace deletion with a real server and fake node: Terminating, emptied, then removed. */

let ts: TestServer;

beforeAll(async () => {
  ts = await startTestServer({ agent: { runtime: 'fake', nodeName: 'ns-node', port: 0 } });
});

afterAll(async () => {
  await ts?.destroy();
});

test('deleting a namespace deletes everything in it, then the namespace', async () => {
  expect((await ts.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } })).status).toBe(201);
  const base = '/api/v1/namespaces/doomed';
  expect((await ts.api('POST', `${base}/pods`, podManifest('web'))).status).toBe(201);
  expect((await ts.api('POST', `${base}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' } })).status).toBe(201);
  expect((await ts.api('POST', `${base}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } })).status).toBe(201);
  expect((await ts.api('POST', `${base}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc' }, spec: { ports: [{ port: 80 }] } })).status).toBe(201);
  expect((await ts.api('POST', '/apis/apps/v1/namespaces/doomed/deployments', {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' },
    spec: { replicas: 0, selector: { matchLabels: { app: 'd' } }, template: { metadata: { labels: { app: 'd' } }, spec: podManifest('x').spec } },
  })).status).toBe(201);
  // An object held by a finalizer keeps the namespace Terminating until it is released.
  expect((await ts.api('POST', `${base}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held', finalizers: ['example.com/hold'] } })).status).toBe(201);
  await eventually(async () => expect((await ts.api('GET', `${base}/pods/web`)).body.status.phase).toBe('Running'));

  const del = await ts.api('DELETE', '/api/v1/namespaces/doomed');
  expect(del.status).toBe(200);
  expect(del.body.status.phase).toBe('Terminating');
  const refused = await ts.api('POST', `${base}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late' } });
  expect(refused.status).toBe(403);

  await eventually(async () => {
    for (const p of [`${base}/pods/web`, `${base}/configmaps/cfg`, `${base}/secrets/s`, `${base}/services/svc`, '/apis/apps/v1/namespaces/doomed/deployments/d']) {
      expect([p, (await ts.api('GET', p)).status]).toEqual([p, 404]);
    }
    expect((await ts.api('GET', `${base}/configmaps/held`)).body.metadata.deletionTimestamp).toBeDefined();
  }, 15_000);
  const waiting = await ts.api('GET', '/api/v1/namespaces/doomed');
  expect(waiting.status).toBe(200);
  expect(waiting.body.spec.finalizers).toEqual(['kubernetes']);

  const release = await ts.api('PATCH', `${base}/configmaps/held`, { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
  expect(release.status).toBe(200);
  await eventually(async () => expect((await ts.api('GET', '/api/v1/namespaces/doomed')).status).toBe(404), 15_000);

  // The name can be used again, for a new, empty namespace.
  expect((await ts.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } })).status).toBe(201);
  expect((await ts.api('GET', `${base}/configmaps`)).body.items).toEqual([]);
});

test('an empty namespace goes away at once after its finalizer is cleared', async () => {
  expect((await ts.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'empty' } })).status).toBe(201);
  expect((await ts.api('DELETE', '/api/v1/namespaces/empty')).status).toBe(200);
  await eventually(async () => expect((await ts.api('GET', '/api/v1/namespaces/empty')).status).toBe(404));
});
