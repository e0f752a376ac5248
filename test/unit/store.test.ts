import * as path from 'node:path';
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
