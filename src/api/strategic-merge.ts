import { ApiError, badRequest } from '../apiserver/errors';
import { clone, hasOwn, isObject, setOwn } from './patch';
import { schemas, type JSONSchema } from './schemas';

/**
 * Strategic merge patch (`application/strategic-merge-patch+json`), applied
 * as the API server applies it: apimachinery's
 * `strategicpatch.StrategicMergeMapPatch`, which merges parallel lists and
 * drops nulls that match nothing.
 *
 * It is a JSON merge patch (objects merge, `null` deletes a field, scalars
 * replace) with these differences:
 * - A list whose field has patch strategy `merge` is merged rather than
 *   replaced. Lists of objects merge item by item on the field's merge key
 *   (a container by `name`, a Service port by `port`). Lists of scalars
 *   (`finalizers`) become the union of both, with duplicates removed.
 *   Items the patch names take the order the patch gives them. The server's
 *   other items keep their relative order and are interleaved by their place
 *   in the server's list; an item new to the list goes before them.
 * - Directives:
 *   - `$patch: replace` in an object stands for the object itself;
 *     `$patch: delete` empties it.
 *   - As an item of a merged list, `{<key>: v, $patch: delete}` removes every
 *     item with that key, and `{$patch: replace}` makes the patch's other
 *     items the whole list.
 *   - `$deleteFromPrimitiveList/<field>: [...]` removes values from a
 *     scalar list.
 *   - `$setElementOrder/<field>: [...]` gives the order of a merged list.
 *   - `$retainKeys: [...]` clears every field of the object that it does
 *     not name.
 *
 * Patch strategies and merge keys come from the kind's schema in
 * `schemas.ts`: the `x-kubernetes-patch-strategy` and
 * `x-kubernetes-patch-merge-key` pairs Kubernetes generates from the Go
 * types' `patchStrategy` / `patchMergeKey` tags. The same pairs are the ones
 * kubectl reads from OpenAPI when it computes a patch. A field the schema
 * does not declare is handled as JSON merge patch handles it: objects merge
 * and lists are replaced. (Kubernetes fails such a lookup, but it only
 * happens when the stored object has a field its type lacks.)
 *
 * Malformed patches are 400 BadRequest, and a list of lists is 422, as
 * Kubernetes answers. The errors Kubernetes passes up unconverted (a list
 * item without its merge key, an unknown `$patch` value, list items of mixed
 * types) are 500s there. Here they are 400, with the same messages.
 */

type JsonMap = Record<string, unknown>;

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList';
const SET_ELEMENT_ORDER = '$setElementOrder';

const builtInSchemas = new Set<JSONSchema>(Object.values(schemas));

/**
 * The schema whose patch metadata applies to a kind, or undefined when the
 * kind has none. The kinds built into mk have metadata. Custom resources
 * have none, and Kubernetes answers their strategic merge patches with 415.
 */
export function strategicMergeSchema(rt: { schema: JSONSchema }): JSONSchema | undefined {
  return builtInSchemas.has(rt.schema) ? rt.schema : undefined;
}

/**
 * Applies a strategic merge patch to `target`, an object of the kind
 * `schema` describes. Neither input is modified, and the result shares no
 * structure with them.
 *
 * @throws ApiError 400 when the patch is not an object or is malformed
 *   (see the module comment), 422 for a list of lists.
 */
export function applyStrategicMergePatch(target: any, patch: unknown, schema: JSONSchema | undefined): any {
  return strategicMergeInPlace(isObject(target) ? clone(target) : {}, patch, schema);
}

/** applyStrategicMergePatch onto a target the caller hands over: merged in place, without the copy. */
export function strategicMergeInPlace(target: any, patch: unknown, schema: JSONSchema | undefined): any {
  if (!isObject(patch)) throw badRequest('a strategic merge patch must be a JSON object');
  return mergeMap(isObject(target) ? target : {}, clone(patch), schema);
}

// ---------------------------------------------------------------------------
// Patch metadata

/** The schema of `key` in an object (a declared property, or the value of a map). */
function fieldSchema(schema: JSONSchema | undefined, key: string): JSONSchema | undefined {
  if (!schema) return undefined;
  if (isObject(schema.properties) && hasOwn(schema.properties, key)) return schema.properties[key] as JSONSchema;
  return isObject(schema.additionalProperties) ? schema.additionalProperties : undefined;
}

interface PatchMeta {
  /** `merge`, `replace` or '' (the default: objects merge, lists are replaced). */
  strategy: string;
  mergeKey: string;
}

function patchMeta(field: JSONSchema | undefined): PatchMeta {
  const declared = field?.['x-kubernetes-patch-strategy'];
  // retainKeys only tells a client to send a $retainKeys directive. Applying
  // a patch honours that directive wherever it appears.
  const strategy = typeof declared === 'string' ? (declared.split(',').find((s) => s !== 'retainKeys') ?? '') : '';
  const mergeKey = field?.['x-kubernetes-patch-merge-key'];
  return { strategy, mergeKey: typeof mergeKey === 'string' ? mergeKey : '' };
}

// ---------------------------------------------------------------------------
// Errors and value helpers

/** A value for an error message: short, and only ever from the patch or a list item. */
function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

function noMergeKey(item: unknown, mergeKey: string): ApiError {
  return badRequest(`map: ${show(item)} does not contain declared merge key: ${mergeKey}`);
}

/** The JSON type of a value, the way the Go decoder tells them apart (numbers aside). */
function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v === 'object' ? 'map' : typeof v;
}

/** Equality of merge-key values and of scalar list items (Go's `==` on decoded JSON). */
function sameValue(a: unknown, b: unknown): boolean {
  return a === b;
}

function keyOf(item: unknown, mergeKey: string): unknown {
  return isObject(item) && hasOwn(item, mergeKey) ? item[mergeKey] : undefined;
}

/** Where `item` sits in `list`: by merge key for objects, by value for scalars; -1 when absent. */
function indexIn(list: unknown[], item: unknown, mergeKey: string, objects: boolean): number {
  if (!objects) return list.findIndex((v) => sameValue(v, item));
  const key = keyOf(item, mergeKey);
  return list.findIndex((v) => sameValue(keyOf(v, mergeKey), key));
}

/**
 * The field a parallel-list directive (`$setElementOrder/containers`) is
 * about. Only the exact prefix followed by `/` is a directive.
 */
function directiveField(key: string, prefix: string, error: string): string {
  const slash = key.indexOf('/');
  if (slash < 0 || key.slice(0, slash) !== prefix) throw badRequest(error);
  return key.slice(slash + 1);
}

/**
 * The common type of the items of one or more lists: 'map' or a scalar
 * type. Lists of lists are not part of any Kubernetes type.
 */
function elementType(...lists: unknown[][]): string {
  let found: string | undefined;
  for (const list of lists) {
    for (const item of list) {
      const t = typeOf(item);
      if (found === undefined) {
        if (t === 'list') throw new ApiError(422, 'Invalid', 'lists of lists are not supported');
        found = t;
      } else if (t !== found) {
        throw badRequest(`list element types are not identical: ${show(lists)}`);
      }
    }
  }
  if (found === undefined) throw badRequest('no elements in any of the given slices');
  // Go cannot type a null item; its decoder would fail on the list.
  if (found === 'null') throw badRequest(`list items must not be null: ${show(lists)}`);
  return found;
}

/** Nulls inside a value added whole mean nothing: there is nothing for them to delete. */
function discardNulls(v: unknown): void {
  if (Array.isArray(v)) {
    v.forEach(discardNulls);
  } else if (isObject(v)) {
    for (const key of Object.keys(v)) {
      if (v[key] === null) delete v[key];
      else discardNulls(v[key]);
    }
  }
}

const DROP = Symbol('drop');

/**
 * A value added whole, without the objects that carry a `$patch` directive
 * (they have nothing to act on); DROP when the value itself carries one.
 */
function withoutDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutDirectives).filter((item) => item !== DROP);
  if (!isObject(v)) return v;
  if (hasOwn(v, DIRECTIVE)) return DROP;
  for (const key of Object.keys(v)) {
    const kept = withoutDirectives(v[key]);
    if (kept === DROP) delete v[key];
    else v[key] = kept;
  }
  return v;
}

function setOrDrop(obj: JsonMap, key: string, value: unknown): void {
  if (value === DROP) delete obj[key];
  else setOwn(obj, key, value);
}

// ---------------------------------------------------------------------------
// Objects

/** Merges `patch` into `original`, both owned by this module. */
function mergeMap(original: JsonMap, patch: JsonMap, schema: JSONSchema | undefined): JsonMap {
  if (hasOwn(patch, DIRECTIVE)) return mapDirective(patch);

  applyRetainKeys(original, patch);
  // Lists with a $setElementOrder are merged and ordered here, and leave the patch.
  mergeOrderedLists(original, patch, schema);

  for (const key of Object.keys(patch)) {
    const value = patch[key];
    const deleteList = key.startsWith(DELETE_FROM_PRIMITIVE_LIST);
    const field = deleteList ? directiveField(key, DELETE_FROM_PRIMITIVE_LIST, 'invalid patch format of primitive list') : key;

    if (value === null) {
      delete original[field];
      continue;
    }
    const current = hasOwn(original, field) ? original[field] : undefined;
    if (current === undefined || typeOf(current) !== typeOf(value)) {
      // A deletion list for a list the object lacks deletes nothing.
      if (!deleteList) {
        discardNulls(value);
        setOrDrop(original, field, withoutDirectives(value));
      }
      continue;
    }
    const sub = fieldSchema(schema, field);
    if (isObject(current)) {
      setOwn(original, field, patchMeta(sub).strategy === 'replace' ? value : mergeMap(current, value as JsonMap, sub));
    } else if (Array.isArray(current)) {
      setOwn(original, field, mergeListField(current, value as unknown[], sub, deleteList).list);
    } else {
      setOwn(original, field, value);
    }
  }
  return original;
}

/** An object carrying `$patch`: `replace` stands for itself, `delete` empties it. */
function mapDirective(patch: JsonMap): JsonMap {
  const directive = patch[DIRECTIVE];
  if (directive === 'replace') {
    delete patch[DIRECTIVE];
    return patch;
  }
  if (directive === 'delete') return {};
  throw badRequest(`unknown patch type: ${show(directive)} in map: ${show(patch)}`);
}

/**
 * `$retainKeys`: clears the fields of `original` the list does not name. A
 * patch that sets a field the list leaves out contradicts itself.
 */
function applyRetainKeys(original: JsonMap, patch: JsonMap): void {
  if (!hasOwn(patch, RETAIN_KEYS)) return;
  const retain = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(retain)) throw badRequest('invalid patch format of retainKeys');
  const kept = new Set(retain);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null || key.startsWith(DELETE_FROM_PRIMITIVE_LIST) || key.startsWith(SET_ELEMENT_ORDER)) continue;
    if (!kept.has(key)) throw badRequest(`invalid patch format of retainKeys: ${show(key)} is set by the patch but not in $retainKeys ${show(retain)}`);
  }
  for (const key of Object.keys(original)) {
    if (!kept.has(key)) delete original[key];
  }
}

// ---------------------------------------------------------------------------
// Lists

/**
 * A merged list, and the original list as Go's in-place slice operations
 * leave it. apimachinery deletes items by shifting the rest left and appends
 * new items into the spare room this opens, in the original list's backing
 * array. A `$setElementOrder` then orders server-only items by that array,
 * and its tests pin the orders this produces.
 */
interface MergedList {
  list: unknown[];
  original: unknown[];
}

/** How a list field merges: by its strategy, except that a deletion list always applies. */
function mergeListField(original: unknown[], patch: unknown[], field: JSONSchema | undefined, deleteList: boolean): MergedList {
  const { strategy, mergeKey } = patchMeta(field);
  if (strategy !== 'merge' && !deleteList) return { list: patch, original };
  return mergeList(original, patch, field?.items, mergeKey, deleteList);
}

function mergeList(original: unknown[], patch: unknown[], itemSchema: JSONSchema | undefined, mergeKey: string, deleteList: boolean): MergedList {
  if (original.length === 0 && patch.length === 0) return { list: original, original };
  if (elementType(original, patch) !== 'map') {
    if (deleteList) return { list: original.filter((v) => !patch.some((d) => sameValue(d, v))), original };
    const merged = unique([...original, ...patch]);
    const { named, serverOnly } = partition(merged, patch, '');
    return { list: normalizeOrder(named, serverOnly, patch, original, '', false), original };
  }
  if (!mergeKey) throw badRequest('cannot merge lists without merge key');

  const backing = [...original] as JsonMap[];
  let length = backing.length;
  const plain: JsonMap[] = [];
  let replace = false;
  for (const item of patch as JsonMap[]) {
    if (!hasOwn(item, DIRECTIVE)) {
      plain.push(item);
      continue;
    }
    switch (item[DIRECTIVE]) {
      case 'delete': {
        if (!hasOwn(item, mergeKey)) throw noMergeKey(item, mergeKey);
        for (let at = findByKey(backing, length, mergeKey, item[mergeKey]); at >= 0; at = findByKey(backing, length, mergeKey, item[mergeKey])) {
          backing.copyWithin(at, at + 1, length);
          length--;
        }
        break;
      }
      case 'replace':
        // The patch's other items become the list; deletions still count for the order.
        replace = true;
        break;
      case 'merge':
        throw badRequest('merging lists cannot yet be specified in the patch');
      default:
        throw badRequest(`unknown patch type: ${show(item[DIRECTIVE])} in map: ${show(item)}`);
    }
  }
  const base = replace ? plain : backing.slice(0, length);
  const items = replace ? [] : plain;
  const merged = mergeItems(base, items, mergeKey, itemSchema);
  if (!replace) merged.slice(length, backing.length).forEach((item, i) => (backing[length + i] = item));

  const { named, serverOnly } = partition(merged, items, mergeKey);
  return { list: normalizeOrder(named, serverOnly, items, base, mergeKey, true), original: backing };
}

function findByKey(list: JsonMap[], length: number, mergeKey: string, key: unknown): number {
  for (let i = 0; i < length; i++) if (hasOwn(list[i], mergeKey) && sameValue(list[i][mergeKey], key)) return i;
  return -1;
}

function unique(values: unknown[]): unknown[] {
  return values.filter((v, i) => values.findIndex((w) => sameValue(v, w)) === i);
}

/** Merges each patch item into the item with its key, or appends it. */
function mergeItems(original: JsonMap[], patch: JsonMap[], mergeKey: string, itemSchema: JSONSchema | undefined): JsonMap[] {
  const merged = [...original];
  for (const item of patch) {
    if (!hasOwn(item, mergeKey)) throw noMergeKey(item, mergeKey);
    // Searching the growing list: two patch items with one key merge into one.
    const at = findByKey(merged, merged.length, mergeKey, item[mergeKey]);
    if (at >= 0) merged[at] = mergeMap(merged[at], item, itemSchema);
    else merged.push(item);
  }
  return merged;
}

/** Splits `list` into the items `by` names (by merge key, or by value for scalars) and the rest. */
function partition(list: unknown[], by: unknown[], mergeKey: string): { named: unknown[]; serverOnly: unknown[] } {
  const named: unknown[] = [];
  const serverOnly: unknown[] = [];
  if (mergeKey) {
    by.forEach((b, i) => {
      if (!isObject(b)) throw badRequest(`value for key ${i} is not a map`);
    });
    for (const item of list) {
      if (!isObject(item)) throw badRequest(`expected a map, but received ${show(item)}`);
      if (!hasOwn(item, mergeKey)) throw noMergeKey(item, mergeKey);
      (indexIn(by, item, mergeKey, true) >= 0 ? named : serverOnly).push(item);
    }
  } else {
    for (const item of list) (by.some((b) => sameValue(b, item)) ? named : serverOnly).push(item);
  }
  return { named, serverOnly };
}

/**
 * The final order of a merged list: the items the patch names in the order
 * `patchOrder` gives (the patch list, or its `$setElementOrder`), and the
 * server-only items in their order in `serverOrder`. The two sequences are
 * interleaved. A server-only item goes before a patch item only when the
 * server list also holds that patch item, and holds it later.
 */
function normalizeOrder(named: unknown[], serverOnly: unknown[], patchOrder: unknown[], serverOrder: unknown[], mergeKey: string, objects: boolean): unknown[] {
  const patchItems = sortBy(named, patchOrder, mergeKey, objects);
  const serverItems = sortBy(serverOnly, serverOrder, mergeKey, objects);
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverItems.length && j < patchItems.length) {
    const si = indexIn(serverOrder, serverItems[i], mergeKey, objects);
    const pi = indexIn(serverOrder, patchItems[j], mergeKey, objects);
    if (si >= 0 && pi >= 0 && si < pi) out.push(serverItems[i++]);
    else out.push(patchItems[j++]);
  }
  return out.concat(serverItems.slice(i), patchItems.slice(j));
}

/** Stable sort of `items` by their position in `order`; items marked `$patch: delete` go last. */
function sortBy(items: unknown[], order: unknown[], mergeKey: string, objects: boolean): unknown[] {
  let deleted: unknown[] = [];
  if (objects) {
    for (const item of [...items, ...order]) {
      if (!isObject(item)) throw badRequest(`expected a map, but received ${show(item)}`);
      if (!hasOwn(item, mergeKey)) throw noMergeKey(item, mergeKey);
    }
    deleted = items.filter((item) => (item as JsonMap)[DIRECTIVE] === 'delete');
    items = items.filter((item) => (item as JsonMap)[DIRECTIVE] !== 'delete');
  }
  const position = new Map(items.map((item) => [item, indexIn(order, item, mergeKey, objects)]));
  const sorted = [...items].sort((a, b) => {
    const pa = position.get(a)!;
    const pb = position.get(b)!;
    return pa >= 0 && pb >= 0 ? pa - pb : 0;
  });
  return sorted.concat(deleted);
}

/**
 * `$setElementOrder/<field>`: merges the field's patch list (if any) as usual,
 * then orders the result by the directive. Server-only items keep their
 * relative order among them. Removes both from `patch`.
 */
function mergeOrderedLists(original: JsonMap, patch: JsonMap, schema: JSONSchema | undefined): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    const order = patch[key];
    delete patch[key];
    if (!Array.isArray(order)) throw badRequest(`${key} must be a list, not ${show(order)}`);
    const field = directiveField(key, SET_ELEMENT_ORDER, 'invalid patch format of setElementOrder list');

    const inOriginal = hasOwn(original, field);
    const inPatch = hasOwn(patch, field);
    const originalList = inOriginal ? original[field] : [];
    const patchList = inPatch ? patch[field] : [];
    if (!Array.isArray(originalList)) throw badRequest(`${field} must be a list to be ordered by ${key}`);
    if (!Array.isArray(patchList)) throw badRequest(`${field} must be a list when the patch has ${key}, not ${show(patchList)}`);

    const sub = fieldSchema(schema, field);
    const { mergeKey } = patchMeta(sub);
    checkOrderAgrees(patchList, order, mergeKey);

    let merged: MergedList;
    if (inOriginal && !inPatch) merged = { list: originalList, original: originalList };
    else if (!inOriginal && inPatch) merged = { list: withoutDirectives(patchList) as unknown[], original: [] };
    else if (inOriginal && inPatch) merged = mergeListField(originalList, patchList, sub, false);
    else continue;

    const { named, serverOnly } = partition(merged.list, order, mergeKey);
    const objects = elementType(originalList, patchList) === 'map';
    setOwn(original, field, normalizeOrder(named, serverOnly, order, merged.original, mergeKey, objects));
    delete patch[field];
  }
}

/**
 * The patch list's items must appear in `$setElementOrder` in the same
 * relative order (items with a `$patch` directive aside).
 */
function checkOrderAgrees(patchList: unknown[], order: unknown[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  let items = patchList;
  if (mergeKey) {
    patchList.forEach((item) => {
      if (!isObject(item)) throw badRequest(`expected a map, but received ${show(item)}`);
    });
    items = patchList.filter((item) => (item as JsonMap)[DIRECTIVE] !== 'delete');
  }
  let p = 0;
  let o = 0;
  while (p < items.length && o < order.length) {
    const item = items[p];
    if (isObject(item) && hasOwn(item, DIRECTIVE)) {
      p++;
      continue;
    }
    if (sameKey(item, order[o], mergeKey)) p++;
    o++;
  }
  if (p < items.length) {
    throw badRequest(`the order in patch list: ${show(patchList)} doesn't match ${SET_ELEMENT_ORDER} list: ${show(order)}`);
  }
}

function sameKey(a: unknown, b: unknown, mergeKey: string): boolean {
  if (!mergeKey) return sameValue(a, b);
  for (const item of [a, b]) {
    if (!isObject(item)) throw badRequest(`expected a map, but received ${show(item)}`);
    if (!hasOwn(item, mergeKey)) throw noMergeKey(item, mergeKey);
  }
  return sameValue((a as JsonMap)[mergeKey], (b as JsonMap)[mergeKey]);
}
