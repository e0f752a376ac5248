import type { RangePool } from '../api/ipalloc';
import type { KeyValue, Store } from '../storage';

/**
 * A RangeAllocation record, as kube-apiserver keeps its Service allocation
 * bitmaps in etcd (`/registry/ranges/serviceips`,
 * `/registry/ranges/servicenodeports`): the range and a bitmap of what is
 * taken, shared by every API server of the cluster. Like the registry's
 * allocator/storage.Etcd, each server holds a local copy; a change is made to
 * a copy of it and written with compare-and-swap on the revision the copy was
 * read at. A lost swap (another server allocated meanwhile) brings the newer
 * record in and makes the change again, so two servers never hand out the
 * same value. Changes from one process are serialized, like Etcd's mutex.
 *
 * These keys are not served by the API (no resource covers /registry/ranges/).
 */

export const SERVICE_IPS_KEY = '/registry/ranges/serviceips';
export const SERVICE_NODE_PORTS_KEY = '/registry/ranges/servicenodeports';

interface StoredRange {
  apiVersion: 'v1';
  kind: 'RangeAllocation';
  metadata: { creationTimestamp: string };
  range: string;
  /** Base64 of the bitmap (a big-endian integer whose bit i is offset i, as kube-apiserver writes it). */
  data: string;
}

export class RangeRecord<T, P extends RangePool<T>> {
  /** Revision of the stored record the local pool mirrors; 0 when it has not been read. */
  private revision = 0;
  private creationTimestamp = '';
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly store: Store, readonly key: string, private pool: P) {}

  /** The local copy: what this server last read or wrote (another server may have moved on since). */
  get local(): P {
    return this.pool;
  }

  /**
   * Applies `change` to the shared bitmap and returns what it returned.
   * `change` gets a private copy of the pool and may run more than once (after
   * a lost race it runs again on the newer bitmap), so it must not have other
   * effects. An error from it (a requested value is taken) is final only once
   * it was seen on the newest bitmap. A change that changes nothing writes nothing.
   */
  update<R>(change: (pool: P) => R): Promise<R> {
    return this.serialized(async () => {
      for (;;) {
        if (!this.revision) await this.loadNow();
        const work = this.pool.clone() as P;
        let result: R;
        try {
          result = change(work);
        } catch (err) {
          // The local copy may be stale: a value it shows taken may have been freed elsewhere.
          if (await this.refresh()) continue;
          throw err;
        }
        if (work.sameAs(this.pool)) return result;
        const written = await this.store.update(this.key, this.encode(work), this.revision);
        if (written.ok) {
          this.pool = work;
          this.revision = written.kv.revision;
          return result;
        }
        if (written.current) this.adopt(written.current);
        else this.revision = 0;
      }
    });
  }

  /** Runs `look` on a copy of the newest bitmap without writing anything (dry runs). */
  peek<R>(look: (pool: P) => R): Promise<R> {
    return this.serialized(async () => {
      await this.refresh();
      return look(this.pool.clone() as P);
    });
  }

  /**
   * Reads the record (creating it, empty, when no server has yet). Returns
   * the range it held when that differs from ours: the record is then taken
   * as empty for our range, and the next write replaces it.
   */
  load(): Promise<string | undefined> {
    return this.serialized(() => this.loadNow());
  }

  private async loadNow(): Promise<string | undefined> {
    for (;;) {
      const stored = await this.store.get(this.key);
      if (stored) return this.adopt(stored);
      this.creationTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const created = await this.store.create(this.key, this.encode(this.pool));
      if (created.ok) {
        this.revision = created.kv.revision;
        return undefined;
      }
    }
  }

  /** Reads the record again; true when it had changed. */
  private async refresh(): Promise<boolean> {
    const before = this.revision;
    if (!before) {
      await this.loadNow();
      return true;
    }
    const stored = await this.store.get(this.key);
    if (!stored) {
      this.revision = 0;
      await this.loadNow();
      return true;
    }
    if (stored.revision === before) return false;
    this.adopt(stored);
    return true;
  }

  /** Makes the local copy what `kv` holds; returns the stored range when it is not ours. */
  private adopt(kv: KeyValue): string | undefined {
    const stored = JSON.parse(kv.value) as StoredRange;
    this.revision = kv.revision;
    this.creationTimestamp = stored.metadata?.creationTimestamp ?? '';
    const fresh = this.pool.clone() as P;
    if (stored.range !== this.pool.rangeText) {
      fresh.restore(new Uint8Array());
      this.pool = fresh;
      return stored.range;
    }
    fresh.restore(Buffer.from(stored.data ?? '', 'base64'));
    this.pool = fresh;
    return undefined;
  }

  private encode(pool: P): string {
    const record: StoredRange = {
      apiVersion: 'v1',
      kind: 'RangeAllocation',
      metadata: { creationTimestamp: this.creationTimestamp },
      range: pool.rangeText,
      data: pool.snapshot().toString('base64'),
    };
    return JSON.stringify(record);
  }

  private serialized<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
