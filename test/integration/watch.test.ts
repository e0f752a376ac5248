import { eventually, openWatch, startTestServer, type TestServer, type WatchReader } from '../helpers';
import { API_ONLY, create, expectStatus, kind, manifest, MERGE_PATCH, pathOf, rv } from './fixtures';

/**
 * Watch over HTTP: replay from a resourceVersion, live events, initial
 * events, selectors, bookmarks and timeouts, resuming across a restart of
 * the server, and 410 Gone once history is compacted away.
 */

const configmaps = kind('configmaps');
const pods = kind('pods');
let ts: TestServer;
const open: WatchReader[] = [];

async function watch(urlPath: string): Promise<WatchReader> {
  const w = await openWatch(ts, urlPath);
  open.push(w);
  return w;
}

/** A short summary of an event, for comparing whole sequences. */
const brief = (e: any): string => `${e.type} ${e.object?.metadata?.name}`;

/**
 * Reads events until one names `sentinel`, then checks nothing else came:
 * a way to assert "exactly these events" without sleeping.
 */
async function readUntilSentinel(w: WatchReader, sentinel: string): Promise<string[]> {
  const events = await w.until((e) => e.object?.metadata?.name === sentinel);
  return events.map(brief);
}

beforeAll(async () => {
  ts = await startTestServer({ ...API_ONLY, bookmarkIntervalMs: 100 });
});
afterEach(() => {
  open.splice(0).forEach((w) => w.close());
});
afterAll(() => ts.destroy());

test('resourceVersion=N replays the events after N, then streams live ones', async () => {
  const ns = 'default';
  const a = await create(ts, configmaps, ns, manifest(configmaps, 'replay-a'));
  const from = rv(a);
  await create(ts, configmaps, ns, manifest(configmaps, 'replay-b'));
  await ts.api('PATCH', pathOf(configmaps, ns, 'replay-b'), { data: { v: '2' } }, MERGE_PATCH);
  await ts.api('DELETE', pathOf(configmaps, ns, 'replay-a'));

  const w = await watch(`${pathOf(configmaps, ns)}?watch=true&resourceVersion=${from}`);
  const replayed = [await w.next(), await w.next(), await w.next()];
  expect(replayed.map(brief)).toEqual(['ADDED replay-b', 'MODIFIED replay-b', 'DELETED replay-a']);
  expect(replayed[1].object.data.v).toBe('2');
  // Events come in resourceVersion order, each newer than N.
  const versions = replayed.map((e) => rv(e.object));
  expect(versions[0]).toBeGreaterThan(from);
  expect([...versions].sort((x, y) => x - y)).toEqual(versions);

  await create(ts, configmaps, ns, manifest(configmaps, 'replay-c'));
  const live = await w.next();
  expect(brief(live)).toBe('ADDED replay-c');
  await ts.api('PATCH', pathOf(configmaps, ns, 'replay-c'), { data: { v: 'live' } }, MERGE_PATCH);
  expect(brief(await w.next())).toBe('MODIFIED replay-c');
  await ts.api('DELETE', pathOf(configmaps, ns, 'replay-c'));
  const deleted = await w.next();
  expect(brief(deleted)).toBe('DELETED replay-c');
  expect(deleted.object.data.v).toBe('live');
});

test('a watch without resourceVersion starts with ADDED for every existing object', async () => {
  // A namespace the server puts nothing in (kube-system holds its mk-cluster ConfigMap).
  const ns = 'kube-public';
  await create(ts, configmaps, ns, manifest(configmaps, 'initial-1'));
  await create(ts, configmaps, ns, manifest(configmaps, 'initial-2'));
  for (const url of [`${pathOf(configmaps, ns)}?watch=true`, `${pathOf(configmaps, ns)}?watch=1&resourceVersion=0`, `/api/v1/watch/namespaces/${ns}/configmaps`]) {
    const w = await watch(url);
    const initial = [await w.next(), await w.next()];
    expect(initial.map(brief).sort()).toEqual(['ADDED initial-1', 'ADDED initial-2']);
    w.close();
  }
  const w = await watch(`${pathOf(configmaps, ns)}?watch=true`);
  await w.next();
  await w.next();
  await create(ts, configmaps, ns, manifest(configmaps, 'initial-3'));
  expect(brief(await w.next())).toBe('ADDED initial-3');
});

test('a watch of one namespace sees only that namespace; a cluster-wide watch sees all', async () => {
  const from = rv((await ts.api('GET', pathOf(configmaps))).body);
  const nsWatch = await watch(`${pathOf(configmaps, 'kube-public')}?watch=true&resourceVersion=${from}`);
  const all = await watch(`${pathOf(configmaps)}?watch=true&resourceVersion=${from}`);
  await create(ts, configmaps, 'default', manifest(configmaps, 'elsewhere'));
  await create(ts, configmaps, 'kube-public', manifest(configmaps, 'here'));
  expect(brief(await nsWatch.next())).toBe('ADDED here');
  expect((await all.until((e) => e.object.metadata.name === 'here')).map(brief)).toEqual(['ADDED elsewhere', 'ADDED here']);
});

test('label selector on watch: leaving the selection is DELETED, entering it ADDED', async () => {
  const ns = 'default';
  const from = rv((await ts.api('GET', pathOf(pods, ns))).body);
  const w = await watch(`${pathOf(pods, ns)}?watch=true&resourceVersion=${from}&labelSelector=${encodeURIComponent('tier=web')}`);

  await create(ts, pods, ns, manifest(pods, 'sel-web', { tier: 'web' }));
  await create(ts, pods, ns, manifest(pods, 'sel-db', { tier: 'db' }));
  await ts.api('PATCH', pathOf(pods, ns, 'sel-web'), { metadata: { annotations: { touched: 'yes' } } }, MERGE_PATCH);
  await ts.api('PATCH', pathOf(pods, ns, 'sel-web'), { metadata: { labels: { tier: 'cache' } } }, MERGE_PATCH);
  await ts.api('PATCH', pathOf(pods, ns, 'sel-db'), { metadata: { labels: { tier: 'web' } } }, MERGE_PATCH);
  await ts.api('PATCH', pathOf(pods, ns, 'sel-web'), { metadata: { annotations: { unseen: 'yes' } } }, MERGE_PATCH);
  await ts.api('DELETE', pathOf(pods, ns, 'sel-db'));

  const events = await w.until((e) => e.type === 'DELETED' && e.object.metadata.name === 'sel-db');
  expect(events.map(brief)).toEqual([
    'ADDED sel-web',
    'MODIFIED sel-web',
    'DELETED sel-web', // left the selection: the object as it is now, with its new labels
    'ADDED sel-db', // entered it
    'DELETED sel-db',
  ]);
  expect(events[2].object.metadata.labels.tier).toBe('cache');
});

test('field selector on watch: spec.nodeName and status.phase', async () => {
  const ns = 'default';
  const from = rv((await ts.api('GET', pathOf(pods, ns))).body);
  const onNode = await watch(`${pathOf(pods)}?watch=true&resourceVersion=${from}&fieldSelector=${encodeURIComponent('spec.nodeName=node-7')}`);
  const running = await watch(`${pathOf(pods, ns)}?watch=true&resourceVersion=${from}&fieldSelector=${encodeURIComponent('status.phase=Running')}`);

  await create(ts, pods, ns, manifest(pods, 'fs-pod'));
  await create(ts, pods, ns, manifest(pods, 'fs-other'));
  const bind = await ts.api('POST', pathOf(pods, ns, 'fs-pod', 'binding'), { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'fs-pod' }, target: { kind: 'Node', name: 'node-7' } });
  expect(bind.status).toBe(201);
  const added = await onNode.next();
  expect(brief(added)).toBe('ADDED fs-pod');
  expect(added.object.spec.nodeName).toBe('node-7');

  await ts.api('PATCH', pathOf(pods, ns, 'fs-pod', 'status'), { status: { phase: 'Running' } }, MERGE_PATCH);
  expect(brief(await onNode.next())).toBe('MODIFIED fs-pod');
  expect(brief(await running.next())).toBe('ADDED fs-pod');
  await ts.api('PATCH', pathOf(pods, ns, 'fs-pod', 'status'), { status: { phase: 'Succeeded' } }, MERGE_PATCH);
  expect(brief(await running.next())).toBe('DELETED fs-pod');
  expect(brief(await onNode.next())).toBe('MODIFIED fs-pod');

  // The cache sends a node's watch only that node's pods (indexed by spec.nodeName): a pod bound
  // elsewhere never shows; one created already on the node, and the node's deletions, do.
  const elsewhere = { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'fs-other' }, target: { kind: 'Node', name: 'node-8' } };
  expect((await ts.api('POST', pathOf(pods, ns, 'fs-other', 'binding'), elsewhere)).status).toBe(201);
  const direct = manifest(pods, 'fs-direct');
  direct.spec.nodeName = 'node-7';
  await create(ts, pods, ns, direct);
  expect((await ts.api('DELETE', `${pathOf(pods, ns, 'fs-pod')}?gracePeriodSeconds=0`)).status).toBe(200);
  expect(await readUntilSentinel(onNode, 'fs-pod')).toEqual(['ADDED fs-direct', 'DELETED fs-pod']);
});

test('an invalid selector on watch is 400 before the stream starts', async () => {
  expectStatus(await ts.api('GET', `${pathOf(pods)}?watch=true&labelSelector=${encodeURIComponent('a in (b')}`), 400, 'BadRequest');
  expectStatus(await ts.api('GET', `${pathOf(pods)}?watch=true&fieldSelector=${encodeURIComponent('spec.bogus=x')}`), 400, 'BadRequest');
  expectStatus(await ts.api('GET', `${pathOf(pods)}?watch=true&resourceVersion=abc`), 400, 'BadRequest');
});

test('allowWatchBookmarks sends BOOKMARKs; timeoutSeconds ends the stream', async () => {
  const list = await ts.api('GET', pathOf(configmaps, 'default'));
  const started = Date.now();
  const w = await watch(`${pathOf(configmaps, 'default')}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}&allowWatchBookmarks=true&timeoutSeconds=1`);
  const bookmark = await w.next(2_000);
  expect(bookmark.type).toBe('BOOKMARK');
  expect(bookmark.object).toMatchObject({ kind: 'ConfigMap', apiVersion: 'v1' });
  expect(rv(bookmark.object)).toBeGreaterThanOrEqual(rv(list.body));
  expect(bookmark.object.metadata.name).toBeUndefined();

  await w.ended;
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(900);
  expect(elapsed).toBeLessThan(5_000);

  // Without allowWatchBookmarks there are none: the stream ends after its timeout with no events.
  const quiet = await watch(`${pathOf(configmaps, 'default')}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}&timeoutSeconds=1`);
  await quiet.ended;
  await expect(quiet.next(1)).rejects.toThrow('watch ended');
});

test('timeoutSeconds=0 means the server default, not an immediate end; a malformed one is 400', async () => {
  const list = await ts.api('GET', pathOf(configmaps, 'default'));
  const w = await watch(`${pathOf(configmaps, 'default')}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}&timeoutSeconds=0`);
  await create(ts, configmaps, 'default', manifest(configmaps, 'timeout-zero'));
  expect(brief(await w.next())).toBe('ADDED timeout-zero');
  for (const bad of ['abc', '-1', '1.5']) {
    expectStatus(await ts.api('GET', `${pathOf(configmaps)}?watch=true&timeoutSeconds=${bad}`), 400, 'BadRequest');
  }
});

test('sendInitialEvents=true streams the current objects, then a BOOKMARK marking their end', async () => {
  const ns = 'kube-public';
  await create(ts, kind('serviceaccounts'), ns, manifest(kind('serviceaccounts'), 'initial-sa'));
  const list = await ts.api('GET', pathOf(kind('serviceaccounts'), ns));
  const w = await watch(`${pathOf(kind('serviceaccounts'), ns)}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`);
  const events = await w.until((e) => e.type === 'BOOKMARK');
  expect(events.map(brief).slice(0, -1).sort()).toEqual(list.body.items.map((i: any) => `ADDED ${i.metadata.name}`).sort());
  const bookmark = events[events.length - 1];
  expect(bookmark.object.metadata.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
  expect(rv(bookmark.object)).toBeGreaterThanOrEqual(rv(list.body));
});

test('a DELETED event carries the resourceVersion of the deletion', async () => {
  // Pods: a DELETE that removes one answers with the object (other kinds answer with a Status).
  const from = rv((await ts.api('GET', pathOf(pods, 'default'))).body);
  const w = await watch(`${pathOf(pods, 'default')}?watch=true&resourceVersion=${from}`);
  const created = await create(ts, pods, 'default', manifest(pods, 'deleted-rv'));
  const del = await ts.api('DELETE', pathOf(pods, 'default', 'deleted-rv'));
  expect(del.status).toBe(200);
  expect(rv(del.body)).toBeGreaterThan(rv(created));
  const events = await w.until((e) => e.type === 'DELETED');
  expect(events.map(brief)).toEqual(['ADDED deleted-rv', 'DELETED deleted-rv']);
  expect(events[1].object.metadata.resourceVersion).toBe(del.body.metadata.resourceVersion);
});

test('closed watches are unsubscribed from the watch cache', async () => {
  // A kind no other test here watches, so the count is this test's alone.
  const endpoints = kind('endpoints');
  const cache = ts.server.resources.cache(endpoints) as unknown as { watchers: Set<unknown> };
  expect(cache.watchers.size).toBe(0);
  const readers = await Promise.all(Array.from({ length: 10 }, () => openWatch(ts, `${pathOf(endpoints)}?watch=true`)));
  await eventually(() => expect(cache.watchers.size).toBe(10));
  readers.forEach((r) => r.close());
  await eventually(() => expect(cache.watchers.size).toBe(0));
});

test('410 Gone (an ERROR event) for a resourceVersion older than the compacted history', async () => {
  const ns = 'default';
  const old = await create(ts, configmaps, ns, manifest(configmaps, 'compact-1'));
  await create(ts, configmaps, ns, manifest(configmaps, 'compact-2'));
  const newest = await create(ts, configmaps, ns, manifest(configmaps, 'compact-3'));
  await ts.server.store.compact(rv(newest) - 1);

  const w = await watch(`${pathOf(configmaps, ns)}?watch=true&resourceVersion=${rv(old)}`);
  const e = await w.next();
  expect(e.type).toBe('ERROR');
  expect(e.object).toMatchObject({ kind: 'Status', status: 'Failure', code: 410, reason: 'Expired' });
  await w.ended;

  // From the compacted revision on, the history is complete and the watch works.
  const ok = await watch(`${pathOf(configmaps, ns)}?watch=true&resourceVersion=${rv(newest) - 1}`);
  expect(brief(await ok.next())).toBe('ADDED compact-3');
});

test('a quiet kind lists at the current revision, so list-then-watch works after compaction', async () => {
  const leases = kind('leases');
  const ns = 'kube-node-lease';
  for (let i = 0; i < 3; i++) await create(ts, configmaps, 'default', manifest(configmaps, `busy-${i}`));
  const latest = await create(ts, configmaps, 'default', manifest(configmaps, 'busy-last'));
  await ts.server.store.compact(rv(latest));

  // No lease was ever written, yet the list is as current as the store.
  const list = await ts.api('GET', pathOf(leases, ns));
  expect(list.body.items).toEqual([]);
  expect(rv(list.body)).toBeGreaterThanOrEqual(rv(latest));

  // An informer's list-then-watch must not loop on 410.
  const w = await watch(`${pathOf(leases, ns)}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}&allowWatchBookmarks=true`);
  await create(ts, leases, ns, manifest(leases, 'node-1'));
  const e = await w.next();
  expect(brief(e)).toBe('ADDED node-1');
});

test('many watchers of one kind each get every event', async () => {
  const ns = 'default';
  const from = rv((await ts.api('GET', pathOf(configmaps, ns))).body);
  const watchers = await Promise.all(Array.from({ length: 25 }, () => watch(`${pathOf(configmaps, ns)}?watch=true&resourceVersion=${from}`)));
  for (let i = 0; i < 5; i++) await create(ts, configmaps, ns, manifest(configmaps, `fanout-${i}`));
  for (const w of watchers) {
    const events = await readUntilSentinel(w, 'fanout-4');
    expect(events).toEqual([0, 1, 2, 3, 4].map((i) => `ADDED fanout-${i}`));
  }
});

describe('across restarts', () => {
  test('stopping the server ends its open watches', async () => {
    const server = await startTestServer(API_ONLY);
    try {
      const w = await openWatch(server, `${pathOf(configmaps)}?watch=true`);
      open.push(w);
      await server.stop();
      await w.ended;
      await expect(w.next(1)).rejects.toThrow();
    } finally {
      await server.destroy();
    }
  });

  test('a watch from an old resourceVersion resumes after a restart with exactly the events after it', async () => {
    let server = await startTestServer(API_ONLY);
    try {
      const ns = 'default';
      await create(server, configmaps, ns, manifest(configmaps, 'before'));
      const mark = await create(server, configmaps, ns, manifest(configmaps, 'mark'));
      await create(server, configmaps, ns, manifest(configmaps, 'after-1'));
      await server.api('PATCH', pathOf(configmaps, ns, 'mark'), { data: { changed: 'yes' } }, MERGE_PATCH);
      await server.api('DELETE', pathOf(configmaps, ns, 'before'));
      await create(server, configmaps, ns, manifest(configmaps, 'after-2'));

      server = await server.restart();
      const w = await openWatch(server, `${pathOf(configmaps, ns)}?watch=true&resourceVersion=${rv(mark)}`);
      open.push(w);
      const replayed = [await w.next(), await w.next(), await w.next(), await w.next()];
      expect(replayed.map(brief)).toEqual(['ADDED after-1', 'MODIFIED mark', 'DELETED before', 'ADDED after-2']);
      // Nothing else was pending: the next event is the live one.
      await create(server, configmaps, ns, manifest(configmaps, 'live'));
      expect(brief(await w.next())).toBe('ADDED live');
    } finally {
      await server.destroy();
    }
  });

  test('after a restart with a small watch cache, an old resourceVersion is 410 and a recent one resumes', async () => {
    const first = await startTestServer(API_ONLY);
    const ns = 'default';
    const old = await create(first, configmaps, ns, manifest(configmaps, 'small-0'));
    for (let i = 1; i <= 10; i++) await create(first, configmaps, ns, manifest(configmaps, `small-${i}`));
    const recent = (await first.api('GET', pathOf(configmaps, ns, 'small-9'))).body;
    await first.stop();

    const second = await startTestServer({ ...API_ONLY, watchCacheSize: 3 }, first.dataDir);
    try {
      const w = await openWatch(second, `${pathOf(configmaps, ns)}?watch=true&resourceVersion=${rv(old)}`);
      open.push(w);
      const e = await w.next();
      expect(e.type).toBe('ERROR');
      expect(e.object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });

      const ok = await openWatch(second, `${pathOf(configmaps, ns)}?watch=true&resourceVersion=${rv(recent)}`);
      open.push(ok);
      expect(brief(await ok.next())).toBe('ADDED small-10');
    } finally {
      await second.destroy();
    }
  });
});
