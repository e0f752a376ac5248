import YAML from 'yaml';
import type { ResourceType } from '../api/registry';
import type { FieldValidation } from '../api/validation';
import { ApiError, badRequest } from './errors';
import type { BodyType } from './request';

/**
 * Field validation of request bodies, as Kubernetes' strict decoding does
 * it (`?fieldValidation=Strict|Warn|Ignore`, KEP-2885): besides fields the
 * schema does not declare (found by `validateObject`), a body may repeat a
 * key, which JSON.parse and the YAML parser silently resolve to the last
 * value. Under Strict any of these fails the request, under Warn (the
 * default) each is a `Warning: 299` header, under Ignore nothing is said.
 *
 * How Kubernetes fails it:
 * - create and update: 400 BadRequest, `Deployment in version "v1" cannot be
 *   handled as a Deployment: strict decoding error: unknown field "spec.foo",
 *   duplicate field "spec.replicas"`;
 * - patch: 422 Invalid on the field `patch`, `"" is invalid: patch: Invalid
 *   value: "...": strict decoding error: ...` (kubectl prints "The request is
 *   invalid: ...").
 */

/** What decoding a body found that only fieldValidation decides about. */
export interface DecodeProblems {
  /** Paths of keys a JSON body repeats in one object (`spec.replicas`, `spec.containers[0].image`). */
  duplicates: string[];
  /** `line 5: key "name" already set in map`, for keys a YAML body repeats. */
  yamlDuplicates: string[];
  /** A JSON patch's own problems: `json patch unknown field "[0].foo"`, `json patch duplicate field "[1].path"`. */
  jsonPatch: string[];
}

const NONE: DecodeProblems = { duplicates: [], yamlDuplicates: [], jsonPatch: [] };

const JSON_PATCH_FIELDS = new Set(['op', 'path', 'from', 'value']);

/** Scans a body already known to parse; returns nothing to report for fieldValidation=Ignore. */
export function decodeProblems(text: string, type: BodyType, fieldValidation: FieldValidation): DecodeProblems {
  if (fieldValidation === 'Ignore') return NONE;
  if (type === 'yaml' || type === 'apply-patch') return { ...NONE, yamlDuplicates: yamlDuplicateKeys(text) };
  const duplicates = jsonDuplicateFields(text);
  if (type !== 'json-patch') return { ...NONE, duplicates };
  // Only the operations' own keys: the values are applied as JSON, last key winning, as evanphx/json-patch does.
  const jsonPatch = duplicates.filter((p) => /^\[\d+\]\.[^.[]+$/.test(p)).map((p) => `json patch duplicate field "${p}"`);
  try {
    const ops = JSON.parse(text);
    if (Array.isArray(ops)) {
      ops.forEach((op, i) => {
        if (op && typeof op === 'object' && !Array.isArray(op)) {
          for (const k of Object.keys(op)) if (!JSON_PATCH_FIELDS.has(k)) jsonPatch.push(`json patch unknown field "[${i}].${k}"`);
        }
      });
    }
  } catch {
    // The patch parsed before this is called; nothing more to say.
  }
  // In the order of the operations, as a strict decoder meets them.
  jsonPatch.sort((a, b) => jsonPatchIndex(a) - jsonPatchIndex(b));
  return { ...NONE, jsonPatch };
}

function jsonPatchIndex(message: string): number {
  return Number(/"\[(\d+)\]/.exec(message)?.[1] ?? 0);
}

/**
 * The errors strict decoding reports, in Kubernetes' order: what decoding
 * the body found, then the unknown fields of the result. A typed create or
 * update reports a field that is both repeated and unknown only as unknown;
 * a patch reports both (the patch is decoded apart from the object).
 */
export function strictErrors(problems: DecodeProblems | undefined, unknown: string[], opts: { patch: boolean; strict: boolean }): string[] {
  const p = problems ?? NONE;
  const out: string[] = [];
  if (p.yamlDuplicates.length) {
    // Under Strict, YAML's own decoder reports all repeats as one error; as warnings, one each.
    if (opts.strict) out.push(`yaml: unmarshal errors:\n  ${p.yamlDuplicates.join('\n  ')}`);
    else out.push(...p.yamlDuplicates);
  }
  out.push(...p.jsonPatch);
  for (const path of p.duplicates) {
    if (!opts.patch && unknown.includes(`unknown field "${path}"`)) continue;
    out.push(`duplicate field "${path}"`);
  }
  out.push(...(opts.patch ? [...unknown].sort() : unknown));
  return out;
}

/** The error a request fails with under fieldValidation=Strict; `patch` is the patch for a PATCH. */
export function strictDecodingError(rt: ResourceType, errors: string[], patch?: { value: string }): ApiError {
  const detail = `strict decoding error: ${errors.join(', ')}`;
  if (!patch) {
    return badRequest(`${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: ${detail}`);
  }
  const message = `Invalid value: ${JSON.stringify(patch.value)}: ${detail}`;
  return new ApiError(422, 'Invalid', ` "" is invalid: patch: ${message}`, { causes: [{ reason: 'FieldValueInvalid', message, field: 'patch' }] });
}

/**
 * Go's `%+v` of a decoded JSON value (`map[spec:map[replicas:3]]`): how
 * Kubernetes shows a strategic merge patch in a strict decoding error.
 */
export function goValue(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goValue).join(' ')}]`;
  if (typeof v === 'object') {
    const entries = Object.keys(v as object).sort().map((k) => `${k}:${goValue((v as Record<string, unknown>)[k])}`);
    return `map[${entries.join(' ')}]`;
  }
  return String(v);
}

/**
 * Paths of the keys that occur more than once in one object of a JSON
 * text, each once, in document order. The text must be valid JSON.
 * One pass over the characters, no allocation per value: it runs on every
 * create and update under the default fieldValidation (Warn).
 */
export function jsonDuplicateFields(text: string): string[] {
  interface Frame {
    /** Keys seen so far; undefined for an array. */
    keys?: Set<string>;
    path: string;
    index: number;
    key: string;
  }
  const found = new Set<string>();
  const stack: Frame[] = [];
  let top: Frame | undefined;
  let expectKey = false;
  const childPath = (): string => {
    if (!top) return '';
    if (top.keys) return top.path ? `${top.path}.${top.key}` : top.key;
    return `${top.path}[${top.index}]`;
  };
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        j = text.indexOf('"', j);
        if (j < 0) return [...found]; // unterminated: not JSON, which the caller has ruled out
        let backslashes = 0;
        for (let k = j - 1; text.charCodeAt(k) === 92; k--) backslashes++;
        if (backslashes % 2 === 0) break;
        escaped = true;
        j++;
      }
      if (expectKey && top?.keys) {
        const raw = text.slice(i + 1, j);
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : raw;
        if (top.keys.has(key)) found.add(top.path ? `${top.path}.${key}` : key);
        else top.keys.add(key);
        top.key = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 123 /* { */) {
      const frame: Frame = { keys: new Set(), path: childPath(), index: 0, key: '' };
      if (top) stack.push(top);
      top = frame;
      expectKey = true;
    } else if (c === 91 /* [ */) {
      const frame: Frame = { path: childPath(), index: 0, key: '' };
      if (top) stack.push(top);
      top = frame;
      expectKey = false;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      top = stack.pop();
      expectKey = false;
    } else if (c === 44 /* , */ && top) {
      if (top.keys) expectKey = true;
      else top.index++;
    }
  }
  return [...found];
}

/** `line N: key "k" already set in map` for each repeated key of a YAML text, as Go's yaml.v2 says it. */
export function yamlDuplicateKeys(text: string): string[] {
  const lines = new YAML.LineCounter();
  const out: string[] = [];
  let docs: YAML.Document.Parsed[];
  try {
    docs = YAML.parseAllDocuments(text, { uniqueKeys: false, lineCounter: lines }) as YAML.Document.Parsed[];
  } catch {
    return out;
  }
  const stack: unknown[] = docs.map((d) => d.contents);
  while (stack.length) {
    const node = stack.pop();
    if (YAML.isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = YAML.isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key !== undefined) {
          if (seen.has(key)) {
            const offset = (pair.key as YAML.Scalar).range?.[0] ?? 0;
            out.push(`line ${lines.linePos(offset).line}: key ${JSON.stringify(key)} already set in map`);
          }
          seen.add(key);
        }
        stack.push(pair.value);
      }
    } else if (YAML.isSeq(node)) {
      stack.push(...node.items);
    }
  }
  // Depth-first with a stack visits later siblings first; yaml.v2 reports in document order.
  return out.sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
}
