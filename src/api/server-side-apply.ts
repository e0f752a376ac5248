import { ApiError, badRequest, conflict } from '../apiserver/errors';
import {
  canonical, childSchema, compareObjects, decodeManagedFields, difference, encodeManagedFields, FieldPathError, fieldScope, fieldSetOf,
  hasMember, intersection, isAtomicMap, isEmpty, itemPathElement, jsonEqual, listType, managedFieldsTime, managerId,
  memberPaths, union, type FieldScope, type FieldSet, type ManagerSet,
} from './managed-fields';
import { hasOwn, isObject, setOwn } from './patch';
import type { JSONSchema } from './schemas';
import type { KubeObject } from './types';

/**
 * Server-side apply (`PATCH` with `application/apply-patch+yaml`), as
 * Kubernetes' structured-merge-diff does it. The body is an *applied
 * configuration*: a partial object holding exactly the fields its field
 * manager wants to own, with the values it wants them to have.
 *
 * - The configuration is merged into the live object: objects merge key by
 *   key, associative lists item by item on their keys (containers by name,
 *   ports by containerPort and protocol), sets by value; atomic values and
 *   scalars are replaced.
 * - The manager's Apply entry in `metadata.managedFields` becomes the set of
 *   fields the configuration sets. Fields it applied last time and no longer
 *   applies are removed from the object, unless another manager (applier or
 *   updater) owns them too.
 * - Changing a field another manager owns is a conflict (409, one
 *   `FieldManagerConflict` cause per field) unless `force`, which moves the
 *   field to the applier. Setting a field to the value it already has is not
 *   a conflict: both managers then own it.
 * - With manager `kubectl`, fields that `kubectl apply` (client-side) set
 *   with the value the last-applied annotation records do not conflict, and
 *   that annotation is kept up to date: the upgrade path from client-side
 *   apply, as Kubernetes' LastAppliedManager and LastAppliedUpdater do it.
 *
 * What Kubernetes does after the merge (defaulting, validation, the status
 * subresource split, the no-op check) is the storage layer's, as for any
 * write.
 */

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** The kind an apply is for. */
export interface ApplyKind {
  group: string;
  version: string;
  kind: string;
  plural: string;
  schema: JSONSchema;
  subresources: string[];
}

export interface ApplyOptions {
  manager: string;
  force: boolean;
  /** `status` when applied through the status subresource. */
  subresource?: string;
  /** The object name and namespace on the URL. */
  name: string;
  namespace?: string;
  now: Date;
}

/**
 * The object `config` applied to `live` (undefined: the object does not
 * exist yet) turns into, with its managedFields. Neither input is modified.
 *
 * @throws ApiError 400 for a configuration that is not an object of the
 *   endpoint's kind and version, that names another object, carries
 *   managedFields, has a field the schema does not declare or a list item
 *   without its keys; 409 Conflict for fields other managers own.
 */
export function applyConfiguration(kind: ApplyKind, live: KubeObject | undefined, config: unknown, opts: ApplyOptions): KubeObject {
  const apiVersion = kind.group ? `${kind.group}/${kind.version}` : kind.version;
  const applied = checkConfiguration(kind, apiVersion, config);
  const scope = fieldScope(kind.subresources.includes('status'), opts.subresource);
  const base: Record<string, unknown> = live ?? {};

  const managers = decodeManagedFields(live?.metadata?.managedFields, true) ?? new Map<string, ManagerSet>();
  const self = { manager: opts.manager, operation: 'Apply' as const, apiVersion, subresource: opts.subresource };
  const id = managerId(self);
  const previous = managers.get(id);
  // In structured-merge-diff's order, so the entry is the same whatever order the manifest lists its fields in.
  const set = canonical(fieldSetOf(applied, kind.schema, scope));

  let merged: Record<string, unknown>;
  try {
    merged = mergeValue(base, applied, kind.schema) as Record<string, unknown>;
    if (previous && !isEmpty(previous.set)) {
      const owned = [...managers.values()].reduce((all, m) => (m === previous ? all : union(all, m.set)), set);
      merged = pruneObject(merged, kind.schema, previous.set, owned, false);
    }
  } catch (err) {
    if (err instanceof FieldPathError) throw badRequest(`failed to apply the configuration to ${kind.plural} "${opts.name}": ${err.message}`);
    throw err;
  }
  const name = (merged.metadata as KubeObject['metadata'] | undefined)?.name;
  if (name !== opts.name) {
    throw badRequest(name
      ? `the name of the object (${name}) does not match the name on the URL (${opts.name})`
      : `the name of the object (${opts.name} based on URL) was undeterminable: name must be provided`);
  }
  const namespace = (merged.metadata as KubeObject['metadata'] | undefined)?.namespace;
  if (namespace && opts.namespace && namespace !== opts.namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  if (!live && applied.metadata && (applied.metadata as KubeObject['metadata']).uid) {
    throw conflict(kind, opts.name, `uid mismatch: the provided object specified uid ${(applied.metadata as KubeObject['metadata']).uid}, and no existing object was found`);
  }

  managers.delete(id);
  if (managers.size) takeOwnership(kind, live, base, merged, managers, opts, apiVersion, scope);

  const changed = !live || !jsonEqual(base, merged);
  if (previous && !changed && jsonEqual(previous.set, set)) managers.set(id, previous);
  else if (!isEmpty(set)) managers.set(id, { ...self, set, time: changed ? managedFieldsTime(opts.now) : previous?.time });

  const result = merged as KubeObject;
  const metadata = { ...(result.metadata ?? {}) };
  result.metadata = metadata;
  if (opts.manager === 'kubectl' && metadata.annotations?.[LAST_APPLIED_ANNOTATION]) {
    metadata.annotations = { ...metadata.annotations, [LAST_APPLIED_ANNOTATION]: lastAppliedOf(applied) };
  }
  const entries = encodeManagedFields(managers);
  if (entries) metadata.managedFields = entries;
  else delete metadata.managedFields;
  return result;
}

function checkConfiguration(kind: ApplyKind, apiVersion: string, config: unknown): Record<string, unknown> {
  if (!isObject(config)) throw badRequest('the apply configuration must be a YAML or JSON object');
  if (config.apiVersion !== apiVersion) {
    throw badRequest(`Incorrect version specified in apply patch. Specified patch version: ${typeof config.apiVersion === 'string' ? config.apiVersion : ''}, expected: ${apiVersion}`);
  }
  if (config.kind !== kind.kind) {
    throw badRequest(`the kind of the apply configuration (${typeof config.kind === 'string' ? config.kind : ''}) does not match the endpoint: expected ${kind.kind}`);
  }
  if (config.metadata !== undefined && config.metadata !== null && !isObject(config.metadata)) throw badRequest('metadata must be an object');
  if (isObject(config.metadata) && hasOwn(config.metadata, 'managedFields') && config.metadata.managedFields !== null) {
    throw badRequest('metadata.managedFields must be nil');
  }
  return config;
}

/**
 * The conflict check and ownership moves of an apply (structured-merge-diff's
 * `update` with the applier as the workflow): fields the apply added or
 * changed leave every other manager (a conflict unless forced), fields it
 * removed leave every manager.
 */
function takeOwnership(
  kind: ApplyKind, live: KubeObject | undefined, base: Record<string, unknown>, merged: Record<string, unknown>,
  managers: Map<string, ManagerSet>, opts: ApplyOptions, apiVersion: string, scope: FieldScope,
): void {
  const { changed, removed } = compareObjects(base, merged, kind.schema, scope);
  if (isEmpty(changed) && isEmpty(removed)) return;
  const conflicts: Array<[ManagerSet, FieldSet]> = [];
  for (const m of managers.values()) {
    const overlap = intersection(m.set, changed);
    if (!isEmpty(overlap)) conflicts.push([m, overlap]);
  }
  if (conflicts.length && !opts.force) {
    const allowed = opts.manager === 'kubectl' ? allowedByLastApplied(kind, live, apiVersion, scope) : undefined;
    const remaining = conflicts.map(([m, s]): [ManagerSet, FieldSet] => [m, allowed ? difference(s, allowed) : s]).filter(([, s]) => !isEmpty(s));
    if (remaining.length) throw conflictError(remaining);
  }
  for (const [id, m] of managers) {
    const set = difference(difference(m.set, changed), removed);
    if (set === m.set) continue;
    if (isEmpty(set)) managers.delete(id);
    else managers.set(id, { ...m, set, entry: undefined });
  }
}

/**
 * The fields of the last-applied annotation that still hold the value it
 * records: what client-side `kubectl apply` owns in effect, so moving to
 * server-side apply under the same manager name does not conflict on them.
 */
function allowedByLastApplied(kind: ApplyKind, live: KubeObject | undefined, apiVersion: string, scope: FieldScope): FieldSet | undefined {
  const raw = live?.metadata?.annotations?.[LAST_APPLIED_ANNOTATION];
  if (typeof raw !== 'string' || !raw) return undefined;
  try {
    const last = JSON.parse(raw);
    if (!isObject(last) || last.apiVersion !== apiVersion) return undefined;
    const set = fieldSetOf(last, kind.schema, scope);
    const { changed, removed } = compareObjects(last, live as unknown as Record<string, unknown>, kind.schema, scope);
    return difference(difference(set, changed), removed);
  } catch {
    return undefined;
  }
}

/** The configuration as the last-applied annotation records it: itself, without that annotation. */
function lastAppliedOf(applied: Record<string, unknown>): string {
  const copy = { ...applied };
  if (isObject(copy.metadata) && isObject(copy.metadata.annotations)) {
    const annotations = { ...copy.metadata.annotations };
    delete annotations[LAST_APPLIED_ANNOTATION];
    copy.metadata = { ...copy.metadata, annotations };
    if (!Object.keys(annotations).length) delete (copy.metadata as Record<string, unknown>).annotations;
  }
  return JSON.stringify(copy);
}

/** How Kubernetes prints a manager in a conflict: `"name"`, `with subresource "status"`, `using apps/v1` for updaters. */
function printManager(m: ManagerSet): string {
  let out = JSON.stringify(m.manager);
  if (m.subresource) out += ` with subresource ${JSON.stringify(m.subresource)}`;
  if (m.operation === 'Update') out += ` using ${m.apiVersion}`;
  return out;
}

function conflictError(conflicts: Array<[ManagerSet, FieldSet]>): ApiError {
  conflicts.sort(([a], [b]) => (a.manager < b.manager ? -1 : a.manager > b.manager ? 1 : a.operation < b.operation ? -1 : a.operation > b.operation ? 1 : 0));
  const listed = conflicts.map(([m, set]) => ({ manager: printManager(m), paths: memberPaths(set) }));
  const causes = listed.flatMap(({ manager, paths }) => paths.map((field) => ({ reason: 'FieldManagerConflict', message: `conflict with ${manager}`, field })));
  let message: string;
  if (causes.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${listed[0].manager}: ${causes[0].field}`;
  } else {
    const lines = listed.flatMap(({ manager, paths }) => [`conflicts with ${manager}:`, ...paths.map((p) => `- ${p}`)]);
    message = `Apply failed with ${causes.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError(409, 'Conflict', message, { causes });
}

// ---------------------------------------------------------------------------
// Merging. Results share unchanged subtrees with the live object and never
// share anything with the configuration.

function mergeValue(lhs: unknown, rhs: unknown, schema: JSONSchema | undefined): unknown {
  if (Array.isArray(rhs)) {
    const type = listType(schema);
    if (!Array.isArray(lhs) || type === 'atomic' || (lhs.length === 0 && rhs.length === 0)) return withoutNulls(rhs);
    return mergeList(lhs, rhs, schema, type);
  }
  if (isObject(rhs)) {
    if (!isObject(lhs) || isAtomicMap(schema) || (isEmptyObject(lhs) && isEmptyObject(rhs))) return withoutNulls(rhs);
    const out: Record<string, unknown> = { ...lhs };
    for (const key of Object.keys(rhs)) {
      const value = rhs[key];
      // A null sets the field to nothing (Go decodes it to the zero value): the field goes, owned by the applier.
      if (value === null) delete out[key];
      else setOwn(out, key, mergeValue(hasOwn(lhs, key) ? lhs[key] : undefined, value, childSchema(schema, key)));
    }
    return out;
  }
  return rhs;
}

/**
 * Merges two associative lists (or sets) as structured-merge-diff does: the
 * live order is kept, items only the configuration has are placed after
 * the configuration's item before them, and items in both take the
 * configuration's relative order.
 */
function mergeList(lhs: unknown[], rhs: unknown[], schema: JSONSchema | undefined, type: 'map' | 'set'): unknown[] {
  const itemSchema = type === 'map' ? schema?.items : undefined;
  const lPEs = lhs.map((item) => itemPathElement(item, schema, type));
  const rPEs = rhs.map((item) => itemPathElement(item, schema, type));
  const lByPE = new Map<string, unknown>();
  lPEs.forEach((pe, i) => !lByPE.has(pe) && lByPE.set(pe, lhs[i]));
  const rByPE = new Map<string, unknown>();
  rPEs.forEach((pe, i) => rByPE.set(pe, rhs[i]));
  const shared = rPEs.filter((pe) => lByPE.has(pe));
  let next = 0;
  const merged = new Set<string>();
  const out: unknown[] = [];
  const mergeItem = (pe: string) => {
    merged.add(pe);
    out.push(lByPE.has(pe) ? mergeValue(lByPE.get(pe), rByPE.get(pe), itemSchema) : withoutNulls(rByPE.get(pe)));
    if (shared[next] === pe) next++;
  };
  let l = 0;
  let r = 0;
  while (l < lPEs.length || r < rPEs.length) {
    if (l < lPEs.length && r < rPEs.length) {
      const pe = lPEs[l];
      if (pe === rPEs[r]) {
        mergeItem(pe);
        l++;
        r++;
        continue;
      }
      // A shared item the configuration wants later: it is placed when the configuration reaches it.
      if (rByPE.has(pe) && next < shared.length && shared[next] !== pe) {
        l++;
        continue;
      }
    }
    if (l < lPEs.length) {
      const pe = lPEs[l];
      if (!rByPE.has(pe)) {
        out.push(lhs[l]);
        l++;
        continue;
      }
      if (merged.has(pe)) {
        l++;
        continue;
      }
    }
    if (r < rPEs.length) {
      mergeItem(rPEs[r]);
      r++;
    }
  }
  return out;
}

/** A copy of a configuration value without its null fields (they set nothing). */
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) if (v[key] !== null) setOwn(out, key, withoutNulls(v[key]));
  return out;
}

function isEmptyObject(o: Record<string, unknown>): boolean {
  for (const _ in o) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Pruning

/**
 * Removes what the applier applied last time (`last`) and no longer does,
 * unless some manager still owns it (`owned`: every manager's set, the
 * applier's new one included), as structured-merge-diff's prune with its
 * add-back passes: an element in `last` that nobody owns goes with
 * everything under it; one that is owned stays, and the same rule applies
 * inside it. Struct fields count as owned by whoever owns anything in them.
 * Copy-on-write: unchanged subtrees are returned as they are.
 */
function pruneObject(obj: Record<string, unknown>, schema: JSONSchema | undefined, last: FieldSet, owned: FieldSet | undefined, inLast: boolean): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(obj)) {
    const pe = `f:${key}`;
    const lastChild = hasOwn(last, pe) ? last[pe] : undefined;
    if (!lastChild) continue;
    const named = !!schema?.properties && hasOwn(schema.properties, key);
    const ownedChild = owned && hasOwn(owned, pe) ? owned[pe] : undefined;
    const keep = pruneDecision(obj[key], childSchema(schema, key), pe, named, last, lastChild, owned, ownedChild, inLast);
    if (keep === obj[key]) continue;
    out ??= { ...obj };
    if (keep === REMOVE) delete out[key];
    else setOwn(out, key, keep);
  }
  return out ?? obj;
}

const REMOVE = Symbol('remove');

function pruneDecision(
  value: unknown, schema: JSONSchema | undefined, pe: string, named: boolean,
  last: FieldSet, lastChild: FieldSet, owned: FieldSet | undefined, ownedChild: FieldSet | undefined, inLast: boolean,
): unknown {
  const appliedLast = hasMember(last, pe, named);
  if (inLast || appliedLast) {
    if (!hasMember(owned, pe, named) && appliedLast) return REMOVE;
    return pruneValue(value, schema, lastChild, ownedChild, true);
  }
  return pruneValue(value, schema, lastChild, ownedChild, false);
}

function pruneValue(value: unknown, schema: JSONSchema | undefined, last: FieldSet, owned: FieldSet | undefined, inLast: boolean): unknown {
  if (isEmpty(last)) return value;
  if (Array.isArray(value)) {
    const type = listType(schema);
    if (type === 'atomic') return value;
    let changed = false;
    const out: unknown[] = [];
    for (const item of value) {
      const pe = itemPathElement(item, schema, type);
      const lastChild = hasOwn(last, pe) ? last[pe] : undefined;
      const keep = lastChild
        ? pruneDecision(item, type === 'map' ? schema?.items : undefined, pe, false, last, lastChild, owned, owned && hasOwn(owned, pe) ? owned[pe] : undefined, inLast)
        : item;
      if (keep !== item) changed = true;
      if (keep !== REMOVE) out.push(keep);
    }
    return changed ? out : value;
  }
  if (isObject(value) && !isAtomicMap(schema)) return pruneObject(value, schema, last, owned, inLast);
  return value;
}
