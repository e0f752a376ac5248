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

/** How long a write waits for its own event to reach the cache before it is answered anyway. */
const WRITE_SYNC_TIMEOUT_MS = 5000;
const RELIST_RETRY_MIN_MS = 200;
const RELIST_RETRY_MAX_MS = 5000;

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
  /** Each watcher with what ends it (its stream) when the cache must relist. */
  private readonly watchers = new Map<CacheWatcher, (() => void) | undefined>();
  /** Watchers that see every event; the others are in `triggered`. */
  private readonly untriggered = new Set<CacheWatcher>();
  /**
   * Watchers that can only match objects with one value of the trigger field
   * (`spec.nodeName=node1`: a kubelet's pod watch), by that value. An event
   * goes only to those of the object's value before and after it, so a
   * thousand node watches do not each filter every pod event (the
   * Kubernetes cacher's trigger functions).
   */
  private readonly triggered = new Map<string, Set<CacheWatcher>>();
  private storeWatch?: Watch;
  private stopped = false;
  /** The newest revision evicted from the ring: resumes from before it cannot be served. */
  private evictedThrough = 0;
  /** Writes waiting for their event to reach the cache (see waitFor). */
  private waiters: Array<{ revision: number; resolve: () => void; timer: NodeJS.Timeout }> = [];
  /**
   * Objects this server is writing, by key, with the value written: when the
   * store's event carries that value, the cache takes the writer's object
   * instead of parsing the value again (see expectWrite).
   */
  private readonly writing = new Map<string, { value: string; object: KubeObject }>();
  /** Sorted view of `state`, rebuilt lazily after a change. */
  private sorted?: CachedObject[];
  /** The store revision this cache is consistent with (its own newest event, or a later write elsewhere). */
  revision = 0;
  /** History is complete for revisions after this one; older resumes get 410. */
  oldestRevision = 0;

  constructor(
    private readonly store: Store,
    readonly prefix: string,
    private readonly decode: (value: string, revision: number, parsed?: KubeObject) => { object: KubeObject; json: string },
    private readonly capacity = 10_000,
    /** The field whose value watchers may be indexed by (see `triggered`): pods' `spec.nodeName`. */
    private readonly triggerValueOf?: (obj: KubeObject) => string,
  ) {}

  /**
   * Loads the current state, then replays retained history into the ring and
   * follows live writes. Resolves when the cache is consistent with the store.
   */
  async start(): Promise<void> {
    await this.load(true);
  }

  /**
   * Lists, then watches from the compacted revision (`withHistory`, to fill
   * the ring) or from the list. History older than the list only fills the
   * ring; until all of it has arrived (etcd delivers it after watch()
   * resolves; SQLite before) the ring serves only resumes from the list on.
   */
  private async load(withHistory: boolean): Promise<void> {
    const listed = await this.store.list(this.prefix);
    this.state.clear();
    for (const kv of listed.items) {
      const { object, json } = this.decode(kv.value, kv.revision);
      this.state.set(kv.key, { key: kv.key, object, json, revision: kv.revision });
    }
    this.sorted = undefined;
    this.revision = listed.revision;
    const listedAt = listed.revision;
    const from = withHistory ? Math.min(await this.store.compactedRevision(), listedAt) : listedAt;
    this.oldestRevision = Math.max(listedAt, this.evictedThrough);
    // While history up to the list is replayed, this tracks each key's value so events carry `prev`.
    let replayed: Map<string, CachedObject> | undefined = from < listedAt ? new Map() : undefined;
    const caughtUp = (revision: number): void => {
      if (!replayed || revision < listedAt) return;
      replayed = undefined;
      this.oldestRevision = Math.max(from, this.evictedThrough);
    };
    this.storeWatch = await this.store.watch(
      this.prefix, from,
      (e) => {
        if (e.kv.revision <= listedAt) {
          if (replayed) this.onHistoryEvent(e, replayed);
          caughtUp(e.kv.revision);
          return;
        }
        caughtUp(e.kv.revision);
        this.onStoreEvent(e);
      },
      // Writes to other kinds move this cache's revision too: a list of a quiet
      // kind must not carry a version that compaction has left behind.
      (revision) => {
        caughtUp(revision);
        if (revision > this.revision) {
          this.revision = revision;
          this.wake();
        }
      },
      (err) => this.relist(err),
    );
    this.wake();
  }

  /**
   * The store could not resume its watch (history compacted while the
   * datastore was out of reach). As the Kubernetes cacher does: end every
   * watch (clients resume, or relist on 410), forget the ring, and load the
   * current state again, retrying until the datastore answers.
   */
  private relist(_err: Error): void {
    this.storeWatch = undefined;
    if (this.stopped) return;
    this.endWatchers();
    this.ring.length = 0;
    this.ringStart = 0;
    let delay = RELIST_RETRY_MIN_MS;
    const attempt = (): void => {
      if (this.stopped) return;
      this.load(false).catch(() => {
        if (this.stopped) return;
        setTimeout(attempt, delay).unref();
        delay = Math.min(delay * 2, RELIST_RETRY_MAX_MS);
      });
    };
    attempt();
  }

  private endWatchers(): void {
    const ends = [...this.watchers.values()];
    this.clearWatchers();
    for (const end of ends) {
      try {
        end?.();
      } catch {
        // one watcher's failure to close must not keep the others open
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.storeWatch?.cancel();
    this.clearWatchers();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.waiters = [];
  }

  /**
   * Resolves once the cache has seen `revision` (a write just acknowledged
   * by the store), so that what this server answers next includes it: read
   * your own writes. Immediate when the store delivers events before it
   * acknowledges (SQLite); one watch delivery later with etcd. Gives up
   * after a few seconds, when the watch is broken: the write did happen.
   */
  waitFor(revision: number): Promise<void> {
    if (this.revision >= revision || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        revision,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve();
        }, WRITE_SYNC_TIMEOUT_MS),
      };
      this.waiters.push(waiter);
    });
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const still = [];
    for (const w of this.waiters) {
      if (w.revision <= this.revision) {
        clearTimeout(w.timer);
        w.resolve();
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
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
   * Throws TooOldError when that history is no longer held. `onEnd` is
   * called if the cache has to relist and so ends every watch; the watcher
   * is then already removed. `trigger`: the watcher only matches objects
   * whose trigger field has this value, so it is sent only their events (it
   * still filters those itself).
   */
  watch(fromRevision: number, watcher: CacheWatcher, onEnd?: () => void, trigger?: string): () => void {
    if (fromRevision < this.oldestRevision) throw new TooOldError(fromRevision, this.oldestRevision);
    for (let i = this.ringStart; i < this.ring.length; i++) {
      if (this.ring[i].revision > fromRevision) watcher(this.ring[i]);
    }
    this.watchers.set(watcher, onEnd);
    const set = trigger !== undefined && this.triggerValueOf ? this.triggerSet(trigger) : this.untriggered;
    set.add(watcher);
    return () => {
      this.watchers.delete(watcher);
      set.delete(watcher);
      if (trigger !== undefined && set.size === 0 && this.triggered.get(trigger) === set) this.triggered.delete(trigger);
    };
  }

  private triggerSet(value: string): Set<CacheWatcher> {
    let set = this.triggered.get(value);
    if (!set) this.triggered.set(value, (set = new Set()));
    return set;
  }

  private clearWatchers(): void {
    this.watchers.clear();
    this.untriggered.clear();
    this.triggered.clear();
  }

  /** Sends an event to the watchers that may match it. */
  private dispatch(event: CacheEvent): void {
    const send = (watchers: Iterable<CacheWatcher>) => {
      for (const w of watchers) {
        try {
          w(event);
        } catch {
          // One broken watcher must not starve the others.
        }
      }
    };
    send(this.untriggered);
    if (this.triggered.size === 0 || !this.triggerValueOf) return;
    const now = this.triggerValueOf(event.object.object);
    const before = event.prev ? this.triggerValueOf(event.prev.object) : now;
    const current = this.triggered.get(now);
    if (current) send([...current]);
    const earlier = before !== now ? this.triggered.get(before) : undefined;
    if (earlier) send([...earlier]);
  }

  /**
   * Says that `object`, serialized as `value`, is about to be written at
   * `key`. The writer hands it over: from then on it is the cache's and is
   * never changed. If the write fails, a later event with another value
   * drops it.
   */
  expectWrite(key: string, value: string, object: KubeObject): void {
    this.writing.set(key, { value, object });
  }

  private toCacheEvent(e: StoreEvent, prev: CachedObject | undefined): CacheEvent {
    const written = this.writing.get(e.kv.key);
    if (written) this.writing.delete(e.kv.key);
    const parsed = written && e.type !== 'delete' && written.value === e.kv.value ? written.object : undefined;
    const { object, json } = this.decode(e.kv.value, e.kv.revision, parsed);
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
    this.wake();
    this.dispatch(event);
  }

  private remember(event: CacheEvent): void {
    this.ring.push(event);
    if (this.ring.length - this.ringStart > this.capacity) {
      this.evictedThrough = this.ring[this.ringStart].revision;
      this.oldestRevision = Math.max(this.oldestRevision, this.evictedThrough);
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
