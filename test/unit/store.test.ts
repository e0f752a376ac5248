import * as path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/storage/sqlite';
import { tempDir } from '../helpers';
import { storeConformance } from '../store-conformance';

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
    // Compare-and-swap works on what was there before the reopen.
    expect((await b.create('/k', 'again')).ok).toBe(false);
    expect((await b.update('/k', 'v1b', head)).ok).toBe(true);
    expect(await b.update('/k', 'v1c', head)).toMatchObject({ ok: false, reason: 'conflict', current: { value: 'v1b' } });
    await b.close();
  });

  test('a commit the writer thread cannot make fails its writes and leaves the store as last committed', async () => {
    const file = path.join(tempDir('mk-store-'), 'state.db');
    const a = new SqliteStore(file, { compactIntervalMs: 0 });
    await a.create('/before', 'v');
    // A second store on the same file (never done for real) takes the next revision first,
    // so the first store's next INSERT breaks the primary key and its commit fails.
    const b = new SqliteStore(file, { compactIntervalMs: 0 });
    expect((await b.create('/b', 'v')).ok).toBe(true);
    const head = await a.currentRevision();
    const results = await Promise.allSettled([a.create('/x', 'v'), a.update('/before', 'v2', head)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toContain('UNIQUE constraint failed');
    // Nothing of the failed batch is visible, and compare-and-swap sees the committed state again.
    expect(await a.get('/x')).toBeUndefined();
    expect(await a.currentRevision()).toBe(head);
    expect(await a.update('/before', 'v3', head + 7)).toMatchObject({ ok: false, reason: 'conflict', current: { value: 'v', revision: head } });
    expect(await a.healthy()).toBe(true);
    await a.close();
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

  test('compaction keeps only what is live at the compacted revision, across windows of revisions', async () => {
    const file = path.join(tempDir('mk-store-'), 'state.db');
    const store = new SqliteStore(file, { compactIntervalMs: 0 });
    const update = async (key: string, times: number) => {
      let rev = (await store.get(key))!.revision;
      for (let i = 0; i < times; i++) {
        const u = await store.update(key, `${key}-${i}`, rev);
        if (!u.ok) throw new Error('update failed');
        rev = u.kv.revision;
      }
    };
    await store.create('/gone', 'v');
    await update('/gone', 3);
    await store.create('/churn', 'v');
    // More revisions than one compaction statement covers, between /gone's rows and its tombstone.
    await update('/churn', 6_000);
    await store.delete('/gone');
    await store.create('/kept', 'v');
    await update('/kept', 2);
    const mid = await store.currentRevision();
    await update('/kept', 2);
    const head = await store.currentRevision();

    await store.compact(mid);
    const rows = () => new Database(file, { readonly: true }).prepare('SELECT key, revision FROM log ORDER BY revision').all() as Array<{ key: string; revision: number }>;
    // Each key's newest row at `mid` stays (as etcd keeps it), and everything after; /gone is gone entirely.
    expect(rows().map((r) => r.key)).toEqual(['/churn', '/kept', '/kept', '/kept']);
    expect(await store.get('/gone')).toBeUndefined();
    await store.compact(head);
    expect(rows().map((r) => `${r.key}@${r.revision}`)).toEqual([`/churn@${(await store.get('/churn'))!.revision}`, `/kept@${head}`]);
    expect((await store.list('/')).items.map((kv) => kv.value)).toEqual(['/churn-5999', '/kept-1']);
    await store.close();
  });
});
