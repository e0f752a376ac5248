import type { ResourceType } from '../api/registry';
import type { KubeObject, WatchEvent } from '../api/types';
import { ApiStatusError, type KubeClient, type WatchHandle } from './api-client';

/**
 * A list+watch cache of one kind, after client-go's informer and
 * client-node's ListWatch: it lists, then watches from the list's
 * resourceVersion, keeps every object in memory, and tells handlers about
 * adds, updates and deletes. A 410 Gone (the watch fell too far behind)
 * means relist; a relist reports the differences it finds as events, so
 * handlers never miss a change, only intermediate states of it.
 *
 * Objects handed out are read-only: clone before changing one. In the
 * server's process they are the API server's cached objects themselves,
 * shared by every informer there (frozen in tests, to catch a change). They
 * come without `metadata.managedFields`.
 */

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Longest wait between reconnect attempts after errors. */
  maxBackoffMs?: number;
}

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the key controllers queue. */
export function objectKey(obj: KubeObject): string {
  const { namespace, name } = obj.metadata;
  return namespace ? `${namespace}/${name}` : name!;
}

/**
 * The values an object is filed under in a named index (client-go's
 * IndexFunc). An object may be under several values, or none.
 */
export type IndexFunc<T> = (obj: T) => string[];

interface Index<T> {
  fn: IndexFunc<T>;
  /** index value -> object key -> object */
  entries: Map<string, Map<string, T>>;
}

export class Informer<T extends KubeObject = KubeObject> {
  private readonly items = new Map<string, T>();
  private readonly indexes = new Map<string, Index<T>>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private watch?: WatchHandle;
  private stopped = false;
  private resourceVersion = '';
  private syncedOnce?: Promise<void>;
  private markSynced?: () => void;
  private retryTimer?: NodeJS.Timeout;
  /** True once the first list has been loaded. */
  synced = false;

  constructor(
    private readonly client: KubeClient,
    readonly rt: ResourceType,
    private readonly options: InformerOptions = {},
  ) {}

  /** Registers handlers; call before start() to see the initial objects as adds. */
  on(handlers: InformerHandlers<T>): this {
    this.handlers.push(handlers);
    return this;
  }

  /** Starts listing and watching; resolves once the first list is in the cache. */
  start(): Promise<void> {
    if (!this.syncedOnce) {
      this.syncedOnce = new Promise((resolve) => (this.markSynced = resolve));
      void this.run(0);
    }
    return this.syncedOnce;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.watch?.stop();
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  get size(): number {
    return this.items.size;
  }

  /**
   * Adds a named index (client-go's Indexer), so controllers find "the pods
   * this ReplicaSet controls" without scanning every pod. Adding an index
   * that exists is a no-op; objects already cached are filed at once.
   */
  addIndex(name: string, fn: IndexFunc<T>): this {
    if (this.indexes.has(name)) return this;
    const index: Index<T> = { fn, entries: new Map() };
    this.indexes.set(name, index);
    for (const [key, obj] of this.items) this.fileUnder(index, key, obj);
    return this;
  }

  /** The cached objects filed under `value` in the index `name` (throws for an unknown index: a programming error). */
  byIndex(name: string, value: string): T[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`informer for ${this.rt.plural} has no index "${name}"`);
    const entries = index.entries.get(value);
    return entries ? [...entries.values()] : [];
  }

  private fileUnder(index: Index<T>, key: string, obj: T): void {
    for (const value of index.fn(obj)) {
      let entries = index.entries.get(value);
      if (!entries) index.entries.set(value, (entries = new Map()));
      entries.set(key, obj);
    }
  }

  private unfile(index: Index<T>, key: string, obj: T): void {
    for (const value of index.fn(obj)) {
      const entries = index.entries.get(value);
      if (!entries) continue;
      entries.delete(key);
      if (entries.size === 0) index.entries.delete(value);
    }
  }

  /** One list+watch session; on any ending it schedules the next (relist or rewatch). */
  private async run(failures: number): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.resourceVersion) await this.relist();
      await this.follow();
      failures = 0;
    } catch (err) {
      if (ApiStatusError.isGone(err)) {
        this.resourceVersion = '';
        failures = 0;
      } else {
        failures++;
      }
    }
    if (this.stopped) return;
    const delay = failures ? Math.min(this.options.maxBackoffMs ?? 30_000, 250 * 2 ** Math.min(failures, 10)) : 0;
    this.retryTimer = setTimeout(() => void this.run(failures), delay);
  }

  private async relist(): Promise<void> {
    const list = await this.client.list<T>(this.rt, this.options.namespace, {
      labelSelector: this.options.labelSelector,
      fieldSelector: this.options.fieldSelector,
      omitManagedFields: true,
      readOnly: true,
    });
    const seen = new Set<string>();
    for (let obj of list.items) {
      // A list's items may leave out their type, which the list carries (the objects may be shared: copied).
      if (!obj.apiVersion || !obj.kind) obj = { ...obj, apiVersion: obj.apiVersion || list.apiVersion, kind: obj.kind || this.rt.kind };
      const key = objectKey(obj);
      seen.add(key);
      this.apply('ADDED', obj);
    }
    for (const [key, obj] of this.items) {
      if (!seen.has(key)) this.apply('DELETED', obj);
    }
    this.resourceVersion = list.metadata.resourceVersion ?? '';
    if (!this.synced) {
      this.synced = true;
      this.markSynced?.();
    }
  }

  /** Watches from the current resourceVersion until the stream ends; throws on ERROR events. */
  private async follow(): Promise<void> {
    let failure: unknown;
    this.watch = this.client.watch<T>(
      this.rt,
      this.options.namespace,
      {
        resourceVersion: this.resourceVersion,
        labelSelector: this.options.labelSelector,
        fieldSelector: this.options.fieldSelector,
        allowWatchBookmarks: true,
        omitManagedFields: true,
        readOnly: true,
      },
      (event: WatchEvent<T>) => {
        if (event.type === 'ERROR') {
          failure = ApiStatusError.fromResponse((event.object as any)?.code ?? 500, event.object);
          this.watch?.stop();
          return;
        }
        const rv = event.object?.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (event.type !== 'BOOKMARK') this.apply(event.type, event.object);
      },
    );
    await this.watch.done;
    if (failure) throw failure;
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): void {
    // Nothing reads managedFields from a cache, and they can be half of a small object: dropped, as
    // kube-controller-manager's and kube-scheduler's informers drop them (TransformStripManagedFields).
    // An update sent from a cached object then keeps the server's (a write without them keeps the live ones).
    // In the server's process the objects come shared and already without them (see LocalClient).
    if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
    const key = objectKey(obj);
    const old = this.items.get(key);
    for (const index of this.indexes.values()) {
      if (old) this.unfile(index, key, old);
      if (type !== 'DELETED') this.fileUnder(index, key, obj);
    }
    if (type === 'DELETED') {
      if (!old) return;
      this.items.delete(key);
      for (const h of this.handlers) h.delete?.(obj);
      return;
    }
    this.items.set(key, obj);
    if (!old) {
      for (const h of this.handlers) h.add?.(obj);
    } else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) {
      for (const h of this.handlers) h.update?.(old, obj);
    }
  }
}
