import * as path from 'node:path';
import { CompactedError, type Store, type StoreEvent } from '../../src/storage';
import { SqliteStore } from '../../src/storage/sqlite';
import { tempDir } from '../helpers';

/**
 * The Store contract, written once so every engine (SQLite now, etcd later)
 * runs the same suite.
 */
function storeConformance(name: string, open: (dir: string) => Promise<Store>): void {
  describe(`Store conformance: ${name}`, () => {
    let dir: string;
    let store: Store;
    beforeEach(async () => {
      dir = tempDir('mk-store-');
      store = await open(dir);
    });
    afterEach(async () => store.close());

    test('every write gets the next revision, store-wide', async () => {
      const start = await store.currentRevision();
      const a = await store.create('/a', '1');
      const b = await store.create('/b', '2');
      expect(a.ok && b.ok).toBe(true);
      if (!a.ok || !b.ok) return;
      expect(a.kv.revision).toBe(start + 1);
      expect(b.kv.revision).toBe(start + 2);
      const u = await store.update('/a', '3', a.kv.revision);
      expect(u.ok && u.kv.revision).toBe(start + 3);
      expect(u.ok && u.kv.createRevision).toBe(a.kv.revision);
      const d = await store.delete('/b');
      expect(d.ok && d.kv.revision).toBe(start + 4);
      expect(await store.currentRevision()).toBe(start + 4);
    });

    test('create refuses an existing key; a deleted key can be created again', async () => {
      await store.create('/k', 'v1');
      const again = await store.create('/k', 'v2');
      expect(again).toMatchObject({ ok: false, reason: 'exists' });
      await store.delete('/k');
      const recreated = await store.create('/k', 'v3');
      expect(recreated.ok).toBe(true);
      expect((await store.get('/k'))?.value).toBe('v3');
    });

    test('update and delete are compare-and-swap on the revision', async () => {
      const c = await store.create('/k', 'v1');
      if (!c.ok) throw new Error('create failed');
      const u1 = await store.update('/k', 'v2', c.kv.revision);
      expect(u1.ok).toBe(true);
      const stale = await store.update('/k', 'v3', c.kv.revision);
      expect(stale).toMatchObject({ ok: false, reason: 'conflict' });
      expect(!stale.ok && stale.current?.value).toBe('v2');
      expect(await store.delete('/k', c.kv.revision)).toMatchObject({ ok: false, reason: 'conflict' });
      expect(await store.update('/missing', 'x', 1)).toMatchObject({ ok: false, reason: 'notfound' });
      expect(await store.delete('/missing')).toMatchObject({ ok: false, reason: 'notfound' });
      expect((await store.get('/k'))?.value).toBe('v2');
    });

    test('list returns live keys under a prefix in key order', async () => {
      await store.create('/registry/pods/ns/b', 'b');
      await store.create('/registry/pods/ns/a', 'a');
      await store.create('/registry/pods2/x', 'no');
      await store.create('/registry/pods/ns/c', 'c');
      await store.delete('/registry/pods/ns/c');
      const listed = await store.list('/registry/pods/');
      expect(listed.items.map((i) => i.key)).toEqual(['/registry/pods/ns/a', '/registry/pods/ns/b']);
      expect(listed.revision).toBe(await store.currentRevision());
    });

    test('watch replays history after a revision, then follows live writes', async () => {
      const first = await store.create('/w/a', '1');
      if (!first.ok) throw new Error('create failed');
      await store.update('/w/a', '2', first.kv.revision);
      await store.create('/other/x', 'ignored');
      const events: StoreEvent[] = [];
      const watch = await store.watch('/w/', first.kv.revision, (e) => events.push(e));
      expect(events.map((e) => [e.type, e.kv.value])).toEqual([['update', '2']]);
      await store.create('/w/b', '3');
      await store.delete('/w/a');
      expect(events.map((e) => [e.type, e.kv.key, e.kv.value])).toEqual([
        ['update', '/w/a', '2'],
        ['create', '/w/b', '3'],
        ['delete', '/w/a', '2'],
      ]);
      watch.cancel();
      await store.create('/w/c', '4');
      expect(events).toHaveLength(3);
    });

    test('compaction drops old history but keeps current values; older watches are refused', async () => {
      const c = await store.create('/c/k', '1');
      if (!c.ok) throw new Error('create failed');
      let rev = c.kv.revision;
      for (let i = 2; i <= 20; i++) {
        const u = await store.update('/c/k', String(i), rev);
        if (!u.ok) throw new Error('update failed');
        rev = u.kv.revision;
      }
      await store.create('/c/gone', 'x');
      await store.delete('/c/gone');
      const head = await store.currentRevision();
      await store.compact(head - 1);
      expect(await store.compactedRevision()).toBe(head - 1);
      expect((await store.get('/c/k'))?.value).toBe('20');
      await expect(store.watch('/c/', c.kv.revision, () => undefined)).rejects.toBeInstanceOf(CompactedError);
      const events: StoreEvent[] = [];
      await store.watch('/c/', head - 1, (e) => events.push(e));
      expect(events.map((e) => e.type)).toEqual(['delete']);
      const next = await store.create('/c/new', 'y');
      expect(next.ok && next.kv.revision).toBe(head + 1);
    });
  });
}

storeConformance('sqlite', async (dir) => new SqliteStore(path.join(dir, 'state.db'), { compactIntervalMs: 0 }));

describe('SqliteStore durability', () => {
  test('data and revisions survive reopening the file', async () => {
    const file = path.join(tempDir('mk-store-'), 'state.db');
    const a = new SqliteStore(file, { compactIntervalMs: 0 });
    await a.create('/k', 'v1');
    const head = await a.currentRevision();
    await a.close();
    const b = new SqliteStore(file, { compactIntervalMs: 0 });
    expect((await b.get('/k'))?.value).toBe('v1');
    expect(await b.currentRevision()).toBe(head);
    const next = await b.create('/k2', 'v2');
    expect(next.ok && next.kv.revision).toBe(head + 1);
    await b.close();
  });

  test('revisions never go backwards after compacting away the newest rows', async () => {
    const file = path.join(tempDir('mk-store-'), 'state.db');
    const a = new SqliteStore(file, { compactIntervalMs: 0 });
    await a.create('/k', 'v');
    await a.delete('/k');
    const head = await a.currentRevision();
    await a.compact(head);
    await a.close();
    const b = new SqliteStore(file, { compactIntervalMs: 0 });
    expect(await b.currentRevision()).toBe(head);
    await b.close();
  });
});
