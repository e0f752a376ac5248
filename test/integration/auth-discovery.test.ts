import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { apiVersionOf, resourceTypes, virtualResourceTypes } from '../../src/api/registry';

/** Every kind discovery lists: the stored ones and those only created (access reviews). */
const served = [...resourceTypes, ...virtualResourceTypes];
import { startTestServer, type TestServer } from '../helpers';
import { API_ONLY, expectStatus, rawRequest } from './fixtures';

/** Bearer-token authentication, the anonymous health checks, discovery and /version. */

let ts: TestServer;

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
});
afterAll(() => ts.destroy());

const raw = (urlPath: string, headers: Record<string, string> = {}) => rawRequest(ts.agent, ts.url + urlPath, 'GET', headers);

describe('authentication', () => {
  test.each<[string, () => Record<string, string>]>([
    ['no token', () => ({})],
    ['a wrong token', () => ({ Authorization: 'Bearer not-the-token' })],
    ['the token without Bearer', () => ({ Authorization: ts.token })],
    ['the token with extra text', () => ({ Authorization: `Bearer ${ts.token}x` })],
    ['basic auth', () => ({ Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` })],
  ])('%s is 401 Unauthorized', async (_what, headers) => {
    for (const p of ['/api/v1/namespaces', '/api/v1/namespaces/default/pods', '/api', '/apis', '/version', '/api/v1/namespaces/default/pods?watch=true', '/nonexistent']) {
      expectStatus(await raw(p, headers()), 401, 'Unauthorized');
    }
  });

  test('writes without a token are refused and store nothing', async () => {
    const res = await rawRequest(ts.agent, `${ts.url}/api/v1/namespaces/default/configmaps`, 'POST', { 'Content-Type': 'application/json' },
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'sneaky' } }));
    expectStatus(res, 401, 'Unauthorized');
    expect((await ts.api('GET', '/api/v1/namespaces/default/configmaps/sneaky')).status).toBe(404);
  });

  test.each(['/healthz', '/readyz', '/livez'])('%s answers 200 without a token', async (p) => {
    const res = await raw(p);
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok');
  });

  test('the token lives in the data dir (0600) and the kubeconfig carries it', async () => {
    const tokenFile = path.join(ts.dataDir, 'token');
    expect(fs.readFileSync(tokenFile, 'utf8').trim()).toBe(ts.token);
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    const kubeconfig = YAML.parse(fs.readFileSync(ts.server.kubeconfigPath, 'utf8'));
    expect(kubeconfig.kind).toBe('Config');
    expect(kubeconfig.clusters[0].cluster.server).toBe(ts.url);
    expect(kubeconfig.users[0].user.token).toBe(ts.token);
  });
});

describe('discovery', () => {
  test('/api lists v1', async () => {
    const res = await ts.api('GET', '/api');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
  });

  test('/apis lists every named group with its preferred version', async () => {
    const res = await ts.api('GET', '/apis');
    expect(res.status).toBe(200);
    expect(res.body.kind).toBe('APIGroupList');
    const groups = new Map(res.body.groups.map((g: any) => [g.name, g]));
    for (const group of ['apps', 'coordination.k8s.io']) {
      expect(groups.get(group)).toEqual({
        name: group,
        versions: [{ groupVersion: `${group}/v1`, version: 'v1' }],
        preferredVersion: { groupVersion: `${group}/v1`, version: 'v1' },
      });
    }
    const apps = await ts.api('GET', '/apis/apps');
    expect(apps.status).toBe(200);
    expect(apps.body).toMatchObject({ kind: 'APIGroup', name: 'apps', preferredVersion: { groupVersion: 'apps/v1' } });
  });

  const groupVersionPaths = [...new Set(['/api/v1', '/apis/apps/v1', '/apis/coordination.k8s.io/v1',
    ...served.map((rt) => (rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`))])];

  test('/apis lists every group of the registry', async () => {
    const res = await ts.api('GET', '/apis');
    const names = res.body.groups.map((g: any) => g.name).sort();
    expect(names).toEqual([...new Set(served.filter((rt) => rt.group).map((rt) => rt.group))].sort());
  });

  test.each(groupVersionPaths)('%s lists every kind of its group version, with verbs and short names', async (p) => {
    const res = await ts.api('GET', p);
    expect(res.status).toBe(200);
    const groupVersion = p === '/api/v1' ? 'v1' : p.slice('/apis/'.length);
    expect(res.body).toMatchObject({ kind: 'APIResourceList', groupVersion });
    const byName = new Map<string, any>(res.body.resources.map((r: any) => [r.name, r]));
    const expected = served.filter((rt) => apiVersionOf(rt) === groupVersion);
    expect(expected.length).toBeGreaterThan(0);
    for (const rt of expected) {
      const r = byName.get(rt.plural);
      expect(r).toBeDefined();
      expect(r).toMatchObject({ name: rt.plural, singularName: rt.singular, kind: rt.kind, namespaced: rt.namespaced });
      expect([...r.verbs].sort()).toEqual([...rt.verbs].sort());
      if (resourceTypes.includes(rt)) expect([...r.verbs].sort()).toEqual(['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
      expect(r.shortNames ?? []).toEqual(rt.shortNames);
      for (const sub of rt.subresources) expect(byName.get(`${rt.plural}/${sub}`)).toBeDefined();
    }
    // Nothing is advertised that is not served.
    for (const name of byName.keys()) {
      const [plural] = name.split('/');
      expect(expected.map((rt) => rt.plural)).toContain(plural);
    }
  });

  test('well-known short names and subresources', async () => {
    const core = new Map<string, any>((await ts.api('GET', '/api/v1')).body.resources.map((r: any) => [r.name, r]));
    expect(core.get('pods').shortNames).toEqual(['po']);
    expect(core.get('services').shortNames).toEqual(['svc']);
    expect(core.get('namespaces').shortNames).toEqual(['ns']);
    expect(core.get('pods').categories).toContain('all');
    expect(core.get('pods/status').verbs.sort()).toEqual(['get', 'patch', 'update']);
    expect(core.get('pods/binding')).toMatchObject({ kind: 'Binding', verbs: ['create'] });
    const apps = new Map<string, any>((await ts.api('GET', '/apis/apps/v1')).body.resources.map((r: any) => [r.name, r]));
    expect(apps.get('deployments').shortNames).toEqual(['deploy']);
    expect(apps.get('deployments/scale')).toMatchObject({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
  });

  test('unknown groups and versions are 404', async () => {
    expectStatus(await ts.api('GET', '/apis/nope'), 404, 'NotFound');
    expectStatus(await ts.api('GET', '/apis/apps/v2'), 404, 'NotFound');
    expectStatus(await ts.api('GET', '/api/v2'), 404, 'NotFound');
  });

  test('/version has major, minor and gitVersion', async () => {
    const res = await ts.api('GET', '/version');
    expect(res.status).toBe(200);
    expect(res.body.major).toMatch(/^\d+$/);
    expect(res.body.minor).toMatch(/^\d+$/);
    expect(res.body.gitVersion).toMatch(new RegExp(`^v${res.body.major}\\.${res.body.minor}\\.\\d+`));
    expect(res.body.platform).toMatch(/^\w+\/\w+$/);
  });
});
