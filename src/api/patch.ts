import { applyPatch, validate, JsonPatchError, type Operation } from 'fast-json-patch';
import { ApiError, badRequest } from '../apiserver/errors';

/**
 * The patch formats Kubernetes accepts, as pure functions over JSON values:
 * the API server applies them, `mk apply` computes them. None of them mutates
 * its inputs, and no result shares structure with an input, so callers may
 * modify what they get back.
 *
 * Strategic merge patch is in `strategic-merge.ts`, server-side apply in
 * `server-side-apply.ts`. The three-way patch below is the merge-patch flavour kubectl
 * uses for kinds it has no strategic-merge schema for.
 */

type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Deep copy of a JSON value. Hand-written rather than structuredClone: it is
 * faster on plain JSON, and a `"__proto__"` key stays data.
 */
export function clone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(clone) as T;
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(v)) setOwn(out, key, clone(value));
  return out as T;
}

/** Freezes a JSON value and everything in it, so that changing any part throws (in strict mode). */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

export function hasOwn(obj: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** Assigns without the `__proto__` setter, so a `"__proto__"` key in JSON stays data. */
export function setOwn(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** Deep equality of JSON values (key order ignored). */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bs = b as unknown[];
    return a.length === bs.length && a.every((v, i) => jsonEqual(v, bs[i]));
  }
  const ao = a as JsonObject;
  const bo = b as JsonObject;
  const keys = Object.keys(ao);
  return keys.length === Object.keys(bo).length && keys.every((k) => hasOwn(bo, k) && jsonEqual(ao[k], bo[k]));
}

/** RFC 7386 MergePatch, on a target this module owns. */
function mergeInto(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? target : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else setOwn(result, key, mergeInto(hasOwn(result, key) ? result[key] : undefined, value));
  }
  return result;
}

/**
 * Applies an RFC 7386 JSON merge patch (`application/merge-patch+json`):
 * `null` deletes a field, objects merge recursively, everything else —
 * arrays included — replaces.
 */
export function applyMergePatch(target: any, patch: any): any {
  return mergeInto(clone(target), patch);
}

/** applyMergePatch onto a target the caller hands over: merged in place, without the copy. */
export function mergePatchInPlace(target: any, patch: any): any {
  return mergeInto(target, patch);
}

/**
 * fast-json-patch appends the operation and the whole document to its error
 * messages; a Status must not echo a Secret back, so keep the first line.
 */
function headline(e: Error): string {
  return e.message.split('\n', 1)[0];
}

const RFC6902_OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/**
 * Checks what can be checked without the target, so a malformed document is
 * a 400 whatever it is applied to.
 */
function checkOperations(operations: unknown): Operation[] {
  if (!Array.isArray(operations)) throw badRequest('json patch must be an array of operations');
  // fast-json-patch looks ops up in a plain object, so it would take its
  // private `_get`, inherited names like `constructor`, or `["add"]`.
  operations.forEach((op, i) => {
    if (isObject(op) && !(typeof op.op === 'string' && RFC6902_OPS.has(op.op))) {
      throw badRequest(`json patch operation ${i}: op must be one of ${[...RFC6902_OPS].join(', ')}, not ${JSON.stringify(op.op ?? null)}`);
    }
  });
  const error = validate(operations as Operation[]);
  if (error) throw badRequest(`json patch operation ${error.index ?? 0}: ${headline(error)}`);
  operations.forEach((op: Operation, i) => {
    if (op.op !== 'move' && op.op !== 'copy') return;
    if (op.from !== '' && !op.from.startsWith('/')) {
      throw badRequest(`json patch operation ${i}: \`from\` must be a JSON pointer starting with "/"`);
    }
    // RFC 6902 4.4: a value cannot be moved into one of its own children.
    if (op.op === 'move' && op.path.startsWith(`${op.from}/`)) {
      throw badRequest(`json patch operation ${i}: cannot move ${op.from} into its own child ${op.path}`);
    }
  });
  return operations as Operation[];
}

/**
 * Applies an RFC 6902 JSON patch (`application/json-patch+json`).
 *
 * @throws ApiError 400 BadRequest when `operations` is not a valid patch
 *   document (not an array, unknown op, missing `path`/`value`/`from`).
 * @throws ApiError 422 Invalid when the patch does not apply to `target`: a
 *   failed `test`, or a path that does not exist — what Kubernetes answers.
 */
export function applyJsonPatch(target: any, operations: unknown): any {
  const ops = checkOperations(operations);
  let result: unknown;
  try {
    result = applyPatch(clone(target), clone(ops), true, true, true).newDocument;
  } catch (e) {
    if (e instanceof JsonPatchError) {
      const op = ops[e.index ?? 0];
      throw new ApiError(422, 'Invalid', `json patch operation ${e.index ?? 0} (${op.op} ${op.path}): ${headline(e)}`);
    }
    // fast-json-patch reports some unapplicable paths (a `__proto__` segment,
    // stepping through a scalar) as TypeErrors.
    if (e instanceof TypeError) throw new ApiError(422, 'Invalid', `json patch cannot be applied: ${e.message}`);
    throw e;
  }
  // A root `move`/`copy` from a missing path yields no document at all.
  if (result === undefined) throw new ApiError(422, 'Invalid', 'json patch cannot be applied: the result is empty');
  return result;
}

/**
 * The smallest RFC 7386 merge patch turning `original` into `modified`:
 * `{}` when they are equal. Non-object documents are replaced whole.
 */
export function createMergePatch(original: any, modified: any): any {
  if (!isObject(original) || !isObject(modified)) return clone(modified);
  const patch: JsonObject = {};
  for (const key of Object.keys(original)) {
    if (!hasOwn(modified, key)) setOwn(patch, key, null);
  }
  for (const [key, value] of Object.entries(modified)) {
    if (!hasOwn(original, key)) {
      setOwn(patch, key, clone(value));
    } else if (isObject(original[key]) && isObject(value)) {
      const sub = createMergePatch(original[key], value);
      if (!isEmptyPatch(sub)) setOwn(patch, key, sub);
    } else if (!jsonEqual(original[key], value)) {
      setOwn(patch, key, clone(value));
    }
  }
  return patch;
}

/** `obj[key]` when `obj` is an object that has it. */
function member(obj: unknown, key: string): unknown {
  return isObject(obj) && hasOwn(obj, key) ? obj[key] : undefined;
}

/**
 * Whether `live` differs from `desired` in a way applying `desired` would
 * undo. Fields `live` has beyond `desired` do not count (the server defaults
 * fields inside lists too: a container's imagePullPolicy, a port's protocol),
 * unless `lastApplied` set them: then the manifest dropped them and they must
 * go. List elements correspond by index.
 */
function differs(desired: unknown, live: unknown, lastApplied: unknown): boolean {
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return true;
    const last = Array.isArray(lastApplied) ? lastApplied : [];
    return desired.some((d, i) => differs(d, live[i], last[i]));
  }
  if (!isObject(desired)) return !jsonEqual(desired, live);
  if (!isObject(live)) return true;
  for (const [key, value] of Object.entries(desired)) {
    if (!hasOwn(live, key) || differs(value, live[key], member(lastApplied, key))) return true;
  }
  return isObject(lastApplied) && Object.keys(lastApplied).some((key) => !hasOwn(desired, key) && hasOwn(live, key));
}

/**
 * The fields of `desired` to set on `live`. Maps recurse, so fields only
 * `live` has stay; a list is sent whole, and only when `differs` says
 * applying it would change something, since a merge patch cannot edit a list
 * in place.
 */
function additionsAndChanges(desired: JsonObject, live: unknown, lastApplied: unknown): JsonObject {
  const patch: JsonObject = {};
  for (const [key, value] of Object.entries(desired)) {
    // A merge patch cannot set null; `deletions` handles a nulled field.
    if (value == null) continue;
    const liveValue = member(live, key);
    if (isObject(value) && isObject(liveValue)) {
      const sub = additionsAndChanges(value, liveValue, member(lastApplied, key));
      if (!isEmptyPatch(sub)) setOwn(patch, key, sub);
    } else if (differs(value, liveValue, member(lastApplied, key))) {
      setOwn(patch, key, clone(value));
    }
  }
  return patch;
}

/**
 * Nulls for the fields `lastApplied` set that `desired` no longer has (or
 * sets to null). Fields `live` lacks already are skipped: deleting them
 * would change nothing. A dropped map that others have added keys to loses
 * only the keys we applied (kubectl would null it whole).
 */
function deletions(lastApplied: JsonObject, desired: JsonObject, live: unknown): JsonObject {
  const patch: JsonObject = {};
  if (!isObject(live)) return patch;
  for (const [key, lastValue] of Object.entries(lastApplied)) {
    if (!hasOwn(live, key)) continue;
    const desiredValue = desired[key];
    if (!hasOwn(desired, key) || desiredValue === null) {
      const liveValue = live[key];
      if (isObject(lastValue) && isObject(liveValue) && Object.keys(liveValue).some((k) => !hasOwn(lastValue, k))) {
        const sub = deletions(lastValue, {}, liveValue);
        if (!isEmptyPatch(sub)) setOwn(patch, key, sub);
      } else {
        setOwn(patch, key, null);
      }
    } else if (isObject(lastValue) && isObject(desiredValue)) {
      const sub = deletions(lastValue, desiredValue, live[key]);
      if (!isEmptyPatch(sub)) setOwn(patch, key, sub);
    }
  }
  return patch;
}

/**
 * The merge patch `kubectl apply` sends (apimachinery's
 * CreateThreeWayJSONMergePatch):
 * - every field of `desired` that differs from `live` is set;
 * - every field of `lastApplied` (the previous manifest) missing from
 *   `desired` is nulled, so deleting a line from a manifest deletes the field;
 * - fields only in `live` (set by the server, controllers or other actors)
 *   are left alone.
 *
 * Lists are replaced whole, but unlike kubectl a list is only sent when that
 * would change it beyond fields the server added (see `differs`), and fields
 * `live` already lacks are not nulled. So `{}` means exactly "nothing would
 * change" (`mk apply` prints `unchanged`), even for a pod template whose
 * containers the server has defaulted.
 *
 * @param lastApplied the manifest applied last time (the
 *   `kubectl.kubernetes.io/last-applied-configuration` annotation), if any.
 * @param live the object as the server has it; undefined if it does not exist.
 */
export function threeWayMergePatch(lastApplied: any | undefined, desired: any, live: any): any {
  const changes = additionsAndChanges(desired, live, lastApplied);
  if (!isObject(lastApplied)) return changes;
  // The two never set the same field: deletions are of fields absent from
  // `desired`, additions and changes of fields present in it.
  return mergeInto(deletions(lastApplied, desired, live), changes);
}

/** Whether a merge patch (`{}`) or JSON patch (`[]`) changes nothing. */
export function isEmptyPatch(p: unknown): boolean {
  if (p == null) return true;
  if (Array.isArray(p)) return p.length === 0;
  return isObject(p) && Object.keys(p).length === 0;
}
