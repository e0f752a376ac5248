import { Worker } from 'node:worker_threads';

/**
 * The SQLite store's writer: a worker thread with its own connection that
 * runs every transaction that changes the file (group commits, compaction).
 *
 * An INSERT of a 4 KB pod and its share of a COMMIT cost ~40 µs, most of it
 * in the kernel (WAL appends, and the fsyncs of SQLite's checkpoints, which
 * run inside a commit). On the API server's thread that is ~10% of the time
 * a Deployment's pods take to come up (bench:controllers); here it runs
 * beside it, and while one batch commits the next one fills.
 *
 * Messages are answered in the order they were sent. After a failed commit
 * the writer refuses every commit until `reset`, because later batches were
 * built on the failed one (their revisions and compare-and-swaps assumed it).
 */

/** One row of the `log` table, as sqlite.ts lays it out. */
export interface LogRow {
  revision: number;
  key: string;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  value: string;
}

export type WriterRequest =
  | { op: 'commit'; id: number; rows: LogRow[] }
  | { op: 'compact'; id: number; from: number; to: number; window: number }
  | { op: 'reset'; id: number }
  | { op: 'close'; id: number };

export interface WriterReply {
  id: number;
  error?: string;
}

/**
 * The worker's program. It runs from its source text (`toString`), so it
 * must not use anything from this module's scope: it gets the path of
 * better-sqlite3 and of the database through `workerData`. (The same text
 * then runs from `dist/` and from the TypeScript sources under jest.)
 */
function writerThread(): void {
  const { parentPort, workerData } = require('node:worker_threads');
  const Database = require(workerData.sqliteModule);
  const db = new Database(workerData.path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const insert = db.prepare(
    'INSERT INTO log (revision, key, created, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  // Compaction follows the links every row keeps to the row it replaced (prev_revision), a
  // window of revisions at a time so it never holds the write lock for long: the rows the
  // window's rows replaced go, then the window's tombstones. A tombstone is never removed
  // before the rows it replaced, which would bring the deleted object back.
  const compactReplaced = db.prepare(
    'DELETE FROM log WHERE revision IN (SELECT prev_revision FROM log WHERE revision > ? AND revision <= ? AND prev_revision > 0)',
  );
  const compactTombstones = db.prepare('DELETE FROM log WHERE revision > ? AND revision <= ? AND deleted = 1');
  const setMeta = db.prepare(
    'INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
  );
  const commitRows = db.transaction((rows: LogRow[]) => {
    for (const r of rows) insert.run(r.revision, r.key, r.created, r.deleted, r.create_revision, r.prev_revision, r.value);
  });
  let failed = false;

  parentPort.on('message', (req: WriterRequest) => {
    let error: string | undefined;
    try {
      if (req.op === 'commit') {
        if (failed) throw new Error('an earlier commit failed; this batch was built on it');
        try {
          commitRows(req.rows);
        } catch (err) {
          failed = true;
          throw err;
        }
      } else if (req.op === 'compact') {
        for (let from = req.from; from < req.to; from += req.window) {
          const to = Math.min(from + req.window, req.to);
          compactReplaced.run(from, to);
          compactTombstones.run(from, to);
        }
        setMeta.run('compact_revision', req.to);
      } else if (req.op === 'reset') {
        failed = false;
      } else if (req.op === 'close') {
        db.close();
        parentPort.postMessage({ id: req.id });
        parentPort.close();
        return;
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    parentPort.postMessage({ id: req.id, error });
  });
}

/** The API server's side of the writer thread: requests in, a promise per request out. */
export class SqliteWriter {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  /** Set when the thread died: every request fails with it. */
  private dead?: Error;

  constructor(path: string) {
    this.worker = new Worker(`(${writerThread.toString()})()`, {
      eval: true,
      workerData: { path, sqliteModule: require.resolve('better-sqlite3') },
    });
    this.worker.unref();
    this.worker.on('message', (reply: WriterReply) => this.answer(reply));
    this.worker.on('error', (err) => this.die(err));
    this.worker.on('exit', (code) => this.die(new Error(`the SQLite writer thread exited (code ${code})`)));
  }

  commit(rows: LogRow[]): Promise<void> {
    return this.request({ op: 'commit', id: this.nextId++, rows });
  }

  compact(from: number, to: number, window: number): Promise<void> {
    return this.request({ op: 'compact', id: this.nextId++, from, to, window });
  }

  /** Lets commits through again after a failed one (whose dependents have been failed too). */
  reset(): Promise<void> {
    return this.request({ op: 'reset', id: this.nextId++ });
  }

  async close(): Promise<void> {
    if (this.dead) return;
    await this.request({ op: 'close', id: this.nextId++ });
    await this.worker.terminate();
  }

  get alive(): boolean {
    return !this.dead;
  }

  private request(req: WriterRequest): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.waiting.set(req.id, { resolve, reject });
      // Keep the process alive only while something waits on the thread.
      if (this.waiting.size === 1) this.worker.ref();
      this.worker.postMessage(req);
    });
  }

  private answer(reply: WriterReply): void {
    const w = this.waiting.get(reply.id);
    if (!w) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) this.worker.unref();
    if (reply.error === undefined) w.resolve();
    else w.reject(new Error(reply.error));
  }

  private die(err: Error): void {
    this.dead ??= err;
    for (const w of this.waiting.values()) w.reject(this.dead);
    this.waiting.clear();
  }
}
