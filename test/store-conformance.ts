import { CompactedError, type Store, type StoreEvent } from '../src/storage';
import { eventually, tempDir } from './helpers';

/**
 * The Store contract, written once so every engine runs the same suite
 * (test/unit/store.test.ts: SQLite; test/integration/etcd-store.test.ts:
 * etcd). Keys live under /registry/, as all of mk's do.
 *
 * Watch delivery may be asynchronous (etcd delivers after the write is
 * acknowledged), so expectations about delivered events wait with
 * eventually(); SQLite meets them at once.
 */
export function storeConformance(name: string, open: (dir: string) => Promise<Store>): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open(tempDir('mk-store-'));
    });
    afterEach(async () => store.close());

    const kinds = (events: StoreEvent[]) => events.map((e) => [e.type, e.kv.key, e.kv.value]);

    test('every write gets the next revision, store-wide', async () => {
      const start = await store.currentRevision();
      const a = await store.create('/registry/a', '1');
      const b = await store.create('/registry/b', '2');
      expect(a.ok && b.ok).toBe(true);
      if (!a.ok || !b.ok) return;
      expect(a.kv.revision).toBe(start + 1);
      expect(b.kv.revision).toBe(start + 2);
      const u = await store.update('/registry/a', '3', a.kv.revision);
      expect(u.ok && u.kv.revision).toBe(start + 3);
      expect(u.ok && u.kv.createRevision).toBe(a.kv.revision);
      const d = await store.delete('/registry/b');
      expect(d.ok && d.kv.revision).toBe(start + 4);
      expect(d.ok && [d.kv.value, d.kv.createRevision]).toEqual(['2', b.kv.revision]);
      expect(await store.currentRevision()).toBe(start + 4);
      expect(await store.get('/registry/a')).toEqual({ key: '/registry/a', value: '3', revision: start + 3, createRevision: start + 1 });
    });

    test('create refuses an existing key; a deleted key can be created again', async () => {
      await store.create('/registry/k', 'v1');
      const again = await store.create('/registry/k', 'v2');
      expect(again).toMatchObject({ ok: false, reason: 'exists', current: { value: 'v1' } });
      await store.delete('/registry/k');
      const recreated = await store.create('/registry/k', 'v3');
      expect(recreated.ok).toBe(true);
      expect((await store.get('/registry/k'))?.value).toBe('v3');
      expect(recreated.ok && (await store.get('/registry/k'))?.createRevision).toBe(recreated.ok && recreated.kv.revision);
    });

    test('update and delete are compare-and-swap on the revision', async () => {
      const c = await store.create('/registry/k', 'v1');
      if (!c.ok) throw new Error('create failed');
      const u1 = await store.update('/registry/k', 'v2', c.kv.revision);
      expect(u1.ok).toBe(true);
      const stale = await store.update('/registry/k', 'v3', c.kv.revision);
      expect(stale).toMatchObject({ ok: false, reason: 'conflict' });
      expect(!stale.ok && stale.current?.value).toBe('v2');
      expect(await store.delete('/registry/k', c.kv.revision)).toMatchObject({ ok: false, reason: 'conflict', current: { value: 'v2' } });
      expect(await store.update('/registry/missing', 'x', 1)).toMatchObject({ ok: false, reason: 'notfound' });
      expect(await store.delete('/registry/missing')).toMatchObject({ ok: false, reason: 'notfound' });
      expect((await store.get('/registry/k'))?.value).toBe('v2');
      expect(await store.get('/registry/missing')).toBeUndefined();
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
      const first = await store.create('/registry/w/a', '1');
      if (!first.ok) throw new Error('create failed');
      await store.update('/registry/w/a', '2', first.kv.revision);
      await store.create('/registry/other/x', 'ignored');
      const events: StoreEvent[] = [];
      const watch = await store.watch('/registry/w/', first.kv.revision, (e) => events.push(e));
      await eventually(() => expect(kinds(events)).toEqual([['update', '/registry/w/a', '2']]));
      await store.create('/registry/w/b', '3');
      await store.delete('/registry/w/a');
      await eventually(() => expect(kinds(events)).toEqual([
        ['update', '/registry/w/a', '2'],
        ['create', '/registry/w/b', '3'],
        ['delete', '/registry/w/a', '2'],
      ]));
      expect(events[1].kv.revision).toBeLessThan(events[2].kv.revision);
      expect(events[2].prev?.value).toBe('2');
      watch.cancel();
      // A second watch proves the write was delivered; the cancelled one must not have had it.
      const later: StoreEvent[] = [];
      const second = await store.watch('/registry/w/', events[2].kv.revision, (e) => later.push(e));
      await store.create('/registry/w/c', '4');
      await eventually(() => expect(kinds(later)).toEqual([['create', '/registry/w/c', '4']]));
      expect(events).toHaveLength(3);
      second.cancel();
    });

    test('a watch reports writes elsewhere as progress', async () => {
      const start = await store.currentRevision();
      const progress: number[] = [];
      const events: StoreEvent[] = [];
      const watch = await store.watch('/registry/quiet/', start, (e) => events.push(e), (r) => progress.push(r));
      const elsewhere = await store.create('/registry/busy/x', '1');
      if (!elsewhere.ok) throw new Error('create failed');
      await eventually(() => expect(Math.max(0, ...progress)).toBeGreaterThanOrEqual(elsewhere.kv.revision));
      expect(events).toEqual([]);
      watch.cancel();
    });

    test('watchers from different revisions each get exactly their events, in order', async () => {
      const base = await store.currentRevision();
      const writes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const c = await store.create(`/registry/multi/k${i}`, String(i));
        if (!c.ok) throw new Error('create failed');
        writes.push(c.kv.revision);
      }
      const late: StoreEvent[] = [];
      const early: StoreEvent[] = [];
      const w1 = await store.watch('/registry/multi/', writes[2], (e) => late.push(e));
      // An older start than a running watch's: an engine sharing one stream must not lose or repeat anything.
      const w2 = await store.watch('/registry/multi/', base, (e) => early.push(e));
      const more = await Promise.all([0, 1, 2, 3, 4].map((i) => store.create(`/registry/multi/n${i}`, `n${i}`)));
      const moreRevisions = more.map((m) => (m.ok ? m.kv.revision : 0)).sort((a, b) => a - b);
      await eventually(() => {
        expect(late.map((e) => e.kv.revision)).toEqual([writes[3], writes[4], ...moreRevisions]);
        expect(early.map((e) => e.kv.revision)).toEqual([...writes, ...moreRevisions]);
      });
      w1.cancel();
      w2.cancel();
    });

    test('compaction drops old history but keeps current values; older watches are refused', async () => {
      const c = await store.create('/registry/c/k', '1');
      if (!c.ok) throw new Error('create failed');
      let rev = c.kv.revision;
      for (let i = 2; i <= 20; i++) {
        const u = await store.update('/registry/c/k', String(i), rev);
        if (!u.ok) throw new Error('update failed');
        rev = u.kv.revision;
      }
      await store.create('/registry/c/gone', 'x');
      await store.delete('/registry/c/gone');
      const head = await store.currentRevision();
      await store.compact(head - 1);
      expect(await store.compactedRevision()).toBe(head - 1);
      expect((await store.get('/registry/c/k'))?.value).toBe('20');
      await expect(store.watch('/registry/c/', c.kv.revision, () => undefined)).rejects.toBeInstanceOf(CompactedError);
      const events: StoreEvent[] = [];
      const watch = await store.watch('/registry/c/', head - 1, (e) => events.push(e));
      await eventually(() => expect(events.map((e) => e.type)).toEqual(['delete']));
      const next = await store.create('/registry/c/new', 'y');
      expect(next.ok && next.kv.revision).toBe(head + 1);
      watch.cancel();
    });
  });
}
