import * as https from 'node:https';
import { podManifest, startTestServer, type TestServer } from '../helpers';
import { API_ONLY, create, expectStatus, JSON_PATCH, kind, manifest, MERGE_PATCH, pathOf } from './fixtures';

/**
 * Every bad request is a 4xx Status with the Kubernetes reason, and none of
 * them crashes or wedges the server: after each one a normal request works.
 */

let ts: TestServer;
const pods = kind('pods');
const configmaps = kind('configmaps');
const deployments = kind('deployments');
const POD_URL = pathOf(pods, 'default');

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
  await create(ts, configmaps, 'default', manifest(configmaps, 'target'));
});
afterAll(() => ts.destroy());

let serial = 0;
afterEach(async () => {
  // The server still serves, reads and writes after whatever the test sent.
  const name = `alive-${serial++}`;
  const created = await ts.api('POST', POD_URL, podManifest(name));
  expect(created.status).toBe(201);
  expect((await ts.api('GET', pathOf(pods, 'default', name))).status).toBe(200);
  expect((await ts.api('GET', '/readyz')).status).toBe(200);
});

function causeFields(res: { body: any }): string[] {
  return (res.body?.details?.causes ?? []).map((c: any) => c.field);
}

describe('malformed bodies', () => {
  test('malformed JSON is 400', async () => {
    const res = await ts.api('POST', POD_URL, '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ');
    expectStatus(res, 400, 'BadRequest');
  });

  test('malformed YAML (Content-Type application/yaml) is 400', async () => {
    const yaml = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n  labels: {a: b\n';
    const res = await ts.api('POST', POD_URL, yaml, { 'Content-Type': 'application/yaml' });
    expectStatus(res, 400, 'BadRequest');
  });

  test('valid YAML is accepted', async () => {
    const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  key: value\n';
    const res = await ts.api('POST', pathOf(configmaps, 'default'), yaml, { 'Content-Type': 'application/yaml' });
    expect(res.status).toBe(201);
    expect(res.body.data).toEqual({ key: 'value' });
  });

  test.each([
    ['an array', '[1, 2]'],
    ['a string', '"pod"'],
    ['null', 'null'],
    ['an empty body', ''],
    ['multi-document YAML', 'apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: Pod\n'],
  ])('a body that is %s is 400', async (what, body) => {
    const headers = what === 'multi-document YAML' ? { 'Content-Type': 'application/yaml' } : { 'Content-Type': 'application/json' };
    const res = await ts.api('POST', POD_URL, body, headers);
    expectStatus(res, 400, 'BadRequest');
  });

  test('metadata that is not an object is 4xx', async () => {
    const res = await ts.api('POST', POD_URL, { apiVersion: 'v1', kind: 'Pod', metadata: 'web', spec: podManifest('x').spec });
    expect([400, 422]).toContain(res.status);
    expect(res.body.kind).toBe('Status');
  });

  test('malformed JSON on PUT and PATCH is 400', async () => {
    expectStatus(await ts.api('PUT', pathOf(configmaps, 'default', 'target'), '{nope'), 400, 'BadRequest');
    expectStatus(await ts.api('PATCH', pathOf(configmaps, 'default', 'target'), '{nope', MERGE_PATCH), 400, 'BadRequest');
    expectStatus(await ts.api('PATCH', pathOf(configmaps, 'default', 'target'), '[{"op":', JSON_PATCH), 400, 'BadRequest');
  });

  test('a body over 3 MiB is 413', async () => {
    const big = manifest(configmaps, 'huge');
    big.data = { blob: 'x'.repeat(3 * 1024 * 1024 + 10) };
    const res = await ts.api('POST', pathOf(configmaps, 'default'), big);
    expectStatus(res, 413, 'RequestEntityTooLarge');
    expect((await ts.api('GET', pathOf(configmaps, 'default', 'huge'))).status).toBe(404);
  });

  test('a body over 3 MiB sent chunked (no Content-Length) is 413', async () => {
    const outcome = await new Promise<{ status: number; text: string } | { error: Error }>((resolve) => {
      const req = https.request(`${ts.url}${pathOf(configmaps, 'default')}`, {
        method: 'POST',
        agent: ts.agent,
        headers: { Authorization: `Bearer ${ts.token}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      // The server may also close the connection on a body it refuses mid-stream: a refusal too.
      req.on('error', (error) => resolve({ error }));
      req.write('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge2"},"data":{"blob":"');
      const chunk = 'x'.repeat(256 * 1024);
      let sent = 0;
      const pump = (): void => {
        while (sent < 14) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end('"}}');
      };
      pump();
    });
    if ('error' in outcome) {
      expect(outcome.error.message).toMatch(/closed|reset|EPIPE|socket|hang up/i);
    } else {
      expect(outcome.status).toBe(413);
      expect(JSON.parse(outcome.text)).toMatchObject({ kind: 'Status', code: 413, reason: 'RequestEntityTooLarge' });
    }
    expect((await ts.api('GET', pathOf(configmaps, 'default', 'huge2'))).status).toBe(404);
  });

  test('a body just under 3 MiB is accepted (or refused by validation, not by size)', async () => {
    const ok = manifest(configmaps, 'big-but-fine');
    ok.data = { blob: 'x'.repeat(1024 * 1024) };
    const res = await ts.api('POST', pathOf(configmaps, 'default'), ok);
    expect(res.status).toBe(201);
  });
});

describe('hostile bodies are refused quickly', () => {
  const cmUrl = pathOf(configmaps, 'default');
  const deep = (depth: number): string => `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`;

  test('deeply nested JSON is 400, not a 500 from a stack overflow', async () => {
    for (const depth of [10_000, 1_000_000]) {
      expectStatus(await ts.api('POST', cmUrl, deep(depth)), 400, 'BadRequest');
      expectStatus(await ts.api('PATCH', pathOf(configmaps, 'default', 'target'), `{"metadata":{"labels":${'{"a":'.repeat(depth / 10)}1${'}'.repeat(depth / 10)}}}`, MERGE_PATCH), 400, 'BadRequest');
    }
  });

  test('reasonable nesting is fine', async () => {
    const obj = manifest(configmaps, 'nested-ok');
    obj.metadata.annotations = { a: 'b' };
    const res = await ts.api('POST', cmUrl, { ...obj, extra: JSON.parse(`${'{"x":'.repeat(100)}1${'}'.repeat(100)}`) }, { 'Content-Type': 'application/json' });
    // Unknown fields may be dropped or warned about; what matters is that depth 100 is not refused as too deep.
    expect(res.status).toBe(201);
  });

  test.each([
    ['deep flow nesting', `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n  a: ${'['.repeat(500_000)}${']'.repeat(500_000)}\n`],
    ['deep block nesting on one line', `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n  a:\n    ${'- '.repeat(500_000)}x\n`],
    ['deep nesting by indentation', `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n${Array.from({ length: 2400 }, (_, i) => `${' '.repeat(i + 1)}k:`).join('\n')} 1\n`],
    ['nested explicit keys', `${'? '.repeat(800)}x\n`],
    ['a collection as a map key', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: collection-key}\ndata:\n  ? [a, b]\n  : c\n'],
    ['an alias bomb', `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 30 }, (_, i) => `b${i}: &b${i} [${i ? `*b${i - 1}, *b${i - 1}, *b${i - 1}` : '*a, *a, *a'}]`).join('\n')}\n`],
  ])('YAML with %s is 400 within a second', async (_what, body) => {
    const started = Date.now();
    expectStatus(await ts.api('POST', cmUrl, body, { 'Content-Type': 'application/yaml' }), 400, 'BadRequest');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('wrong paths and kinds', () => {
  test.each([
    ['/api/v1/foos'],
    ['/api/v1/namespaces/default/foos'],
    ['/api/v1/namespaces/default/pods/web/bogus'],
    ['/apis/nope/v1/things'],
    ['/apis/apps/v1/namespaces/default/pods'],
    ['/api/v1/namespaces/default/nodes'],
    ['/api/v1/namespaces/default/pods/a/b/c/d'],
    ['/not/an/api/path'],
  ])('%s is 404 NotFound', async (p) => {
    expectStatus(await ts.api('GET', p), 404, 'NotFound');
  });

  test('a path with malformed percent-encoding is 400', async () => {
    expectStatus(await ts.api('GET', '/api/v1/namespaces/%E0%A4%A/pods'), 400, 'BadRequest');
    expectStatus(await ts.api('GET', '/api/v1/namespaces/default/pods/%'), 400, 'BadRequest');
  });

  test('a missing object is 404 with details', async () => {
    const res = await ts.api('GET', pathOf(pods, 'default', 'missing'));
    expectStatus(res, 404, 'NotFound');
    expect(res.body.message).toBe('pods "missing" not found');
    expect(res.body.details).toMatchObject({ name: 'missing', kind: 'pods' });
  });

  test('PUT, PATCH and DELETE of a missing object are 404', async () => {
    const p = pathOf(configmaps, 'default', 'missing');
    expectStatus(await ts.api('PUT', p, manifest(configmaps, 'missing')), 404, 'NotFound');
    expectStatus(await ts.api('PATCH', p, { data: { a: 'b' } }, MERGE_PATCH), 404, 'NotFound');
    expectStatus(await ts.api('PATCH', p, [{ op: 'add', path: '/data', value: {} }], JSON_PATCH), 404, 'NotFound');
    expectStatus(await ts.api('DELETE', p), 404, 'NotFound');
    expectStatus(await ts.api('PUT', `${pathOf(pods, 'default', 'missing')}/status`, podManifest('missing')), 404, 'NotFound');
  });

  test('a verb the resource does not serve is 405', async () => {
    expectStatus(await ts.api('POST', pathOf(pods, 'default', 'target')), 405, 'MethodNotAllowed');
    expectStatus(await ts.api('PUT', POD_URL, podManifest('x')), 405, 'MethodNotAllowed');
  });

  test.each([
    ['a kind that does not match the endpoint', { ...manifest(configmaps, 'wrong-kind'), kind: 'Secret' }],
    ['an apiVersion that does not match the endpoint', { ...manifest(configmaps, 'wrong-version'), apiVersion: 'apps/v1' }],
    ['a kind from another group', { ...manifest(deployments, 'wrong-group') }],
  ])('%s is 400', async (_what, body) => {
    expectStatus(await ts.api('POST', pathOf(configmaps, 'default'), body), 400, 'BadRequest');
  });

  test('a PUT whose name differs from the URL is 400', async () => {
    const current = (await ts.api('GET', pathOf(configmaps, 'default', 'target'))).body;
    expectStatus(await ts.api('PUT', pathOf(configmaps, 'default', 'target'), { ...current, metadata: { ...current.metadata, name: 'other' } }), 400, 'BadRequest');
  });
});

describe('invalid objects are 422 Invalid with field causes', () => {
  test('an invalid name (Web_1)', async () => {
    const res = await ts.api('POST', POD_URL, podManifest('Web_1'));
    expectStatus(res, 422, 'Invalid');
    expect(causeFields(res)).toContain('metadata.name');
    expect(res.body.details).toMatchObject({ kind: 'Pod', name: 'Web_1' });
    expect((await ts.api('GET', pathOf(pods, 'default', 'Web_1'))).status).toBe(404);
  });

  test.each(['-web', 'web-', 'a'.repeat(254), 'web.', 'WEB'])('an invalid name %p', async (name) => {
    const res = await ts.api('POST', pathOf(configmaps, 'default'), manifest(configmaps, name));
    expectStatus(res, 422, 'Invalid');
    expect(causeFields(res)).toContain('metadata.name');
  });

  test('invalid label keys and values', async () => {
    const res = await ts.api('POST', pathOf(configmaps, 'default'), manifest(configmaps, 'bad-labels', { 'bad key': 'x', ok: 'has spaces' }));
    expectStatus(res, 422, 'Invalid');
    expect(causeFields(res).some((f) => f.startsWith('metadata.labels'))).toBe(true);
  });

  test('a missing required field (a pod without containers)', async () => {
    const pod = podManifest('no-containers');
    delete pod.spec.containers;
    const res = await ts.api('POST', POD_URL, pod);
    expectStatus(res, 422, 'Invalid');
    expect(causeFields(res).some((f) => f.startsWith('spec.containers'))).toBe(true);
  });

  test('a missing required field (a container without an image)', async () => {
    const pod = podManifest('no-image');
    delete pod.spec.containers[0].image;
    const res = await ts.api('POST', POD_URL, pod);
    expectStatus(res, 422, 'Invalid');
    expect(causeFields(res).some((f) => /^spec\.containers\[0\]\.image$/.test(f))).toBe(true);
  });

  test('a wrong field type (spec.replicas: "three")', async () => {
    const d = manifest(deployments, 'three');
    d.spec.replicas = 'three';
    const res = await ts.api('POST', pathOf(deployments, 'default'), d);
    expectStatus(res, 422, 'Invalid');
    expect(causeFields(res)).toContain('spec.replicas');
  });

  test('an update to an invalid object is 422 and keeps the old one', async () => {
    const d = await create(ts, deployments, 'default', manifest(deployments, 'valid'));
    const res = await ts.api('PATCH', pathOf(deployments, 'default', 'valid'), { spec: { replicas: 'many' } }, MERGE_PATCH);
    expectStatus(res, 422, 'Invalid');
    const now = (await ts.api('GET', pathOf(deployments, 'default', 'valid'))).body;
    expect(now.spec.replicas).toBe(2);
    expect(now.metadata.resourceVersion).toBe(d.metadata.resourceVersion);
  });

  test('a JSON patch whose test fails is 422 and changes nothing', async () => {
    const res = await ts.api('PATCH', pathOf(configmaps, 'default', 'target'), [{ op: 'test', path: '/data/app.properties', value: 'nope' }, { op: 'remove', path: '/data' }], JSON_PATCH);
    expectStatus(res, 422, 'Invalid');
    expect((await ts.api('GET', pathOf(configmaps, 'default', 'target'))).body.data).toBeDefined();
  });
});

describe('requests that are well-formed but wrong', () => {
  test('a stale resourceVersion is 409 Conflict', async () => {
    const current = (await ts.api('GET', pathOf(configmaps, 'default', 'target'))).body;
    const ok = await ts.api('PUT', pathOf(configmaps, 'default', 'target'), { ...current, data: { v: 'new' } });
    expect(ok.status).toBe(200);
    expectStatus(await ts.api('PUT', pathOf(configmaps, 'default', 'target'), { ...current, data: { v: 'stale' } }), 409, 'Conflict');
  });

  test('an invalid labelSelector is 400', async () => {
    expectStatus(await ts.api('GET', `${POD_URL}?labelSelector=${encodeURIComponent('app in (web')}`), 400, 'BadRequest');
    expectStatus(await ts.api('DELETE', `${POD_URL}?labelSelector=${encodeURIComponent('===')}`), 400, 'BadRequest');
  });

  test.each([
    ['text/plain', 'hello'],
    ['application/xml', '<pod/>'],
    ['application/json', '{"metadata":{"labels":{"a":"b"}}}'],
  ])('PATCH with Content-Type %s is 415', async (type, body) => {
    const res = await ts.api('PATCH', pathOf(configmaps, 'default', 'target'), body, { 'Content-Type': type });
    expectStatus(res, 415, 'UnsupportedMediaType');
  });

  test('POST with an unknown Content-Type is 415', async () => {
    expectStatus(await ts.api('POST', POD_URL, 'x', { 'Content-Type': 'text/plain' }), 415, 'UnsupportedMediaType');
  });

  test.each([
    ['limit=-1'],
    ['limit=abc'],
    ['fieldValidation=Loose'],
    ['dryRun=Some'],
  ])('a bad query parameter (%s) is 400', async (q) => {
    const method = q.startsWith('limit') ? 'GET' : 'POST';
    const res = await ts.api(method, `${pathOf(configmaps, 'default')}?${q}`, method === 'POST' ? manifest(configmaps, 'q') : undefined);
    expectStatus(res, 400, 'BadRequest');
  });

  test('a merge or strategic merge patch that is not an object, and a JSON patch that is not an array, are 400', async () => {
    expectStatus(await ts.api('PATCH', pathOf(configmaps, 'default', 'target'), '[1]', MERGE_PATCH), 400, 'BadRequest');
    expectStatus(await ts.api('PATCH', pathOf(configmaps, 'default', 'target'), '[1]', { 'Content-Type': 'application/strategic-merge-patch+json' }), 400, 'BadRequest');
    expectStatus(await ts.api('PATCH', pathOf(configmaps, 'default', 'target'), '{"op":"add"}', JSON_PATCH), 400, 'BadRequest');
    expectStatus(await ts.api('PATCH', pathOf(configmaps, 'default', 'target'), '[{"op":"explode","path":"/x"}]', JSON_PATCH), 400, 'BadRequest');
  });

  test('a patch that changes the name or namespace cannot move the object', async () => {
    const res = await ts.api('PATCH', pathOf(configmaps, 'default', 'target'), { metadata: { name: 'moved', namespace: 'kube-system' } }, MERGE_PATCH);
    // Kubernetes refuses a name change; in no case may the object end up elsewhere.
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect((await ts.api('GET', pathOf(configmaps, 'default', 'moved'))).status).toBe(404);
    expect((await ts.api('GET', pathOf(configmaps, 'kube-system', 'moved'))).status).toBe(404);
    expect((await ts.api('GET', pathOf(configmaps, 'kube-system', 'target'))).status).toBe(404);
    expect((await ts.api('GET', pathOf(configmaps, 'default', 'target'))).status).toBe(200);
  });

  test('many bad requests at once do not wedge the server', async () => {
    const bad = Array.from({ length: 50 }, (_, i) =>
      i % 2 ? ts.api('POST', POD_URL, '{"broken') : ts.api('POST', POD_URL, podManifest(`Bad_${i}`)),
    );
    const results = await Promise.all(bad);
    for (const r of results) expect([400, 422]).toContain(r.status);
  });
});
