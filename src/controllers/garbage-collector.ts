import { resourceTypes, type ResourceType } from '../api/registry';
import type { KubeObject, OwnerReference } from '../api/types';
import { ApiStatusError, type KubeClient, type PropagationPolicy } from '../client/api-client';
import { FOREGROUND_FINALIZER, ORPHAN_FINALIZER } from '../apiserver/resources';
import { objectKey, type Reconciler } from './controller';
import type { SharedInformers } from './informers';
import type { ControllerFactory } from './manager';
import type { Informer } from '../client/informer';

/**
 * The garbage collector (pkg/controller/garbagecollector): deletes objects
 * whose owners are gone, and carries out the Foreground and Orphan
 * propagation policies the API server records as finalizers.
 *
 * It watches every kind that can carry ownerReferences (all of the registry
 * but Events and Leases) and keeps an index of dependents by owner uid. The
 * queue key is one object, `plural.group|namespace/name`; reconciling it:
 *
 * - an object being deleted with the `orphan` finalizer: remove its
 *   ownerReference from every dependent, then the finalizer;
 * - an object being deleted with `foregroundDeletion`: make sure each
 *   dependent is being deleted, and remove the finalizer once no dependent
 *   with `blockOwnerDeletion: true` is left;
 * - any other object with ownerReferences: if some owner still exists (same
 *   uid), drop only the references to owners that are gone or waiting for
 *   their dependents; if none does, delete the object (Foreground when an
 *   owner waits for it and it has dependents of its own, else Background).
 *
 * An owner is gone when no object of its kind, name and uid exists: a new
 * object with the old name does not adopt the old one's dependents.
 */

const SKIPPED_KINDS = new Set(['Event', 'Lease']);

interface Item {
  rt: ResourceType;
  key: string;
}

function itemId(rt: ResourceType, key: string): string {
  return `${rt.plural}.${rt.group}|${key}`;
}

export class GarbageCollector implements Reconciler {
  readonly name = 'garbagecollector';
  private readonly informers = new Map<ResourceType, Informer>();
  private readonly byId = new Map<string, ResourceType>();
  /** owner uid -> ids of objects that name it in their ownerReferences. */
  private readonly dependents = new Map<string, Set<string>>();
  /** uid -> id, to enqueue owners when a dependent changes. */
  private readonly byUid = new Map<string, string>();
  private enqueue: (key: string) => void = () => undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  setup(informers: SharedInformers, enqueue: (key: string) => void): void {
    this.enqueue = enqueue;
    for (const rt of resourceTypes) {
      if (SKIPPED_KINDS.has(rt.kind)) continue;
      this.byId.set(`${rt.plural}.${rt.group}`, rt);
      const informer = informers.for(rt);
      this.informers.set(rt, informer);
      informer.on({
        add: (obj) => this.observe(rt, undefined, obj),
        update: (old, obj) => this.observe(rt, old, obj),
        delete: (obj) => this.forget(rt, obj),
      });
    }
  }

  private observe(rt: ResourceType, old: KubeObject | undefined, obj: KubeObject): void {
    const id = itemId(rt, objectKey(obj));
    const uid = obj.metadata.uid;
    if (old?.metadata.uid && old.metadata.uid !== uid) this.unindex(id, old);
    else if (old) this.unindex(id, old, obj);
    if (uid) this.byUid.set(uid, id);
    for (const ref of obj.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(ref.uid);
      if (!set) this.dependents.set(ref.uid, (set = new Set()));
      set.add(id);
    }
    // Only what the collector decides on counts: a status write (most updates) changes none of it.
    const decisive = (o: KubeObject) =>
      JSON.stringify([o.metadata.uid, o.metadata.ownerReferences, o.metadata.deletionTimestamp, o.metadata.finalizers]);
    if (old && decisive(old) === decisive(obj)) return;
    const interesting =
      (obj.metadata.ownerReferences?.length ?? 0) > 0 ||
      obj.metadata.finalizers?.some((f) => f === ORPHAN_FINALIZER || f === FOREGROUND_FINALIZER);
    if (interesting) this.enqueue(id);
    // An owner waiting in foreground deletion looks again whenever a dependent changes.
    for (const ref of [...(old?.metadata.ownerReferences ?? []), ...(obj.metadata.ownerReferences ?? [])]) this.enqueueDeletingOwner(ref.uid);
  }

  private enqueueDeletingOwner(uid: string): void {
    const owner = this.byUid.get(uid);
    if (owner && this.item(owner).obj?.metadata.deletionTimestamp) this.enqueue(owner);
  }

  private forget(rt: ResourceType, obj: KubeObject): void {
    const id = itemId(rt, objectKey(obj));
    this.unindex(id, obj);
    const uid = obj.metadata.uid;
    if (uid && this.byUid.get(uid) === id) this.byUid.delete(uid);
    // Its dependents may now be orphans; its owners may be waiting for it.
    for (const dep of (uid && this.dependents.get(uid)) || []) this.enqueue(dep);
    for (const ref of obj.metadata.ownerReferences ?? []) this.enqueueDeletingOwner(ref.uid);
  }

  /** Drops `id` from the dependents of the owners `old` named (all of them, or those `now` no longer names). */
  private unindex(id: string, old: KubeObject, now?: KubeObject): void {
    const keep = new Set((now?.metadata.ownerReferences ?? []).map((r) => r.uid));
    for (const ref of old.metadata.ownerReferences ?? []) {
      if (keep.has(ref.uid)) continue;
      const set = this.dependents.get(ref.uid);
      set?.delete(id);
      if (set && set.size === 0) this.dependents.delete(ref.uid);
    }
  }

  private item(id: string): Item & { obj?: KubeObject } {
    const bar = id.indexOf('|');
    const rt = this.byId.get(id.slice(0, bar));
    if (!rt) throw new Error(`unknown kind in key ${id}`);
    const key = id.slice(bar + 1);
    return { rt, key, obj: this.informers.get(rt)!.get(key) };
  }

  /** The dependents of `uid` as the caches show them now. */
  private dependentsOf(uid: string): Array<Item & { obj: KubeObject; ref: OwnerReference }> {
    const out: Array<Item & { obj: KubeObject; ref: OwnerReference }> = [];
    for (const id of this.dependents.get(uid) ?? []) {
      const { rt, key, obj } = this.item(id);
      const ref = obj?.metadata.ownerReferences?.find((r) => r.uid === uid);
      if (obj && ref) out.push({ rt, key, obj, ref });
    }
    return out;
  }

  async reconcile(id: string): Promise<void> {
    const { rt, obj } = this.item(id);
    if (!obj) return;
    const meta = obj.metadata;
    if (meta.deletionTimestamp) {
      if (meta.finalizers?.includes(ORPHAN_FINALIZER)) return this.orphanDependents(rt, obj);
      if (meta.finalizers?.includes(FOREGROUND_FINALIZER)) return this.deleteDependentsFirst(rt, obj);
      return; // already going away; its dependents are collected once it is gone
    }
    if (!meta.ownerReferences?.length) return;

    const solid: OwnerReference[] = [];
    const dangling: OwnerReference[] = [];
    const waiting: OwnerReference[] = [];
    for (const ref of meta.ownerReferences) {
      const owner = await this.lookupOwner(ref, meta.namespace, rt);
      if (owner === 'unknown') solid.push(ref);
      else if (!owner) dangling.push(ref);
      else if (owner.metadata.deletionTimestamp && owner.metadata.finalizers?.includes(FOREGROUND_FINALIZER)) waiting.push(ref);
      else solid.push(ref);
    }
    if (solid.length) {
      if (!dangling.length && !waiting.length) return;
      // Some owner still holds it: only let go of the others.
      const gone = new Set([...dangling, ...waiting].map((r) => r.uid));
      const refs = meta.ownerReferences.filter((r) => !gone.has(r.uid));
      await this.patchMeta(rt, obj, { ownerReferences: refs });
      return;
    }
    const hasDependents = (this.dependents.get(meta.uid!)?.size ?? 0) > 0;
    const policy: PropagationPolicy = waiting.length && hasDependents ? 'Foreground' : 'Background';
    this.log(`garbagecollector: deleting ${rt.kind} ${objectKey(obj)} (owners gone, ${policy})`);
    await this.deleteItem(rt, obj, policy);
  }

  /** Orphan: every dependent loses its reference to `owner`, then the owner may go. */
  private async orphanDependents(rt: ResourceType, owner: KubeObject): Promise<void> {
    const uid = owner.metadata.uid!;
    for (const dep of this.dependentsOf(uid)) {
      const refs = (dep.obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
      await this.patchMeta(dep.rt, dep.obj, { ownerReferences: refs });
    }
    await this.removeFinalizer(rt, owner, ORPHAN_FINALIZER);
  }

  /** Foreground: the dependents are deleted first; the owner goes once none blocks it. */
  private async deleteDependentsFirst(rt: ResourceType, owner: KubeObject): Promise<void> {
    const deps = this.dependentsOf(owner.metadata.uid!);
    // Dependents not yet being deleted find the owner waiting and delete themselves.
    for (const dep of deps) if (!dep.obj.metadata.deletionTimestamp) this.enqueue(itemId(dep.rt, dep.key));
    if (deps.some((d) => d.ref.blockOwnerDeletion === true)) return; // their deletions enqueue the owner again
    await this.removeFinalizer(rt, owner, FOREGROUND_FINALIZER);
  }

  /**
   * The owner a reference names: the object, undefined when gone (absent, or
   * a different uid under that name), or 'unknown' for kinds this cluster
   * does not serve (never collected on that account).
   */
  private async lookupOwner(ref: OwnerReference, namespace: string | undefined, dependentRt: ResourceType): Promise<KubeObject | undefined | 'unknown'> {
    const group = ref.apiVersion?.includes('/') ? ref.apiVersion.split('/')[0] : '';
    const rt = resourceTypes.find((r) => r.kind === ref.kind && r.group === group);
    if (!rt) return 'unknown';
    // A namespaced owner lives in its dependent's namespace; a cluster-scoped dependent cannot have one.
    if (rt.namespaced && !dependentRt.namespaced) return 'unknown';
    const ns = rt.namespaced ? namespace : undefined;
    const cached = this.informers.get(rt)?.get(ns ? `${ns}/${ref.name}` : ref.name);
    if (cached?.metadata.uid === ref.uid) return cached;
    // The cache may be behind (an owner created a moment ago): ask the API before collecting anything.
    try {
      const live = await this.client.get(rt, ns, ref.name);
      return live.metadata.uid === ref.uid ? live : undefined;
    } catch (err) {
      if (ApiStatusError.isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async deleteItem(rt: ResourceType, obj: KubeObject, policy: PropagationPolicy): Promise<void> {
    try {
      await this.client.delete(rt, obj.metadata.namespace, obj.metadata.name!, {
        propagationPolicy: policy,
        preconditions: { uid: obj.metadata.uid },
      });
    } catch (err) {
      if (ApiStatusError.isNotFound(err)) return;
      if (ApiStatusError.isConflict(err)) return; // a new object under the name: not ours to collect
      throw err;
    }
  }

  /** A merge patch of metadata, carrying the resourceVersion it was computed from (stale: retried). */
  private async patchMeta(rt: ResourceType, obj: KubeObject, meta: { ownerReferences?: OwnerReference[]; finalizers?: string[] }): Promise<void> {
    const patch: Record<string, unknown> = { resourceVersion: obj.metadata.resourceVersion };
    for (const [k, v] of Object.entries(meta)) patch[k] = v && v.length ? v : null;
    try {
      await this.client.patch(rt, obj.metadata.namespace, obj.metadata.name!, { metadata: patch }, 'merge');
    } catch (err) {
      if (ApiStatusError.isNotFound(err)) return;
      throw err;
    }
  }

  private removeFinalizer(rt: ResourceType, obj: KubeObject, finalizer: string): Promise<void> {
    return this.patchMeta(rt, obj, { finalizers: (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer) });
  }
}

export const garbageCollectorFactory: ControllerFactory = {
  name: 'garbagecollector',
  workers: 4,
  create: (ctx) => new GarbageCollector(ctx.client, ctx.log),
};
