import { Etcd3 } from 'etcd3';
import { resolveResourceName } from '../../src/api/registry';
import { encode } from '../../src/apiserver/resources';
import { EtcdStore } from '../../src/storage/etcd';
import { requireEtcd, startEtcd, startTcpProxy, type TestEtcd } from '../etcd-helpers';
import type { ServerOptions } from '../../src/server';
import { eventually, openWatch, podManifest, startTestServer, type TestServer } from '../helpers';

/**
 * `mk server --datastore-endpoint http://...`: the whole API server on a
 * real etcd, over HTTP, through restarts of the server and of etcd.
 */

const describeEtcd = requireEtcd();

describeEtcd('mk server on etcd', () => {
  let etcd: TestEtcd;
  let raw: Etcd3;
  const servers: TestServer[] = [];
  let prefixes = 0;
  const start = async (endpoint = etcd.endpoint, options: Partial<ServerOptions> = {}): Promise<TestServer> => {
    // No scheduler unless asked: it would mark the test's pods unschedulable (no nodes), changing them under the test.
    const ts = await startTestServer({ datastoreEndpoint: endpoint, datastorePrefix: `/mk-server-${prefixes++}/`, disableScheduler: true, ...options });
    servers.push(ts);
    return ts;
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    raw = new Etcd3({ hosts: etcd.endpoint });
  }, 60_000);
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.destroy()));
  });
  afterAll(async () => {
    raw?.close();
    await etcd?.destroy();
  });

  test('pods over HTTP: create and read back at once, list, watch; a restarted server has the same data', async () => {
    const ts = await start();
    const prefix = (ts.server.store as EtcdStore).prefix;
    const created = await ts.api('POST', '/api/v1/namespaces/default/pods', podManifest('web-1'));
    expect(created.status).toBe(201);
    // Served from the watch cache, which the write waited for: a client reads its own write.
    const read = await ts.api('GET', '/api/v1/namespaces/default/pods/web-1');
    expect(read.status).toBe(200);
    const rv1 = created.body.metadata.resourceVersion;
    expect(read.body.metadata.resourceVersion).toBe(rv1);
    // The object is in etcd under the prefix, and its resourceVersion is the key's mod_revision.
    const stored = await raw.get(`${prefix}pods/default/web-1`).exec();
    expect(String(stored.kvs[0].mod_revision)).toBe(rv1);
    expect(JSON.parse(stored.kvs[0].value.toString()).metadata.uid).toBe(created.body.metadata.uid);

    const watch = await openWatch(ts, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${rv1}`);
    expect((await ts.api('POST', '/api/v1/namespaces/default/pods', podManifest('web-2'))).status).toBe(201);
    expect((await ts.api('DELETE', '/api/v1/namespaces/default/pods/web-1')).status).toBe(200);
    const seen = await watch.until((e) => e.type === 'DELETED');
    expect(seen.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'web-2'], ['DELETED', 'web-1']]);
    watch.close();
    const listed = await ts.api('GET', '/api/v1/namespaces/default/pods');
    expect(listed.body.items.map((p: any) => p.metadata.name)).toEqual(['web-2']);
    const web2 = listed.body.items[0];

    const again = await ts.restart();
    servers.push(again);
    const relisted = await again.api('GET', '/api/v1/namespaces/default/pods');
    expect(relisted.body.items.map((p: any) => [p.metadata.name, p.metadata.resourceVersion, p.metadata.uid]))
      .toEqual([['web-2', web2.metadata.resourceVersion, web2.metadata.uid]]);
    // A client resuming from before the restart is served from the history the new server replayed.
    expect((await again.api('POST', '/api/v1/namespaces/default/pods', podManifest('web-3'))).status).toBe(201);
    const resumed = await eventually(async () => {
      const w = await openWatch(again, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${rv1}`);
      const first = await w.next();
      if (first.type === 'ERROR') {
        w.close();
        throw new Error(`resume refused: ${first.object.message}`);
      }
      return { w, first };
    });
    const rest = await resumed.w.until((e) => e.object.metadata.name === 'web-3');
    resumed.w.close();
    expect([resumed.first, ...rest].map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'web-2'], ['DELETED', 'web-1'], ['ADDED', 'web-3']]);
  });

  test('a write is in the watch cache by the time it is acknowledged (read your writes)', async () => {
    const ts = await start();
    const configmaps = resolveResourceName('configmaps')!;
    for (let i = 0; i < 20; i++) {
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}` }, data: { i: String(i) } };
      const written = await ts.server.resources.create(configmaps, 'default', cm);
      // Synchronously after the acknowledgement: etcd's watch event must already have been applied.
      expect(ts.server.resources.get(configmaps, 'default', `cm-${i}`).revision).toBe(written.object.revision);
      const updated = await ts.server.resources.guaranteedUpdate(configmaps, 'default', `cm-${i}`, undefined, (obj) => ({ ...obj, data: { i: 'changed' } }));
      expect(ts.server.resources.get(configmaps, 'default', `cm-${i}`).object.data).toEqual({ i: 'changed' });
      expect(updated.object.revision).toBeGreaterThan(written.object.revision);
    }
  });

  test('the control loops run on etcd: a Deployment is scheduled, started and scaled', async () => {
    const ts = await start(etcd.endpoint, { disableScheduler: false, agent: { runtime: 'fake', nodeName: 'etcd-node', port: 0 } });
    const deployment = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
      spec: {
        replicas: 3, selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox:1.36', command: ['sleep', '3600'] }] } },
      },
    };
    expect((await ts.api('POST', '/apis/apps/v1/namespaces/default/deployments', deployment)).status).toBe(201);
    const running = async (n: number) => eventually(async () => {
      const pods = (await ts.api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).body.items;
      expect(pods.filter((p: any) => p.status?.phase === 'Running' && p.spec.nodeName === 'etcd-node' && !p.metadata.deletionTimestamp)).toHaveLength(n);
      const d = (await ts.api('GET', '/apis/apps/v1/namespaces/default/deployments/web')).body;
      expect(d.status).toMatchObject({ replicas: n, availableReplicas: n });
    }, 30_000);
    await running(3);
    const scaled = await ts.api('PATCH', '/apis/apps/v1/namespaces/default/deployments/web', { spec: { replicas: 5 } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(scaled.status).toBe(200);
    await running(5);
  }, 60_000);

  test('etcd down: /readyz fails and writes get 503 at once; back up: writes work and open watches carry on', async () => {
    const ts = await start();
    const watch = await openWatch(ts, '/api/v1/namespaces/default/pods?watch=true');
    expect((await ts.api('GET', '/readyz')).status).toBe(200);
    await etcd.stop();
    try {
      const ready = await ts.api('GET', '/readyz');
      expect(ready.status).toBe(503);
      const started = Date.now();
      const refused = await ts.api('POST', '/api/v1/namespaces/default/pods', podManifest('while-down'));
      expect(Date.now() - started).toBeLessThan(2000);
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
      // Reads are served from the watch cache meanwhile.
      expect((await ts.api('GET', '/api/v1/namespaces/default/pods')).status).toBe(200);
    } finally {
      await etcd.start();
    }
    await eventually(async () => expect((await ts.api('GET', '/readyz')).status).toBe(200), 15_000);
    const created = await eventually(async () => {
      const r = await ts.api('POST', '/api/v1/namespaces/default/pods', podManifest('after'));
      expect(r.status).toBe(201);
      return r;
    }, 15_000);
    const events = await watch.until((e) => e.object.metadata.name === 'after', 15_000);
    expect(events.map((e) => e.type)).toEqual(['ADDED']);
    expect(events[0].object.metadata.resourceVersion).toBe(created.body.metadata.resourceVersion);
    watch.close();
  }, 60_000);

  test('etcd over TLS with a client certificate (--datastore-cafile/-certfile/-keyfile)', async () => {
    const secure = await startEtcd({ tls: true });
    try {
      const files = secure.tls!;
      const ts = await start(secure.endpoint, { datastoreCAFile: files.caFile, datastoreCertFile: files.certFile, datastoreKeyFile: files.keyFile });
      expect((await ts.api('POST', '/api/v1/namespaces/default/pods', podManifest('over-tls'))).status).toBe(201);
      expect((await ts.api('GET', '/readyz')).status).toBe(200);
      await Promise.all(servers.splice(0).map((s) => s.destroy()));
    } finally {
      await secure.destroy();
    }
  }, 60_000);

  test('an object larger than etcd accepts is 413 RequestEntityTooLarge', async () => {
    const ts = await start();
    const pod = podManifest('huge');
    pod.spec.containers[0].args = ['x'.repeat(1.6 * 1024 * 1024)];
    const res = await ts.api('POST', '/api/v1/namespaces/default/pods', pod);
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ kind: 'Status', reason: 'RequestEntityTooLarge', code: 413 });
    expect(res.body.message).toMatch(/too large/);
    expect((await ts.api('GET', '/api/v1/namespaces/default/pods/huge')).status).toBe(404);
  });

  test('history compacted while the server was cut off: its caches relist, its watches end, old versions are 410', async () => {
    const proxy = await startTcpProxy(etcd.endpoint);
    try {
      const ts = await start(proxy.endpoint);
      const prefix = (ts.server.store as EtcdStore).prefix;
      const first = await ts.api('POST', '/api/v1/namespaces/default/pods', podManifest('kept'));
      const rv = first.body.metadata.resourceVersion;
      const watch = await openWatch(ts, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${rv}`);

      proxy.cut('refuse');
      // Another server (here: a store on the same etcd) goes on writing, and compacts.
      const other = new EtcdStore({ endpoints: [etcd.endpoint], prefix, compactIntervalMs: 0 });
      try {
        for (const name of ['made-elsewhere-1', 'made-elsewhere-2']) {
          const pod = podManifest(name);
          pod.metadata = { ...pod.metadata, namespace: 'default', uid: `uid-${name}`, creationTimestamp: new Date().toISOString() };
          expect((await other.create(`/registry/pods/default/${name}`, encode(pod))).ok).toBe(true);
        }
        await other.compact(await other.currentRevision());
      } finally {
        await other.close();
      }
      proxy.restore();

      await watch.ended;
      await eventually(async () => {
        const listed = await ts.api('GET', '/api/v1/namespaces/default/pods');
        expect(listed.body.items.map((p: any) => p.metadata.name)).toEqual(['kept', 'made-elsewhere-1', 'made-elsewhere-2']);
      }, 15_000);
      const stale = await openWatch(ts, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${rv}`);
      expect(await stale.next()).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
      stale.close();
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
