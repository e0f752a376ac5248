import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { ensureBuilt, killMk, startMkServer, type MkProcess } from '../cli-build';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers';
import { API_ONLY, create, kind, manifest, MERGE_PATCH, pathOf, rawRequest, rv } from './fixtures';

/**
 * Durability: state and resourceVersions survive a clean restart, and a
 * write the server acknowledged survives the process being killed with
 * SIGKILL (the real `mk server` binary, so nothing flushes on the way out).
 */

const configmaps = kind('configmaps');
const deployments = kind('deployments');

test('objects, their resourceVersions and the list resourceVersion survive a restart', async () => {
  let ts: TestServer = await startTestServer(API_ONLY);
  try {
    const a = await create(ts, configmaps, 'default', manifest(configmaps, 'keep-a'));
    await create(ts, deployments, 'default', manifest(deployments, 'keep-d'));
    await ts.api('PATCH', pathOf(deployments, 'default', 'keep-d', 'status'), { status: { replicas: 2 } }, MERGE_PATCH);
    await ts.api('PATCH', pathOf(configmaps, 'default', 'keep-a'), { data: { v: '2' } }, MERGE_PATCH);
    await create(ts, configmaps, 'default', manifest(configmaps, 'gone'));
    await ts.api('DELETE', pathOf(configmaps, 'default', 'gone'));
    const before = {
      a: (await ts.api('GET', pathOf(configmaps, 'default', 'keep-a'))).body,
      d: (await ts.api('GET', pathOf(deployments, 'default', 'keep-d'))).body,
      namespaces: (await ts.api('GET', '/api/v1/namespaces')).body,
    };
    expect(rv(before.a)).toBeGreaterThan(rv(a));

    ts = await ts.restart();
    expect((await ts.api('GET', pathOf(configmaps, 'default', 'keep-a'))).body).toEqual(before.a);
    expect((await ts.api('GET', pathOf(deployments, 'default', 'keep-d'))).body).toEqual(before.d);
    expect((await ts.api('GET', pathOf(configmaps, 'default', 'gone'))).status).toBe(404);
    // The system namespaces are not created again: same uids, same versions.
    expect((await ts.api('GET', '/api/v1/namespaces')).body.items).toEqual(before.namespaces.items);

    // New writes continue the revision sequence instead of reusing old numbers.
    const after = await create(ts, configmaps, 'default', manifest(configmaps, 'after-restart'));
    expect(rv(after)).toBeGreaterThan(rv(before.d));
    expect(rv(after)).toBeGreaterThan(rv(before.a) + 1); // the delete of "gone" took a revision too

    // A stale resourceVersion from before the restart is still stale.
    const stale = await ts.api('PUT', pathOf(configmaps, 'default', 'keep-a'), { ...before.a, metadata: { ...before.a.metadata, resourceVersion: a.metadata.resourceVersion } });
    expect(stale.status).toBe(409);
  } finally {
    await ts.destroy();
  }
});

test('compaction keeps live objects and their versions across a restart', async () => {
  let ts = await startTestServer(API_ONLY);
  try {
    const keep = await create(ts, configmaps, 'default', manifest(configmaps, 'survivor'));
    await create(ts, configmaps, 'default', manifest(configmaps, 'churn'));
    for (let i = 0; i < 20; i++) await ts.api('PATCH', pathOf(configmaps, 'default', 'churn'), { data: { i: String(i) } }, MERGE_PATCH);
    await create(ts, configmaps, 'default', manifest(configmaps, 'deleted'));
    const last = await ts.api('DELETE', pathOf(configmaps, 'default', 'deleted'));
    expect(last.status).toBe(200);
    // The revision of the deletion (a ConfigMap's delete answers with a Status, not the object).
    const deletedAt = await ts.server.store.currentRevision();
    const churn = (await ts.api('GET', pathOf(configmaps, 'default', 'churn'))).body;
    await ts.server.store.compact(deletedAt);

    ts = await ts.restart();
    expect((await ts.api('GET', pathOf(configmaps, 'default', 'survivor'))).body).toEqual(keep);
    expect((await ts.api('GET', pathOf(configmaps, 'default', 'churn'))).body).toEqual(churn);
    expect((await ts.api('GET', pathOf(configmaps, 'default', 'deleted'))).status).toBe(404);
    // Even with the newest row (a tombstone) compacted away, revisions never go backwards.
    const next = await create(ts, configmaps, 'default', manifest(configmaps, 'next'));
    expect(rv(next)).toBeGreaterThan(deletedAt);
  } finally {
    await ts.destroy();
  }
});

interface Child extends MkProcess {
  url: string;
  token: string;
  /** Trusts the cluster CA the server keeps in its data dir. */
  agent: https.Agent;
}

async function spawnServer(dataDir: string): Promise<Child> {
  const child = await startMkServer(['--data-dir', dataDir, '--port', '0', '--disable-proxy'], 20_000);
  const token = fs.readFileSync(path.join(dataDir, 'token'), 'utf8').trim();
  const agent = new https.Agent({ keepAlive: true, ca: fs.readFileSync(path.join(dataDir, 'tls', 'ca.crt'), 'utf8') });
  return { ...child, token, agent };
}

function killHard(child: Child): Promise<void> {
  child.agent.destroy();
  return killMk(child);
}

describe('the real binary under kill -9', () => {
  let dataDir: string;
  const children: Child[] = [];

  beforeAll(() => {
    dataDir = tempDir('mk-kill9-');
    ensureBuilt();
  }, 120_000);
  afterAll(async () => {
    for (const c of children) await killHard(c);
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  function call(child: Child, method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}) {
    const h = { Authorization: `Bearer ${child.token}`, 'Content-Type': 'application/json', ...headers };
    return rawRequest(child.agent, child.url + urlPath, method, h, body === undefined ? undefined : JSON.stringify(body));
  }

  test('every acknowledged write is there after SIGKILL, including writes in flight when it died', async () => {
    const first = await spawnServer(dataDir);
    children.push(first);
    expect((await call(first, 'GET', '/readyz')).status).toBe(200);

    // A steady stream of creates and updates, 16 at a time; the kill lands in the middle of it.
    const acked = new Map<string, { resourceVersion: string; data: any }>();
    let stop = false;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const name = `w${w}-${i}`;
        try {
          const res = await call(first, 'POST', pathOf(configmaps, 'default'), manifest(configmaps, name));
          if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
          acked.set(name, { resourceVersion: res.body.metadata.resourceVersion, data: res.body.data });
          const upd = await call(first, 'PATCH', pathOf(configmaps, 'default', name), { data: { step: 'two' } }, MERGE_PATCH);
          if (upd.status !== 200) throw new Error(`patch ${name}: ${upd.status}`);
          acked.set(name, { resourceVersion: upd.body.metadata.resourceVersion, data: upd.body.data });
        } catch (err) {
          if (stop) return; // the connection died with the server: this write was never acknowledged
          throw err;
        }
      }
    };
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    await eventually(() => {
      if (acked.size < 200) throw new Error(`only ${acked.size} acknowledged so far`);
    }, 20_000, 10);
    stop = true;
    await killHard(first);
    await Promise.all(workers);
    expect(first.proc.signalCode).toBe('SIGKILL');

    const second = await spawnServer(dataDir);
    children.push(second);
    const list = await call(second, 'GET', pathOf(configmaps, 'default'));
    expect(list.status).toBe(200);
    const stored = new Map<string, any>(list.body.items.map((i: any) => [i.metadata.name, i]));
    const missing = [...acked.keys()].filter((n) => !stored.has(n));
    expect(missing).toEqual([]);
    for (const [name, ack] of acked) {
      // Stored at least as new as what was acknowledged (a later write may have landed unacknowledged).
      expect(Number(stored.get(name).metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(ack.resourceVersion));
      if (ack.data?.step) expect(stored.get(name).data).toEqual(ack.data);
    }
    // The restarted server keeps working on the recovered database.
    const next = await call(second, 'POST', pathOf(configmaps, 'default'), manifest(configmaps, 'after-kill'));
    expect(next.status).toBe(201);
    expect(Number(next.body.metadata.resourceVersion)).toBeGreaterThan(Math.max(...[...stored.values()].map((o) => Number(o.metadata.resourceVersion))));
    await killHard(second);
  }, 60_000);
});
