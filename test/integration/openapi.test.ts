import { lookupResource, resourceTypes, virtualResourceTypes } from '../../src/api/registry';
import { definitions } from '../../src/api/schemas';
import { httpsRequest, startTestServer, type TestServer } from '../helpers';
import { API_ONLY, create, expectStatus, kind, manifest, pathOf } from './fixtures';

/**
 * /openapi/v2 and /openapi/v3 over HTTP, field validation
 * (`?fieldValidation=Strict|Warn|Ignore`) of creates, updates and patches,
 * and the access reviews `kubectl auth can-i` posts.
 */

let ts: TestServer;
const NS = 'oa';
const deployments = kind('deployments');
const configmaps = kind('configmaps');
const MERGE = { 'Content-Type': 'application/merge-patch+json' };
const SMP = { 'Content-Type': 'application/strategic-merge-patch+json' };
const JSON_PATCH = { 'Content-Type': 'application/json-patch+json' };

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
  await create(ts, kind('namespaces'), undefined, manifest(kind('namespaces'), NS));
});
afterAll(() => ts.destroy());

/** Every `$ref` in a document, with where it points. */
function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refs(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

/** The Warning header values of a response, decoded from `299 - "text"`. */
function warnings(res: { headers: Headers }): string[] {
  const raw = res.headers.get('warning');
  if (!raw) return [];
  return [...raw.matchAll(/299 - ("(?:[^"\\]|\\.)*")/g)].map((m) => JSON.parse(m[1]));
}

describe('/openapi/v3', () => {
  test('the discovery document lists every group-version that /apis and /api serve, with a hash', async () => {
    const res = await ts.api('GET', '/openapi/v3');
    expect(res.status).toBe(200);
    const served = new Set([...resourceTypes, ...virtualResourceTypes].map((rt) => (rt.group ? `apis/${rt.group}/${rt.version}` : `api/${rt.version}`)));
    expect(new Set(Object.keys(res.body.paths))).toEqual(served);
    const apis = (await ts.api('GET', '/apis')).body.groups.flatMap((g: any) => g.versions.map((v: any) => `apis/${v.groupVersion}`));
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining([...apis, 'api/v1']));
    for (const [gv, entry] of Object.entries<any>(res.body.paths)) {
      expect(entry.serverRelativeURL).toMatch(new RegExp(`^/openapi/v3/${gv}\\?hash=[0-9A-F]{128}$`));
    }
  });

  test('a group-version document: kinds by GVK, operations with fieldValidation, every $ref resolves', async () => {
    const url = (await ts.api('GET', '/openapi/v3')).body.paths['apis/apps/v1'].serverRelativeURL;
    const res = await ts.api('GET', url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('public, immutable');
    const doc = res.body;
    expect(doc.openapi).toBe('3.0.0');
    const schemas = doc.components.schemas;
    for (const ref of refs(doc)) expect(schemas).toHaveProperty([ref.replace('#/components/schemas/', '')]);

    const deployment = schemas['io.k8s.api.apps.v1.Deployment'];
    expect(deployment['x-kubernetes-group-version-kind']).toEqual([{ group: 'apps', version: 'v1', kind: 'Deployment' }]);
    expect(deployment.properties.metadata.$ref).toBe('#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    expect(schemas['io.k8s.api.apps.v1.DeploymentSpec'].properties.strategy).toMatchObject({
      $ref: '#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy',
      'x-kubernetes-patch-strategy': 'retainKeys',
    });
    expect(schemas['io.k8s.api.core.v1.PodSpec'].properties.containers).toMatchObject({
      type: 'array',
      items: { $ref: '#/components/schemas/io.k8s.api.core.v1.Container' },
      'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-patch-strategy': 'merge',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    });
    expect(schemas['io.k8s.apimachinery.pkg.util.intstr.IntOrString']).toMatchObject({ format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }] });
    expect(schemas['io.k8s.api.apps.v1.DeploymentList'].properties.items.items.$ref).toBe('#/components/schemas/io.k8s.api.apps.v1.Deployment');

    const patch = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch;
    expect(patch.operationId).toBe('patchAppsV1NamespacedDeployment');
    expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment' });
    expect(patch.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['dryRun', 'fieldManager', 'fieldValidation']));
    expect(Object.keys(patch.requestBody.content)).toContain('application/strategic-merge-patch+json');
    const scale = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'].put;
    expect(scale['x-kubernetes-group-version-kind']).toEqual({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
    expect(schemas['io.k8s.api.autoscaling.v1.Scale']).toBeDefined();
    // Only what the server serves: apps/v1 has no pods.
    expect(Object.keys(doc.paths).some((p) => p.includes('/pods'))).toBe(false);
  });

  test('the schemas are the ones the server validates with: what explain shows is what a create accepts', async () => {
    const doc = (await ts.api('GET', '/openapi/v3/api/v1')).body;
    const container = doc.components.schemas['io.k8s.api.core.v1.Container'];
    expect(Object.keys(container.properties)).toEqual(Object.keys(definitions['io.k8s.api.core.v1.Container'].properties));
    expect(container.required).toEqual(definitions['io.k8s.api.core.v1.Container'].required);
    // A field the document lacks is one the server drops, and says so.
    const pod = manifest(kind('pods'), 'every-field');
    pod.spec.containers[0].bogus = 1;
    const res = await ts.api('POST', `${pathOf(kind('pods'), NS)}?dryRun=All`, pod);
    expect(res.status).toBe(201);
    expect(warnings(res)).toEqual(['unknown field "spec.containers[0].bogus"']);
  });

  test('caching: ETag and If-None-Match, an old hash redirects to the current one, protobuf-only Accept is 406', async () => {
    const first = await ts.api('GET', '/openapi/v3/api/v1');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9A-F]{128}"$/);
    expect(first.headers.get('cache-control')).toBe('no-cache, private');
    const again = await ts.api('GET', '/openapi/v3/api/v1', undefined, { 'If-None-Match': etag });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');

    const stale = await ts.api('GET', '/openapi/v3/api/v1?hash=0123');
    expect(stale.status).toBe(301);
    expect(stale.headers.get('location')).toBe(`/openapi/v3/api/v1?hash=${JSON.parse(etag)}`);

    expect((await ts.api('GET', '/openapi/v3/api/v1', undefined, { Accept: 'application/com.github.proto-openapi.spec.v3@v1.0+protobuf' })).status).toBe(406);
    expect((await ts.api('GET', '/openapi/v3/apis/nope/v1')).status).toBe(404);
  });
});

describe('/openapi/v2', () => {
  test('JSON: one Swagger 2.0 document, definitions under Kubernetes names, every $ref resolves', async () => {
    const res = await ts.api('GET', '/openapi/v2', undefined, { Accept: 'application/json' });
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.swagger).toBe('2.0');
    for (const ref of refs(doc)) expect(doc.definitions).toHaveProperty([ref.replace('#/definitions/', '')]);
    expect(doc.definitions['io.k8s.api.core.v1.Pod']['x-kubernetes-group-version-kind']).toEqual([{ group: '', version: 'v1', kind: 'Pod' }]);
    expect(doc.definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString']).toMatchObject({ type: 'string', format: 'int-or-string' });
    const patch = doc.paths['/api/v1/namespaces/{namespace}/pods/{name}'].patch;
    expect(patch.consumes).toContain('application/strategic-merge-patch+json');
    expect(patch.parameters.find((p: any) => p.name === 'fieldValidation')).toMatchObject({ in: 'query', type: 'string' });
    expect(patch.parameters.find((p: any) => p.in === 'body').schema.$ref).toBe('#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch');
  });

  test('protobuf, as client-go asks for it: the gnostic Document, beginning with its swagger version', async () => {
    const res = await httpsRequest(ts.agent, 'GET', `${ts.url}/openapi/v2`, {
      Authorization: `Bearer ${ts.token}`,
      Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf',
    });
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    // Field 1 (swagger), length-delimited: tag 0x0a, length 3, "2.0"; then field 2 (info), a message.
    expect([...body.subarray(0, 5)]).toEqual([0x0a, 3, 0x32, 0x2e, 0x30]);
    expect(body[5]).toBe(0x12);
    // Vendor extensions travel as YAML (here JSON) text in Any.yaml.
    expect(body.includes('{"group":"","version":"v1","kind":"Pod"}')).toBe(true);
    expect((await ts.api('GET', '/openapi/v2', undefined, { Accept: 'text/html' })).status).toBe(406);
  });
});

describe('fieldValidation', () => {
  const bad = () => {
    const d = manifest(deployments, 'fv', undefined, NS);
    d.spec.bogus = 1;
    d.spec.template.spec.containers[0].unknownNested = 'x';
    return d;
  };

  test('create: Strict is a 400 strict decoding error, Warn a Warning header each, Ignore silence; unknown fields are dropped', async () => {
    const strict = await ts.api('POST', `${pathOf(deployments, NS)}?fieldValidation=Strict`, bad());
    expectStatus(strict, 400, 'BadRequest');
    expect(strict.body.message).toBe(
      // In the order of the document: the template comes before the field added last.
      'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].unknownNested", unknown field "spec.bogus"',
    );
    expect((await ts.api('GET', pathOf(deployments, NS, 'fv'))).status).toBe(404);

    const warned = await ts.api('POST', `${pathOf(deployments, NS)}?fieldValidation=Warn`, bad());
    expect(warned.status).toBe(201);
    expect(warnings(warned)).toEqual(['unknown field "spec.template.spec.containers[0].unknownNested"', 'unknown field "spec.bogus"']);
    expect(warned.body.spec.bogus).toBeUndefined();

    const d = bad();
    d.metadata.name = 'fv-ignored';
    const ignored = await ts.api('POST', `${pathOf(deployments, NS)}?fieldValidation=Ignore`, d);
    expect(ignored.status).toBe(201);
    expect(ignored.headers.get('warning')).toBeNull();
    expect(ignored.body.spec.template.spec.containers[0].unknownNested).toBeUndefined();

    const unset = bad();
    unset.metadata.name = 'fv-default';
    expect(warnings(await ts.api('POST', pathOf(deployments, NS), unset))).toHaveLength(2);

    expectStatus(await ts.api('POST', `${pathOf(deployments, NS)}?fieldValidation=strict`, bad()), 400, 'BadRequest');
  });

  test('duplicate fields in JSON: reported like unknown ones; a field both repeated and unknown is reported as unknown', async () => {
    const body = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","name":"dup","labels":{"a":"1"}},"data":{"k":"1","k":"2"},"extra":1,"extra":2}`;
    const strict = await ts.api('POST', `${pathOf(configmaps, NS)}?fieldValidation=Strict`, body);
    expectStatus(strict, 400, 'BadRequest');
    expect(strict.body.message).toBe('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "metadata.name", duplicate field "data.k", unknown field "extra"');

    const warned = await ts.api('POST', pathOf(configmaps, NS), body);
    expect(warned.status).toBe(201);
    expect(warnings(warned)).toEqual(['duplicate field "metadata.name"', 'duplicate field "data.k"', 'unknown field "extra"']);
    // The last value wins, as Go's decoder keeps it.
    expect(warned.body.data).toEqual({ k: '2' });
  });

  test('duplicate keys in YAML: yaml.v2 line errors, and no 400 unless Strict', async () => {
    const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup-yaml\ndata:\n  k: "1"\n  k: "2"\n';
    const headers = { 'Content-Type': 'application/yaml' };
    const strict = await ts.api('POST', `${pathOf(configmaps, NS)}?fieldValidation=Strict`, yaml, headers);
    expectStatus(strict, 400, 'BadRequest');
    expect(strict.body.message).toBe('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: yaml: unmarshal errors:\n  line 7: key "k" already set in map');
    const warned = await ts.api('POST', pathOf(configmaps, NS), yaml, headers);
    expect(warned.status).toBe(201);
    expect(warnings(warned)).toEqual(['line 7: key "k" already set in map']);
    expect(warned.body.data).toEqual({ k: '2' });
  });

  test('update (PUT) is checked like a create', async () => {
    const live = (await ts.api('GET', pathOf(deployments, NS, 'fv'))).body;
    live.spec.paused = true;
    live.spec.bogus = true;
    const res = await ts.api('PUT', `${pathOf(deployments, NS, 'fv')}?fieldValidation=Strict`, live);
    expectStatus(res, 400, 'BadRequest');
    expect(res.body.message).toContain('strict decoding error: unknown field "spec.bogus"');
    expect((await ts.api('GET', pathOf(deployments, NS, 'fv'))).body.spec.paused).toBeUndefined();
  });

  test('patches: Strict is a 422 on the patch (duplicates of the patch, then unknown fields of the result); Warn warns', async () => {
    const url = pathOf(deployments, NS, 'fv');
    const mergeBody = '{"spec":{"paused":true,"paused":false,"unknown1":1}}';
    const merge = await ts.api('PATCH', `${url}?fieldValidation=Strict`, mergeBody, MERGE);
    expectStatus(merge, 422, 'Invalid');
    expect(merge.body.message).toMatch(/^ "" is invalid: patch: Invalid value: ".*": strict decoding error: duplicate field "spec.paused", unknown field "spec.unknown1"$/);
    expect(merge.body.details.causes).toEqual([expect.objectContaining({ reason: 'FieldValueInvalid', field: 'patch' })]);

    const smp = await ts.api('PATCH', `${url}?fieldValidation=Strict`, { spec: { template: { spec: { containers: [{ name: 'main', nope: 1 }] } } } }, SMP);
    expectStatus(smp, 422, 'Invalid');
    expect(smp.body.message).toBe(' "" is invalid: patch: Invalid value: "map[spec:map[template:map[spec:map[containers:[map[name:main nope:1]]]]]]": strict decoding error: unknown field "spec.template.spec.containers[0].nope"');

    const jsonPatch = await ts.api('PATCH', `${url}?fieldValidation=Strict`, '[{"op":"add","path":"/spec/unknown1","value":1,"foo":"bar"},{"op":"add","path":"/spec/x","path":"/spec/paused","value":true}]', JSON_PATCH);
    expectStatus(jsonPatch, 422, 'Invalid');
    expect(jsonPatch.body.message).toMatch(/strict decoding error: json patch unknown field "\[0\]\.foo", json patch duplicate field "\[1\]\.path", unknown field "spec.unknown1"$/);

    const before = (await ts.api('GET', url)).body;
    expect(before.spec.paused).toBeUndefined();
    const warned = await ts.api('PATCH', url, mergeBody, MERGE);
    expect(warned.status).toBe(200);
    expect(warnings(warned)).toEqual(['duplicate field "spec.paused"', 'unknown field "spec.unknown1"']);
    expect(warned.body.spec.paused).toBe(false);
    const ignored = await ts.api('PATCH', `${url}?fieldValidation=Ignore`, mergeBody, MERGE);
    expect(ignored.status).toBe(200);
    expect(ignored.headers.get('warning')).toBeNull();
  });
});

describe('access reviews (kubectl auth can-i)', () => {
  const ssar = lookupResource('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews')!;

  test('SelfSubjectAccessReview: allowed for the cluster token, never stored, only created', async () => {
    const res = await ts.api('POST', pathOf(ssar), {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: { creationTimestamp: null },
      spec: { resourceAttributes: { namespace: NS, verb: 'create', resource: 'pods' } },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { namespace: NS, verb: 'create', resource: 'pods' } },
      status: { allowed: true },
    });
    expect(typeof res.body.status.reason).toBe('string');
    const nonResource = await ts.api('POST', pathOf(ssar), { spec: { nonResourceAttributes: { path: '/healthz', verb: 'get' } } });
    expect(nonResource.body.status.allowed).toBe(true);

    expectStatus(await ts.api('GET', pathOf(ssar)), 405, 'MethodNotAllowed');
    expectStatus(await ts.api('GET', pathOf(ssar, undefined, 'x')), 405, 'MethodNotAllowed');
    expectStatus(await ts.api('DELETE', pathOf(ssar)), 405, 'MethodNotAllowed');
    const discovery = (await ts.api('GET', '/apis/authorization.k8s.io/v1')).body.resources;
    expect(discovery).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', namespaced: false, verbs: ['create'] })]));
  });

  test('invalid reviews: exactly one of resourceAttributes and nonResourceAttributes, empty metadata, strict fields', async () => {
    const none = await ts.api('POST', pathOf(ssar), { spec: {} });
    expectStatus(none, 422, 'Invalid');
    expect(none.body.details.causes).toEqual([expect.objectContaining({ field: 'spec.resourceAttributes', message: expect.stringContaining('exactly one of nonResourceAttributes or resourceAttributes must be specified') })]);
    const both = await ts.api('POST', pathOf(ssar), { spec: { resourceAttributes: { verb: 'get' }, nonResourceAttributes: { path: '/x', verb: 'get' } } });
    expect(both.body.details.causes[0]).toMatchObject({ field: 'spec.nonResourceAttributes' });
    const named = await ts.api('POST', pathOf(ssar), { metadata: { name: 'x' }, spec: { resourceAttributes: { verb: 'get' } } });
    expect(named.body.details.causes[0]).toMatchObject({ field: 'metadata', message: expect.stringContaining('must be empty') });
    const strict = await ts.api('POST', `${pathOf(ssar)}?fieldValidation=Strict`, { spec: { resourceAttributes: { verb: 'get', bogus: 1 } } });
    expectStatus(strict, 400, 'BadRequest');
    expect(strict.body.message).toContain('strict decoding error: unknown field "spec.resourceAttributes.bogus"');
    const wrongKind = await ts.api('POST', pathOf(ssar), { apiVersion: 'v1', kind: 'Pod', spec: { resourceAttributes: { verb: 'get' } } });
    expectStatus(wrongKind, 400, 'BadRequest');
  });

  test('SelfSubjectRulesReview: every verb on everything; a namespace is required', async () => {
    const ssrr = lookupResource('authorization.k8s.io', 'v1', 'selfsubjectrulesreviews')!;
    const res = await ts.api('POST', pathOf(ssrr), { spec: { namespace: NS } });
    expect(res.status).toBe(201);
    expect(res.body.status).toEqual({
      resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
      nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
      incomplete: false,
    });
    const missing = await ts.api('POST', pathOf(ssrr), { spec: {} });
    expectStatus(missing, 400, 'BadRequest');
    expect(missing.body.message).toBe('no namespace on request');
  });
});
