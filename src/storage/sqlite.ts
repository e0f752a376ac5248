import Database from 'better-sqlite3';
import {
  CompactedError,
  type KeyValue,
  type ListResult,
  type Store,
  type StoreEvent,
  type Watch,
  type WriteResult,
} from './store';
import { SqliteWriter, type LogRow } from './sqlite-writer';

/**
 * The embedded default datastore: one SQLite file, laid out like kine's log.
 *
 * Every write is one row of `log`, whose primary key is the store revision;
 * a delete writes a tombstone row carrying the last value. The newest row of
 * a key is its current state (an index on (key, revision) finds it), and
 * replaying history for a watch is a range scan of the primary key.
 *
 * Group commit: writes that arrive in the same turn of the event loop share
 * one transaction, committed on the next turn by the writer thread
 * (sqlite-writer.ts) while the next batch fills. A write is acknowledged
 * (its promise resolves) and published to watchers only after its
 * transaction commits, so nothing unacknowledged is ever visible to
 * watchers, and a commit costs one WAL append per batch instead of one per
 * write. This thread's connection only reads; rows still on their way to
 * the file are read from `pending`.
 * Compaction to revision N removes the rows that rows at or below N replaced,
 * and tombstones at or below N, as etcd keeps each key's newest version at N,
 * so the file does not grow without bound under churn.
 *
 * Writes are decided on this thread alone (revision, compare-and-swap on
 * `live`), so a check-then-write cannot interleave with another write; the
 * writer thread only makes them durable, in order.
 *
 * Durability: WAL with synchronous=NORMAL. A transaction is in the WAL when
 * commit returns, so a process crash (kill -9) loses no acknowledged write;
 * only an OS crash or power loss can lose the last moments.
 */

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log (
  revision        INTEGER PRIMARY KEY,
  key             TEXT    NOT NULL,
  created         INTEGER NOT NULL,
  deleted         INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision   INTEGER NOT NULL,
  value           TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_revision ON log (key, revision);
CREATE TABLE IF NOT EXISTS meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** A live key's newest row, as far as compare-and-swap needs it. */
interface LiveKey {
  revision: number;
  createRevision: number;
}

/** Writes that share one transaction: open while it fills, then in flight in the writer thread. */
interface Batch {
  rows: LogRow[];
  /** What the batch's writes replaced in `live`, to put back if the commit fails. */
  replaced: Array<[string, LiveKey | undefined]>;
  events: StoreEvent[];
  waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>;
  /** Committed or failed: its waiters have their answer. */
  settled: boolean;
}

interface Subscriber {
  prefix: string;
  handler: (event: StoreEvent) => void;
  onProgress?: (revision: number) => void;
}

export interface SqliteStoreOptions {
  /** Compact automatically every this many ms (0 disables). */
  compactIntervalMs?: number;
  /** How many recent revisions automatic compaction keeps. */
  retainRevisions?: number;
}

/** Revisions one compaction statement covers. */
const COMPACTION_WINDOW = 5_000;

function toKeyValue(row: LogRow): KeyValue {
  return { key: row.key, value: row.value, revision: row.revision, createRevision: row.create_revision };
}

/** The smallest string greater than every string starting with `prefix`. */
function prefixEnd(prefix: string): string {
  return prefix + '\uffff';
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  /** The newest revision written, committed or not. */
  private revision: number;
  /** The newest committed revision: what readers and watchers may see. */
  private committed: number;
  /** The batch filling this turn. */
  private batch?: Batch;
  /** Batches sent to the writer thread, oldest first; they commit in this order. */
  private inflight: Batch[] = [];
  /** Each key's newest row not yet committed (tombstones too): reads see it before the file does. */
  private readonly pending = new Map<string, LogRow>();
  private drainWaiters: Array<() => void> = [];
  private readonly writer: SqliteWriter;
  private compacted: number;
  private readonly subscribers = new Set<Subscriber>();
  /**
   * Every live key's newest revision: creates and updates check their
   * preconditions here rather than with a query per write. Rows are read
   * only where their value is needed (a conflict's winner, a delete).
   */
  private readonly live = new Map<string, LiveKey>();
  private compactTimer?: NodeJS.Timeout;

  private readonly stmt: {
    newest: Database.Statement<[string], LogRow>;
    list: Database.Statement<[string, string], LogRow>;
    history: Database.Statement<[number, number, string, string], LogRow>;
  };

  constructor(readonly path: string, private readonly options: SqliteStoreOptions = {}) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);

    const maxRevision = (this.db.prepare('SELECT max(revision) AS r FROM log').get() as { r: number | null }).r ?? 0;
    const meta = this.db.prepare('SELECT value FROM meta WHERE name = ?');
    this.compacted = (meta.get('compact_revision') as { value: number } | undefined)?.value ?? 0;
    // Compaction can remove the newest rows (tombstones), so the compacted
    // revision is also a floor for the next revision.
    this.revision = Math.max(maxRevision, this.compacted);
    this.committed = this.revision;

    this.stmt = {
      newest: this.db.prepare(
        'SELECT * FROM log WHERE key = ? ORDER BY revision DESC LIMIT 1',
      ),
      list: this.db.prepare(
        `SELECT l.* FROM log l
         JOIN (SELECT key, max(revision) AS newest FROM log WHERE key >= ? AND key < ? GROUP BY key) n ON l.revision = n.newest
         WHERE l.deleted = 0 ORDER BY l.key`,
      ),
      history: this.db.prepare(
        'SELECT * FROM log WHERE revision > ? AND revision <= ? AND key >= ? AND key < ? ORDER BY revision',
      ),
    };

    const newestRows = this.db.prepare(
      'SELECT key, revision, create_revision, deleted FROM log WHERE revision IN (SELECT max(revision) FROM log GROUP BY key)',
    );
    for (const row of newestRows.iterate() as IterableIterator<Pick<LogRow, 'key' | 'revision' | 'create_revision' | 'deleted'>>) {
      if (!row.deleted) this.live.set(row.key, { revision: row.revision, createRevision: row.create_revision });
    }

    this.writer = new SqliteWriter(path);
    this.setAutoCompaction(true);
  }

  setAutoCompaction(enabled: boolean): void {
    const interval = this.options.compactIntervalMs ?? 60_000;
    if (enabled && interval > 0 && this.db.open && this.writer.alive && !this.compactTimer) {
      this.compactTimer = setInterval(() => this.autoCompact(), interval);
      this.compactTimer.unref();
    } else if (!enabled && this.compactTimer) {
      clearInterval(this.compactTimer);
      this.compactTimer = undefined;
    }
  }

  async currentRevision(): Promise<number> {
    return this.committed;
  }

  async compactedRevision(): Promise<number> {
    return this.compacted;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const row = this.newest(key);
    return row ? toKeyValue(row) : undefined;
  }

  async list(prefix: string): Promise<ListResult> {
    // Every write acknowledged before the list must be in it. With no batch in flight the
    // file holds exactly the acknowledged writes, so the list is consistent with `committed`.
    // (No new batch is sent while a list waits, so it cannot wait forever under load.)
    this.flush();
    while (this.inflight.length > 0) await this.drained();
    const items = this.stmt.list.all(prefix, prefixEnd(prefix)).map(toKeyValue);
    return { items, revision: this.committed };
  }

  async create(key: string, value: string): Promise<WriteResult> {
    if (this.live.has(key)) return { ok: false, reason: 'exists', current: toKeyValue(this.newest(key)!) };
    const revision = this.revision + 1;
    const kv: KeyValue = { key, value, revision, createRevision: revision };
    await this.write({ revision, key, created: 1, deleted: 0, create_revision: revision, prev_revision: 0, value }, { type: 'create', kv });
    return { ok: true, kv };
  }

  async update(key: string, value: string, expectedRevision: number): Promise<WriteResult> {
    const existing = this.live.get(key);
    if (!existing) return { ok: false, reason: 'notfound' };
    if (existing.revision !== expectedRevision) return { ok: false, reason: 'conflict', current: toKeyValue(this.newest(key)!) };
    const revision = this.revision + 1;
    const { createRevision } = existing;
    const kv: KeyValue = { key, value, revision, createRevision };
    const row: LogRow = { revision, key, created: 0, deleted: 0, create_revision: createRevision, prev_revision: existing.revision, value };
    // No `prev` on update events: the watch cache keeps its own, and reading it would cost a query per write.
    await this.write(row, { type: 'update', kv });
    return { ok: true, kv };
  }

  async delete(key: string, expectedRevision?: number): Promise<WriteResult> {
    const existing = this.live.has(key) ? this.newest(key) : undefined;
    if (!existing) return { ok: false, reason: 'notfound' };
    if (expectedRevision !== undefined && existing.revision !== expectedRevision) {
      return { ok: false, reason: 'conflict', current: toKeyValue(existing) };
    }
    const revision = this.revision + 1;
    const row: LogRow = {
      revision, key, created: 0, deleted: 1,
      create_revision: existing.create_revision, prev_revision: existing.revision, value: existing.value,
    };
    const kv: KeyValue = { key, value: existing.value, revision, createRevision: existing.create_revision };
    await this.write(row, { type: 'delete', kv, prev: toKeyValue(existing) });
    return { ok: true, kv };
  }

  async watch(
    prefix: string, fromRevision: number, handler: (event: StoreEvent) => void,
    onProgress?: (revision: number) => void,
  ): Promise<Watch> {
    if (fromRevision < this.compacted) throw new CompactedError(fromRevision, this.compacted);
    // Replay and subscribe in one synchronous step: no write can slip between them.
    // Only committed history: writes of an open batch reach the subscriber when they commit.
    for (const row of this.stmt.history.iterate(fromRevision, this.committed, prefix, prefixEnd(prefix))) {
      handler(this.eventOf(row));
    }
    // History is complete up to here (the watch cache waits for this before serving resumes from it).
    if (this.committed > fromRevision) onProgress?.(this.committed);
    const subscriber: Subscriber = { prefix, handler, onProgress };
    this.subscribers.add(subscriber);
    return { cancel: () => this.subscribers.delete(subscriber) };
  }

  async compact(revision: number): Promise<void> {
    const target = Math.min(revision, this.committed);
    if (target <= this.compacted) return;
    const from = this.compacted;
    // Refuse watches from below the target at once: the writer may remove their history any moment.
    this.compacted = target;
    await this.writer.compact(from, target, COMPACTION_WINDOW);
  }

  async healthy(): Promise<boolean> {
    return this.db.open && this.writer.alive;
  }

  async close(): Promise<void> {
    this.setAutoCompaction(false);
    while (this.inflight.length > 0 || this.batch) {
      this.flush();
      await this.drained();
    }
    this.subscribers.clear();
    await this.writer.close();
    if (this.db.open) this.db.close();
  }

  private autoCompact(): void {
    const retain = this.options.retainRevisions ?? 10_000;
    const target = this.committed - retain;
    if (target > this.compacted) void this.compact(target).catch(() => undefined);
  }

  /** The live row of a key: its newest row, unless that is a tombstone. */
  private newest(key: string): LogRow | undefined {
    const row = this.pending.get(key) ?? this.stmt.newest.get(key);
    return row && !row.deleted ? row : undefined;
  }

  /**
   * Adds one log row to this turn's batch (opening one if needed) and
   * resolves once the batch has committed and the event is published.
   */
  private write(row: LogRow, event: StoreEvent): Promise<void> {
    if (!this.batch) {
      this.batch = { rows: [], replaced: [], events: [], waiters: [], settled: false };
      setImmediate(() => this.flush());
    }
    const batch = this.batch;
    batch.rows.push(row);
    this.pending.set(row.key, row);
    this.revision = row.revision;
    batch.replaced.push([row.key, this.live.get(row.key)]);
    if (row.deleted) this.live.delete(row.key);
    else this.live.set(row.key, { revision: row.revision, createRevision: row.create_revision });
    batch.events.push(event);
    return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  /** Sends the open batch, if any, to the writer thread (unless a read waits for the batches in flight). */
  private flush(): void {
    const batch = this.batch;
    if (!batch || this.drainWaiters.length > 0) return;
    this.batch = undefined;
    this.inflight.push(batch);
    this.writer.commit(batch.rows).then(() => this.committedBatch(batch), (err) => this.failedBatch(batch, err));
  }

  /** A batch is durable: publish its events, then acknowledge its writes. */
  private committedBatch(batch: Batch): void {
    if (batch.settled) return;
    batch.settled = true;
    this.inflight.shift(); // batches commit in the order they were sent, so this is `batch`
    this.committed = batch.rows[batch.rows.length - 1].revision;
    for (const row of batch.rows) {
      if (this.pending.get(row.key) === row) this.pending.delete(row.key);
    }
    for (const e of batch.events) this.publish(e);
    for (const w of batch.waiters) w.resolve();
    this.wakeDrainWaiters();
  }

  /**
   * A commit failed (the disk is full, say). Every later batch was decided on
   * top of it, so they fail too: the store returns to the last committed
   * state and the writer thread takes commits again.
   */
  private failedBatch(batch: Batch, err: unknown): void {
    if (batch.settled) return;
    const doomed = this.batch ? [...this.inflight, this.batch] : [...this.inflight];
    this.inflight = [];
    this.batch = undefined;
    for (const b of doomed.reverse()) {
      b.settled = true;
      for (const [key, before] of b.replaced.reverse()) {
        if (before) this.live.set(key, before);
        else this.live.delete(key);
      }
      for (const w of b.waiters) w.reject(err);
    }
    // Only rows of the doomed batches were pending.
    this.pending.clear();
    this.revision = this.committed;
    void this.writer.reset().catch(() => undefined);
    this.wakeDrainWaiters();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private wakeDrainWaiters(): void {
    if (this.inflight.length > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
    // The batch held back for them goes once they have read.
    if (waiters.length && this.batch) setImmediate(() => this.flush());
  }

  private eventOf(row: LogRow): StoreEvent {
    const type = row.deleted ? 'delete' : row.created ? 'create' : 'update';
    return { type, kv: toKeyValue(row) };
  }

  private publish(event: StoreEvent): void {
    for (const s of this.subscribers) {
      try {
        if (event.kv.key.startsWith(s.prefix)) s.handler(event);
        else s.onProgress?.(event.kv.revision);
      } catch {
        // A failing watcher must not fail the write that has already committed.
      }
    }
  }
}
