import { badRequest } from '../apiserver/errors';
import { hasOwn, isObject } from './patch';
import { definitionNameOf, type JSONSchema } from './schemas';
import type { KubeObject } from './types';

/**
 * Field ownership (`metadata.managedFields`), as Kubernetes tracks it with
 * structured-merge-diff: every write records which fields its manager set,
 * per manager, so that server-side apply can tell who owns what.
 *
 * A set of fields is kept in the form `fieldsV1` stores it: a JSON object
 * whose keys are path elements and whose values are the sets under them.
 * - `f:<name>`: a field of an object (struct field or map key);
 * - `k:{"name":"web"}`: the item of an associative list with those keys
 *   (`x-kubernetes-list-type: map` and its `x-kubernetes-list-map-keys`);
 * - `v:"value"`: the item of a set (`x-kubernetes-list-type: set`);
 * - `.`: the element holding it is itself in the set (written only when it
 *   also has children; an element whose set is `{}` is in the set).
 * Everything else (scalars, atomic lists and maps) is a leaf: owned whole.
 * Sets are stored with their elements in the order they were built:
 * fieldsV1 is a set, and kubectl and client-go read it as one (`canonical`
 * gives structured-merge-diff's order, for where a set is shown).
 *
 * The shape of values comes from the kind's OpenAPI schema in `schemas.ts`.
 * A list without `x-kubernetes-list-type` is atomic unless it carries a
 * strategic merge `x-kubernetes-patch-strategy: merge` (then it is keyed by
 * its merge key, as kube-openapi converts Go types); an object is granular
 * unless `x-kubernetes-map-type: atomic`. Values the schema does not
 * describe (preserved unknown fields) are treated as structured-merge-diff's
 * deduced type: objects granular, lists atomic.
 */

/** A set of fields in the `fieldsV1` form. */
export type FieldSet = { [pathElement: string]: FieldSet };

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update';
  apiVersion?: string;
  time?: string;
  fieldsType?: 'FieldsV1';
  fieldsV1?: FieldSet;
  subresource?: string;
}

/** What Kubernetes caps Update entries at; older ones merge into one `ancient-changes` entry per apiVersion. */
export const MAX_UPDATE_MANAGERS = 10;
const ANCIENT_CHANGES = 'ancient-changes';
const FIELD_MANAGER_MAX_LENGTH = 128;

// ---------------------------------------------------------------------------
// Schema shapes

/** Marks a field an object's schema does not declare. */
const UNDECLARED: JSONSchema = Object.freeze({});

/** The schema of `key` in an object, undefined when the object is untyped, UNDECLARED when it has no such field. */
function fieldSchema(schema: JSONSchema | undefined, key: string): JSONSchema | undefined {
  if (!schema) return undefined;
  const props = schema.properties;
  if (props && hasOwn(props, key)) return props[key];
  const additional = schema.additionalProperties;
  if (isObject(additional)) return additional as JSONSchema;
  if (additional === true || schema['x-kubernetes-preserve-unknown-fields']) return undefined;
  return props ? UNDECLARED : undefined;
}

/** Whether `key` is a declared field of a struct, as opposed to a key of a map. */
function isNamedField(schema: JSONSchema | undefined, key: string): boolean {
  return !!schema?.properties && hasOwn(schema.properties, key);
}

/** The schema of `key` in an object for merging: undefined when untyped or undeclared. */
export function childSchema(schema: JSONSchema | undefined, key: string): JSONSchema | undefined {
  const sub = fieldSchema(schema, key);
  return sub === UNDECLARED ? undefined : sub;
}

export type ListType = 'atomic' | 'map' | 'set';

export function listType(schema: JSONSchema | undefined): ListType {
  const declared = schema?.['x-kubernetes-list-type'];
  if (declared === 'map' || declared === 'set' || declared === 'atomic') return declared;
  const strategy = schema?.['x-kubernetes-patch-strategy'];
  if (typeof strategy === 'string' && strategy.split(',').includes('merge')) {
    return typeof schema?.['x-kubernetes-patch-merge-key'] === 'string' ? 'map' : 'set';
  }
  return 'atomic';
}

function listKeys(schema: JSONSchema | undefined): string[] {
  const keys = schema?.['x-kubernetes-list-map-keys'];
  if (Array.isArray(keys)) return keys;
  const mergeKey = schema?.['x-kubernetes-patch-merge-key'];
  return typeof mergeKey === 'string' ? [mergeKey] : [];
}

export function isAtomicMap(schema: JSONSchema | undefined): boolean {
  return schema?.['x-kubernetes-map-type'] === 'atomic';
}

/** Thrown for values that cannot be given a path (an item without its keys); callers decide what it means. */
export class FieldPathError extends Error {}

/**
 * The path element of a list item: `k:{...}` by the list's map keys (in
 * name order, a missing key taking its schema default), `v:<json>` for a
 * set.
 */
export function itemPathElement(item: unknown, schema: JSONSchema | undefined, type: ListType): string {
  if (type === 'set') return `v:${JSON.stringify(item)}`;
  if (!isObject(item)) throw new FieldPathError('associative list with keys may not have non-map elements');
  const keys = listKeys(schema);
  if (keys.length === 1) return `k:{${keyField(item, schema, keys[0])}}`;
  const sorted = [...keys].sort();
  let out = 'k:{';
  for (let i = 0; i < sorted.length; i++) out += (i ? ',' : '') + keyField(item, schema, sorted[i]);
  return `${out}}`;
}

/** `"name":"web"`: one key of a list item, a missing one taking its schema default. */
function keyField(item: Record<string, unknown>, schema: JSONSchema | undefined, key: string): string {
  let v = hasOwn(item, key) ? item[key] : undefined;
  if (v === undefined || v === null) v = schema?.items?.properties?.[key]?.default;
  if (v === undefined || v === null) {
    throw new FieldPathError(`associative list with keys has an element that omits key field ${JSON.stringify(key)} (and doesn't have default value)`);
  }
  return `${JSON.stringify(key)}:${JSON.stringify(v)}`;
}

// ---------------------------------------------------------------------------
// Set operations. Sets are never modified once built; results may share
// subtrees with their inputs.

function isMember(node: FieldSet): boolean {
  return hasOwn(node, '.') || isEmptyObject(node);
}

function hasChildren(node: FieldSet): boolean {
  for (const k in node) if (k !== '.') return true;
  return false;
}

/** The element holding `children`, a member or not; undefined when it holds nothing. Reuses `children` when it can. */
function node(member: boolean, children: FieldSet): FieldSet | undefined {
  if (!hasChildren(children)) return member ? (isEmptyObject(children) ? children : {}) : undefined;
  const dotted = hasOwn(children, '.');
  if (member) return dotted ? children : { '.': {}, ...children };
  return dotted ? copyChildren(children) : children;
}

/** The union of two sets (the children of two elements). */
export function union(a: FieldSet, b: FieldSet): FieldSet {
  if (!hasChildren(b)) return a;
  if (!hasChildren(a)) return b;
  const out: FieldSet = {};
  for (const k in a) if (k !== '.') out[k] = a[k];
  for (const k in b) {
    if (k === '.') continue;
    const na = out[k];
    const nb = b[k];
    out[k] = na === undefined ? nb : node(isMember(na) || isMember(nb), union(na, nb))!;
  }
  return out;
}

/** `a` without the members of `b` (children of `a` stay unless `b` has them as members too). */
export function difference(a: FieldSet, b: FieldSet): FieldSet {
  let out: FieldSet | undefined;
  for (const k in b) {
    if (k === '.') continue;
    const na = hasOwn(a, k) ? a[k] : undefined;
    if (na === undefined) continue;
    const nb = b[k];
    const next = node(isMember(na) && !isMember(nb), difference(na, nb));
    if (next === na) continue;
    out ??= copyChildren(a);
    if (next === undefined) delete out[k];
    else out[k] = next;
  }
  return out ?? a;
}

/** `a` without the members of `b` and everything under them. */
export function recursiveDifference(a: FieldSet, b: FieldSet): FieldSet {
  let out: FieldSet | undefined;
  for (const k in b) {
    if (k === '.') continue;
    const na = hasOwn(a, k) ? a[k] : undefined;
    if (na === undefined) continue;
    const nb = b[k];
    const next = isMember(nb) ? undefined : node(isMember(na), recursiveDifference(na, nb));
    if (next === na) continue;
    out ??= copyChildren(a);
    if (next === undefined) delete out[k];
    else out[k] = next;
  }
  return out ?? a;
}

export function intersection(a: FieldSet, b: FieldSet): FieldSet {
  const out: FieldSet = {};
  for (const k in a) {
    if (k === '.' || !hasOwn(b, k)) continue;
    const na = a[k];
    const nb = b[k];
    const next = node(isMember(na) && isMember(nb), intersection(na, nb));
    if (next) out[k] = next;
  }
  return out;
}

export function isEmpty(set: FieldSet): boolean {
  return !hasChildren(set);
}

function copyChildren(set: FieldSet): FieldSet {
  const out: FieldSet = {};
  for (const k in set) if (k !== '.') out[k] = set[k];
  return out;
}

/** Whether `set` has `pe` as a member; `named` counts a struct field with anything under it too. */
export function hasMember(set: FieldSet | undefined, pe: string, named = false): boolean {
  const n = set && hasOwn(set, pe) ? set[pe] : undefined;
  if (!n) return false;
  return isMember(n) || (named && hasChildren(n));
}

// ---------------------------------------------------------------------------
// Ordering and paths

const RANK: Record<string, number> = { f: 1, k: 2, v: 3, i: 4 };

/** structured-merge-diff's PathElement order: fields, then keys, values, indexes. */
function comparePathElements(a: string, b: string): number {
  if (a[0] === 'f' && b[0] === 'f') return compareStrings(a, b);
  const ra = RANK[a[0]] ?? 5;
  const rb = RANK[b[0]] ?? 5;
  if (ra !== rb) return ra - rb;
  const sa = a.slice(2);
  const sb = b.slice(2);
  switch (a[0]) {
    case 'k': {
      const ka = Object.entries(parseJson(sa) as Record<string, unknown>);
      const kb = Object.entries(parseJson(sb) as Record<string, unknown>);
      for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
        if (i >= ka.length) return -1;
        if (i >= kb.length) return 1;
        const c = compareStrings(ka[i][0], kb[i][0]) || compareValues(ka[i][1], kb[i][1]);
        if (c) return c;
      }
      return 0;
    }
    case 'v':
      return compareValues(parseJson(sa), parseJson(sb));
    case 'i':
      return Number(sa) - Number(sb);
    default:
      return compareStrings(sa, sb);
  }
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** value.Compare: numbers, then strings, booleans, lists, maps, null. */
function compareValues(a: unknown, b: unknown): number {
  const ra = valueRank(a);
  const rb = valueRank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'number') return (a as number) - (b as number);
  if (typeof a === 'string') return compareStrings(a, b as string);
  if (typeof a === 'boolean') return Number(a) - Number(b);
  return compareStrings(JSON.stringify(a), JSON.stringify(b));
}

function valueRank(v: unknown): number {
  if (typeof v === 'number') return 0;
  if (typeof v === 'string') return 1;
  if (typeof v === 'boolean') return 2;
  if (Array.isArray(v)) return 3;
  if (v !== null && typeof v === 'object') return 4;
  return 5;
}

/** A set with its elements in structured-merge-diff's order (as Kubernetes writes fieldsV1), `.` first. */
export function canonical(set: FieldSet): FieldSet {
  const children = Object.keys(set).filter((k) => k !== '.').sort(comparePathElements);
  const out: FieldSet = {};
  if (hasOwn(set, '.') && children.length) out['.'] = {};
  for (const k of children) out[k] = canonical(set[k]);
  return out;
}

/** A path element as Kubernetes prints it in a conflict: `.name`, `[name="web"]`, `[="x"]`, `[0]`. */
function printPathElement(pe: string): string {
  const body = pe.slice(2);
  switch (pe[0]) {
    case 'f':
      return `.${body}`;
    case 'k': {
      const key = parseJson(body);
      if (!isObject(key)) return `[${body}]`;
      return `[${Object.entries(key).map(([k, v]) => `${k}=${printValue(v)}`).join(',')}]`;
    }
    case 'v':
      return `[=${printValue(parseJson(body))}]`;
    case 'i':
      return `[${body}]`;
    default:
      return pe;
  }
}

function printValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Every member of a set as a printed path, in structured-merge-diff's iteration order. */
export function memberPaths(set: FieldSet, prefix = ''): string[] {
  const sorted = canonical(set);
  const out: string[] = [];
  for (const k in sorted) if (k !== '.' && isMember(sorted[k])) out.push(prefix + printPathElement(k));
  for (const k in sorted) if (k !== '.' && hasChildren(sorted[k])) out.push(...memberPaths(sorted[k], prefix + printPathElement(k)));
  return out;
}

// ---------------------------------------------------------------------------
// Values to sets

/** The fields server-side apply never tracks (StripMetaManager). */
const STRIPPED_METADATA = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'selfLink', 'managedFields', 'clusterName']);

/**
 * Which top-level fields a write may own. A kind with a status subresource
 * splits them, as Kubernetes' reset fields do: the main resource never owns
 * `status`, the status subresource owns nothing else.
 */
export type FieldScope = (topLevelField: string) => boolean;

export function fieldScope(hasStatusSubresource: boolean, subresource: string | undefined): FieldScope {
  if (subresource === 'status') return (f) => f === 'status';
  if (hasStatusSubresource) return (f) => f !== 'status' && f !== 'apiVersion' && f !== 'kind';
  return (f) => f !== 'apiVersion' && f !== 'kind';
}

function trackedChild(depth: number, parentKey: string | undefined, key: string, scope: FieldScope | undefined): boolean {
  if (depth === 0) return scope ? scope(key) : key !== 'apiVersion' && key !== 'kind';
  if (depth === 1 && parentKey === 'metadata') return !STRIPPED_METADATA.has(key);
  return true;
}

/**
 * The set of fields a value (an applied configuration) sets, as
 * structured-merge-diff's ToFieldSet: scalars, atomic values, empty
 * objects and nulls are members; map keys and list items are members with
 * their contents; struct fields are not members themselves. Fields outside
 * `scope`, and the metadata Kubernetes strips, are left out.
 *
 * @throws ApiError 400 for a field the schema does not declare, and for a
 *   list item without its keys or repeating another's keys.
 */
export function fieldSetOf(obj: Record<string, unknown>, schema: JSONSchema, scope?: FieldScope): FieldSet {
  const out: FieldSet = {};
  objectFieldSet(obj, schema, out, '', 0, undefined, scope);
  return out;
}

function objectFieldSet(obj: Record<string, unknown>, schema: JSONSchema | undefined, out: FieldSet, path: string, depth: number, parentKey: string | undefined, scope?: FieldScope): void {
  for (const key of Object.keys(obj)) {
    if (!trackedChild(depth, parentKey, key, scope)) continue;
    const sub = fieldSchema(schema, key);
    const at = `${path}.${key}`;
    if (sub === UNDECLARED) throw badRequest(`${at}: field not declared in schema`);
    const child = valueFieldSet(obj[key], sub, at, depth + 1, key, !isNamedField(schema, key));
    if (child) out[fieldPathElement(key)] = child;
  }
}

/** The set under one element holding `v`; undefined when it sets nothing. */
function valueFieldSet(v: unknown, schema: JSONSchema | undefined, path: string, depth: number, key: string | undefined, member: boolean): FieldSet | undefined {
  if (Array.isArray(v)) {
    const type = listType(schema);
    if (type === 'atomic') return {};
    const items: FieldSet = {};
    v.forEach((item, i) => {
      let pe: string;
      try {
        pe = itemPathElement(item, schema, type);
      } catch (err) {
        if (err instanceof FieldPathError) throw badRequest(`${path}: element ${i}: ${err.message}`);
        throw err;
      }
      if (hasOwn(items, pe)) throw badRequest(`${path}: duplicate entries for key ${printPathElement(pe)}`);
      items[pe] = (type === 'map' && isObject(item) && valueFieldSet(item, schema?.items, `${path}[${i}]`, depth + 1, undefined, true)) || {};
    });
    return hasChildren(items) ? items : undefined;
  }
  if (isObject(v)) {
    if (isAtomicMap(schema) || Object.keys(v).length === 0) return {};
    const children: FieldSet = {};
    objectFieldSet(v, schema, children, path, depth, key, undefined);
    return node(member, children) ?? (member ? {} : undefined);
  }
  return {};
}

/** What one write changed: the fields it set or changed, and the fields it removed. */
export interface Comparison {
  changed: FieldSet;
  removed: FieldSet;
}

/**
 * Compares two versions of an object, as structured-merge-diff's Compare:
 * leaves that were added or changed, and leaves that were removed. An
 * element that appears or disappears (a map, a list item) is itself a
 * member of the `changed` or `removed` set, with its contents.
 *
 * @throws FieldPathError when a list item has no keys.
 */
export function compareObjects(lhs: Record<string, unknown>, rhs: Record<string, unknown>, schema: JSONSchema, scope?: FieldScope): Comparison {
  const out: Comparison = { changed: {}, removed: {} };
  compareObjectFields(lhs, rhs, schema, out, 0, undefined, scope);
  return out;
}

function compareObjectFields(
  lhs: Record<string, unknown> | undefined, rhs: Record<string, unknown> | undefined, schema: JSONSchema | undefined,
  out: Comparison, depth: number, parentKey: string | undefined, scope?: FieldScope,
): void {
  if (lhs) {
    for (const key in lhs) {
      if (!trackedChild(depth, parentKey, key, scope)) continue;
      const r = rhs && hasOwn(rhs, key) ? rhs[key] : undefined;
      compareValue(lhs[key], r, fieldSchema(schema, key), out, fieldPathElement(key), depth + 1, key);
    }
  }
  if (rhs) {
    for (const key in rhs) {
      if (lhs && hasOwn(lhs, key)) continue;
      if (!trackedChild(depth, parentKey, key, scope)) continue;
      compareValue(undefined, rhs[key], fieldSchema(schema, key), out, fieldPathElement(key), depth + 1, key);
    }
  }
}

function compareValue(lhs: unknown, rhs: unknown, schema: JSONSchema | undefined, out: Comparison, pe: string, depth: number, key: string | undefined): void {
  if (lhs === rhs || schema === UNDECLARED) return;
  // A null is there, and empty: a list or map compared with it is visited item by item, and is not added or removed itself.
  const lArray = Array.isArray(lhs);
  const rArray = Array.isArray(rhs);
  const lAbsent = lhs === undefined || lhs === null;
  const rAbsent = rhs === undefined || rhs === null;
  if ((lArray || rArray) && (lArray || lAbsent) && (rArray || rAbsent)) {
    const type = listType(schema);
    const l = lArray ? (lhs as unknown[]) : [];
    const r = rArray ? (rhs as unknown[]) : [];
    if (type !== 'atomic' && (l.length || r.length)) {
      const sub: Comparison = { changed: {}, removed: {} };
      compareListItems(l, r, schema, type, sub, depth);
      record(out, pe, sub, lhs === undefined, rhs === undefined);
      return;
    }
  } else {
    const lObject = isObject(lhs);
    const rObject = isObject(rhs);
    if ((lObject || rObject) && (lObject || lAbsent) && (rObject || rAbsent)) {
      const l = lObject ? (lhs as Record<string, unknown>) : undefined;
      const r = rObject ? (rhs as Record<string, unknown>) : undefined;
      if (!isAtomicMap(schema) && !((!l || isEmptyObject(l)) && (!r || isEmptyObject(r)))) {
        const sub: Comparison = { changed: {}, removed: {} };
        compareObjectFields(l, r, schema, sub, depth, key);
        record(out, pe, sub, lhs === undefined, rhs === undefined);
        return;
      }
    }
  }
  // A leaf: a scalar, an atomic value, or an empty or null map or list.
  if (lhs === undefined) out.changed[pe] = {};
  else if (rhs === undefined) out.removed[pe] = {};
  else if (!jsonEqual(lhs, rhs)) out.changed[pe] = {};
}

function record(out: Comparison, pe: string, sub: Comparison, added: boolean, removed: boolean): void {
  const changed = node(added, sub.changed);
  if (changed) out.changed[pe] = changed;
  const gone = node(removed, sub.removed);
  if (gone) out.removed[pe] = gone;
}

function compareListItems(lhs: unknown[], rhs: unknown[], schema: JSONSchema | undefined, type: ListType, out: Comparison, depth: number): void {
  const left = indexItems(lhs, schema, type);
  const right = indexItems(rhs, schema, type);
  const itemSchema = type === 'map' ? schema?.items : undefined;
  for (const [pe, ls] of left) {
    const rs = right.get(pe);
    if (ls.length > 1 || (rs && rs.length > 1)) {
      // Repeated keys (legal in some lists, env among them): the items with that key count as one value.
      if (!rs) out.removed[pe] = {};
      else if (!jsonEqual(ls, rs)) out.changed[pe] = {};
      continue;
    }
    compareValue(ls[0], rs?.[0], itemSchema, out, pe, depth + 1, undefined);
  }
  for (const [pe, rs] of right) {
    if (left.has(pe)) continue;
    if (rs.length > 1) out.changed[pe] = {};
    else compareValue(undefined, rs[0], itemSchema, out, pe, depth + 1, undefined);
  }
}

function indexItems(list: unknown[], schema: JSONSchema | undefined, type: ListType): Map<string, unknown[]> {
  const index = new Map<string, unknown[]>();
  for (const item of list) {
    const pe = itemPathElement(item, schema, type);
    const same = index.get(pe);
    if (same) same.push(item);
    else index.set(pe, [item]);
  }
  return index;
}

function isEmptyObject(o: Record<string, unknown>): boolean {
  for (const _ in o) return false;
  return true;
}

/** Deep equality of JSON values, key order ignored. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  let n = 0;
  for (const k in ao) {
    if (!hasOwn(bo, k) || !jsonEqual(ao[k], bo[k])) return false;
    n++;
  }
  for (const _ in bo) n--;
  return n === 0;
}

// ---------------------------------------------------------------------------
// managedFields entries

/** One manager's set, with what identifies it. */
export interface ManagerSet {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource?: string;
  time?: string;
  set: FieldSet;
  /** The stored entry, while the set and time are as it says: written back as it was. */
  entry?: ManagedFieldsEntry;
}

/** A manager's identity: Apply entries are one per manager whatever the apiVersion, Update entries one per apiVersion. */
export function managerId(m: { manager: string; operation: string; apiVersion: string; subresource?: string }): string {
  return `${m.operation}\u0000${m.manager}\u0000${m.operation === 'Apply' ? '' : m.apiVersion}\u0000${m.subresource ?? ''}`;
}

export type Managers = Map<string, ManagerSet>;

/**
 * Reads `metadata.managedFields`; undefined when it is not a valid list of
 * entries (wrong type, unknown operation or fields type, a malformed field
 * set, a manager listed twice). `trusted` entries (the stored ones) are not
 * checked again.
 */
export function decodeManagedFields(entries: unknown, trusted = false): Managers | undefined {
  if (entries === undefined || entries === null) return new Map();
  if (!Array.isArray(entries)) return undefined;
  const managers: Managers = new Map();
  for (const e of entries) {
    if (!isObject(e)) return undefined;
    if (e.fieldsType !== 'FieldsV1' || (e.operation !== 'Apply' && e.operation !== 'Update')) return undefined;
    if (typeof (e.manager ?? '') !== 'string' || typeof (e.apiVersion ?? '') !== 'string' || typeof (e.subresource ?? '') !== 'string') return undefined;
    if (e.time !== undefined && e.time !== null && (typeof e.time !== 'string' || Number.isNaN(Date.parse(e.time)))) return undefined;
    const set = e.fieldsV1 ?? {};
    if (!trusted && !isFieldSet(set, 0)) return undefined;
    const m: ManagerSet = {
      manager: (e.manager as string | undefined) ?? '',
      operation: e.operation,
      apiVersion: (e.apiVersion as string | undefined) ?? '',
      subresource: (e.subresource as string | undefined) || undefined,
      time: typeof e.time === 'string' ? (trusted ? e.time : managedFieldsTime(new Date(e.time))) : undefined,
      set: set as FieldSet,
      // A client's entries are written back from their fields only, as Kubernetes re-encodes them.
      entry: trusted ? (e as ManagedFieldsEntry) : undefined,
    };
    const id = managerId(m);
    if (managers.has(id)) return undefined;
    managers.set(id, m);
  }
  return managers;
}

function isFieldSet(v: unknown, depth: number): boolean {
  if (!isObject(v) || depth > 100) return false;
  for (const k in v) {
    if (k !== '.' && !(k.length > 1 && k[1] === ':' && RANK[k[0]] !== undefined)) return false;
    if (!isFieldSet(v[k], depth + 1)) return false;
  }
  return true;
}

/** The `managedFields: [{}]` (or `[]`) a client sends to clear the field. */
export function isResetManagedFields(entries: unknown): boolean {
  if (!Array.isArray(entries)) return false;
  return entries.length === 0 || (entries.length === 1 && isObject(entries[0]) && isEmptyObject(entries[0]));
}

/**
 * Merges the oldest Update entries into one `ancient-changes` entry per
 * apiVersion until at most MAX_UPDATE_MANAGERS remain, as Kubernetes'
 * CapManagersManager does, so an object written by many clients does not
 * grow without bound.
 */
function capUpdateManagers(managers: Managers): void {
  let n = 0;
  for (const m of managers.values()) if (m.operation === 'Update') n++;
  if (n <= MAX_UPDATE_MANAGERS) return;
  const updaters = [...managers.entries()].filter(([, m]) => m.operation === 'Update');
  updaters.sort(([ia, a], [ib, b]) => seconds(a.time) - seconds(b.time) || compareStrings(ia, ib));
  const firstOfVersion = new Map<string, string>();
  let count = updaters.length;
  for (const [id, m] of updaters) {
    if (count <= MAX_UPDATE_MANAGERS) break;
    const bucketId = managerId({ manager: ANCIENT_CHANGES, operation: 'Update', apiVersion: m.apiVersion });
    const first = firstOfVersion.get(m.apiVersion);
    if (first === undefined) {
      firstOfVersion.set(m.apiVersion, id);
      continue;
    }
    let bucket = managers.get(bucketId);
    if (!bucket) {
      const firstSet = managers.get(first)!;
      managers.delete(first);
      bucket = { manager: ANCIENT_CHANGES, operation: 'Update', apiVersion: m.apiVersion, set: firstSet.set };
    }
    managers.set(bucketId, { ...bucket, set: union(bucket.set, m.set), time: m.time, entry: undefined });
    managers.delete(id);
    count--;
  }
}

function seconds(time: string | undefined): number {
  if (!time) return 0;
  let s = parsedTimes.get(time);
  if (s === undefined) {
    if (parsedTimes.size > 1000) parsedTimes.clear();
    s = Math.floor(Date.parse(time) / 1000);
    parsedTimes.set(time, s);
  }
  return s;
}

const parsedTimes = new Map<string, number>();

/** Writes managers back as `metadata.managedFields`, in Kubernetes' order; undefined when there are none. */
export function encodeManagedFields(managers: Managers): ManagedFieldsEntry[] | undefined {
  capUpdateManagers(managers);
  if (!managers.size) return undefined;
  const list = [...managers.values()];
  list.sort((a, b) =>
    compareStrings(a.operation, b.operation) || seconds(a.time) - seconds(b.time) || compareStrings(a.manager, b.manager) ||
    compareStrings(a.apiVersion, b.apiVersion) || compareStrings(a.subresource ?? '', b.subresource ?? ''));
  return list.map((m) => {
    if (m.entry) return m.entry;
    // Go leaves out empty strings (omitempty): a request with neither fieldManager nor User-Agent has no manager.
    const entry: ManagedFieldsEntry = {};
    if (m.manager) entry.manager = m.manager;
    entry.operation = m.operation;
    if (m.apiVersion) entry.apiVersion = m.apiVersion;
    if (m.time) entry.time = m.time;
    entry.fieldsType = 'FieldsV1';
    entry.fieldsV1 = m.set;
    if (m.subresource) entry.subresource = m.subresource;
    return entry;
  });
}

/** RFC 3339 with second precision, as metav1.Time is written. */
export function managedFieldsTime(now: Date): string {
  const second = Math.floor(now.getTime() / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastTime = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return lastTime;
}

let lastSecond = NaN;
let lastTime = '';

// ---------------------------------------------------------------------------
// Update operations

/** Who writes, as a managedFields entry names it. */
export interface FieldManagerRef {
  manager: string;
  /** The subresource written through: `status`, `scale`, ... */
  subresource?: string;
}

/**
 * The field manager of a request that names none: the product token of its
 * User-Agent (`kubectl/v1.31.0 (linux/amd64) ...` is `kubectl`), without
 * unprintable characters and cut to 128 bytes, as Kubernetes derives it.
 */
export function fieldManagerFromUserAgent(userAgent: string | undefined): string {
  let out = '';
  let bytes = 0;
  for (const ch of (userAgent ?? '').split('/')[0]) {
    if (!isPrintable(ch)) continue;
    const len = Buffer.byteLength(ch);
    if (bytes + len > FIELD_MANAGER_MAX_LENGTH) break;
    out += ch;
    bytes += len;
  }
  return out;
}

function isPrintable(ch: string): boolean {
  return !/[\p{C}\p{Z}]/u.test(ch) || ch === ' ';
}

/** Why a `fieldManager` query parameter is invalid, or undefined when it is fine. */
export function fieldManagerProblem(fieldManager: string): string | undefined {
  if (fieldManager.length > FIELD_MANAGER_MAX_LENGTH) return `Too long: may not be more than ${FIELD_MANAGER_MAX_LENGTH} bytes`;
  let i = 0;
  for (const ch of fieldManager) {
    if (!isPrintable(ch)) {
      const code = `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
      return `Invalid value: ${JSON.stringify(fieldManager)}: invalid character ${code} (at position ${i})`;
    }
    i += ch.length;
  }
  return undefined;
}

/**
 * The managers a write starts from: the ones the written object carries when
 * they are valid (a client may edit managedFields), cleared when it sends
 * the reset marker, else the live object's. Writes through a subresource
 * always start from the live object's.
 */
export function baseManagers(requested: unknown, live: KubeObject | undefined, throughSubresource: boolean): Managers {
  // The stored entries were checked when they were written.
  const liveManagers = () => decodeManagedFields(live?.metadata?.managedFields, true) ?? new Map();
  if (throughSubresource || requested === undefined || requested === null) return liveManagers();
  if (isResetManagedFields(requested)) return new Map();
  const decoded = decodeManagedFields(requested);
  return decoded && decoded.size ? decoded : liveManagers();
}

/**
 * Definitions Go embeds by value, not by pointer: the empty object of a kind
 * already has them (as `{}`), so a create does not add them as elements.
 */
const VALUE_STRUCTS = new Set([
  'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta',
  'io.k8s.api.core.v1.PodTemplateSpec',
  'io.k8s.api.core.v1.PodSpec',
  'io.k8s.api.core.v1.ResourceRequirements',
  'io.k8s.api.core.v1.ContainerState',
  'io.k8s.api.core.v1.LoadBalancerStatus',
  'io.k8s.api.core.v1.NodeDaemonEndpoints',
  'io.k8s.api.core.v1.DaemonEndpoint',
  'io.k8s.api.core.v1.NodeSystemInfo',
  'io.k8s.api.core.v1.EventSource',
  'io.k8s.api.apps.v1.DeploymentStrategy',
  'io.k8s.api.apps.v1.DaemonSetUpdateStrategy',
  'io.k8s.api.batch.v1.JobTemplateSpec',
  'io.k8s.api.batch.v1.JobSpec',
]);

const emptyObjects = new WeakMap<JSONSchema, Record<string, unknown>>();

/**
 * The empty object of a kind, as Kubernetes compares a create with it: the
 * zero value of the Go type, which has its top-level structs and the
 * structs embedded by value, and nulls for the lists and maps Go writes
 * even when empty (the required ones). So `spec`, `spec.template` and
 * `spec.template.spec.containers` of a new Deployment are not themselves
 * owned (no `.`), while `metadata.labels` or a container's `ports` are.
 */
function emptyObjectOf(schema: JSONSchema): Record<string, unknown> {
  let empty = emptyObjects.get(schema);
  if (!empty) {
    empty = {};
    for (const key of ['metadata', 'spec', 'status']) {
      const sub = schema.properties?.[key];
      if (sub?.properties) empty[key] = zeroStruct(sub, 0);
    }
    emptyObjects.set(schema, empty);
  }
  return empty;
}

function zeroStruct(schema: JSONSchema, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (depth > 8) return out;
  const required: string[] = Array.isArray(schema.required) ? schema.required : [];
  for (const [key, sub] of Object.entries<JSONSchema>(schema.properties ?? {})) {
    const name = definitionNameOf(sub);
    if (sub.properties && name && VALUE_STRUCTS.has(name)) out[key] = zeroStruct(sub, depth + 1);
    else if (required.includes(key) && (sub.type === 'array' || (sub.type === 'object' && !sub.properties))) out[key] = null;
  }
  return out;
}

/**
 * What a create sets: `compareObjects` against the kind's empty object, in
 * one pass (creates are the hot path). Elements come in the object's own
 * order, not sorted: fieldsV1 is a set, and clients read it as one.
 */
function createdFieldSet(
  obj: Record<string, unknown>, zero: Record<string, unknown> | undefined, schema: JSONSchema | undefined,
  depth: number, parentKey: string | undefined, scope: FieldScope | undefined, member: boolean,
): FieldSet {
  const out: FieldSet = member ? { '.': LEAF } : {};
  for (const key in obj) {
    if (!trackedChild(depth, parentKey, key, scope)) continue;
    const sub = fieldSchema(schema, key);
    if (sub === UNDECLARED) continue;
    const created = createdNode(obj[key], zero && hasOwn(zero, key) ? zero[key] : undefined, sub, depth + 1, key);
    if (created) out[fieldPathElement(key)] = created;
  }
  return out;
}

/** The set under one element of a new object; `zero` is its value in the empty object (undefined: absent there). */
function createdNode(v: unknown, zero: unknown, schema: JSONSchema | undefined, depth: number, key: string | undefined): FieldSet | undefined {
  const existed = zero !== undefined;
  if (Array.isArray(v)) {
    const type = listType(schema);
    if (type !== 'atomic' && v.length) {
      const items: FieldSet = existed ? {} : { '.': LEAF };
      const itemSchema = type === 'map' ? schema?.items : undefined;
      for (const item of v) {
        const pe = itemPathElement(item, schema, type);
        // Repeated keys: the items with that key count as one leaf.
        items[pe] = hasOwn(items, pe) ? LEAF : (createdNode(item, undefined, itemSchema, depth + 1, undefined) ?? LEAF);
      }
      return items;
    }
  } else if (isObject(v) && !isAtomicMap(schema) && !isEmptyObject(v)) {
    const children = createdFieldSet(v, isObject(zero) ? zero : undefined, schema, depth, key, undefined, !existed);
    if (hasChildren(children)) return children;
    return existed ? undefined : LEAF;
  }
  return existed && jsonEqual(zero, v) ? undefined : LEAF;
}

/**
 * The empty set under a member without children, shared by the sets a
 * create builds (sets are never modified once built).
 */
const LEAF: FieldSet = Object.freeze({}) as FieldSet;

/** `f:<name>`, from a cache: field names repeat, and a property key that is already interned is cheaper. */
function fieldPathElement(name: string): string {
  let pe = fieldPathElements.get(name);
  if (pe === undefined) {
    if (fieldPathElements.size > 10_000) fieldPathElements.clear();
    pe = `f:${name}`;
    fieldPathElements.set(name, pe);
  }
  return pe;
}

const fieldPathElements = new Map<string, string>();

export interface UpdateContext extends FieldManagerRef {
  apiVersion: string;
  schema: JSONSchema;
  scope: FieldScope;
  now: Date;
}

/**
 * The managedFields after an Update operation (create, update, non-apply
 * patch) turned `live` (undefined for a create) into `next`, as Kubernetes'
 * field manager computes them: the fields the write added or changed move
 * to the writer's entry (taken from any other manager), the fields it
 * removed leave every entry, and the writer's entry gets the time only when
 * it gained fields.
 *
 * Returns undefined when the managers are exactly `base` (nothing to
 * re-encode).
 */
export function updateManagers(base: Managers, live: KubeObject | undefined, next: KubeObject, ctx: UpdateContext): Managers | undefined {
  const { changed, removed } = live
    ? compareObjects(live as Record<string, unknown>, next as Record<string, unknown>, ctx.schema, ctx.scope)
    : { changed: createdFieldSet(next as Record<string, unknown>, emptyObjectOf(ctx.schema), ctx.schema, 0, undefined, ctx.scope, false), removed: {} };
  const noChanges = isEmpty(changed);
  if (noChanges && isEmpty(removed)) return undefined;
  const managers: Managers = new Map();
  for (const [id, m] of base) {
    const set = difference(difference(m.set, changed), removed);
    if (set === m.set) managers.set(id, m);
    else if (!isEmpty(set)) managers.set(id, { ...m, set, entry: undefined });
  }
  if (noChanges) return managers;
  const self = { manager: ctx.manager, operation: 'Update' as const, apiVersion: ctx.apiVersion, subresource: ctx.subresource };
  const id = managerId(self);
  const previous = managers.get(id);
  managers.set(id, { ...self, set: previous ? union(previous.set, changed) : changed, time: managedFieldsTime(ctx.now) });
  return managers;
}

// ---------------------------------------------------------------------------
// Recording writes

/** The kind a write is for, as far as managedFields care. */
export interface TrackedKind {
  group: string;
  version: string;
  schema: JSONSchema;
  subresources: string[];
}

/** Who makes a write. */
export interface WriteManager extends FieldManagerRef {
  /** Server-side apply computed the managedFields already: the written object's are the result. */
  applied?: boolean;
  now: Date;
}

/**
 * Takes the managedFields off an object being written, so that validation
 * never sees the reset marker; `recordManagedFields` puts the updated ones
 * back. Undefined when the object carries none.
 */
export function takeManagedFields(obj: KubeObject): unknown {
  const meta = obj.metadata;
  if (!isObject(meta) || !hasOwn(meta, 'managedFields')) return undefined;
  const requested = meta.managedFields;
  delete meta.managedFields;
  return requested ?? undefined;
}

/**
 * Sets `next.metadata.managedFields` for a write that turns `live`
 * (undefined for a create) into `next`. `requested` is what the written
 * object carried (`takeManagedFields`). Without a `writer` the write is not
 * tracked (the scheduler's binding) and the live entries stay.
 *
 * A write the field manager cannot describe (a list item without its keys)
 * keeps the live entries, as Kubernetes' UpdateNoErrors does.
 */
export function recordManagedFields(kind: TrackedKind, live: KubeObject | undefined, next: KubeObject, requested: unknown, writer: WriteManager | undefined): void {
  let entries: unknown = live?.metadata?.managedFields;
  if (writer?.applied) {
    entries = requested;
  } else if (writer) {
    const throughSubresource = !!writer.subresource;
    const fromLive = throughSubresource || requested === undefined || requested === null;
    const base = baseManagers(requested, live, throughSubresource);
    try {
      const updated = updateManagers(base, live, next, {
        manager: writer.manager,
        subresource: writer.subresource,
        apiVersion: kind.group ? `${kind.group}/${kind.version}` : kind.version,
        schema: kind.schema,
        scope: fieldScope(kind.subresources.includes('status'), writer.subresource),
        now: writer.now,
      });
      if (updated || !fromLive) entries = encodeManagedFields(updated ?? base);
    } catch (err) {
      if (!(err instanceof FieldPathError)) throw err;
    }
  }
  if (next.metadata === live?.metadata) next.metadata = { ...next.metadata };
  if (entries === undefined || entries === null) delete next.metadata.managedFields;
  else next.metadata.managedFields = entries as unknown[];
}
