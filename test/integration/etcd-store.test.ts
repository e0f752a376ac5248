import { Etcd3 } from 'etcd3';
import { CompactedError, DatastoreUnavailableError, ValueTooLargeError, type StoreEvent } from '../../src/storage';
import { EtcdStore, type EtcdStoreOptions } from '../../src/storage/etcd';
import { requireEtcd, startEtcd, startTcpProxy, type TcpProxy, type TestEtcd } from '../etcd-helpers';
import { eventually } from '../helpers';
import { storeConformance } from '../store-conformance';

/**
 * The etcd engine against a real etcd (one member on loopback): the same
 * conformance suite as SQLite, then what only etcd has — its key layout,
 * the request size limit, and losing and regaining the connection.
 */

const describeEtcd = requireEtcd();

describeEtcd('EtcdStore', () => {
  let etcd: TestEtcd;
  let raw: Etcd3;
  const stores: EtcdStore[] = [];
  let prefixes = 0;
  /** Each test's store gets a key space of its own in the shared etcd. */
  const open = (opts: Partial<EtcdStoreOptions> = {}): EtcdStore => {
    const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: `/mk-test-${prefixes++}/`, compactIntervalMs: 0, ...opts });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    raw = new Etcd3({ hosts: etcd.endpoint });
  }, 60_000);
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    raw?.close();
    await etcd?.destroy();
  });

  storeConformance('etcd', async () => open());

  test('keys are stored as Kubernetes stores them; a custom prefix replaces /registry/', async () => {
    const plain = open({ prefix: undefined });
    const custom = open({ prefix: '/cluster-b' });
    const a = await plain.create('/registry/pods/ns/layout', 'a');
    const b = await custom.create('/registry/pods/ns/layout', 'b');
    expect(a.ok && b.ok).toBe(true);
    expect(await raw.get('/registry/pods/ns/layout').string()).toBe('a');
    expect(await raw.get('/cluster-b/pods/ns/layout').string()).toBe('b');
    // resourceVersion is etcd's mod_revision of the key.
    const stored = await raw.get('/registry/pods/ns/layout').exec();
    expect(a.ok && a.kv.revision).toBe(Number(stored.kvs[0].mod_revision));
    // Each prefix is a separate key space.
    expect((await custom.list('/registry/pods/')).items.map((i) => [i.key, i.value])).toEqual([['/registry/pods/ns/layout', 'b']]);
    await expect(plain.create('/elsewhere', 'x')).rejects.toThrow(/outside \/registry\//);
    await raw.delete().key('/registry/pods/ns/layout');
  });

  test('a list larger than one page is one consistent snapshot', async () => {
    const store = open();
    const value = 'x'.repeat(2048);
    for (let start = 0; start < 4500; start += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => store.create(`/registry/big/k${String(start + i).padStart(5, '0')}`, value)));
    }
    const head = await store.currentRevision();
    const all = await store.list('/registry/big/');
    expect(all.revision).toBe(head);
    expect(all.items.map((i) => i.key)).toEqual(Array.from({ length: 4500 }, (_, i) => `/registry/big/k${String(i).padStart(5, '0')}`));
    // Deletes racing the later pages must not show in them: every page is read at the first page's revision.
    const listing = store.list('/registry/big/');
    await Promise.all(all.items.slice(3500).map((i) => store.delete(i.key)));
    const listed = await listing;
    const atRevision = await raw.kv.range({
      key: Buffer.from(`${store.prefix}big/`), range_end: Buffer.from(`${store.prefix}big0`), revision: listed.revision, count_only: true,
    });
    expect(listed.items).toHaveLength(Number(atRevision.count));
    expect(new Set(listed.items.map((i) => i.key)).size).toBe(listed.items.length);
  }, 60_000);

  test('a value over the etcd request limit is ValueTooLargeError before it is sent, and etcd refusing one maps to it too', async () => {
    const store = open();
    const tooBig = 'x'.repeat(1.5 * 1024 * 1024 + 1);
    await expect(store.create('/registry/configmaps/ns/big', tooBig)).rejects.toBeInstanceOf(ValueTooLargeError);
    expect(await store.get('/registry/configmaps/ns/big')).toBeUndefined();
    // Just under the limit is accepted: the check is not stricter than etcd needs.
    const nearly = await store.create('/registry/configmaps/ns/big', 'x'.repeat(1.5 * 1024 * 1024 - 1024));
    expect(nearly.ok).toBe(true);
    if (!nearly.ok) return;
    await expect(store.update('/registry/configmaps/ns/big', tooBig, nearly.kv.revision)).rejects.toBeInstanceOf(ValueTooLargeError);
    // A store that believes etcd accepts more: etcd's own refusal comes back as the same error.
    const optimistic = open({ maxRequestBytes: 8 * 1024 * 1024 });
    const err = await optimistic.create('/registry/configmaps/ns/big2', tooBig).catch((e) => e);
    expect(err).toBeInstanceOf(ValueTooLargeError);
    expect((err as ValueTooLargeError).size).toBe(tooBig.length);
  });

  test('learns the compacted revision from etcd when another client compacted', async () => {
    const store = open();
    let rev = 0;
    for (let i = 0; i < 10; i++) {
      const c = await store.create(`/registry/compacted/k${i}`, String(i));
      if (c.ok) rev = c.kv.revision;
    }
    await raw.kv.compact({ revision: rev - 3 });
    const fresh = open({ prefix: store.prefix });
    expect(await fresh.compactedRevision()).toBe(rev - 3);
    await expect(fresh.watch('/registry/compacted/', rev - 5, () => undefined)).rejects.toBeInstanceOf(CompactedError);
    // A store that has not asked yet finds out before it watches (etcd would first answer `created`).
    const unaware = open({ prefix: store.prefix });
    const err = await unaware.watch('/registry/compacted/', rev - 5, () => undefined).catch((e) => e);
    expect(err).toBeInstanceOf(CompactedError);
    expect(await unaware.compactedRevision()).toBe(rev - 3);
    const events: StoreEvent[] = [];
    await fresh.watch('/registry/compacted/', rev - 3, (e) => events.push(e));
    await eventually(() => expect(events.map((e) => e.kv.value)).toEqual(['7', '8', '9']));
  });

  test('automatic compaction keeps an interval of history and at least retainRevisions', async () => {
    const store = open({ compactIntervalMs: 300, retainRevisions: 5 });
    let last = 0;
    for (let i = 0; i < 20; i++) {
      const c = await store.create(`/registry/auto/k${i}`, String(i));
      if (c.ok) last = c.kv.revision;
    }
    // The first tick only notes the revision; the next compacts to it (and at least 5 behind the head).
    await eventually(async () => expect(await store.compactedRevision()).toBeGreaterThan(0), 5000);
    const compacted = await store.compactedRevision();
    expect(compacted).toBeLessThanOrEqual(last - 5);
    await expect(raw.kv.range({ key: Buffer.from('x'), revision: compacted - 1 })).rejects.toThrow(/compacted/);
    expect((await store.list('/registry/auto/')).items).toHaveLength(20);
  });

  describe('losing the connection', () => {
    let proxy: TcpProxy;
    beforeEach(async () => {
      proxy = await startTcpProxy(etcd.endpoint);
    });
    afterEach(async () => proxy.close());

    test('unreachable etcd: not healthy, calls fail fast with DatastoreUnavailableError, and all is well once it is back', async () => {
      const store = open({ endpoints: [proxy.endpoint] });
      await store.create('/registry/down/before', '1');
      expect(await store.healthy()).toBe(true);
      proxy.cut('refuse');
      expect(await store.healthy()).toBe(false);
      for (const op of [
        () => store.get('/registry/down/before'),
        () => store.list('/registry/down/'),
        () => store.create('/registry/down/during', '2'),
        () => store.delete('/registry/down/before'),
        () => store.watch('/registry/down/', 0, () => undefined),
      ]) {
        const started = Date.now();
        const err = await op().then(() => undefined, (e) => e);
        expect(err).toBeInstanceOf(DatastoreUnavailableError);
        expect((err as DatastoreUnavailableError).timeout).toBe(false);
        expect(Date.now() - started).toBeLessThan(1000);
      }
      proxy.restore();
      await eventually(async () => expect(await store.healthy()).toBe(true));
      expect((await store.create('/registry/down/after', '3')).ok).toBe(true);
      expect((await store.list('/registry/down/')).items.map((i) => i.value)).toEqual(['3', '1']);
    });

    test('a partition (no answers at all) fails calls at their deadline with the timeout variant', async () => {
      const store = open({ endpoints: [proxy.endpoint], requestTimeoutMs: 500 });
      await store.create('/registry/slow/k', '1');
      proxy.cut('blackhole');
      const started = Date.now();
      const err = await store.get('/registry/slow/k').catch((e) => e);
      expect(err).toBeInstanceOf(DatastoreUnavailableError);
      expect((err as DatastoreUnavailableError).timeout).toBe(true);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(await store.healthy()).toBe(false);
    });

    test('a watch resumes after the connection returns: writes made meanwhile arrive once each, in order', async () => {
      const watching = open({ endpoints: [proxy.endpoint] });
      const writer = open({ prefix: watching.prefix });
      const events: StoreEvent[] = [];
      const errors: Error[] = [];
      const progress: number[] = [];
      const start = await writer.currentRevision();
      await watching.watch('/registry/resume/', start, (e) => events.push(e), (r) => progress.push(r), (e) => errors.push(e));
      const written: number[] = [];
      const write = async (i: number) => {
        const c = await writer.create(`/registry/resume/k${i}`, String(i));
        if (!c.ok) throw new Error('create failed');
        written.push(c.kv.revision);
      };
      for (let i = 0; i < 10; i++) await write(i);
      await eventually(() => expect(events).toHaveLength(10));
      proxy.cut('refuse');
      for (let i = 10; i < 30; i++) await write(i);
      await writer.create('/registry/elsewhere/x', 'progress');
      proxy.restore();
      for (let i = 30; i < 40; i++) await write(i);
      await eventually(() => expect(events.map((e) => e.kv.revision)).toEqual(written), 15_000);
      expect(events.map((e) => e.kv.value)).toEqual(Array.from({ length: 40 }, (_, i) => String(i)));
      expect(errors).toEqual([]);
    });

    test('a watch whose resume revision was compacted meanwhile ends with CompactedError', async () => {
      const watching = open({ endpoints: [proxy.endpoint] });
      const writer = open({ prefix: watching.prefix });
      const events: StoreEvent[] = [];
      const errors: Error[] = [];
      await watching.watch('/registry/lost/', await writer.currentRevision(), (e) => events.push(e), undefined, (e) => errors.push(e));
      await writer.create('/registry/lost/a', '1');
      await eventually(() => expect(events).toHaveLength(1));
      proxy.cut('refuse');
      for (let i = 0; i < 5; i++) await writer.create(`/registry/lost/b${i}`, String(i));
      await writer.compact(await writer.currentRevision());
      proxy.restore();
      await eventually(() => expect(errors).toHaveLength(1), 15_000);
      expect(errors[0]).toBeInstanceOf(CompactedError);
      expect(events).toHaveLength(1);
      expect(await watching.compactedRevision()).toBe(await writer.compactedRevision());
    });
  });

  test('TLS: with the CA and a client certificate it works; without the certificate etcd refuses', async () => {
    const secure = await startEtcd({ tls: true });
    try {
      const files = secure.tls!;
      const store = new EtcdStore({ endpoints: [secure.endpoint], ...files, compactIntervalMs: 0 });
      stores.push(store);
      expect((await store.create('/registry/secure/k', 'v')).ok).toBe(true);
      const events: StoreEvent[] = [];
      await store.watch('/registry/secure/', 0, (e) => events.push(e));
      await eventually(() => expect(events.map((e) => e.kv.value)).toEqual(['v']));
      const anonymous = new EtcdStore({ endpoints: [secure.endpoint], caFile: files.caFile, compactIntervalMs: 0, requestTimeoutMs: 2000 });
      stores.push(anonymous);
      expect(await anonymous.healthy()).toBe(false);
      await expect(anonymous.get('/registry/secure/k')).rejects.toBeInstanceOf(DatastoreUnavailableError);
      expect(() => new EtcdStore({ endpoints: [secure.endpoint], certFile: files.certFile, keyFile: files.keyFile })).toThrow(/CA file/);
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await secure.destroy();
    }
  }, 60_000);

  test('survives etcd itself restarting: writes and watches go on', async () => {
    const store = open();
    const events: StoreEvent[] = [];
    const errors: Error[] = [];
    await store.watch('/registry/restart/', await store.currentRevision(), (e) => events.push(e), undefined, (e) => errors.push(e));
    await store.create('/registry/restart/before', '1');
    await eventually(() => expect(events).toHaveLength(1));
    await etcd.stop();
    expect(await store.healthy()).toBe(false);
    await expect(store.create('/registry/restart/down', 'x')).rejects.toBeInstanceOf(DatastoreUnavailableError);
    await etcd.start();
    await eventually(async () => expect(await store.healthy()).toBe(true));
    await eventually(async () => expect((await store.create('/registry/restart/after', '2')).ok).toBe(true));
    await eventually(() => expect(events.map((e) => e.kv.key)).toEqual(['/registry/restart/before', '/registry/restart/after']), 15_000);
    expect(errors).toEqual([]);
  }, 60_000);
});
