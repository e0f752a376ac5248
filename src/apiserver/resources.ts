import { randomUUID, randomInt } from 'node:crypto';
import { recordManagedFields, takeManagedFields, type WriteManager } from '../api/managed-fields';
import { lookupResource, storageKey, storagePrefix, resourceTypes, type ResourceType } from '../api/registry';
import { fieldValue, parseFieldSelector, requiredExactValue } from '../api/selectors';
import { applyConfiguration } from '../api/server-side-apply';
import type { KubeObject, StatusCause } from '../api/types';
import { validateObject, validateStatus, type FieldValidation } from '../api/validation';
import type { KeyValue, Store, WriteResult as StoreWriteResult } from '../storage';
import { WatchCache, type CachedObject } from '../storage/watch-cache';
import { alreadyExists, badRequest, conflict, forbidden, invalid, notFound } from './errors';
import { ServiceAllocator, type Transaction } from './service-allocator';
import { strictDecodingError, strictErrors, type DecodeProblems } from './strict-decoding';

/**
 * The generic registry store: what every kind's create, update, delete and
 * get mean, layered over the datastore and the per-kind watch caches. The
 * HTTP handlers translate requests into these calls; nothing here knows
 * about HTTP. This is the counterpart of Kubernetes' registry/generic Store
 * plus the per-kind "strategies" (which here are rows in the registry).
 */

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  /** Repeated keys the handler found in the body, reported with unknown fields as fieldValidation says. */
  decodeProblems?: DecodeProblems;
  /**
   * Set for a PATCH: strict decoding errors then fail on the patch (422, field
   * `patch`, showing `value`), as Kubernetes' patch handler fails them.
   */
  patch?: { value?: string };
  /**
   * Who writes, as `metadata.managedFields` records it: the request's
   * `fieldManager`, or what its User-Agent names (`fieldManagerFromUserAgent`).
   * In-process writers that name none are `mk`.
   */
  fieldManager?: string;
  /** A subresource the write came through that the call does not name (`scale`, `finalize`), for managedFields. */
  managerSubresource?: string;
  /** Set by server-side apply: the written object carries the managedFields the apply computed. */
  applied?: boolean;
}

/** The field manager of in-process writes that name none. */
export const DEFAULT_FIELD_MANAGER = 'mk';

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

/**
 * Which part of an object a write may change: 'status' (the status
 * subresource), 'binding' (the scheduler's pods/binding), or the whole
 * object when undefined.
 */
export type Subresource = 'status' | 'binding';

export interface WriteResult {
  object: CachedObject;
  warnings: string[];
}

export interface DeleteResult {
  object: CachedObject;
  /** False when deletion only started (grace period or finalizers pending). */
  removed: boolean;
}

/** Kubernetes' alphabet for generateName suffixes: no vowels, no look-alike digits. */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const MAX_CONFLICT_RETRIES = 8;
/** Namespaces the cluster cannot do without, as Kubernetes' NamespaceLifecycle admission protects them. */
const IMMORTAL_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += NAME_ALPHABET[randomInt(NAME_ALPHABET.length)];
  return s;
}

/** RFC 3339 with second precision, as Kubernetes writes metav1.Time. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Serializes an object for the datastore: apiVersion, kind and metadata
 * first, and no resourceVersion (the store's revision is the version).
 * The fixed layout is what lets `decode` stamp the version without a
 * second JSON.stringify.
 */
export function encode(obj: KubeObject): string {
  const { apiVersion, kind, metadata, ...rest } = obj;
  const { resourceVersion: _rv, ...meta } = metadata;
  return JSON.stringify({ apiVersion, kind, metadata: meta, ...rest });
}

/**
 * Parses a stored value and stamps `metadata.resourceVersion` from the
 * revision. `parsed`: the object the value was encoded from, when the caller
 * has it (a write of this server), which then needs no parsing.
 */
export function decode(value: string, revision: number, parsed?: KubeObject): { object: KubeObject; json: string } {
  const object = parsed ?? (JSON.parse(value) as KubeObject);
  const rv = String(revision);
  object.metadata.resourceVersion = rv;
  const at = value.indexOf('"metadata":{') + '"metadata":{'.length;
  const json = `${value.slice(0, at)}"resourceVersion":"${rv}"${value[at] === '}' ? '' : ','}${value.slice(at)}`;
  return { object, json };
}

/** JSON with object keys sorted, so that key order does not count as a difference. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
      : v,
  );
}

/**
 * Whether two documents are the same object: a client may serialize fields
 * in another order. Reordering keys keeps the JSON's length and characters,
 * so only then is the (slower) order-blind comparison needed.
 */
function sameJson(a: unknown, b: unknown): boolean {
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  return ja === jb || (mayBeReordered(ja, jb) && canonical(a) === canonical(b));
}

/** Whether two different serializations could be one document with its keys in another order. */
function mayBeReordered(ja: string, jb: string): boolean {
  // Most changes that keep the length (a count 3 -> 4, a newer timestamp) change the characters' sum.
  return ja.length === jb.length && charSum(ja) === charSum(jb);
}

function charSum(s: string): number {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s.charCodeAt(i);
  return sum;
}

/** The value the datastore holds for a cached object: its JSON without the resourceVersion `decode` stamped in. */
function storedValue(cached: CachedObject): string {
  const { json } = cached;
  const at = json.indexOf('"metadata":{') + '"metadata":{'.length;
  const stamp = `"resourceVersion":"${cached.object.metadata.resourceVersion}"`;
  if (!json.startsWith(stamp, at)) return json;
  const end = at + stamp.length + (json[at + stamp.length] === ',' ? 1 : 0);
  return json.slice(0, at) + json.slice(end);
}

/**
 * Whether a write would store nothing new: its encoded value against the
 * stored one (both come from the same parse, so key order usually matches).
 */
function sameStoredValue(value: string, stored: string): boolean {
  return value === stored || (mayBeReordered(value, stored) && canonical(JSON.parse(value)) === canonical(JSON.parse(stored)));
}

/** Everything of an object except metadata and status: a change here bumps generation. */
function specOf(obj: KubeObject): Omit<KubeObject, 'metadata'> {
  const { metadata: _m, status: _s, resourceVersion: _r, ...rest } = obj;
  return rest;
}

/** The field a kind's watch cache indexes watchers by: a pod's node, as Kubernetes' pod storage (NodeNameTriggerFunc). */
function watchTriggerField(rt: ResourceType): string | undefined {
  return rt.kind === 'Pod' && rt.group === '' ? 'spec.nodeName' : undefined;
}

/**
 * The trigger value a watch's field selector pins (`spec.nodeName=node1`),
 * which lets the watch cache send it only that node's pods' events.
 */
export function watchTrigger(rt: ResourceType, fieldSelector: string | undefined): string | undefined {
  const field = watchTriggerField(rt);
  if (!field || !fieldSelector) return undefined;
  return requiredExactValue(parseFieldSelector(fieldSelector, rt.selectableFields), field);
}

/** Services hold cluster IPs and node ports (checked first, so other kinds' writes wait on nothing). */
function isService(rt: ResourceType): boolean {
  return rt.kind === 'Service' && rt.group === '';
}

function hasStatusSubresource(rt: ResourceType): boolean {
  return rt.subresources.includes('status');
}

/**
 * Kubernetes serializes ObjectMeta's maps and lists with `omitempty`: removing
 * the last label (`kubectl label x a-`) leaves no `labels` field, not `{}`.
 */
function omitEmptyMetadata(obj: KubeObject): void {
  const meta = obj.metadata as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== 'object') return;
  for (const k of ['labels', 'annotations', 'finalizers', 'ownerReferences', 'managedFields']) {
    const v = meta[k];
    if (v && typeof v === 'object' && Object.keys(v).length === 0) delete meta[k];
  }
}

export class ResourceStorage {
  private readonly caches = new Map<ResourceType, WatchCache>();

  constructor(
    readonly store: Store,
    private readonly now: () => Date = () => new Date(),
    cacheCapacity?: number,
    /** Cluster IPs and node ports of Services (the service CIDR and node port range live here). */
    readonly serviceAllocator = new ServiceAllocator(store),
  ) {
    for (const rt of resourceTypes) {
      const trigger = watchTriggerField(rt);
      this.caches.set(rt, new WatchCache(store, storagePrefix(rt), decode, cacheCapacity, trigger ? (obj) => fieldValue(obj, trigger) : undefined));
    }
  }

  /**
   * Loads the caches; returns what the Service allocation repair found wrong
   * in the stored Services. `exclusive`: no other server shares the datastore
   * (SQLite), so what the repair finds leaked is freed at once.
   */
  async start(opts: { exclusive?: boolean } = {}): Promise<string[]> {
    await Promise.all([...this.caches.values()].map((c) => c.start()));
    return this.repairServiceAllocations(opts.exclusive);
  }

  /** Makes the shared cluster IP and node port pools agree with the stored Services (see ServiceAllocator.repair). */
  repairServiceAllocations(exclusive = false): Promise<string[]> {
    const services = resourceTypes.find((r) => r.kind === 'Service' && r.group === '')!;
    return this.serviceAllocator.repair(this.cache(services).list().map((c) => c.object), exclusive);
  }

  stop(): void {
    for (const c of this.caches.values()) c.stop();
  }

  cache(rt: ResourceType): WatchCache {
    return this.caches.get(rt)!;
  }

  get(rt: ResourceType, namespace: string | undefined, name: string): CachedObject {
    const found = this.cache(rt).get(storageKey(rt, namespace, name));
    if (!found) throw notFound(rt, name);
    return found;
  }

  /** The objects of a kind, in one namespace or (namespace undefined) all of them. */
  list(rt: ResourceType, namespace: string | undefined): { items: CachedObject[]; revision: number } {
    const cache = this.cache(rt);
    const prefix = rt.namespaced && namespace ? `${storagePrefix(rt)}${namespace}/` : storagePrefix(rt);
    return { items: cache.list(prefix), revision: cache.revision };
  }

  async create(rt: ResourceType, namespace: string | undefined, obj: KubeObject, opts: WriteOptions = {}): Promise<WriteResult> {
    this.checkTypeMeta(rt, obj);
    const meta = (obj.metadata ??= {});
    const requestedFields = takeManagedFields(obj);
    if (rt.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = meta.namespace || namespace || 'default';
      this.checkNamespaceAcceptsContent(meta.namespace);
    } else {
      delete meta.namespace;
    }
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomSuffix();
    if (!meta.name) {
      throw invalid(rt, '', [{ field: 'metadata.name', reason: 'FieldValueRequired', message: 'Required value: name or generateName is required' }]);
    }
    if (meta.resourceVersion) {
      throw invalid(rt, meta.name, [{ field: 'metadata.resourceVersion', message: 'Invalid value: must be empty on create' }]);
    }
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp(this.now());
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (rt.hasGeneration) meta.generation = 1;
    else delete meta.generation;
    this.prepareForCreate(rt, obj);
    if (rt.kind === 'Pod') this.admitPriority(obj);

    const warnings = this.admit(rt, obj, undefined, opts);
    recordManagedFields(rt, undefined, obj, requestedFields, this.writer(opts, undefined));
    const allocation = isService(rt) ? await this.allocate(obj, undefined, opts) : undefined;
    if (opts.dryRun) return { object: this.dryRunResult(obj), warnings };

    const key = storageKey(rt, meta.namespace, meta.name);
    const value = encode(obj);
    this.cache(rt).expectWrite(key, value, obj);
    const result = await settle(allocation, this.store.create(key, value));
    if (!result.ok) throw alreadyExists(rt, meta.name);
    return { object: await this.committed(rt, result.kv), warnings };
  }

  /**
   * Replaces an object (PUT). With `subresource: 'status'` only the status
   * changes; otherwise the status of kinds with a status subresource is kept.
   * A resourceVersion in the body is a precondition: stale means 409.
   */
  async update(
    rt: ResourceType, namespace: string | undefined, name: string, obj: KubeObject,
    opts: WriteOptions = {}, subresource?: 'status',
  ): Promise<WriteResult> {
    this.checkTypeMeta(rt, obj);
    const meta = obj.metadata ?? {};
    if (meta.name && meta.name !== name) {
      throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`);
    }
    if (rt.namespaced && meta.namespace && meta.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    return this.guaranteedUpdate(rt, namespace, name, meta.resourceVersion, () => structuredClone(obj), opts, subresource);
  }

  /**
   * Server-side apply (PATCH `application/apply-patch+yaml`): merges the
   * applied configuration into the object as `opts.fieldManager`, see
   * `server-side-apply.ts`. An object that does not exist is created from
   * the configuration (`created`), except through a subresource.
   */
  async apply(
    rt: ResourceType, namespace: string | undefined, name: string, config: unknown,
    opts: WriteOptions & { force?: boolean }, subresource?: 'status',
  ): Promise<WriteResult & { created: boolean }> {
    const applied = { ...opts, applied: true };
    const applyTo = (live: KubeObject | undefined) => applyConfiguration(rt, live, config, {
      manager: opts.fieldManager ?? DEFAULT_FIELD_MANAGER, force: !!opts.force, subresource, name, namespace, now: this.now(),
    });
    for (let attempt = 0; ; attempt++) {
      const exists = !!this.cache(rt).get(storageKey(rt, namespace, name));
      if (!exists && subresource) throw notFound(rt, name);
      try {
        if (exists) return { ...(await this.guaranteedUpdate(rt, namespace, name, undefined, applyTo, applied, subresource)), created: false };
        return { ...(await this.create(rt, namespace, applyTo(undefined), applied)), created: true };
      } catch (err) {
        // Deleted or created by another client between the look and the write: apply to what is there now.
        const raced = (err as { code?: number; reason?: string }).code === (exists ? 404 : 409) &&
          (exists || (err as { reason?: string }).reason === 'AlreadyExists');
        if (!raced || attempt >= MAX_CONFLICT_RETRIES) throw err;
      }
    }
  }

  /**
   * Read-modify-write with the current object: `mutate` gets a private copy
   * and returns the desired object. Used by PATCH and by subresources. When
   * the caller gave no resourceVersion, a write that loses a race is retried
   * against the newer object, as the Kubernetes API server does for patches.
   */
  async guaranteedUpdate(
    rt: ResourceType, namespace: string | undefined, name: string, precondition: string | undefined,
    mutate: (current: KubeObject) => KubeObject | Promise<KubeObject>,
    opts: WriteOptions = {}, subresource?: Subresource,
  ): Promise<WriteResult> {
    const key = storageKey(rt, namespace, name);
    let current = this.get(rt, namespace, name);
    for (let attempt = 0; ; attempt++) {
      if (precondition && precondition !== current.object.metadata.resourceVersion) {
        throw conflict(rt, name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      const old = JSON.parse(current.json) as KubeObject;
      const desired = await mutate(JSON.parse(current.json) as KubeObject);
      const rv = desired.metadata?.resourceVersion;
      if (rv && rv !== current.object.metadata.resourceVersion) {
        throw conflict(rt, name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      const requestedFields = takeManagedFields(desired);
      const next = this.prepareForUpdate(rt, desired, old, subresource);
      // Status and binding writes leave the spec as it was, so only the shape of what changed is checked.
      // A status write is defaulted like any other write: otherwise its defaults (a node's allocatable)
      // would appear later, on some unrelated spec write.
      const warnings = subresource ? [] : this.admit(rt, next, old, opts);
      const allocation = subresource || !isService(rt) ? undefined : await this.allocate(next, old, opts);
      if (subresource === 'status') {
        rt.defaults?.(next);
        const causes = validateStatus(rt, next, old);
        if (causes.length) throw invalid(rt, name, causes);
      }
      recordManagedFields(rt, old, next, requestedFields, this.writer(opts, subresource));

      let lost: StoreWriteResult;
      if (next.metadata.deletionTimestamp && !(next.metadata.finalizers?.length) && old.metadata.finalizers?.length && !next.metadata.deletionGracePeriodSeconds) {
        // The last finalizer is gone: deletion that was waiting on it completes now (a pod still in
        // its grace period waits for its kubelet's final delete, as in Kubernetes).
        await allocation?.revert();
        if (opts.dryRun) return { object: this.dryRunResult(next), warnings };
        const removed = await this.store.delete(key, current.revision);
        if (removed.ok) {
          await this.released(rt, old);
          return { object: await this.committed(rt, removed.kv), warnings };
        }
        lost = removed;
      } else {
        const value = encode(next);
        if (sameStoredValue(value, storedValue(current))) {
          await allocation?.revert();
          return { object: current, warnings }; // no-op writes do not bump the version
        }
        if (opts.dryRun) return { object: this.dryRunResult(next), warnings };
        this.cache(rt).expectWrite(key, value, next);
        const written = await settle(allocation, this.store.update(key, value, current.revision));
        if (written.ok) return { object: await this.committed(rt, written.kv), warnings };
        lost = written;
      }
      if (lost.reason === 'notfound') throw notFound(rt, name);
      if (precondition || attempt >= MAX_CONFLICT_RETRIES) {
        throw conflict(rt, name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      current = this.winnerOf(rt, namespace, name, lost.current);
    }
  }

  /**
   * Deletes the Kubernetes way: objects with finalizers, and pods on a node
   * with a grace period, are only marked (deletionTimestamp) and go away
   * later; everything else is removed now.
   */
  async delete(rt: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    if (rt.kind === 'Namespace' && rt.group === '' && IMMORTAL_NAMESPACES.has(name)) {
      throw forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
    }
    const key = storageKey(rt, namespace, name);
    let current = this.get(rt, namespace, name);
    for (let attempt = 0; ; attempt++) {
      const obj = JSON.parse(current.json) as KubeObject;
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== obj.metadata.uid) {
        throw conflict(rt, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
        throw conflict(rt, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`);
      }

      const marked = this.markForDeletion(rt, obj, opts);
      if (marked === 'unchanged') return { object: current, removed: false };
      if (opts.dryRun) return { object: current, removed: marked === 'remove' };

      let lost: StoreWriteResult;
      if (marked === 'remove') {
        const removed = await this.store.delete(key, current.revision);
        if (removed.ok) {
          await this.released(rt, obj);
          return { object: await this.committed(rt, removed.kv), removed: true };
        }
        lost = removed;
      } else {
        const written = await this.store.update(key, encode(obj), current.revision);
        if (written.ok) return { object: await this.committed(rt, written.kv), removed: false };
        lost = written;
      }
      if (lost.reason === 'notfound') throw notFound(rt, name);
      if (attempt >= MAX_CONFLICT_RETRIES) throw conflict(rt, name, 'the object was modified while being deleted');
      current = this.winnerOf(rt, namespace, name, lost.current);
    }
  }

  /** POST pods/NAME/binding: assigns a pending pod to a node, once. */
  async bind(rt: ResourceType, namespace: string, name: string, binding: KubeObject): Promise<WriteResult> {
    const nodeName = binding.target?.name;
    if (!nodeName || typeof nodeName !== 'string') {
      throw invalid(rt, name, [{ field: 'target.name', reason: 'FieldValueRequired', message: 'Required value' }]);
    }
    if (binding.metadata?.name && binding.metadata.name !== name) {
      throw badRequest(`the name of the binding (${binding.metadata.name}) does not match the pod (${name})`);
    }
    return this.guaranteedUpdate(rt, namespace, name, binding.metadata?.resourceVersion, (pod) => {
      if (binding.metadata?.uid && binding.metadata.uid !== pod.metadata.uid) {
        throw conflict(rt, name, `Precondition failed: UID in precondition: ${binding.metadata.uid}, UID in object meta: ${pod.metadata.uid}`);
      }
      if (pod.metadata.deletionTimestamp) throw conflict(rt, name, 'pod is being deleted, cannot be assigned to a host');
      if (pod.spec.nodeName) throw conflict(rt, name, `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
      pod.spec.nodeName = nodeName;
      const status = (pod.status ??= {});
      const conditions = (status.conditions ??= []) as any[];
      const scheduled = { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: timestamp(this.now()) };
      const i = conditions.findIndex((c) => c.type === 'PodScheduled');
      if (i >= 0) conditions[i] = scheduled;
      else conditions.push(scheduled);
      return pod;
    }, {}, 'binding');
  }

  /**
   * The Priority admission plugin: a pod's spec.priority comes from its
   * priorityClassName (or the globalDefault PriorityClass), never from the
   * client. The built-in system classes are resolved by defaulting.
   */
  private admitPriority(pod: KubeObject): void {
    const pcType = lookupResource('scheduling.k8s.io', 'v1', 'priorityclasses')!;
    const spec = pod.spec;
    if (!spec || typeof spec !== 'object') return;
    const className: string | undefined = spec.priorityClassName || undefined;
    if (className?.startsWith('system-')) return;
    let pc: KubeObject | undefined;
    if (className) {
      pc = this.cache(pcType).get(storageKey(pcType, undefined, className))?.object;
      if (!pc) throw forbidden(`pods "${pod.metadata.name}" is forbidden: no PriorityClass with name ${className} was found`);
    } else {
      pc = this.cache(pcType).list().find((c) => c.object.globalDefault === true)?.object;
      if (!pc) return;
      spec.priorityClassName = pc.metadata.name;
    }
    if (spec.priority !== undefined && spec.priority !== pc.value) {
      throw forbidden(`pods "${pod.metadata.name}" is forbidden: the integer value of priority (${spec.priority}) must not be provided in pod spec; priority admission controller computed ${pc.value} from the given PriorityClass name`);
    }
    spec.priority = pc.value;
    spec.preemptionPolicy ??= pc.preemptionPolicy ?? 'PreemptLowerPriority';
  }

  /**
   * The allocating admission (Services' cluster IPs and node ports), after
   * validation: what it takes is held until the write settles.
   */
  private allocate(obj: KubeObject, old: KubeObject | undefined, opts: WriteOptions): Promise<Transaction> {
    return this.serviceAllocator.allocate(obj, old, opts.dryRun);
  }

  /** Frees what a removed object held. */
  private async released(rt: ResourceType, obj: KubeObject): Promise<void> {
    if (isService(rt)) await this.serviceAllocator.release(obj);
  }

  /** Rejects new objects in a namespace that is missing or being deleted (NamespaceLifecycle admission). */
  private checkNamespaceAcceptsContent(namespace: string): void {
    const nsType = resourceTypes.find((r) => r.kind === 'Namespace' && r.group === '')!;
    const ns = this.cache(nsType).get(storageKey(nsType, undefined, namespace));
    if (!ns) throw notFound(nsType, namespace);
    if (ns.object.metadata.deletionTimestamp || ns.object.status?.phase === 'Terminating') {
      throw forbidden(`unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  private checkTypeMeta(rt: ResourceType, obj: KubeObject): void {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw badRequest('the request body must be a JSON or YAML object');
    const apiVersion = rt.group ? `${rt.group}/${rt.version}` : rt.version;
    obj.apiVersion ||= apiVersion;
    obj.kind ||= rt.kind;
    if (obj.apiVersion !== apiVersion || obj.kind !== rt.kind) {
      throw badRequest(`the API version in the data (${obj.apiVersion}) and kind (${obj.kind}) do not match the endpoint: expected ${apiVersion} ${rt.kind}`);
    }
    if (obj.metadata !== undefined && (typeof obj.metadata !== 'object' || obj.metadata === null || Array.isArray(obj.metadata))) {
      throw invalid(rt, '', [{ field: 'metadata', message: 'Invalid value: metadata must be an object' }]);
    }
  }

  /** Per-kind state a new object starts in, as the Kubernetes strategies' PrepareForCreate. */
  private prepareForCreate(rt: ResourceType, obj: KubeObject): void {
    if (hasStatusSubresource(rt) && rt.kind !== 'Node') delete obj.status;
    if (rt.kind === 'Pod') obj.status = { phase: 'Pending', qosClass: qosClass(obj) };
    if (rt.kind === 'Namespace') obj.status = { phase: 'Active' };
  }

  /** Carries over what a client may not change on update, and bumps generation on spec changes. */
  private prepareForUpdate(rt: ResourceType, desired: KubeObject, old: KubeObject, subresource?: Subresource): KubeObject {
    if (!desired || typeof desired !== 'object' || Array.isArray(desired)) throw badRequest('the object must be a JSON object');
    let next: KubeObject;
    if (subresource === 'status') {
      // The status subresource changes status only; spec and metadata stay as they were.
      next = { ...old, status: desired.status };
    } else {
      next = desired;
      next.apiVersion = old.apiVersion;
      next.kind = old.kind;
      // A binding sets spec.nodeName and the PodScheduled condition together; other writes keep status.
      if (hasStatusSubresource(rt) && subresource !== 'binding') next.status = old.status;
    }
    const meta = (next.metadata ??= {});
    const oldMeta = old.metadata;
    meta.name = oldMeta.name;
    if (rt.namespaced) meta.namespace = oldMeta.namespace;
    else delete meta.namespace;
    // A uid in the body is a precondition (patches use it to never land on a recreated namesake),
    // through the status subresource too.
    const uid = desired.metadata?.uid;
    if (uid && uid !== oldMeta.uid) {
      throw conflict(rt, oldMeta.name!, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${oldMeta.uid}`);
    }
    meta.uid = oldMeta.uid;
    meta.creationTimestamp = oldMeta.creationTimestamp;
    delete meta.resourceVersion;
    // Once set, deletion cannot be undone or postponed by an update.
    if (oldMeta.deletionTimestamp) {
      meta.deletionTimestamp = oldMeta.deletionTimestamp;
      meta.deletionGracePeriodSeconds = oldMeta.deletionGracePeriodSeconds;
    } else {
      delete meta.deletionTimestamp;
      delete meta.deletionGracePeriodSeconds;
    }
    if (rt.hasGeneration) {
      meta.generation = oldMeta.generation ?? 1;
      if (subresource !== 'status' && !sameJson(specOf(next), specOf(old))) meta.generation += 1;
    } else {
      delete meta.generation;
    }
    if (oldMeta.deletionTimestamp && meta.finalizers) {
      // While terminating, finalizers may only be removed, never added.
      meta.finalizers = meta.finalizers.filter((f) => oldMeta.finalizers?.includes(f));
    }
    return next;
  }

  /** Defaulting then validation for a create or a spec update; returns warnings. */
  private admit(rt: ResourceType, obj: KubeObject, old: KubeObject | undefined, opts: WriteOptions): string[] {
    rt.defaults?.(obj);
    omitEmptyMetadata(obj);
    return this.checkValid(rt, obj, old, opts.fieldValidation ?? 'Warn', opts);
  }

  private checkValid(rt: ResourceType, obj: KubeObject, old: KubeObject | undefined, fieldValidation: FieldValidation, opts: WriteOptions = {}): string[] {
    // What the patch made, before validation prunes it: what a strict error on a patch shows.
    const patched = opts.patch && fieldValidation === 'Strict' ? JSON.stringify(obj) : undefined;
    const result = validateObject(rt, obj, old, fieldValidation);
    if (fieldValidation === 'Strict') {
      const errors = strictErrors(opts.decodeProblems, result.strictErrors, { patch: !!opts.patch, strict: true });
      if (errors.length) throw strictDecodingError(rt, errors, opts.patch && { value: opts.patch.value ?? patched! });
    }
    if (result.causes.length) throw invalid(rt, obj.metadata?.name ?? '', result.causes as StatusCause[]);
    if (fieldValidation === 'Warn') return strictErrors(opts.decodeProblems, result.warnings, { patch: !!opts.patch, strict: false });
    return result.warnings;
  }

  /**
   * Decides what a DELETE does to `obj` (mutating it when deletion is only
   * started): 'remove' now, 'mark' (write the marked object), or 'unchanged'
   * (already being deleted and nothing to shorten).
   */
  private markForDeletion(rt: ResourceType, obj: KubeObject, opts: DeleteOptions): 'remove' | 'mark' | 'unchanged' {
    const meta = obj.metadata;
    const now = this.now();
    let grace = 0;
    if (rt.kind === 'Pod') {
      const terminal = obj.status?.phase === 'Succeeded' || obj.status?.phase === 'Failed';
      // Kubernetes removes pods no kubelet is running at once; a bound pod waits for its node to stop it.
      grace = !obj.spec?.nodeName || terminal ? 0 : opts.gracePeriodSeconds ?? obj.spec?.terminationGracePeriodSeconds ?? 30;
      if (opts.gracePeriodSeconds === 0) grace = 0;
    }
    const before = meta.finalizers ?? [];
    const finalizers = propagationFinalizers(before, opts.propagationPolicy);
    const finalizersChanged = finalizers.length !== before.length || finalizers.some((f, i) => f !== before[i]);
    if (finalizersChanged) {
      if (finalizers.length) meta.finalizers = finalizers;
      else delete meta.finalizers;
    }
    const namespacePending = rt.kind === 'Namespace' && (obj.spec?.finalizers?.length ?? 0) > 0;

    if (!finalizers.length && !namespacePending && grace === 0) return 'remove';

    if (meta.deletionTimestamp) {
      // Already terminating: only a shorter grace period, or another propagation policy, changes anything.
      const current = meta.deletionGracePeriodSeconds ?? 0;
      if (grace >= current) return finalizersChanged ? 'mark' : 'unchanged';
      if (grace === 0 && !finalizers.length) return 'remove';
    }
    meta.deletionTimestamp = timestamp(new Date(now.getTime() + grace * 1000));
    meta.deletionGracePeriodSeconds = grace;
    if (rt.kind === 'Namespace') obj.status = { ...obj.status, phase: 'Terminating' };
    return 'mark';
  }

  /**
   * What to retry a lost compare-and-swap against: the value that won, as the
   * store reported it. The cache may not have seen that write yet (an engine
   * that acknowledges writes in batches), and retrying against the cache
   * would lose the same race again.
   */
  private winnerOf(rt: ResourceType, namespace: string | undefined, name: string, winner: KeyValue | undefined): CachedObject {
    if (!winner) return this.get(rt, namespace, name);
    const { object, json } = decode(winner.value, winner.revision);
    return { key: winner.key, object, json, revision: winner.revision };
  }

  /**
   * The object a write just committed, once the kind's watch cache has seen
   * the write, so the client's next read here (served from the cache) shows it.
   */
  private async committed(rt: ResourceType, kv: KeyValue): Promise<CachedObject> {
    await this.cache(rt).waitFor(kv.revision);
    return this.cached(rt, kv);
  }

  /**
   * The object a write just committed: the cache's copy when the cache is at
   * exactly that revision, else decoded from the written value (a deleted
   * object, or one that later writes, acknowledged together, have already
   * replaced). Never a newer version: a response shows what its write did.
   */
  private cached(rt: ResourceType, kv: KeyValue): CachedObject {
    const hit = this.cache(rt).get(kv.key);
    if (hit && hit.revision === kv.revision) return hit;
    const { object, json } = decode(kv.value, kv.revision);
    return { key: kv.key, object, json, revision: kv.revision };
  }

  /** Who a write is recorded under in managedFields; the scheduler's binding is not recorded, as in Kubernetes. */
  private writer(opts: WriteOptions, subresource: Subresource | undefined): WriteManager | undefined {
    if (subresource === 'binding') return undefined;
    return {
      manager: opts.fieldManager ?? DEFAULT_FIELD_MANAGER,
      subresource: subresource ?? opts.managerSubresource,
      applied: opts.applied,
      now: this.now(),
    };
  }

  private dryRunResult(obj: KubeObject): CachedObject {
    return { key: '', object: obj, json: JSON.stringify(obj), revision: 0 };
  }
}

/** Commits an admission's allocations when the write went through, reverts them when it did not. */
async function settle<T extends { ok: boolean }>(allocation: Transaction | undefined, write: Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await write;
  } catch (err) {
    await allocation?.revert();
    throw err;
  }
  if (result.ok) await allocation?.commit();
  else await allocation?.revert();
  return result;
}

/**
 * The garbage collector's finalizers a DELETE's propagationPolicy asks for,
 * as the Kubernetes generic registry adds them: Orphan keeps the object
 * (with `orphan`) until the collector has removed its ownerReference from
 * every dependent; Foreground keeps it (with `foregroundDeletion`) until the
 * collector has deleted the dependents that block it; Background asks for
 * neither (the object goes now, its dependents after). No policy leaves the
 * finalizers as they are: apps/v1 and core kinds default to Background.
 */
export function propagationFinalizers(finalizers: string[], policy: DeleteOptions['propagationPolicy']): string[] {
  if (policy === undefined) return finalizers;
  const rest = finalizers.filter((f) => f !== ORPHAN_FINALIZER && f !== FOREGROUND_FINALIZER);
  if (policy === 'Orphan') return [...rest, ORPHAN_FINALIZER];
  if (policy === 'Foreground') return [...rest, FOREGROUND_FINALIZER];
  return rest;
}

export const ORPHAN_FINALIZER = 'orphan';
export const FOREGROUND_FINALIZER = 'foregroundDeletion';

/** The QoS class Kubernetes derives from container requests and limits. */
export function qosClass(pod: KubeObject): string {
  const containers: any[] = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  let anySet = false;
  let guaranteed = true;
  for (const c of containers) {
    const requests = c?.resources?.requests ?? {};
    const limits = c?.resources?.limits ?? {};
    if (Object.keys(requests).length || Object.keys(limits).length) anySet = true;
    for (const r of ['cpu', 'memory']) {
      if (limits[r] === undefined) guaranteed = false;
      else if (requests[r] !== undefined && String(requests[r]) !== String(limits[r])) guaranteed = false;
    }
  }
  if (!anySet) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
