import type { KubeObject } from '../api/types';
import type { Store, StoreEvent, Watch } from './store';

/**
 * An object as the watch cache holds it: parsed (for selectors and reads)
 * and serialized (so lists and watch events are written without
 * re-serializing). Cached objects are shared and must never be mutated;
 * callers that want to change one parse `json` into a fresh copy.
 */
export interface CachedObject {
  key: string;
  object: KubeObject;
  json: string;
  revision: number;
}

export interface CacheEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  revision: number;
  object: CachedObject;
  /** The object before this event (for MODIFIED and DELETED). */
  prev?: CachedObject;
}

/** Receives events in revision order. Filtering by namespace and selectors is the watcher's job. */
export type CacheWatcher = (event: CacheEvent) => void;

/** Thrown by watch() when the asked-for revision is older than the cache's window. */
export class TooOldError extends Error {
  constructor(readonly requested: number, readonly oldest: number) {
    super(`too old resource version: ${requested} (${oldest})`);
    this.name = 'TooOldError';
  }
}

/**
 * One per kind: the current state of every object of the kind plus a ring of
 * its recent events, fed by a single store watch. Lists and watches are
 * served from here, so a thousand watchers cost one datastore watch, not a
 * thousand queries. This is the Kubernetes apiserver's cacher in miniature.
 */
export class WatchCache {
  private readonly state = new Map<string, CachedObject>();
  private readonly ring: CacheEvent[] = [];
  private ringStart = 0;
  private readonly watchers = new Set<CacheWatcher>();
  private storeWatch?: Watch;
  /** Sorted view of `state`, rebuilt lazily after a change. */
  private sorted?: CachedObject[];
  /** The store revision this cache is consistent with (its own newest event, or a later write elsewhere). */
  revision = 0;
  /** History is complete for revisions after this one; older resumes get 410. */
  oldestRevision = 0;

  constructor(
    private readonly store: Store,
    readonly prefix: string,
    private readonly decode: (value: string, revision: number) => { object: KubeObject; json: string },
    private readonly capacity = 10_000,
  ) {}

  /**
   * Loads the current state, then replays retained history into the ring and
   * follows live writes. Resolves when the cache is consistent with the store.
   */
  async start(): Promise<void> {
    const listed = await this.store.list(this.prefix);
    for (const kv of listed.items) {
      const { object, json } = this.decode(kv.value, kv.revision);
      this.state.set(kv.key, { key: kv.key, object, json, revision: kv.revision });
    }
    this.revision = listed.revision;
    const from = await this.store.compactedRevision();
    this.oldestRevision = from;
    const listedAt = listed.revision;
    // While history up to the list is replayed, this tracks each key's value so events carry `prev`.
    let replayed: Map<string, CachedObject> | undefined = new Map();
    this.storeWatch = await this.store.watch(
      this.prefix, from,
      (e) => {
        if (e.kv.revision <= listedAt && replayed) this.onHistoryEvent(e, replayed);
        else this.onStoreEvent(e);
      },
      // Writes to other kinds move this cache's revision too: a list of a quiet
      // kind must not carry a version that compaction has left behind.
      (revision) => {
        if (revision > this.revision) this.revision = revision;
      },
    );
    replayed = undefined;
  }

  stop(): void {
    this.storeWatch?.cancel();
    this.watchers.clear();
  }

  get(key: string): CachedObject | undefined {
    return this.state.get(key);
  }

  /** Every object whose key starts with `keyPrefix` (the kind's prefix, or a namespace below it), in key order. */
  list(keyPrefix: string = this.prefix): CachedObject[] {
    if (!this.sorted) {
      this.sorted = [...this.state.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    }
    if (keyPrefix === this.prefix) return this.sorted;
    return this.sorted.filter((o) => o.key.startsWith(keyPrefix));
  }

  get size(): number {
    return this.state.size;
  }

  /**
   * Streams events after `fromRevision` to `watcher`, then live events.
   * Throws TooOldError when that history is no longer held.
   */
  watch(fromRevision: number, watcher: CacheWatcher): () => void {
    if (fromRevision < this.oldestRevision) throw new TooOldError(fromRevision, this.oldestRevision);
    for (let i = this.ringStart; i < this.ring.length; i++) {
      if (this.ring[i].revision > fromRevision) watcher(this.ring[i]);
    }
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  private toCacheEvent(e: StoreEvent, prev: CachedObject | undefined): CacheEvent {
    const { object, json } = this.decode(e.kv.value, e.kv.revision);
    const cached: CachedObject = { key: e.kv.key, object, json, revision: e.kv.revision };
    const type = e.type === 'create' ? 'ADDED' : e.type === 'update' ? 'MODIFIED' : 'DELETED';
    return { type, revision: e.kv.revision, object: cached, prev };
  }

  /** History older than the initial list is already reflected in `state`; it only fills the ring. */
  private onHistoryEvent(e: StoreEvent, replayed: Map<string, CachedObject>): void {
    const event = this.toCacheEvent(e, replayed.get(e.kv.key));
    replayed.set(e.kv.key, event.object);
    this.remember(event);
  }

  private onStoreEvent(e: StoreEvent): void {
    const event = this.toCacheEvent(e, this.state.get(e.kv.key));
    if (event.type === 'DELETED') this.state.delete(e.kv.key);
    else this.state.set(e.kv.key, event.object);
    this.sorted = undefined;
    this.revision = e.kv.revision;
    this.remember(event);
    for (const w of this.watchers) {
      try {
        w(event);
      } catch {
        // One broken watcher must not starve the others.
      }
    }
  }

  private remember(event: CacheEvent): void {
    this.ring.push(event);
    if (this.ring.length - this.ringStart > this.capacity) {
      this.oldestRevision = this.ring[this.ringStart].revision;
      this.ringStart++;
      this.compactRing();
    }
  }

  /** Drops evicted entries in bulk so eviction stays O(1) amortized. */
  private compactRing(): void {
    if (this.ringStart > 1024 && this.ringStart * 2 > this.ring.length) {
      this.ring.splice(0, this.ringStart);
      this.ringStart = 0;
    }
  }
}
