import { startTestServer, type TestServer } from '../helpers';
import { API_ONLY, create, expectStatus, kind, manifest, MERGE_PATCH, pathOf } from './fixtures';

/** labelSelector and fieldSelector on list (and deletecollection), with apimachinery's syntax. */

const pods = kind('pods');
const NS = 'sel';
let ts: TestServer;

const labels: Record<string, Record<string, string>> = {
  'web-prod': { app: 'web', env: 'prod', tier: 'frontend' },
  'web-dev': { app: 'web', env: 'dev' },
  'db-prod': { app: 'db', env: 'prod', tier: 'backend' },
  'cache': { app: 'cache' },
  'bare': {},
};

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
  await create(ts, kind('namespaces'), undefined, manifest(kind('namespaces'), NS));
  await create(ts, kind('namespaces'), undefined, manifest(kind('namespaces'), 'sel-other'));
  for (const [name, l] of Object.entries(labels)) await create(ts, pods, NS, manifest(pods, name, l));
  await create(ts, pods, 'sel-other', manifest(pods, 'web-prod', labels['web-prod']));

  // web-prod runs on node-1; web-dev is scheduled to node-2 but stays Pending.
  for (const [name, node] of [['web-prod', 'node-1'], ['web-dev', 'node-2']]) {
    const res = await ts.api('POST', pathOf(pods, NS, name, 'binding'), { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { kind: 'Node', name: node } });
    expect(res.status).toBe(201);
  }
  const running = await ts.api('PATCH', pathOf(pods, NS, 'web-prod', 'status'), { status: { phase: 'Running' } }, MERGE_PATCH);
  expect(running.status).toBe(200);
});
afterAll(() => ts.destroy());

/** Names of the pods a list selects: in namespace NS, or (ns null) `namespace/name` across all. */
async function names(query: string, ns: string | null = NS): Promise<string[]> {
  const res = await ts.api('GET', `${pathOf(pods, ns ?? undefined)}?${query}`);
  if (res.status !== 200) throw new Error(`${query}: ${res.status} ${res.text}`);
  return res.body.items.map((i: any) => (ns ? i.metadata.name : `${i.metadata.namespace}/${i.metadata.name}`)).sort();
}

const label = (s: string): string => `labelSelector=${encodeURIComponent(s)}`;
const field = (s: string): string => `fieldSelector=${encodeURIComponent(s)}`;

test.each([
  ['app=web', ['web-dev', 'web-prod']],
  ['app==web', ['web-dev', 'web-prod']],
  ['app!=web', ['bare', 'cache', 'db-prod']],
  ['app in (web,db)', ['db-prod', 'web-dev', 'web-prod']],
  ['app notin (web,db)', ['bare', 'cache']],
  ['tier', ['db-prod', 'web-prod']],
  ['!tier', ['bare', 'cache', 'web-dev']],
  ['app=web,env=prod', ['web-prod']],
  ['env in (prod),tier!=frontend', ['db-prod']],
  ['app in (web), !tier', ['web-dev']],
  ['app=nothing', []],
  ['', ['bare', 'cache', 'db-prod', 'web-dev', 'web-prod']],
])('labelSelector %p', async (selector, expected) => {
  expect(await names(label(selector))).toEqual(expected);
});

test.each([
  ['metadata.name=cache', ['cache']],
  ['metadata.name!=cache', ['bare', 'db-prod', 'web-dev', 'web-prod']],
  ['spec.nodeName=node-1', ['web-prod']],
  ['spec.nodeName=', ['bare', 'cache', 'db-prod']],
  ['spec.nodeName!=', ['web-dev', 'web-prod']],
  ['status.phase=Running', ['web-prod']],
  ['status.phase=Pending', ['bare', 'cache', 'db-prod', 'web-dev']],
  ['status.phase!=Running,spec.nodeName!=', ['web-dev']],
  ['metadata.namespace=sel', ['bare', 'cache', 'db-prod', 'web-dev', 'web-prod']],
])('fieldSelector %p', async (selector, expected) => {
  expect(await names(field(selector))).toEqual(expected);
});

test('selectors across namespaces: metadata.namespace and labels together', async () => {
  expect(await names(`${field('metadata.name=web-prod')}`, null)).toEqual(['sel-other/web-prod', 'sel/web-prod']);
  expect(await names(`${field('metadata.namespace=sel-other')}`, null)).toEqual(['sel-other/web-prod']);
  expect(await names(`${field('metadata.namespace=sel-other')}&${label('app=web')}`, null)).toEqual(['sel-other/web-prod']);
  expect(await names(`${field('metadata.namespace=sel')}&${label('env=dev')}`, null)).toEqual(['sel/web-dev']);
});

test('field selectors on other kinds: namespaces by status.phase, secrets by type', async () => {
  const ns = await ts.api('GET', `/api/v1/namespaces?${field('status.phase=Active,metadata.name=sel')}`);
  expect(ns.status).toBe(200);
  expect(ns.body.items.map((i: any) => i.metadata.name)).toEqual(['sel']);
  const secrets = kind('secrets');
  await create(ts, secrets, NS, manifest(secrets, 'opaque'));
  await create(ts, secrets, NS, { ...manifest(secrets, 'tls'), type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y3J0', 'tls.key': 'a2V5' } });
  const res = await ts.api('GET', `${pathOf(secrets, NS)}?${field('type=kubernetes.io/tls')}`);
  expect(res.status).toBe(200);
  expect(res.body.items.map((i: any) => i.metadata.name)).toEqual(['tls']);
});

test.each([
  ['unsupported field', field('spec.containers=x')],
  ['field selector without an operator', field('metadata.name')],
  ['label selector with an unclosed set', label('app in (web')],
  ['label selector with a bad key', label('-bad-=x')],
  ['label selector with a bad value', label('app=no spaces')],
  ['label selector with an unknown operator', label('app~=web')],
])('%s is 400 BadRequest', async (_what, query) => {
  const res = await ts.api('GET', `${pathOf(pods, NS)}?${query}`);
  expectStatus(res, 400, 'BadRequest');
  // The server keeps serving.
  expect((await ts.api('GET', pathOf(pods, NS))).status).toBe(200);
});

test('a repeated query parameter counts once, by its first value', async () => {
  expect(await names(`${label('app=web')}&${label('app=db')}`)).toEqual(['web-dev', 'web-prod']);
  expect(await names(`${field('metadata.name=cache')}&${field('metadata.name=bare')}`)).toEqual(['cache']);
  expect((await ts.api('GET', `${pathOf(pods, NS)}?limit=1&limit=2`)).body.items).toHaveLength(1);
});

test('limit and continue page through a selection', async () => {
  const first = await ts.api('GET', `${pathOf(pods, NS)}?limit=2&${label('app')}`);
  expect(first.status).toBe(200);
  expect(first.body.items).toHaveLength(2);
  expect(first.body.metadata.continue).toBeTruthy();
  const seen = first.body.items.map((i: any) => i.metadata.name);
  let token = first.body.metadata.continue;
  while (token) {
    const page = await ts.api('GET', `${pathOf(pods, NS)}?limit=2&${label('app')}&continue=${encodeURIComponent(token)}`);
    expect(page.status).toBe(200);
    seen.push(...page.body.items.map((i: any) => i.metadata.name));
    token = page.body.metadata.continue;
  }
  expect(seen.sort()).toEqual(['cache', 'db-prod', 'web-dev', 'web-prod']);
  expectStatus(await ts.api('GET', `${pathOf(pods, NS)}?limit=2&continue=garbage`), 400, 'BadRequest');
});
