import { apiVersionOf, lookupResource, type ResourceType } from '../api/registry';
import { strategicMergeSchema } from '../api/strategic-merge';
import type { KubeList, KubeObject, Status, WatchEvent } from '../api/types';
import {
  ApiStatusError,
  type CreateOptions,
  type DeleteOptions,
  type KubeClient,
  type ListOptions,
  type PatchOptions,
  type PatchType,
  type WatchHandle,
  type WatchOptions,
} from '../client/api-client';
import { TooOldError, type CachedObject } from '../storage/watch-cache';
import { ApiError, datastoreError, gone } from './errors';
import { deepFreeze } from '../api/patch';
import { objectFilter, patcher } from './handlers';
import { DEFAULT_FIELD_MANAGER, watchTrigger, type ResourceStorage } from './resources';
import { eventTypeFor } from './watch';

const PATCH_BODY_TYPES: Record<PatchType, string> = {
  merge: 'merge-patch',
  json: 'json-patch',
  strategic: 'strategic-merge-patch',
  apply: 'apply-patch',
};

/**
 * The API as a KubeClient inside the server process: the scheduler and
 * controllers that run in `mk server` use it to skip HTTP, TLS and JSON
 * framing, while going through exactly the same resource storage,
 * defaulting, validation, admission and watch cache as a request does.
 *
 * Like the HTTP client it hands out private copies: objects returned or
 * delivered are the caller's to keep, and objects passed in are not changed.
 * The exception is a list, watch or create with `readOnly`, where the caller
 * promises not to change what it gets and receives the watch cache's own
 * objects.
 * Errors are ApiStatusError, as over HTTP.
 */
export class LocalClient implements KubeClient {
  readonly inProcess = true;

  constructor(private readonly resources: ResourceStorage) {}

  async get<T extends KubeObject = KubeObject>(rt: ResourceType, namespace: string | undefined, name: string): Promise<T> {
    return call(() => JSON.parse(this.resources.get(rt, namespace, name).json));
  }

  async list<T extends KubeObject = KubeObject>(rt: ResourceType, namespace?: string, opts: ListOptions = {}): Promise<KubeList<T>> {
    return call(() => {
      const filter = objectFilter(rt, namespace, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector });
      const { items, revision } = this.resources.list(rt, namespace);
      return {
        apiVersion: apiVersionOf(rt),
        kind: rt.listKind,
        metadata: { resourceVersion: String(revision) },
        items: items.filter((i) => filter(i.object)).map((i) => objectFor(i, opts) as T),
      };
    });
  }

  async create<T extends KubeObject = KubeObject>(rt: ResourceType, obj: T, opts: CreateOptions = {}): Promise<T> {
    return call(async () => {
      const copy = structuredClone(obj);
      const result = await this.resources.create(rt, copy.metadata?.namespace, copy);
      return objectFor(result.object, opts) as T;
    });
  }

  async update<T extends KubeObject = KubeObject>(rt: ResourceType, obj: T): Promise<T> {
    return call(async () => {
      const result = await this.resources.update(rt, obj.metadata.namespace, obj.metadata.name!, structuredClone(obj));
      return JSON.parse(result.object.json);
    });
  }

  async updateStatus<T extends KubeObject = KubeObject>(rt: ResourceType, obj: T): Promise<T> {
    return call(async () => {
      const result = await this.resources.update(rt, obj.metadata.namespace, obj.metadata.name!, structuredClone(obj), {}, 'status');
      return JSON.parse(result.object.json);
    });
  }

  async patch<T extends KubeObject = KubeObject>(
    rt: ResourceType, namespace: string | undefined, name: string, patch: unknown, type: PatchType, opts: PatchOptions = {},
  ): Promise<T> {
    return call(async () => {
      const sub = opts.subresource === 'status' ? 'status' : undefined;
      if (type === 'apply') {
        const applied = await this.resources.apply(rt, namespace, name, structuredClone(patch), { fieldManager: opts.fieldManager ?? DEFAULT_FIELD_MANAGER, force: opts.force }, sub);
        return JSON.parse(applied.object.json);
      }
      const apply = patcher(PATCH_BODY_TYPES[type], structuredClone(patch), strategicMergeSchema(rt));
      const result = await this.resources.guaranteedUpdate(rt, namespace, name, undefined, apply, { fieldManager: opts.fieldManager }, sub);
      return JSON.parse(result.object.json);
    });
  }

  async delete(rt: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<KubeObject | Status> {
    return call(async () => JSON.parse((await this.resources.delete(rt, namespace, name, opts)).object.json));
  }

  async deleteCollection(rt: ResourceType, namespace: string | undefined, opts: ListOptions & DeleteOptions = {}): Promise<KubeObject | Status> {
    return call(async () => {
      const filter = objectFilter(rt, namespace, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector });
      const deleted: KubeObject[] = [];
      for (const item of this.resources.list(rt, namespace).items) {
        if (!filter(item.object)) continue;
        try {
          const out = await this.resources.delete(rt, item.object.metadata.namespace, item.object.metadata.name!, opts);
          deleted.push(JSON.parse(out.object.json));
        } catch (err) {
          if (!(err instanceof ApiError && err.code === 404)) throw err;
        }
      }
      return { apiVersion: apiVersionOf(rt), kind: rt.listKind, metadata: {}, items: deleted };
    });
  }

  async bind(namespace: string, podName: string, nodeName: string, podUid?: string): Promise<void> {
    const pods = lookupResource('', 'v1', 'pods')!;
    await call(() =>
      this.resources.bind(pods, namespace, podName, {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: podName, namespace, ...(podUid ? { uid: podUid } : {}) },
        target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
      }),
    );
  }

  async finalizeNamespace(ns: KubeObject): Promise<KubeObject> {
    const namespaces = lookupResource('', 'v1', 'namespaces')!;
    const finalizers = ns.spec?.finalizers ?? [];
    return call(async () => {
      // As the finalize handler: spec.finalizers changes, nothing else of the namespace.
      const result = await this.resources.guaranteedUpdate(namespaces, undefined, ns.metadata.name!, ns.metadata.resourceVersion, (obj) => {
        obj.spec = { ...obj.spec, finalizers };
        return obj;
      });
      return JSON.parse(result.object.json);
    });
  }

  /**
   * Subscribes to the kind's watch cache. Events are delivered
   * asynchronously (a microtask after the write that caused them), never
   * inside the writer's call stack.
   */
  watch<T extends KubeObject = KubeObject>(
    rt: ResourceType, namespace: string | undefined, opts: WatchOptions, onEvent: (event: WatchEvent<T>) => void,
  ): WatchHandle {
    let stopped = false;
    let unsubscribe: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    let finish!: (err?: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      finish = (err?: unknown) => {
        if (stopped) return;
        stopped = true;
        unsubscribe?.();
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
    });
    const emit = (event: WatchEvent<T>) =>
      queueMicrotask(() => {
        if (stopped) return;
        try {
          onEvent(event);
        } catch (err) {
          finish(err);
        }
      });

    try {
      const filter = objectFilter(rt, namespace, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector });
      const cache = this.resources.cache(rt);
      const rv = opts.resourceVersion;
      const initial = !rv || rv === '0';
      const from = initial ? cache.revision : Number(rv);
      if (initial) {
        for (const item of cache.list()) if (filter(item.object)) emit({ type: 'ADDED', object: objectFor(item, opts) as T });
      }
      // The cache ends every watch when it relists: the stream ends after the events already queued, as over HTTP.
      unsubscribe = cache.watch(from, (e) => {
        const type = eventTypeFor(e, filter);
        if (type) emit({ type, object: objectFor(e.object, opts) as T });
      }, () => queueMicrotask(() => finish()), watchTrigger(rt, opts.fieldSelector));
      if (opts.timeoutSeconds) timer = setTimeout(() => finish(), opts.timeoutSeconds * 1000);
    } catch (err) {
      if (err instanceof TooOldError) {
        const status = gone(err.message).toStatus();
        emit({ type: 'ERROR', object: status as unknown as T });
        queueMicrotask(() => finish());
      } else {
        queueMicrotask(() => finish(toClientError(err)));
      }
    }
    return { stop: () => finish(), done };
  }
}

/**
 * Kubernetes' cache mutation detector (KUBE_CACHE_MUTATION_DETECTOR): on in
 * tests, where shared objects are frozen so that code changing one fails
 * loudly instead of quietly corrupting the server's cache.
 */
const detectMutations = process.env.MK_CACHE_MUTATION_DETECTOR === 'true' ||
  (process.env.NODE_ENV === 'test' && process.env.MK_CACHE_MUTATION_DETECTOR !== 'false');

/**
 * What a list or watch hands out for a cached object: a private copy, or
 * for a caller that promised not to change it (`readOnly`), the cached
 * object itself (see sharedObject).
 */
function objectFor(c: CachedObject, opts: { omitManagedFields?: boolean; readOnly?: boolean }): KubeObject {
  if (opts.readOnly) return sharedObject(c, !!opts.omitManagedFields);
  const copy = JSON.parse(c.json) as KubeObject;
  if (opts.omitManagedFields) delete copy.metadata?.managedFields;
  return copy;
}

const sharedViews = new WeakMap<CachedObject, KubeObject>();

/**
 * The watch cache's object itself; `omitManagedFields` gives a shallow copy
 * whose metadata lacks them, made once per object version and shared by
 * every in-process informer of the kind. Parsing a private copy per
 * informer was the largest single cost of a pod event in the server, and
 * kept two more copies of every pod alive.
 */
function sharedObject(c: CachedObject, omitManagedFields: boolean): KubeObject {
  if (!omitManagedFields || !c.object.metadata?.managedFields) return frozen(c.object);
  let view = sharedViews.get(c);
  if (!view) {
    const { managedFields: _managedFields, ...metadata } = c.object.metadata;
    view = frozen({ ...c.object, metadata });
    sharedViews.set(c, view);
  }
  return view;
}

function frozen<T>(value: T): T {
  return detectMutations ? deepFreeze(value) : value;
}

function toClientError(err: unknown): unknown {
  if (err instanceof ApiError) return new ApiStatusError(err.toStatus());
  const fromStore = datastoreError(err);
  return fromStore ? new ApiStatusError(fromStore.toStatus()) : err;
}

/** Runs one API call, turning server-side ApiErrors into the client's ApiStatusError. */
async function call<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toClientError(err);
  }
}
