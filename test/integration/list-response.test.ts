import * as https from 'node:https';
import { buildTable } from '../../src/api/table';
import { httpsRequest, podManifest, startTestServer, type TestServer } from '../helpers';
import { API_ONLY, create, kind, manifest, pathOf } from './fixtures';

/**
 * Lists larger than one write (about 1 MB) are streamed from the cached JSON
 * (src/apiserver/list-response.ts): they must be the same documents a small
 * list is, as JSON and as a Table.
 */

const pods = kind('pods');
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const NAMESPACES = ['big-a', 'big-b'];
const PODS = 300;
// ~8 KB of annotation per pod puts a list of either namespace's pods over one write.
const NOTE = 'x'.repeat(8000);
let ts: TestServer;

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
  for (const ns of NAMESPACES) await create(ts, kind('namespaces'), undefined, manifest(kind('namespaces'), ns));
  const names = Array.from({ length: PODS }, (_, i) => i);
  for (let i = 0; i < names.length; i += 25) {
    await Promise.all(names.slice(i, i + 25).map((n) => {
      const pod = podManifest(`pod-${n}`, { metadata: { labels: { app: `app-${n % 3}` }, annotations: { note: NOTE, quote: `"}{\\ ${n}` } } });
      return create(ts, pods, NAMESPACES[n % 2], pod);
    }));
  }
}, 60_000);
afterAll(() => ts.destroy());

/** The table cells with AGE blanked: it is computed against the clock of each request. */
function withoutAge(table: any): any {
  const age = table.columnDefinitions.findIndex((c: any) => c.name === 'Age');
  return { ...table, rows: table.rows.map((r: any) => ({ ...r, cells: r.cells.map((c: unknown, i: number) => (i === age ? '' : c)) })) };
}

test('a large list is a complete PodList with a Content-Length', async () => {
  const res = await ts.api('GET', '/api/v1/pods');
  expect(res.status).toBe(200);
  expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(res.text));
  expect(Buffer.byteLength(res.text)).toBeGreaterThan(1 << 20);
  expect(res.body).toMatchObject({ kind: 'PodList', apiVersion: 'v1' });
  expect(res.body.metadata.resourceVersion).toMatch(/^\d+$/);
  const ours = res.body.items.filter((p: any) => NAMESPACES.includes(p.metadata.namespace));
  expect(ours).toHaveLength(PODS);
  // Each item is the object a GET returns, in key order (namespace, then name).
  const keys = res.body.items.map((p: any) => `${p.metadata.namespace}/${p.metadata.name}`);
  expect(keys).toEqual([...keys].sort());
  for (const p of [ours[0], ours[123], ours[PODS - 1]]) {
    const one = await ts.api('GET', pathOf(pods, p.metadata.namespace, p.metadata.name));
    expect(p).toEqual(one.body);
  }
});

test('a large Table is the Table built from the listed objects', async () => {
  const list = await ts.api('GET', pathOf(pods, 'big-a'));
  const res = await ts.api('GET', pathOf(pods, 'big-a'), undefined, { Accept: TABLE });
  expect(res.status).toBe(200);
  expect(Buffer.byteLength(res.text)).toBeGreaterThan(1 << 20);
  expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(res.text));
  const listMeta = { resourceVersion: list.body.metadata.resourceVersion };
  const expected = JSON.parse(JSON.stringify(buildTable(pods, list.body.items, { now: Date.now(), listMeta })));
  expect(withoutAge(res.body)).toEqual(withoutAge(expected));
  expect(res.body.rows[0].object).toMatchObject({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1' });
  expect(res.body.rows[0].object.metadata.annotations.note).toBe(NOTE);
});

test.each([
  ['Object', (pod: any) => pod],
  ['None', () => undefined],
  ['Metadata', (pod: any) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: pod.metadata })],
])('includeObject=%s on a large Table', async (include, objectOf) => {
  const list = await ts.api('GET', pathOf(pods, 'big-b'));
  const res = await ts.api('GET', `${pathOf(pods, 'big-b')}?includeObject=${include}`, undefined, { Accept: TABLE });
  expect(res.status).toBe(200);
  expect(res.body.rows).toHaveLength(PODS / 2);
  res.body.rows.forEach((row: any, i: number) => expect(row.object).toEqual(objectOf(list.body.items[i])));
});

test('limit and continue page a Table, with a selector', async () => {
  const want = (await ts.api('GET', '/api/v1/pods?labelSelector=app%3Dapp-1')).body.items.map((p: any) => p.metadata.name);
  expect(want).toHaveLength(PODS / 3);
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const query = `labelSelector=app%3Dapp-1&limit=40${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
    const res = await ts.api('GET', `/api/v1/pods?${query}`, undefined, { Accept: TABLE });
    expect(res.status).toBe(200);
    expect(res.body.kind).toBe('Table');
    seen.push(...res.body.rows.map((r: any) => r.cells[0]));
    token = res.body.metadata.continue || undefined;
    pages++;
  } while (token);
  expect(pages).toBe(3);
  expect(seen).toEqual(want);
});

test('a client that leaves in the middle of a large list does not stop the server', async () => {
  const agent = new https.Agent({ ca: ts.server.caPem });
  const res = await httpsRequest(agent, 'GET', `${ts.url}/api/v1/pods`, { Authorization: `Bearer ${ts.token}` });
  expect(res.statusCode).toBe(200);
  await new Promise<void>((resolve) => res.once('data', () => resolve()));
  res.destroy();
  agent.destroy();
  const again = await ts.api('GET', '/api/v1/pods');
  expect(again.status).toBe(200);
  expect(again.body.items.filter((p: any) => NAMESPACES.includes(p.metadata.namespace))).toHaveLength(PODS);
});
