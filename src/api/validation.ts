import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { isIP } from 'node:net';
import type { ResourceType } from './registry';
import type { KubeObject, StatusCause } from './types';
import { definitionNameOf, definitions, volumeSourceFields, type JSONSchema } from './schemas';
import { updateDefaulters } from './defaults';
import { parseQuantity } from './quantity';
import { isValidTimeZone, parseSchedule } from '../controllers/cron';
import { dns1123SubdomainErrors, labelSelectorFromObject, labelValueErrors, matchesLabels, qualifiedNameErrors } from './selectors';

/**
 * What every write to the API server goes through after defaulting: the
 * kind's OpenAPI schema (types, formats, enums, required fields, unknown
 * fields) and then the Kubernetes validation rules, reported as
 * `StatusCause`s whose `field`, `reason` and `message` read exactly like the
 * Kubernetes API server's (`spec.containers[0].name: Required value`).
 *
 * The rules follow k8s.io/kubernetes pkg/apis/{core,apps,coordination}/validation
 * and apimachinery's ObjectMeta validation, for the fields mk serves.
 */

/** The `fieldValidation` query parameter: what to do about fields the schema does not know. */
export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface ValidationResult {
  /** Empty when the object is valid. */
  causes: StatusCause[];
  /** `unknown field "spec.foo"` per dropped field, under fieldValidation=Warn. */
  warnings: string[];
  /**
   * `unknown field "spec.foo"` per undeclared field, under fieldValidation=Strict.
   * Kubernetes fails such a request while decoding it (400 BadRequest), before
   * any validation, so `causes` is then empty.
   */
  strictErrors: string[];
}

// ---------------------------------------------------------------------------
// Field errors, rendered like apimachinery's field.Error

/** A value Go prints through its String() method (IntOrString, Quantity): unquoted. */
class Unquoted {
  constructor(readonly text: string) {}
}

function show(value: unknown): string {
  if (value instanceof Unquoted) return value.text;
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function cause(reason: string, path: string, body: string, detail?: string): StatusCause {
  const c: StatusCause = { reason, message: detail ? `${body}: ${detail}` : body };
  if (path) c.field = path;
  return c;
}

/**
 * Builders of `StatusCause`s in the Kubernetes forms (`Required value`,
 * `Invalid value: "x": why`, `Unsupported value: "x": supported values: ...`).
 * Paths are Kubernetes field paths: `spec.containers[0].ports[1].name`,
 * `data[key]` for map keys.
 */
export const field = {
  required: (path: string, detail = ''): StatusCause => cause('FieldValueRequired', path, 'Required value', detail),
  invalid: (path: string, value: unknown, detail: string): StatusCause => cause('FieldValueInvalid', path, `Invalid value: ${show(value)}`, detail),
  typeInvalid: (path: string, value: unknown, detail: string): StatusCause => cause('FieldValueTypeInvalid', path, `Invalid value: ${show(value)}`, detail),
  notSupported: (path: string, value: unknown, supported: string[]): StatusCause =>
    cause('FieldValueNotSupported', path, `Unsupported value: ${show(value)}`, supported.length ? `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}` : ''),
  duplicate: (path: string, value: unknown, detail = ''): StatusCause => cause('FieldValueDuplicate', path, `Duplicate value: ${show(value)}`, detail),
  notFound: (path: string, value: unknown): StatusCause => cause('FieldValueNotFound', path, `Not found: ${show(value)}`),
  forbidden: (path: string, detail: string): StatusCause => cause('FieldValueForbidden', path, 'Forbidden', detail),
  tooLong: (path: string, max: number): StatusCause => cause('FieldValueTooLong', path, 'Too long', `must have at most ${max} bytes`),
};

const at = (path: string, name: string) => (path ? `${path}.${name}` : name);
const ix = (path: string, i: number | string) => `${path}[${i}]`;

// ---------------------------------------------------------------------------
// Name and value formats (k8s.io/apimachinery/pkg/util/validation). Each
// returns apimachinery's messages for what is wrong, empty when valid.

function regexError(msg: string, format: string, ...examples: string[]): string {
  if (!examples.length) return `${msg} (regex used for validation is '${format}')`;
  // Go's RegexError joins examples as "'a',  or 'b', " (two spaces); kept for identical messages.
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${format}')`;
}

const maxLenError = (n: number) => `must be no more than ${n} characters`;
const inclusiveRangeError = (lo: number, hi: number) => `must be between ${lo} and ${hi}, inclusive`;
const IS_NEGATIVE = 'must be greater than or equal to 0';
const FIELD_IMMUTABLE = 'field is immutable';

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1035_LABEL_FMT = '[a-z]([-a-z0-9]*[a-z0-9])?';
const CONFIG_KEY_FMT = '[-._a-zA-Z0-9]+';
const ENV_VAR_FMT = '[-._a-zA-Z][-._a-zA-Z0-9]*';
const PERCENT_FMT = '[0-9]+%';

const dns1123LabelRe = new RegExp(`^${DNS1123_LABEL_FMT}$`);
const dns1123SubdomainRe = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const dns1035LabelRe = new RegExp(`^${DNS1035_LABEL_FMT}$`);
const configKeyRe = new RegExp(`^${CONFIG_KEY_FMT}$`);
const envVarRe = new RegExp(`^${ENV_VAR_FMT}$`);
const percentRe = new RegExp(`^${PERCENT_FMT}$`);

const DNS1123_LABEL_ERR = regexError("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character", DNS1123_LABEL_FMT, 'my-name', '123-abc');
const DNS1035_LABEL_ERR = regexError("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character", DNS1035_LABEL_FMT, 'my-name', 'abc-123');
const CONFIG_KEY_ERR = regexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'", CONFIG_KEY_FMT, 'key.name', 'KEY_NAME', 'key-name');
const ENV_VAR_ERR = regexError("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit", ENV_VAR_FMT, 'my.env-name', 'MY_ENV.NAME', 'MyEnvName1');
const PERCENT_ERR = regexError("a valid percent string must be a numeric string followed by an ending '%'", PERCENT_FMT, '1%', '93%');

/** A DNS-1123 label: container, volume and port names, namespaces. */
export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push(maxLenError(63));
  if (!dns1123LabelRe.test(value)) errs.push(dns1123SubdomainRe.test(value) ? 'must not contain dots' : DNS1123_LABEL_ERR);
  return errs;
}

/** A DNS-1035 label (starts with a letter): service names. */
export function isDNS1035Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push(maxLenError(63));
  if (!dns1035LabelRe.test(value)) errs.push(DNS1035_LABEL_ERR);
  return errs;
}

function chDirPrefixErrors(value: string): string[] {
  if (value === '.') return ["must not be '.'"];
  if (value === '..') return ["must not be '..'"];
  if (value.startsWith('..')) return ["must not start with '..'"];
  return [];
}

/** A key of a ConfigMap or Secret. */
export function isConfigMapKey(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push(maxLenError(253));
  if (!configKeyRe.test(value)) errs.push(CONFIG_KEY_ERR);
  errs.push(...chDirPrefixErrors(value));
  return errs;
}

/** An environment variable name (and an envFrom prefix). */
export function isEnvVarName(value: string): string[] {
  const errs = envVarRe.test(value) ? [] : [ENV_VAR_ERR];
  errs.push(...chDirPrefixErrors(value));
  return errs;
}

/** An IANA_SVC_NAME: a container or service port name. */
export function isValidPortName(port: string): string[] {
  const errs: string[] = [];
  if (port.length > 15) errs.push(maxLenError(15));
  if (!/^[-a-z0-9]+$/.test(port)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(port)) errs.push('must contain at least one letter (a-z)');
  if (port.includes('--')) errs.push('must not contain consecutive hyphens');
  if (port.startsWith('-') || port.endsWith('-')) errs.push('must not begin or end with a hyphen');
  return errs;
}

/** A port number, 1-65535. */
export function isValidPortNum(port: number): string[] {
  return port >= 1 && port <= 65535 ? [] : [inclusiveRangeError(1, 65535)];
}

// Label keys (qualified names), label values and DNS subdomains: the selector module's checks.
const isDNS1123Subdomain = dns1123SubdomainErrors;
const isQualifiedName = qualifiedNameErrors;
const isLabelValue = labelValueErrors;

function ipErrors(path: string, value: string, errs: StatusCause[]): boolean {
  if (isIP(value)) return true;
  errs.push(field.invalid(path, value, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  return false;
}

function isCIDR(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash < 0) return false;
  const family = isIP(value.slice(0, slash));
  const bits = value.slice(slash + 1);
  return family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

// ---------------------------------------------------------------------------
// Quantities

/** A quantity's value, or undefined when it is not one. */
function quantityOf(q: unknown): number | undefined {
  if (typeof q !== 'string' && typeof q !== 'number') return undefined;
  try {
    return parseQuantity(q);
  } catch {
    return undefined;
  }
}

/** Why a string is not a quantity, in apimachinery's words. */
function quantityError(q: string): string {
  try {
    parseQuantity(q);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

const quantityText = (q: unknown) => new Unquoted(String(q));

// ---------------------------------------------------------------------------
// Small helpers over loosely typed JSON

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): any[] => (Array.isArray(v) ? v : []);
const entries = (v: unknown): [string, any][] => (isObj(v) ? Object.entries(v) : []);
const has = (o: Obj, k: string) => o[k] !== undefined && o[k] !== null;

/** Whether a selector that passed validation selects these labels; false when it cannot be parsed. */
function selectorMatches(selector: unknown, labels: Record<string, string> | undefined): boolean {
  try {
    return matchesLabels(labelSelectorFromObject(selector as Parameters<typeof labelSelectorFromObject>[0]), labels);
  } catch {
    return false;
  }
}

const SELECTOR_OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);
const isEmptySelector = (s: Obj) => !Object.keys(s.matchLabels ?? {}).length && !list(s.matchExpressions).length;

/**
 * Kubernetes' semantic equality for update checks: a zero value (absent,
 * null, "", 0, false, [] or {}) equals absence, the way a Go struct decoded
 * from either does, and a number equals the quantity string of the same value.
 */
function isZero(v: unknown): boolean {
  return v === undefined || v === null || v === '' || v === 0 || v === false
    || (Array.isArray(v) && v.length === 0) || (isObj(v) && Object.keys(v).length === 0);
}

function semanticEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isZero(a) && isZero(b)) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => semanticEqual(x, b[i]));
  }
  if (isObj(a) && isObj(b)) {
    for (const k of Object.keys(a)) if (!semanticEqual(a[k], b[k])) return false;
    for (const k of Object.keys(b)) if (!(k in a) && !isZero(b[k])) return false;
    return true;
  }
  if (typeof a !== typeof b && (typeof a === 'number' || typeof b === 'number')) {
    const qa = quantityOf(a);
    return qa !== undefined && qa === quantityOf(b);
  }
  return false;
}

/** `- path: old` / `+ path: new` lines for the first differences, standing in for Go's cmp.Diff. */
function describeDiff(oldV: unknown, newV: unknown, path: string, out: string[], limit = 8): void {
  if (out.length >= limit * 2 || semanticEqual(oldV, newV)) return;
  if (isObj(oldV) && isObj(newV)) {
    for (const k of new Set([...Object.keys(oldV), ...Object.keys(newV)])) describeDiff(oldV[k], newV[k], at(path, k), out, limit);
    return;
  }
  if (Array.isArray(oldV) && Array.isArray(newV) && oldV.length === newV.length) {
    oldV.forEach((v, i) => describeDiff(v, newV[i], ix(path, i), out, limit));
    return;
  }
  out.push(`- ${path}: ${show(oldV)}`, `+ ${path}: ${show(newV)}`);
}

// ---------------------------------------------------------------------------
// Schema: pruning, then ajv

/**
 * Removes what Kubernetes' JSON decoding would not keep, in place: fields the
 * schema does not declare (collected into `unknown`, removed only when
 * `remove`), and nulls, which Go decodes as "unset" (in a string map, as "").
 */
function prune(value: any, schema: JSONSchema, path: string, unknown: string[], remove: boolean): void {
  if (schema['x-kubernetes-preserve-unknown-fields']) return;
  if (Array.isArray(value)) {
    const items = schema.items;
    if (!items) return;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v === 'object' && v !== null) prune(v, items, `${path}[${i}]`, unknown, remove);
    }
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const props: Record<string, JSONSchema> | undefined = schema.properties;
  const extra = schema.additionalProperties;
  const mapValues = typeof extra === 'object' ? (extra as JSONSchema) : undefined;
  for (const k of Object.keys(value)) {
    const sub = props && Object.hasOwn(props, k) ? props[k] : mapValues;
    const v = value[k];
    if (!sub) {
      if (props && !extra) {
        const p = at(path, k);
        unknown.push(p);
        if (remove) delete value[k];
      }
      continue;
    }
    if (v === null) {
      if (sub === mapValues && sub.type === 'string') value[k] = '';
      else delete value[k];
    } else if (typeof v === 'object') {
      prune(v, sub, sub === mapValues ? ix(path, k) : at(path, k), unknown, remove);
    }
  }
}

/**
 * The fields of `obj` that `schema` does not declare (`spec.foo`), removed
 * unless `keep`; nulls go too. For bodies that are not stored objects (access
 * reviews), which need the pruning but none of `validateObject`'s metadata rules.
 */
export function pruneUnknownFields(obj: unknown, schema: JSONSchema, keep = false): string[] {
  const unknown: string[] = [];
  prune(obj, schema, '', unknown, !keep);
  return unknown;
}

// inlineRefs off: each shared definition (PodSpec, Container, ...) compiles to one function all kinds call.
const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false, inlineRefs: false });
ajv.addVocabulary([
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-group-version-kind',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-patch-strategy',
  'x-kubernetes-patch-merge-key',
  'x-kubernetes-embedded-resource',
]);
ajv.addKeyword({
  keyword: 'x-kubernetes-int-or-string',
  schemaType: 'boolean',
  // A quantity also accepts fractional JSON numbers (cpu: 0.5), as Kubernetes' Quantity decoder does.
  validate: (on: boolean, data: unknown, parent?: JSONSchema) =>
    !on || typeof data === 'string' || (typeof data === 'number' && (Number.isInteger(data) || parent?.format === 'quantity')),
});
const rfc3339Re = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const base64Re = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 });
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
ajv.addFormat('double', { type: 'number', validate: () => true });
ajv.addFormat('date-time', { type: 'string', validate: (s: string) => rfc3339Re.test(s) && !Number.isNaN(Date.parse(s)) });
// Go's base64 decoder skips newlines inside []byte values.
ajv.addFormat('byte', { type: 'string', validate: (s: string) => base64Re.test(s.replace(/[\r\n]/g, '')) });
ajv.addFormat('quantity', { type: 'string', validate: (s: string) => quantityOf(s) !== undefined });

const compiled = new WeakMap<JSONSchema, ValidateFunction>();
const registered = new Set<string>();

/** A copy of a schema with uses of shared definitions replaced by `$ref`s to them, registered once. */
function withRefs(schema: JSONSchema, isDefinition = false): JSONSchema {
  const name = definitionNameOf(schema);
  if (name && !isDefinition) {
    if (!registered.has(name)) {
      registered.add(name);
      ajv.addSchema({ ...withRefs(definitions[name], true), $id: name });
    }
    return { $ref: name };
  }
  const out: JSONSchema = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'properties') out.properties = Object.fromEntries(Object.entries(v as JSONSchema).map(([p, s]) => [p, withRefs(s)]));
    else if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object')) out[k] = withRefs(v);
    else out[k] = v;
  }
  return out;
}

function validatorFor(schema: JSONSchema): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(withRefs(schema));
    compiled.set(schema, fn);
  }
  return fn;
}

function pointerSegments(pointer: string): string[] {
  return pointer ? pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')) : [];
}

/** The Kubernetes field path of a JSON pointer: struct fields dotted, list indexes and map keys bracketed. */
function fieldPathOf(schema: JSONSchema, pointer: string): string {
  let path = '';
  let s: JSONSchema | undefined = schema;
  for (const seg of pointerSegments(pointer)) {
    if (s?.properties && Object.hasOwn(s.properties, seg)) {
      path = at(path, seg);
      s = s.properties[seg];
    } else {
      path = ix(path, seg);
      s = s?.items ?? (typeof s?.additionalProperties === 'object' ? s.additionalProperties : undefined);
    }
  }
  return path;
}

function valueAt(obj: unknown, pointer: string): unknown {
  let v: any = obj;
  for (const seg of pointerSegments(pointer)) v = v?.[seg];
  return v;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Reports a schema failure in the form the API server gives (kube-openapi's for types and formats). */
function schemaCause(e: ErrorObject, schema: JSONSchema, obj: unknown): StatusCause {
  const path = fieldPathOf(schema, e.instancePath);
  const value = valueAt(obj, e.instancePath);
  switch (e.keyword) {
    case 'required':
      return field.required(at(path, (e.params as { missingProperty: string }).missingProperty));
    case 'enum':
      return field.notSupported(path, value, (e.params as { allowedValues: string[] }).allowedValues);
    case 'type':
      return field.typeInvalid(path, jsonType(value), `${path} in body must be of type ${(e.params as { type: string }).type}: "${jsonType(value)}"`);
    case 'x-kubernetes-int-or-string':
      return field.typeInvalid(path, jsonType(value), `${path} in body must be of type integer or string: "${jsonType(value)}"`);
    case 'format': {
      const format = (e.params as { format: string }).format;
      if (format === 'quantity') return field.invalid(path, value, quantityError(String(value)));
      // Secret data never goes back in an error.
      if (format === 'byte') return field.invalid(path, '<secret contents redacted>', 'illegal base64 data');
      return field.typeInvalid(path, value, `${path} in body must be of type ${format}: ${JSON.stringify(String(value))}`);
    }
    default:
      return field.invalid(path, value, e.message ?? 'is invalid');
  }
}

const TYPE_KEYWORDS = new Set(['type', 'format', 'x-kubernetes-int-or-string']);

/** Appends schema failures to causes; returns whether any of them is a wrong type, which Kubernetes would reject before validating. */
function checkSchema(schema: JSONSchema, obj: KubeObject, causes: StatusCause[]): boolean {
  const validate = validatorFor(schema);
  if (validate(obj)) return false;
  const errors = validate.errors ?? [];
  const typeFailures = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  let typeError = false;
  for (const e of errors) {
    // A value of the wrong type also fails its enum and format; the type error says it all.
    if (e.keyword !== 'type' && typeFailures.has(e.instancePath)) continue;
    if (TYPE_KEYWORDS.has(e.keyword)) typeError = true;
    causes.push(schemaCause(e, schema, obj));
  }
  return typeError;
}

// ---------------------------------------------------------------------------
// ObjectMeta

/** Name rules that differ from the default (DNS-1123 subdomain), per kind. */
const nameRules: Record<string, (name: string) => string[]> = {
  Namespace: isDNS1123Label,
  Service: isDNS1035Label,
};

const TOTAL_ANNOTATION_SIZE = 256 * 1024;
const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

function validateLabels(labels: unknown, path: string, errs: StatusCause[]): void {
  for (const [k, v] of entries(labels)) {
    for (const m of isQualifiedName(k)) errs.push(field.invalid(path, k, m));
    if (typeof v === 'string') for (const m of isLabelValue(v)) errs.push(field.invalid(path, v, m));
  }
}

function validateAnnotations(annotations: unknown, path: string, errs: StatusCause[]): void {
  let chars = 0;
  for (const [k, v] of entries(annotations)) {
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(field.invalid(path, k, m));
    chars += k.length + String(v).length;
  }
  // Characters bound bytes from below, so the exact byte count is only needed near the limit.
  if (chars * 3 > TOTAL_ANNOTATION_SIZE) {
    let size = 0;
    for (const [k, v] of entries(annotations)) size += Buffer.byteLength(k) + Buffer.byteLength(String(v));
    if (size > TOTAL_ANNOTATION_SIZE) errs.push(field.tooLong(path, TOTAL_ANNOTATION_SIZE));
  }
}

function validateFinalizerName(name: string, path: string, errs: StatusCause[]): void {
  for (const m of isQualifiedName(name)) errs.push(field.invalid(path, name, m));
}

function validateKubeFinalizerName(name: string, path: string, errs: StatusCause[]): void {
  if (!name.includes('/') && !STANDARD_FINALIZERS.has(name)) {
    errs.push(field.invalid(path, name, 'name is neither a standard finalizer name nor is it fully qualified'));
  }
}

function validateObjectMeta(rt: ResourceType, obj: KubeObject, old: KubeObject | undefined, errs: StatusCause[]): void {
  const meta = obj.metadata;
  if (!isObj(meta)) {
    errs.push(field.required('metadata'));
    return;
  }
  if (!meta.name) errs.push(field.required('metadata.name', 'name or generateName is required'));
  else for (const m of (nameRules[rt.kind] ?? isDNS1123Subdomain)(meta.name)) errs.push(field.invalid('metadata.name', meta.name, m));

  if (rt.namespaced) {
    if (!meta.namespace) errs.push(field.required('metadata.namespace'));
    else for (const m of isDNS1123Label(meta.namespace)) errs.push(field.invalid('metadata.namespace', meta.namespace, m));
  } else if (meta.namespace) {
    errs.push(field.forbidden('metadata.namespace', 'not allowed on this type'));
  }

  if (typeof meta.generation === 'number' && meta.generation < 0) errs.push(field.invalid('metadata.generation', meta.generation, IS_NEGATIVE));
  validateLabels(meta.labels, 'metadata.labels', errs);
  validateAnnotations(meta.annotations, 'metadata.annotations', errs);

  let controller = '';
  for (const ref of list(meta.ownerReferences)) {
    const path = 'metadata.ownerReferences';
    const apiVersion = String(ref.apiVersion ?? '');
    const version = apiVersion.slice(apiVersion.lastIndexOf('/') + 1);
    if (!version) errs.push(field.invalid(at(path, 'apiVersion'), apiVersion, 'version must not be empty'));
    if (!ref.kind) errs.push(field.invalid(at(path, 'kind'), ref.kind ?? '', 'must not be empty'));
    if (!ref.name) errs.push(field.invalid(at(path, 'name'), ref.name ?? '', 'must not be empty'));
    if (!ref.uid) errs.push(field.invalid(at(path, 'uid'), ref.uid ?? '', 'must not be empty'));
    if (apiVersion === 'v1' && ref.kind === 'Event') errs.push(field.invalid(path, ref, '/v1, Kind=Event is disallowed from being an owner'));
    if (ref.controller === true) {
      const current = `${ref.kind}/${ref.name}`;
      if (controller) errs.push(field.invalid(path, meta.ownerReferences, `Only one reference can have Controller set to true. Found "true" in references for ${controller} and ${current}`));
      else controller = current;
    }
  }

  const finalizers = list(meta.finalizers);
  finalizers.forEach((f: string, i) => {
    validateFinalizerName(f, 'metadata.finalizers', errs);
    validateKubeFinalizerName(f, ix('metadata.finalizers', i), errs);
  });
  if (finalizers.includes('orphan') && finalizers.includes('foregroundDeletion')) {
    errs.push(field.invalid('metadata.finalizers', finalizers, 'finalizer orphan and foregroundDeletion cannot be both set'));
  }

  list(meta.managedFields).forEach((mf, i) => {
    const path = ix('metadata.managedFields', i);
    if (mf.operation !== 'Apply' && mf.operation !== 'Update') errs.push(field.invalid(at(path, 'operation'), mf.operation ?? '', 'must be `Apply` or `Update`'));
    if (mf.fieldsType && mf.fieldsType !== 'FieldsV1') errs.push(field.invalid(at(path, 'fieldsType'), mf.fieldsType, 'must be `FieldsV1`'));
  });

  const oldMeta = old?.metadata;
  if (!isObj(oldMeta)) return;
  for (const k of ['name', 'namespace'] as const) {
    if ((meta[k] ?? '') !== (oldMeta[k] ?? '')) errs.push(field.invalid(at('metadata', k), meta[k] ?? '', FIELD_IMMUTABLE));
  }
  if (meta.uid && oldMeta.uid && meta.uid !== oldMeta.uid) errs.push(field.invalid('metadata.uid', meta.uid, FIELD_IMMUTABLE));
  if (oldMeta.deletionTimestamp) {
    const added = finalizers.filter((f) => !list(oldMeta.finalizers).includes(f));
    if (added.length) {
      errs.push(field.forbidden('metadata.finalizers', `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`));
    }
  }
}

function validateLabelSelector(selector: unknown, path: string, errs: StatusCause[]): void {
  if (!isObj(selector)) return;
  validateLabels(selector.matchLabels, at(path, 'matchLabels'), errs);
  list(selector.matchExpressions).forEach((r, i) => {
    const p = ix(at(path, 'matchExpressions'), i);
    const values = list(r.values);
    switch (r.operator) {
      case 'In':
      case 'NotIn':
        if (!values.length) errs.push(field.required(at(p, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length) errs.push(field.forbidden(at(p, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      default:
        errs.push(field.invalid(at(p, 'operator'), r.operator ?? '', 'not a valid selector operator'));
    }
    for (const m of isQualifiedName(r.key ?? '')) errs.push(field.invalid(at(p, 'key'), r.key ?? '', m));
    values.forEach((v: string, j) => {
      for (const m of isLabelValue(v)) errs.push(field.invalid(ix(at(p, 'values'), j), v, m));
    });
  });
}

// ---------------------------------------------------------------------------
// Pod spec (core/v1 ValidatePodSpec and friends)

const FILE_MODE_ERR = 'must be a number between 0 and 0777 (octal), both inclusive';
const ENV_FIELD_PATHS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName', 'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs'];
const VOLUME_FIELD_PATHS = ['metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid'];
/** Fields the v1 downward API converts at all; others fail before the allow-list check. */
const DOWNWARD_API_FIELDS = new Set([...ENV_FIELD_PATHS, 'metadata.labels', 'metadata.annotations', 'spec.restartPolicy', 'spec.schedulerName', 'status.phase']);
const RESOURCE_FIELD_PATHS = ['limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory'];
const STANDARD_CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);
const STANDARD_RESOURCES = new Set([
  'cpu', 'memory', 'ephemeral-storage', 'storage', 'pods', 'services', 'replicationcontrollers', 'resourcequotas', 'secrets',
  'configmaps', 'persistentvolumeclaims', 'services.nodeports', 'services.loadbalancers',
]);
const UPDATABLE_POD_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
].join(',');

interface PodSpecContext {
  /** The spec is a pod's, not a template's: stricter checks apply. */
  isPod: boolean;
  gracePeriod?: number;
}

function validatePortNumOrName(port: unknown, path: string, errs: StatusCause[]): void {
  if (typeof port === 'number') for (const m of isValidPortNum(port)) errs.push(field.invalid(path, port, m));
  else if (typeof port === 'string') for (const m of isValidPortName(port)) errs.push(field.invalid(path, port, m));
}

function validateLocalPath(p: string, path: string, errs: StatusCause[]): void {
  if (p.startsWith('/')) errs.push(field.invalid(path, p, 'must be a relative path'));
  if (p.split('/').includes('..')) errs.push(field.invalid(path, p, "must not contain '..'"));
  else if (p.startsWith('..')) errs.push(field.invalid(path, p, "must not start with '..'"));
}

function validateMode(mode: unknown, path: string, errs: StatusCause[]): void {
  if (typeof mode === 'number' && (mode < 0 || mode > 0o777)) errs.push(field.invalid(path, mode, FILE_MODE_ERR));
}

function validateKeyToPaths(items: unknown, path: string, errs: StatusCause[]): void {
  list(items).forEach((kp, i) => {
    const p = ix(path, i);
    if (!kp.key) errs.push(field.required(at(p, 'key')));
    if (!kp.path) errs.push(field.required(at(p, 'path')));
    validateLocalPath(kp.path ?? '', at(p, 'path'), errs);
    validateMode(kp.mode, at(p, 'mode'), errs);
  });
}

function validateObjectFieldSelector(ref: Obj, allowed: string[], path: string, errs: StatusCause[]): void {
  if (!ref.fieldPath) return void errs.push(field.required(at(path, 'fieldPath')));
  const fp: string = ref.fieldPath;
  // apiVersion defaults to v1, the only version the downward API converts.
  if (ref.apiVersion && ref.apiVersion !== 'v1') {
    return void errs.push(field.invalid(at(path, 'fieldPath'), fp, `error converting fieldPath: unsupported pod version: ${ref.apiVersion}`));
  }
  const sub = /^(metadata\.(?:labels|annotations))\['(.*)'\]$/.exec(fp);
  if (sub) {
    const key = sub[1] === 'metadata.annotations' ? sub[2].toLowerCase() : sub[2];
    for (const m of isQualifiedName(key)) errs.push(field.invalid(path, key, m));
    return;
  }
  if (!DOWNWARD_API_FIELDS.has(fp)) {
    errs.push(field.invalid(at(path, 'fieldPath'), fp, `error converting fieldPath: field label not supported: ${fp}`));
  } else if (!allowed.includes(fp)) {
    errs.push(field.notSupported(at(path, 'fieldPath'), fp, allowed));
  }
}

function validateResourceFieldSelector(ref: Obj, path: string, inVolume: boolean, errs: StatusCause[]): void {
  if (inVolume && !ref.containerName) errs.push(field.required(at(path, 'containerName')));
  else if (!ref.resource) errs.push(field.required(at(path, 'resource')));
  else if (!RESOURCE_FIELD_PATHS.includes(ref.resource) && !/^(limits|requests)\.hugepages-/.test(ref.resource)) {
    errs.push(field.notSupported(at(path, 'resource'), ref.resource, RESOURCE_FIELD_PATHS));
  }
}

function validateVolumeSource(vol: Obj, path: string, errs: StatusCause[]): void {
  let found = 0;
  for (const source of volumeSourceFields) {
    if (!has(vol, source)) continue;
    const p = at(path, source);
    if (found++ > 0) {
      errs.push(field.forbidden(p, 'may not specify more than 1 volume type'));
      continue;
    }
    const s = vol[source];
    switch (source) {
      case 'emptyDir':
        if ((quantityOf(s.sizeLimit) ?? 0) < 0) errs.push(field.forbidden(at(p, 'sizeLimit'), 'SizeLimit field must be a valid resource quantity'));
        break;
      case 'hostPath':
        if (!s.path) errs.push(field.required(at(p, 'path')));
        else if (s.path.split('/').includes('..')) errs.push(field.invalid(at(p, 'path'), s.path, "must not contain '..'"));
        break;
      case 'configMap':
      case 'secret': {
        const nameField = source === 'secret' ? 'secretName' : 'name';
        if (!s[nameField]) errs.push(field.required(at(p, nameField)));
        validateMode(s.defaultMode, at(p, 'defaultMode'), errs);
        validateKeyToPaths(s.items, at(p, 'items'), errs);
        break;
      }
      case 'persistentVolumeClaim':
        if (!s.claimName) errs.push(field.required(at(p, 'claimName')));
        break;
      case 'downwardAPI':
        validateMode(s.defaultMode, at(p, 'defaultMode'), errs);
        for (const file of list(s.items)) validateDownwardAPIFile(file, p, errs);
        break;
      case 'projected':
        validateMode(s.defaultMode, at(p, 'defaultMode'), errs);
        validateProjection(s, p, errs);
        break;
      case 'nfs':
        if (!s.server) errs.push(field.required(at(p, 'server')));
        if (!s.path) errs.push(field.required(at(p, 'path')));
        if (!String(s.path ?? '').startsWith('/')) errs.push(field.invalid(at(p, 'path'), s.path ?? '', 'must be an absolute path'));
        break;
      case 'csi':
        if (!s.driver) errs.push(field.required(at(p, 'driver')));
        break;
    }
  }
  if (!found) errs.push(field.required(path, 'must specify a volume type'));
}

function validateDownwardAPIFile(file: Obj, path: string, errs: StatusCause[]): void {
  if (!file.path) errs.push(field.required(at(path, 'path')));
  validateLocalPath(file.path ?? '', at(path, 'path'), errs);
  if (isObj(file.fieldRef)) {
    validateObjectFieldSelector(file.fieldRef, VOLUME_FIELD_PATHS, at(path, 'fieldRef'), errs);
    if (isObj(file.resourceFieldRef)) errs.push(field.invalid(path, 'resource', 'fieldRef and resourceFieldRef can not be specified simultaneously'));
  } else if (isObj(file.resourceFieldRef)) {
    validateResourceFieldSelector(file.resourceFieldRef, at(path, 'resourceFieldRef'), true, errs);
  } else {
    errs.push(field.required(path, 'one of fieldRef and resourceFieldRef is required'));
  }
  validateMode(file.mode, at(path, 'mode'), errs);
}

function validateProjection(projected: Obj, path: string, errs: StatusCause[]): void {
  list(projected.sources).forEach((src, i) => {
    const p = ix(at(path, 'sources'), i);
    let n = 0;
    for (const kind of ['secret', 'configMap'] as const) {
      if (!isObj(src[kind])) continue;
      n++;
      if (!src[kind].name) errs.push(field.required(at(at(p, kind), 'name')));
      validateKeyToPaths(src[kind].items, at(at(p, kind), 'items'), errs);
    }
    if (isObj(src.downwardAPI)) {
      n++;
      for (const file of list(src.downwardAPI.items)) validateDownwardAPIFile(file, at(p, 'downwardAPI'), errs);
    }
    const token = src.serviceAccountToken;
    if (isObj(token)) {
      n++;
      const exp = token.expirationSeconds;
      if (typeof exp === 'number' && exp < 600) errs.push(field.invalid(at(at(p, 'serviceAccountToken'), 'expirationSeconds'), exp, 'may not specify a duration less than 10 minutes'));
      if (typeof exp === 'number' && exp > 2 ** 32) errs.push(field.invalid(at(at(p, 'serviceAccountToken'), 'expirationSeconds'), exp, 'may not specify a duration larger than 2^32 seconds'));
      if (!token.path) errs.push(field.required(at(path, 'path')));
      else validateLocalPath(token.path, at(path, 'path'), errs);
    }
    if (isObj(src.clusterTrustBundle)) n++;
    if (n > 1) errs.push(field.forbidden(p, 'may not specify more than 1 volume type per source'));
  });
}

/** Validates volumes; returns the names of the valid ones, which mounts may reference. */
function validateVolumes(volumes: unknown, path: string, errs: StatusCause[]): Set<string> {
  const names = new Set<string>();
  list(volumes).forEach((vol, i) => {
    const p = ix(path, i);
    const el: StatusCause[] = [];
    if (!isObj(vol)) return;
    validateVolumeSource(vol, p, el);
    if (!vol.name) el.push(field.required(at(p, 'name')));
    else for (const m of isDNS1123Label(vol.name)) el.push(field.invalid(at(p, 'name'), vol.name, m));
    if (names.has(vol.name)) el.push(field.duplicate(at(p, 'name'), vol.name));
    if (el.length) errs.push(...el);
    else names.add(vol.name);
  });
  return names;
}

function validateEnv(env: unknown, path: string, errs: StatusCause[]): void {
  list(env).forEach((ev, i) => {
    const p = ix(path, i);
    if (!ev.name) errs.push(field.required(at(p, 'name')));
    else for (const m of isEnvVarName(ev.name)) errs.push(field.invalid(at(p, 'name'), ev.name, m));
    const from = ev.valueFrom;
    if (!isObj(from)) return;
    const vp = at(p, 'valueFrom');
    let n = 0;
    if (isObj(from.fieldRef)) {
      n++;
      validateObjectFieldSelector(from.fieldRef, ENV_FIELD_PATHS, at(vp, 'fieldRef'), errs);
    }
    if (isObj(from.resourceFieldRef)) {
      n++;
      validateResourceFieldSelector(from.resourceFieldRef, at(vp, 'resourceFieldRef'), false, errs);
    }
    for (const k of ['configMapKeyRef', 'secretKeyRef'] as const) {
      const ref = from[k];
      if (!isObj(ref)) continue;
      n++;
      for (const m of isDNS1123Subdomain(ref.name ?? '')) errs.push(field.invalid(at(at(vp, k), 'name'), ref.name ?? '', m));
      if (!ref.key) errs.push(field.required(at(at(vp, k), 'key')));
      else for (const m of isConfigMapKey(ref.key)) errs.push(field.invalid(at(at(vp, k), 'key'), ref.key, m));
    }
    if (n === 0) errs.push(field.invalid(vp, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
    else if (ev.value) errs.push(field.invalid(vp, '', 'may not be specified when `value` is not empty'));
    else if (n > 1) errs.push(field.invalid(vp, '', 'may not have more than one field specified at a time'));
  });
}

function validateEnvFrom(envFrom: unknown, path: string, errs: StatusCause[]): void {
  list(envFrom).forEach((ef, i) => {
    const p = ix(path, i);
    if (ef.prefix) for (const m of isEnvVarName(ef.prefix)) errs.push(field.invalid(at(p, 'prefix'), ef.prefix, m));
    let n = 0;
    for (const k of ['configMapRef', 'secretRef'] as const) {
      if (!isObj(ef[k])) continue;
      n++;
      const name = ef[k].name;
      if (!name) errs.push(field.required(at(at(p, k), 'name')));
      else for (const m of isDNS1123Subdomain(name)) errs.push(field.invalid(at(at(p, k), 'name'), name, m));
    }
    // Kubernetes reports these on the list, not the item.
    if (n === 0) errs.push(field.invalid(path, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (n > 1) errs.push(field.invalid(path, '', 'may not have more than one field specified at a time'));
  });
}

const isNativeResource = (name: string) => !name.includes('/') || name.includes('kubernetes.io/');
const isHugePages = (name: string) => name.startsWith('hugepages-');
const overcommitAllowed = (name: string) => isNativeResource(name) && !isHugePages(name);

function validateResourceName(name: string, path: string, errs: StatusCause[]): void {
  const before = errs.length;
  for (const m of isQualifiedName(name)) errs.push(field.invalid(path, name, m));
  if (errs.length > before || name.includes('/')) return;
  if (!STANDARD_RESOURCES.has(name) && !isHugePages(name) && !/^(requests|limits)\./.test(name)) {
    errs.push(field.invalid(path, name, 'must be a standard resource type or fully qualified'));
  }
  if (!STANDARD_CONTAINER_RESOURCES.has(name) && !isHugePages(name)) errs.push(field.invalid(path, name, 'must be a standard resource for containers'));
}

function validateResources(res: unknown, path: string, errs: StatusCause[]): void {
  if (!isObj(res)) return;
  const limPath = at(path, 'limits');
  const reqPath = at(path, 'requests');
  const limits = isObj(res.limits) ? res.limits : {};
  for (const [name, q] of entries(res.limits)) {
    const p = ix(limPath, name);
    validateResourceName(name, p, errs);
    if ((quantityOf(q) ?? 0) < 0) errs.push(field.invalid(p, quantityText(q), IS_NEGATIVE));
  }
  for (const [name, q] of entries(res.requests)) {
    const p = ix(reqPath, name);
    validateResourceName(name, p, errs);
    const value = quantityOf(q);
    if ((value ?? 0) < 0) errs.push(field.invalid(p, quantityText(q), IS_NEGATIVE));
    const limit = limits[name];
    if (limit !== undefined) {
      const lv = quantityOf(limit);
      if (value === undefined || lv === undefined) continue;
      if (!overcommitAllowed(name) && value !== lv) errs.push(field.invalid(reqPath, String(q), `must be equal to ${name} limit of ${limit}`));
      else if (value > lv) errs.push(field.invalid(reqPath, String(q), `must be less than or equal to ${name} limit of ${limit}`));
    } else if (!overcommitAllowed(name)) {
      errs.push(field.required(limPath, 'Limit must be set for non overcommitable resources'));
    }
  }
}

function validateHandler(handler: Obj, path: string, kinds: string[], ctx: PodSpecContext, errs: StatusCause[]): void {
  let n = 0;
  for (const kind of kinds) {
    if (!isObj(handler[kind])) continue;
    const p = at(path, kind);
    if (n++ > 0) {
      errs.push(field.forbidden(p, 'may not specify more than 1 handler type'));
      continue;
    }
    const h = handler[kind];
    switch (kind) {
      case 'exec':
        if (!list(h.command).length) errs.push(field.required(at(p, 'command')));
        break;
      case 'httpGet':
        if (h.path === '') errs.push(field.required(at(p, 'path')));
        validatePortNumOrName(h.port, at(p, 'port'), errs);
        for (const header of list(h.httpHeaders)) {
          if (!/^[-A-Za-z0-9]+$/.test(header.name ?? '')) {
            errs.push(field.invalid(at(p, 'httpHeaders'), header.name ?? '', regexError("a valid HTTP header must consist of alphanumeric characters or '-'", '[-A-Za-z0-9]+', 'X-Header-Name')));
          }
        }
        break;
      case 'tcpSocket':
        validatePortNumOrName(h.port, at(p, 'port'), errs);
        break;
      case 'grpc':
        validatePortNumOrName(h.port, at(p, 'port'), errs);
        break;
      case 'sleep':
        if (ctx.gracePeriod !== undefined && (h.seconds < 0 || h.seconds > ctx.gracePeriod)) {
          errs.push(field.invalid(p, h.seconds, `must be non-negative and less than terminationGracePeriodSeconds (${ctx.gracePeriod})`));
        }
        break;
    }
  }
  if (!n) errs.push(field.required(path, 'must specify a handler type'));
}

const PROBE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'];
const LIFECYCLE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'sleep'];

function validateProbe(probe: unknown, path: string, kind: 'liveness' | 'readiness' | 'startup', ctx: PodSpecContext, errs: StatusCause[]): void {
  if (!isObj(probe)) return;
  validateHandler(probe, path, PROBE_HANDLERS, ctx, errs);
  for (const k of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    if (typeof probe[k] === 'number' && probe[k] < 0) errs.push(field.invalid(at(path, k), probe[k], IS_NEGATIVE));
  }
  const tgps = probe.terminationGracePeriodSeconds;
  if (typeof tgps === 'number' && tgps <= 0) errs.push(field.invalid(at(path, 'terminationGracePeriodSeconds'), tgps, 'must be greater than 0'));
  if (kind === 'readiness' && tgps !== undefined) errs.push(field.invalid(at(path, 'terminationGracePeriodSeconds'), tgps, 'must not be set for readinessProbes'));
  if (kind !== 'readiness' && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
    errs.push(field.invalid(at(path, 'successThreshold'), probe.successThreshold, 'must be 1'));
  }
}

function validateLifecycle(lifecycle: unknown, path: string, ctx: PodSpecContext, errs: StatusCause[]): void {
  if (!isObj(lifecycle)) return;
  for (const hook of ['postStart', 'preStop']) {
    if (isObj(lifecycle[hook])) validateHandler(lifecycle[hook], at(path, hook), LIFECYCLE_HANDLERS, ctx, errs);
  }
}

const validUser = (n: unknown) => typeof n !== 'number' || (n >= 0 && n <= 0xffffffff);

function validateSecurityContext(sc: unknown, path: string, errs: StatusCause[]): void {
  if (!isObj(sc)) return;
  for (const k of ['runAsUser', 'runAsGroup']) {
    if (!validUser(sc[k])) errs.push(field.invalid(at(path, k), sc[k], inclusiveRangeError(0, 4294967295)));
  }
  if (sc.allowPrivilegeEscalation === false && sc.privileged === true) {
    errs.push(field.invalid(path, sc, 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true'));
  }
}

/** Checks shared by regular and init containers (validateContainerCommon). */
function validateContainerCommon(c: Obj, path: string, volumes: Set<string>, errs: StatusCause[]): void {
  if (!c.name) errs.push(field.required(at(path, 'name')));
  else for (const m of isDNS1123Label(c.name)) errs.push(field.invalid(at(path, 'name'), c.name, m));
  if (!c.image) errs.push(field.required(at(path, 'image')));

  const portNames = new Set<string>();
  list(c.ports).forEach((port, i) => {
    const p = ix(at(path, 'ports'), i);
    if (port.name) {
      const msgs = isValidPortName(port.name);
      for (const m of msgs) errs.push(field.invalid(at(p, 'name'), port.name, m));
      if (!msgs.length && portNames.has(port.name)) errs.push(field.duplicate(at(p, 'name'), port.name));
      portNames.add(port.name);
    }
    if (!port.containerPort) errs.push(field.required(at(p, 'containerPort')));
    else for (const m of isValidPortNum(port.containerPort)) errs.push(field.invalid(at(p, 'containerPort'), port.containerPort, m));
    if (port.hostPort) for (const m of isValidPortNum(port.hostPort)) errs.push(field.invalid(at(p, 'hostPort'), port.hostPort, m));
  });

  validateEnv(c.env, at(path, 'env'), errs);
  validateEnvFrom(c.envFrom, at(path, 'envFrom'), errs);

  const mountPaths = new Set<string>();
  list(c.volumeMounts).forEach((vm, i) => {
    const p = ix(at(path, 'volumeMounts'), i);
    if (!vm.name) errs.push(field.required(at(p, 'name')));
    if (!volumes.has(vm.name)) errs.push(field.notFound(at(p, 'name'), vm.name ?? ''));
    if (!vm.mountPath) errs.push(field.required(at(p, 'mountPath')));
    if (mountPaths.has(vm.mountPath)) errs.push(field.invalid(at(p, 'mountPath'), vm.mountPath, 'must be unique'));
    mountPaths.add(vm.mountPath);
    if (vm.subPath) validateLocalPath(vm.subPath, at(at(path, 'volumeMounts'), 'subPath'), errs);
    if (vm.mountPropagation === 'Bidirectional' && c.securityContext?.privileged !== true) {
      errs.push(field.forbidden(at(at(path, 'volumeMounts'), 'mountPropagation'), 'Bidirectional mount propagation is available only to privileged containers'));
    }
  });

  validateResources(c.resources, at(path, 'resources'), errs);
  validateSecurityContext(c.securityContext, at(path, 'securityContext'), errs);
}

function validateContainers(spec: Obj, path: string, volumes: Set<string>, ctx: PodSpecContext, errs: StatusCause[]): void {
  const containers = list(spec.containers);
  const cPath = at(path, 'containers');
  if (!containers.length) errs.push(field.required(cPath));
  const names = new Set<string>();
  const hostPorts = new Set<string>();
  containers.forEach((c, i) => {
    if (!isObj(c)) return;
    const p = ix(cPath, i);
    validateContainerCommon(c, p, volumes, errs);
    if (names.has(c.name)) errs.push(field.duplicate(at(p, 'name'), c.name));
    names.add(c.name);
    validateLifecycle(c.lifecycle, at(p, 'lifecycle'), ctx, errs);
    validateProbe(c.livenessProbe, at(p, 'livenessProbe'), 'liveness', ctx, errs);
    validateProbe(c.readinessProbe, at(p, 'readinessProbe'), 'readiness', ctx, errs);
    validateProbe(c.startupProbe, at(p, 'startupProbe'), 'startup', ctx, errs);
    if (c.restartPolicy !== undefined) errs.push(field.forbidden(at(p, 'restartPolicy'), 'may not be set for non-init containers'));
    checkHostPorts(c, p, hostPorts, errs);
  });

  const iPath = at(path, 'initContainers');
  list(spec.initContainers).forEach((c, i) => {
    if (!isObj(c)) return;
    const p = ix(iPath, i);
    validateContainerCommon(c, p, volumes, errs);
    const sidecar = c.restartPolicy === 'Always';
    if (c.restartPolicy !== undefined && !sidecar) errs.push(field.notSupported(at(p, 'restartPolicy'), c.restartPolicy, ['Always']));
    if (names.has(c.name)) errs.push(field.duplicate(at(p, 'name'), c.name));
    else if (c.name) names.add(c.name);
    // Init containers run one at a time, so only conflicts within one count.
    checkHostPorts(c, p, new Set(), errs);
    if (sidecar) {
      validateLifecycle(c.lifecycle, at(p, 'lifecycle'), ctx, errs);
      validateProbe(c.livenessProbe, at(p, 'livenessProbe'), 'liveness', ctx, errs);
      validateProbe(c.readinessProbe, at(p, 'readinessProbe'), 'readiness', ctx, errs);
      validateProbe(c.startupProbe, at(p, 'startupProbe'), 'startup', ctx, errs);
    } else {
      for (const k of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
        if (c[k] !== undefined) errs.push(field.forbidden(at(p, k), 'may not be set for init containers without restartPolicy=Always'));
      }
    }
  });

  if (ctx.isPod) {
    for (const [key, cs] of [['containers', containers], ['initContainers', list(spec.initContainers)]] as const) {
      cs.forEach((c, i) => {
        if (typeof c?.image === 'string' && c.image !== c.image.trim()) {
          errs.push(field.invalid(at(ix(at(path, key), i), 'image'), c.image, 'must not have leading or trailing whitespace'));
        }
      });
    }
  }
}

function checkHostPorts(c: Obj, path: string, seen: Set<string>, errs: StatusCause[]): void {
  list(c.ports).forEach((port, j) => {
    if (!port.hostPort) return;
    const key = `${port.protocol ?? ''}/${port.hostIP ?? ''}/${port.hostPort}`;
    if (seen.has(key)) errs.push(field.duplicate(at(ix(at(path, 'ports'), j), 'hostPort'), key));
    seen.add(key);
  });
}

function validateNodeSelectorTerm(term: Obj, path: string, errs: StatusCause[]): void {
  list(term.matchExpressions).forEach((r, j) => {
    const p = ix(at(path, 'matchExpressions'), j);
    const values = list(r.values);
    switch (r.operator) {
      case 'In':
      case 'NotIn':
        if (!values.length) errs.push(field.required(at(p, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length) errs.push(field.forbidden(at(p, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      case 'Gt':
      case 'Lt':
        if (values.length !== 1) errs.push(field.required(at(p, 'values'), "must be specified single value when `operator` is 'Lt' or 'Gt'"));
        break;
      default:
        errs.push(field.invalid(at(p, 'operator'), r.operator ?? '', 'not a valid selector operator'));
    }
    for (const m of isQualifiedName(r.key ?? '')) errs.push(field.invalid(at(p, 'key'), r.key ?? '', m));
    values.forEach((v: string, k) => {
      for (const m of isLabelValue(v)) errs.push(field.invalid(ix(at(p, 'values'), k), v, m));
    });
  });
  list(term.matchFields).forEach((r, j) => {
    const p = ix(at(path, 'matchFields'), j);
    if (r.operator !== 'In' && r.operator !== 'NotIn') errs.push(field.invalid(at(p, 'operator'), r.operator ?? '', 'not a valid selector operator'));
    else if (list(r.values).length !== 1) errs.push(field.required(at(p, 'values'), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"));
    if (r.key !== 'metadata.name') errs.push(field.invalid(at(p, 'key'), r.key ?? '', 'not a valid field selector key'));
    else list(r.values).forEach((v: string, k) => {
      for (const m of isDNS1123Subdomain(v)) errs.push(field.invalid(ix(at(p, 'values'), k), v, m));
    });
  });
}

function validatePodAffinityTerm(term: Obj, path: string, errs: StatusCause[]): void {
  validateLabelSelector(term.labelSelector, at(path, 'labelSelector'), errs);
  validateLabelSelector(term.namespaceSelector, at(path, 'namespaceSelector'), errs);
  for (const ns of list(term.namespaces)) for (const m of isDNS1123Label(ns)) errs.push(field.invalid(at(path, 'namespace'), ns, m));
  if (!term.topologyKey) errs.push(field.required(at(path, 'topologyKey'), 'can not be empty'));
  for (const m of isQualifiedName(term.topologyKey ?? '')) errs.push(field.invalid(at(path, 'topologyKey'), term.topologyKey ?? '', m));
}

function validateAffinity(affinity: unknown, path: string, errs: StatusCause[]): void {
  if (!isObj(affinity)) return;
  const na = affinity.nodeAffinity;
  if (isObj(na)) {
    const np = at(path, 'nodeAffinity');
    const required = na.requiredDuringSchedulingIgnoredDuringExecution;
    if (isObj(required)) {
      const tp = at(at(np, 'requiredDuringSchedulingIgnoredDuringExecution'), 'nodeSelectorTerms');
      const terms = list(required.nodeSelectorTerms);
      if (!terms.length) errs.push(field.required(tp, 'must have at least one node selector term'));
      terms.forEach((t, i) => validateNodeSelectorTerm(t, ix(tp, i), errs));
    }
    list(na.preferredDuringSchedulingIgnoredDuringExecution).forEach((t, i) => {
      const p = ix(at(np, 'preferredDuringSchedulingIgnoredDuringExecution'), i);
      if (!(t.weight > 0 && t.weight <= 100)) errs.push(field.invalid(at(p, 'weight'), t.weight ?? 0, 'must be in the range 1-100'));
      if (isObj(t.preference)) validateNodeSelectorTerm(t.preference, at(p, 'preference'), errs);
    });
  }
  for (const kind of ['podAffinity', 'podAntiAffinity']) {
    const pa = affinity[kind];
    if (!isObj(pa)) continue;
    const pp = at(path, kind);
    list(pa.requiredDuringSchedulingIgnoredDuringExecution).forEach((t, i) =>
      validatePodAffinityTerm(t, ix(at(pp, 'requiredDuringSchedulingIgnoredDuringExecution'), i), errs),
    );
    list(pa.preferredDuringSchedulingIgnoredDuringExecution).forEach((t, i) => {
      const p = ix(at(pp, 'preferredDuringSchedulingIgnoredDuringExecution'), i);
      if (!(t.weight > 0 && t.weight <= 100)) errs.push(field.invalid(at(p, 'weight'), t.weight ?? 0, 'must be in the range 1-100'));
      if (isObj(t.podAffinityTerm)) validatePodAffinityTerm(t.podAffinityTerm, at(p, 'podAffinityTerm'), errs);
    });
  }
}

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

function validateTolerations(tolerations: unknown, path: string, errs: StatusCause[]): void {
  list(tolerations).forEach((t, i) => {
    const p = ix(path, i);
    if (t.key) for (const m of isQualifiedName(t.key)) errs.push(field.invalid(at(p, 'key'), t.key, m));
    if (!t.key && t.operator !== 'Exists') {
      errs.push(field.invalid(at(p, 'operator'), t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') {
      errs.push(field.invalid(at(p, 'effect'), t.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    switch (t.operator ?? '') {
      case 'Equal':
      case '': {
        const msgs = isLabelValue(t.value ?? '');
        if (msgs.length) errs.push(field.invalid(at(p, 'operator'), t.value ?? '', msgs.join(';')));
        break;
      }
      case 'Exists':
        if (t.value) errs.push(field.invalid(at(p, 'operator'), t.value, "value must be empty when `operator` is 'Exists'"));
        break;
      default:
        errs.push(field.notSupported(at(p, 'operator'), t.operator, ['Equal', 'Exists']));
    }
    if (t.effect && !TAINT_EFFECTS.includes(t.effect)) errs.push(field.notSupported(at(p, 'effect'), t.effect, TAINT_EFFECTS));
  });
}

function validateDNS(spec: Obj, path: string, errs: StatusCause[]): void {
  const cfg = spec.dnsConfig;
  const cp = at(path, 'dnsConfig');
  if (spec.dnsPolicy === 'None') {
    if (!isObj(cfg)) return void errs.push(field.required(cp, 'must provide `dnsConfig` when `dnsPolicy` is None'));
    if (!list(cfg.nameservers).length) return void errs.push(field.required(at(cp, 'nameservers'), 'must provide at least one DNS nameserver when `dnsPolicy` is None'));
  }
  if (!isObj(cfg)) return;
  const ns = list(cfg.nameservers);
  if (ns.length > 3) errs.push(field.invalid(at(cp, 'nameservers'), ns, 'must not have more than 3 nameservers'));
  ns.forEach((ip: string, i) => ipErrors(ix(at(cp, 'nameservers'), i), ip, errs));
  const searches = list(cfg.searches);
  if (searches.length > 32) errs.push(field.invalid(at(cp, 'searches'), searches, 'must not have more than 32 search paths'));
  if (searches.join(' ').length > 2048) errs.push(field.invalid(at(cp, 'searches'), searches, 'must not have more than 2048 characters (including spaces) in the search list'));
  searches.forEach((s: string, i) => {
    const domain = s.replace(/\.$/, '');
    for (const m of isDNS1123Subdomain(domain)) errs.push(field.invalid(ix(at(cp, 'searches'), i), domain, m));
  });
  list(cfg.options).forEach((o, i) => {
    if (!o.name) errs.push(field.required(ix(at(cp, 'options'), i), 'must not be empty'));
  });
}

function validateTopologySpread(constraints: unknown, path: string, errs: StatusCause[]): void {
  const all = list(constraints);
  all.forEach((c, i) => {
    const p = ix(path, i);
    if (!(c.maxSkew > 0)) errs.push(field.invalid(at(p, 'maxSkew'), c.maxSkew ?? 0, 'must be greater than zero'));
    if (!c.topologyKey) errs.push(field.required(at(p, 'topologyKey'), 'can not be empty'));
    if (all.slice(i + 1).some((o) => o.topologyKey === c.topologyKey && o.whenUnsatisfiable === c.whenUnsatisfiable)) {
      errs.push(field.duplicate(at(p, '{topologyKey, whenUnsatisfiable}'), `{${c.topologyKey}, ${c.whenUnsatisfiable}}`));
    }
    if (c.minDomains !== undefined) {
      if (!(c.minDomains > 0)) errs.push(field.invalid(at(p, 'minDomains'), c.minDomains, 'must be greater than zero'));
      if (c.whenUnsatisfiable !== 'DoNotSchedule') {
        errs.push(field.invalid(at(p, 'minDomains'), c.minDomains, `can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ${c.whenUnsatisfiable}`));
      }
    }
    validateLabelSelector(c.labelSelector, at(p, 'labelSelector'), errs);
  });
}

function validatePodSpec(spec: unknown, path: string, ctx: PodSpecContext, errs: StatusCause[]): void {
  if (!isObj(spec)) return;
  const tgps = spec.terminationGracePeriodSeconds;
  ctx.gracePeriod = typeof tgps === 'number' ? tgps : undefined;

  const volumes = validateVolumes(spec.volumes, at(path, 'volumes'), errs);
  validateContainers(spec, path, volumes, ctx, errs);

  if (spec.hostNetwork === true) {
    list(spec.containers).forEach((c, i) => {
      list(c?.ports).forEach((port, j) => {
        const hp = port.hostPort ?? 0;
        // Templates may leave hostPort 0: pods created from them get it defaulted.
        if ((ctx.isPod || hp !== 0) && hp !== port.containerPort) {
          errs.push(field.invalid(at(ix(at(ix(at(path, 'containers'), i), 'ports'), j), 'hostPort'), hp, 'must match `containerPort` when `hostNetwork` is true'));
        }
      });
    });
  }

  validateLabels(spec.nodeSelector, at(path, 'nodeSelector'), errs);
  const psc = spec.securityContext;
  if (isObj(psc)) {
    const sp = at(path, 'securityContext');
    for (const k of ['runAsUser', 'runAsGroup', 'fsGroup']) {
      if (!validUser(psc[k])) errs.push(field.invalid(at(sp, k), psc[k], inclusiveRangeError(0, 4294967295)));
    }
    list(psc.supplementalGroups).forEach((g, i) => {
      if (!validUser(g)) errs.push(field.invalid(ix(at(sp, 'supplementalGroups'), i), g, inclusiveRangeError(0, 4294967295)));
    });
    if (psc.shareProcessNamespace === true && spec.hostPID === true) {
      errs.push(field.invalid(at(sp, 'shareProcessNamespace'), true, 'ShareProcessNamespace and HostPID cannot both be enabled'));
    }
  }
  validateAffinity(spec.affinity, at(path, 'affinity'), errs);
  validateDNS(spec, path, errs);
  list(spec.readinessGates).forEach((g, i) => {
    for (const m of isQualifiedName(g.conditionType ?? '')) errs.push(field.invalid(at(ix(at(path, 'readinessGates'), i), 'conditionType'), g.conditionType ?? '', m));
  });
  const gates = new Set<string>();
  list(spec.schedulingGates).forEach((g, i) => {
    const p = ix(at(path, 'schedulingGates'), i);
    for (const m of isQualifiedName(g.name ?? '')) errs.push(field.invalid(p, g.name ?? '', m));
    if (gates.has(g.name)) errs.push(field.duplicate(p, g.name));
    gates.add(g.name);
  });
  validateTopologySpread(spec.topologySpreadConstraints, at(path, 'topologySpreadConstraints'), errs);

  for (const [k, rule] of [['serviceAccountName', isDNS1123Subdomain], ['nodeName', isDNS1123Subdomain], ['priorityClassName', isDNS1123Subdomain], ['hostname', isDNS1123Label], ['subdomain', isDNS1123Label]] as const) {
    if (spec[k]) for (const m of rule(spec[k])) errs.push(field.invalid(at(path, k), spec[k], m));
  }
  const ads = spec.activeDeadlineSeconds;
  if (typeof ads === 'number' && (ads < 1 || ads > 2147483647)) errs.push(field.invalid(at(path, 'activeDeadlineSeconds'), ads, inclusiveRangeError(1, 2147483647)));
  validateTolerations(spec.tolerations, at(path, 'tolerations'), errs);
  list(spec.hostAliases).forEach((h, i) => {
    const p = ix(at(path, 'hostAliases'), i);
    ipErrors(at(p, 'ip'), h.ip ?? '', errs);
    list(h.hostnames).forEach((n: string, j) => {
      for (const m of isDNS1123Subdomain(n)) errs.push(field.invalid(ix(at(p, 'hostnames'), j), n, m));
    });
  });
  validateResources(spec.resources, at(path, 'resources'), errs);
}

/** A pod template embedded in a workload (ValidatePodTemplateSpecForReplicaSet and the DaemonSet variant). */
function validateWorkloadTemplate(spec: Obj, kindName: string, errs: StatusCause[]): void {
  const template = spec.template;
  if (!isObj(template)) return void errs.push(field.required('spec.template'));
  const meta = isObj(template.metadata) ? template.metadata : {};
  const selector = spec.selector;
  // A selector with an invalid operator is reported on spec.selector and cannot be matched.
  const parsable = isObj(selector) && list(selector.matchExpressions).every((r) => SELECTOR_OPERATORS.has(r?.operator));
  if (parsable && !isEmptySelector(selector) && !selectorMatches(selector, meta.labels)) {
    errs.push(field.invalid('spec.template.metadata.labels', meta.labels ?? {}, '`selector` does not match template `labels`'));
  }
  // Kubernetes reports template metadata at spec.template.labels (ObjectMeta is embedded in Go).
  validateLabels(meta.labels, 'spec.template.labels', errs);
  validateAnnotations(meta.annotations, 'spec.template.annotations', errs);
  const podSpec = template.spec;
  validatePodSpec(podSpec, 'spec.template.spec', { isPod: false }, errs);
  if (!isObj(podSpec)) return;
  if (list(podSpec.ephemeralContainers).length) {
    errs.push(field.forbidden('spec.template.spec.ephemeralContainers', 'ephemeral containers not allowed in pod template'));
  }
  if (podSpec.restartPolicy !== undefined && podSpec.restartPolicy !== 'Always') {
    errs.push(field.notSupported('spec.template.spec.restartPolicy', podSpec.restartPolicy, ['Always']));
  }
  if (podSpec.activeDeadlineSeconds !== undefined) {
    if (kindName === 'DaemonSet') errs.push(field.invalid('spec.template.spec.activeDeadlineSeconds', podSpec.activeDeadlineSeconds, 'activeDeadlineSeconds in DaemonSet is not Supported'));
    else errs.push(field.forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in ReplicaSet is not Supported'));
  }
}

function validateSelector(spec: Obj, kindName: string, errs: StatusCause[]): void {
  const selector = spec.selector;
  if (!isObj(selector)) return void errs.push(field.required('spec.selector'));
  validateLabelSelector(selector, 'spec.selector', errs);
  if (isEmptySelector(selector)) errs.push(field.invalid('spec.selector', selector, `empty selector is invalid for ${kindName === 'DaemonSet' ? 'daemonset' : 'deployment'}`));
}

function nonNegative(spec: Obj, path: string, keys: string[], errs: StatusCause[]): void {
  for (const k of keys) if (typeof spec[k] === 'number' && spec[k] < 0) errs.push(field.invalid(at(path, k), spec[k], IS_NEGATIVE));
}

/** An int-or-percent value: the integer, the percentage number, or undefined when malformed. */
function intOrPercent(v: unknown): { value: number; percent: boolean } | undefined {
  if (typeof v === 'number') return { value: v, percent: false };
  if (typeof v === 'string' && percentRe.test(v)) return { value: Number(v.slice(0, -1)), percent: true };
  return undefined;
}

function validateIntOrPercent(v: unknown, path: string, errs: StatusCause[]): void {
  if (typeof v === 'string' && !percentRe.test(v)) errs.push(field.invalid(path, new Unquoted(v), PERCENT_ERR));
  else if (typeof v === 'number' && v < 0) errs.push(field.invalid(path, v, IS_NEGATIVE));
}

function notOver100(v: unknown, path: string, errs: StatusCause[]): void {
  const p = intOrPercent(v);
  if (p?.percent && p.value > 100) errs.push(field.invalid(path, new Unquoted(String(v)), 'must not be greater than 100%'));
}

const intOrPercentShown = (v: unknown) => new Unquoted(String(v ?? 0));

/** Go's getIntOrPercentValue: the percentage or the integer, 0 for anything unparsable. */
function intOrPercentValue(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return 0;
  const p = intOrPercent(v);
  return p ? p.value : /^-?\d+$/.test(v) ? Number(v) : 0;
}

function validateImmutableSelector(obj: KubeObject, old: KubeObject | undefined, errs: StatusCause[]): void {
  if (old && !semanticEqual(obj.spec?.selector, old.spec?.selector)) errs.push(field.invalid('spec.selector', obj.spec?.selector ?? null, FIELD_IMMUTABLE));
}

/** A job spec (ValidateJobSpec), of a Job or of a CronJob's jobTemplate at `path`. */
function validateJobSpec(spec: Obj, path: string, errs: StatusCause[]): void {
  nonNegative(spec, path, ['parallelism', 'completions', 'backoffLimit', 'ttlSecondsAfterFinished'], errs);
  if (typeof spec.activeDeadlineSeconds === 'number' && spec.activeDeadlineSeconds <= 0) {
    errs.push(field.invalid(at(path, 'activeDeadlineSeconds'), spec.activeDeadlineSeconds, 'must be greater than 0'));
  }
  if (spec.manualSelector === true && !isObj(spec.selector)) errs.push(field.required(at(path, 'selector')));
  const template = spec.template;
  if (!isObj(template)) return void errs.push(field.required(at(path, 'template')));
  const meta = isObj(template.metadata) ? template.metadata : {};
  if (isObj(spec.selector)) {
    validateLabelSelector(spec.selector, at(path, 'selector'), errs);
    const parsable = list(spec.selector.matchExpressions).every((r) => SELECTOR_OPERATORS.has(r?.operator));
    if (parsable && !selectorMatches(spec.selector, meta.labels)) {
      errs.push(field.invalid(at(path, 'template.metadata.labels'), meta.labels ?? {}, '`selector` does not match template `labels`'));
    }
  }
  validateLabels(meta.labels, at(path, 'template.labels'), errs);
  validateAnnotations(meta.annotations, at(path, 'template.annotations'), errs);
  const podSpec = template.spec;
  validatePodSpec(podSpec, at(path, 'template.spec'), { isPod: false }, errs);
  if (!isObj(podSpec)) return;
  if (podSpec.restartPolicy !== 'OnFailure' && podSpec.restartPolicy !== 'Never') {
    errs.push(field.notSupported(at(path, 'template.spec.restartPolicy'), podSpec.restartPolicy ?? '', ['OnFailure', 'Never']));
  }
}

function validateJob(job: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const spec = job.spec;
  if (!isObj(spec)) return [field.required('spec')];
  validateJobSpec(spec, 'spec', errs);
  validateImmutableSelector(job, old, errs);
  if (old && isObj(old.spec) && spec.completions !== old.spec.completions) {
    errs.push(field.invalid('spec.completions', spec.completions ?? null, FIELD_IMMUTABLE));
  }
  return errs;
}

function validateCronJob(cj: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const name = cj.metadata?.name;
  // Job names append 11 characters (-<minutes since epoch>) and must stay DNS labels.
  if (typeof name === 'string' && name.length > 52) errs.push(field.invalid('metadata.name', name, 'must be no more than 52 characters'));
  const spec = cj.spec;
  if (!isObj(spec)) return [field.required('spec')];
  if (typeof spec.timeZone === 'string' && !isValidTimeZone(spec.timeZone)) {
    errs.push(field.invalid('spec.timeZone', spec.timeZone, `unknown time zone ${spec.timeZone}`));
  }
  if (typeof spec.schedule !== 'string' || spec.schedule === '') {
    errs.push(field.required('spec.schedule'));
  } else {
    try {
      parseSchedule(spec.schedule);
    } catch (err) {
      errs.push(field.invalid('spec.schedule', spec.schedule, (err as Error).message));
    }
  }
  nonNegative(spec, 'spec', ['startingDeadlineSeconds', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit'], errs);
  const jobSpec = isObj(spec.jobTemplate) ? spec.jobTemplate.spec : undefined;
  if (!isObj(jobSpec)) errs.push(field.required('spec.jobTemplate.spec'));
  else validateJobSpec(jobSpec, 'spec.jobTemplate.spec', errs);
  return errs;
}

// ---------------------------------------------------------------------------
// Per-kind validators

function validatePod(pod: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const spec = pod.spec;
  validatePodSpec(spec, 'spec', { isPod: true }, errs);
  if (!isObj(spec)) return errs;
  if (!old) {
    if (list(spec.ephemeralContainers).length) errs.push(field.forbidden('spec.ephemeralContainers', 'cannot be set on create'));
    if (spec.nodeName && list(spec.schedulingGates).length) errs.push(field.forbidden('spec.nodeName', 'cannot be set until all schedulingGates have been cleared'));
    return errs;
  }
  validatePodUpdate(spec, isObj(old.spec) ? old.spec : {}, errs);
  return errs;
}

/** ValidatePodUpdate: a pod's spec is immutable but for images, deadlines, added tolerations and removed gates. */
function validatePodUpdate(spec: Obj, oldSpec: Obj, errs: StatusCause[]): void {
  for (const key of ['containers', 'initContainers']) {
    if (list(spec[key]).length !== list(oldSpec[key]).length) {
      errs.push(field.forbidden(at('spec', key), 'pod updates may not add or remove containers'));
      return;
    }
  }

  const ads = spec.activeDeadlineSeconds;
  const oldAds = oldSpec.activeDeadlineSeconds;
  if (typeof ads === 'number') {
    if (ads < 0 || ads > 2147483647) return void errs.push(field.invalid('spec.activeDeadlineSeconds', ads, inclusiveRangeError(0, 2147483647)));
    if (typeof oldAds === 'number' && oldAds < ads) return void errs.push(field.invalid('spec.activeDeadlineSeconds', ads, 'must be less than or equal to previous value'));
  } else if (typeof oldAds === 'number') {
    errs.push(field.invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
  }

  const tolerations = list(spec.tolerations);
  for (const oldT of list(oldSpec.tolerations)) {
    const kept = tolerations.some((t) => semanticEqual({ ...oldT, tolerationSeconds: t.tolerationSeconds }, t));
    if (!kept) {
      errs.push(field.forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds'));
      break;
    }
  }

  const oldGates = new Set(list(oldSpec.schedulingGates).map((g) => g.name));
  list(spec.schedulingGates).forEach((g, i) => {
    if (!oldGates.has(g.name)) errs.push(field.forbidden(at(ix('spec.schedulingGates', i), 'name'), `only deletion is allowed, but found new scheduling gate '${g.name}'`));
  });

  const keepImage = (cs: unknown, olds: unknown) => list(cs).map((c, i) => ({ ...c, image: list(olds)[i]?.image }));
  const munged: Obj = {
    ...spec,
    containers: keepImage(spec.containers, oldSpec.containers),
    initContainers: keepImage(spec.initContainers, oldSpec.initContainers),
    activeDeadlineSeconds: oldAds,
    tolerations: oldSpec.tolerations,
    schedulingGates: oldSpec.schedulingGates,
  };
  if (typeof oldSpec.terminationGracePeriodSeconds === 'number' && oldSpec.terminationGracePeriodSeconds < 0 && spec.terminationGracePeriodSeconds === 1) {
    munged.terminationGracePeriodSeconds = oldSpec.terminationGracePeriodSeconds;
  }
  if (!semanticEqual(munged, oldSpec)) {
    const diff: string[] = [];
    describeDiff(oldSpec, munged, 'spec', diff);
    errs.push(field.forbidden('spec', `pod updates may not change fields other than ${UPDATABLE_POD_FIELDS}\n${diff.join('\n')}`));
  }
}

function validateDeployment(d: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const spec = d.spec;
  if (!isObj(spec)) return [field.required('spec')];
  nonNegative(spec, 'spec', ['replicas', 'minReadySeconds', 'revisionHistoryLimit'], errs);
  validateSelector(spec, 'Deployment', errs);
  validateWorkloadTemplate(spec, 'Deployment', errs);

  const strategy = isObj(spec.strategy) ? spec.strategy : {};
  const ru = strategy.rollingUpdate;
  if (strategy.type === 'Recreate' && ru !== undefined) {
    errs.push(field.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
  } else if (strategy.type === 'RollingUpdate' && isObj(ru)) {
    const p = 'spec.strategy.rollingUpdate';
    validateIntOrPercent(ru.maxUnavailable, at(p, 'maxUnavailable'), errs);
    validateIntOrPercent(ru.maxSurge, at(p, 'maxSurge'), errs);
    if (intOrPercentValue(ru.maxUnavailable) === 0 && intOrPercentValue(ru.maxSurge) === 0) {
      errs.push(field.invalid(at(p, 'maxUnavailable'), intOrPercentShown(ru.maxUnavailable), 'may not be 0 when `maxSurge` is 0'));
    }
    notOver100(ru.maxUnavailable, at(p, 'maxUnavailable'), errs);
  }

  const pds = spec.progressDeadlineSeconds;
  if (typeof pds === 'number') {
    if (pds <= 0) errs.push(field.invalid('spec.progressDeadlineSeconds', pds, 'must be greater than zero'));
    if (pds <= (spec.minReadySeconds ?? 0)) errs.push(field.invalid('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds'));
  }
  validateImmutableSelector(d, old, errs);
  return errs;
}

function validateReplicaSet(rs: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const spec = rs.spec;
  if (!isObj(spec)) return [field.required('spec')];
  nonNegative(spec, 'spec', ['replicas', 'minReadySeconds'], errs);
  validateSelector(spec, 'ReplicaSet', errs);
  validateWorkloadTemplate(spec, 'ReplicaSet', errs);
  validateImmutableSelector(rs, old, errs);
  return errs;
}

function validateDaemonSet(ds: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const spec = ds.spec;
  if (!isObj(spec)) return [field.required('spec')];
  validateSelector(spec, 'DaemonSet', errs);
  validateWorkloadTemplate(spec, 'DaemonSet', errs);
  nonNegative(spec, 'spec', ['minReadySeconds', 'revisionHistoryLimit'], errs);
  const strategy = isObj(spec.updateStrategy) ? spec.updateStrategy : {};
  if (strategy.type === 'RollingUpdate') {
    const p = 'spec.updateStrategy.rollingUpdate';
    const ru = strategy.rollingUpdate;
    if (!isObj(ru)) {
      errs.push(field.required(p));
    } else {
      validateIntOrPercent(ru.maxUnavailable, at(p, 'maxUnavailable'), errs);
      validateIntOrPercent(ru.maxSurge, at(p, 'maxSurge'), errs);
      notOver100(ru.maxUnavailable, at(p, 'maxUnavailable'), errs);
      notOver100(ru.maxSurge, at(p, 'maxSurge'), errs);
      const unavailable = intOrPercentValue(ru.maxUnavailable) !== 0;
      const surge = intOrPercentValue(ru.maxSurge) !== 0;
      if (unavailable && surge) errs.push(field.invalid(at(p, 'maxSurge'), intOrPercentShown(ru.maxSurge), 'may not be set when maxUnavailable is non-zero'));
      else if (!unavailable && !surge) errs.push(field.required(at(p, 'maxUnavailable'), 'cannot be 0 when maxSurge is 0'));
    }
  }
  validateImmutableSelector(ds, old, errs);
  return errs;
}

/** ExternallyAccessible in pkg/api/service: reachable from outside the cluster network. */
const externallyAccessible = (spec: Obj) =>
  spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && list(spec.externalIPs).length > 0);

function validateService(svc: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const spec = svc.spec;
  if (!isObj(spec)) return [field.required('spec')];
  const ports = list(spec.ports);
  const clusterIPs = list(spec.clusterIPs);
  const headless = clusterIPs.length === 1 && clusterIPs[0] === 'None';

  if (!ports.length && !headless && spec.type !== 'ExternalName') errs.push(field.required('spec.ports'));
  if ((spec.type === 'LoadBalancer' || spec.type === 'NodePort') && headless) {
    errs.push(field.invalid('spec.clusterIPs[0]', 'None', `may not be set to 'None' for ${spec.type} services`));
  }
  if (spec.type === 'ExternalName') {
    if (clusterIPs.length) errs.push(field.forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
    if (list(spec.ipFamilies).length) errs.push(field.forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
    if (spec.ipFamilyPolicy !== undefined) errs.push(field.forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
    const cname = String(spec.externalName ?? '').replace(/\.$/, '');
    if (!cname) errs.push(field.required('spec.externalName'));
    else for (const m of isDNS1123Subdomain(cname)) errs.push(field.invalid('spec.externalName', cname, m));
  }

  const names = new Set<string>();
  ports.forEach((port, i) => {
    const p = ix('spec.ports', i);
    if (ports.length > 1 && !port.name) errs.push(field.required(at(p, 'name')));
    else if (port.name) {
      for (const m of isDNS1123Label(port.name)) errs.push(field.invalid(at(p, 'name'), port.name, m));
      if (names.has(port.name)) errs.push(field.duplicate(at(p, 'name'), port.name));
      names.add(port.name);
    }
    for (const m of isValidPortNum(port.port ?? 0)) errs.push(field.invalid(at(p, 'port'), port.port ?? 0, m));
    if (port.targetPort !== undefined) validatePortNumOrName(port.targetPort, at(p, 'targetPort'), errs);
    if (port.appProtocol) for (const m of isQualifiedName(port.appProtocol)) errs.push(field.invalid(at(p, 'appProtocol'), port.appProtocol, m));
    if (spec.type === 'ClusterIP' && port.nodePort) errs.push(field.forbidden(at(p, 'nodePort'), "may not be used when `type` is 'ClusterIP'"));
  });
  const nodePorts = new Set<string>();
  const portKeys = new Set<string>();
  ports.forEach((port, i) => {
    const p = ix('spec.ports', i);
    if (port.nodePort) {
      const key = `${port.protocol}/${port.nodePort}`;
      if (nodePorts.has(key)) errs.push(field.duplicate(at(p, 'nodePort'), port.nodePort));
      nodePorts.add(key);
    }
    const key = `${port.protocol}/${port.port}`;
    if (portKeys.has(key)) errs.push(field.duplicate(p, { protocol: port.protocol, port: port.port }));
    portKeys.add(key);
  });

  validateLabels(spec.selector, 'spec.selector', errs);

  if (spec.sessionAffinity === 'ClientIP') {
    const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    if (!isObj(spec.sessionAffinityConfig)) errs.push(field.required('spec.sessionAffinityConfig', 'when session affinity type is ClientIP'));
    else if (timeout === undefined) errs.push(field.required('spec.sessionAffinityConfig.clientIP.timeoutSeconds', 'when session affinity type is ClientIP'));
    else if (timeout <= 0 || timeout > 86400) errs.push(field.invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', timeout, 'must be greater than 0 and less than 86400'));
  } else if (spec.sessionAffinity === 'None' && spec.sessionAffinityConfig !== undefined) {
    errs.push(field.forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }

  if (spec.type !== 'ExternalName') validateClusterIPs(spec, errs);
  list(spec.externalIPs).forEach((ip: string, i) => ipErrors(ix('spec.externalIPs', i), ip, errs));

  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.type !== 'LoadBalancer') {
    errs.push(field.forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (list(spec.loadBalancerSourceRanges).length && spec.type !== 'LoadBalancer') {
    errs.push(field.forbidden('spec.LoadBalancerSourceRanges', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (spec.loadBalancerClass !== undefined && spec.type !== 'LoadBalancer') {
    errs.push(field.forbidden('spec.loadBalancerClass', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (!externallyAccessible(spec) && spec.externalTrafficPolicy) {
    errs.push(field.invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set for externally-accessible services'));
  }
  // The health check port is allocated (or asked for) only where the load balancer checks node-local endpoints.
  if (spec.healthCheckNodePort && !(spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local')) {
    errs.push(field.invalid('spec.healthCheckNodePort', spec.healthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  }

  if (old) validateServiceUpdate(spec, isObj(old.spec) ? old.spec : {}, errs);
  return errs;
}

/** ValidateServiceClusterIPsRelatedFields: clusterIP, clusterIPs and ipFamilies agree. */
function validateClusterIPs(spec: Obj, errs: StatusCause[]): void {
  const clusterIPs = list(spec.clusterIPs);
  if (spec.clusterIP) {
    if (!clusterIPs.length) errs.push(field.required('spec.clusterIPs'));
    else if (clusterIPs[0] !== spec.clusterIP) errs.push(field.invalid('spec.clusterIPs', clusterIPs, 'first value must match `clusterIP`'));
  } else if (clusterIPs.length) {
    errs.push(field.invalid('spec.clusterIPs', clusterIPs, 'must be empty when `clusterIP` is not specified'));
  }
  const families = list(spec.ipFamilies);
  families.forEach((f, i) => {
    if (families.indexOf(f) !== i) errs.push(field.duplicate(ix('spec.ipFamilies', i), f));
  });
  let badIPs = false;
  clusterIPs.forEach((ip: string, i) => {
    if (i === 0 && ip === 'None') {
      if (clusterIPs.length > 1) {
        badIPs = true;
        errs.push(field.invalid('spec.clusterIPs', clusterIPs, "'None' must be the first and only value"));
      }
      return;
    }
    if (!ipErrors(ix('spec.clusterIPs', i), ip, errs)) badIPs = true;
  });
  if (clusterIPs.length > 2) errs.push(field.invalid('spec.clusterIPs', clusterIPs, 'may only hold up to 2 values'));
  if (badIPs) return;
  if (clusterIPs.length === 2 && isIP(clusterIPs[0]) === isIP(clusterIPs[1])) {
    errs.push(field.invalid('spec.clusterIPs', clusterIPs, 'may specify no more than one IP for each IP family'));
  }
  if (clusterIPs[0] !== 'None') {
    clusterIPs.forEach((ip: string, i) => {
      if (families[i] === 'IPv4' && isIP(ip) === 6) errs.push(field.invalid(ix('spec.clusterIPs', i), ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      if (families[i] === 'IPv6' && isIP(ip) !== 6) errs.push(field.invalid(ix('spec.clusterIPs', i), ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
    });
  }
}

/** validateUpgradeDowngradeClusterIPs: a primary cluster IP never changes once allocated. */
function validateServiceUpdate(spec: Obj, oldSpec: Obj, errs: StatusCause[]): void {
  if (spec.type === 'ExternalName' || oldSpec.type === 'ExternalName') return;
  const ips = list(spec.clusterIPs);
  const oldIPs = list(oldSpec.clusterIPs);
  if (ips[0] === 'None' && oldIPs[0] === 'None') return;
  if (oldIPs.length === ips.length) {
    oldIPs.forEach((ip, i) => {
      if (ip !== ips[i]) errs.push(field.invalid(ix('spec.clusterIPs', i), ips, 'may not change once set'));
    });
  } else if (oldIPs.length > ips.length) {
    if (!ips.length) errs.push(field.invalid('spec.clusterIPs[0]', ips, 'primary clusterIP can not be unset'));
    else if (ips[0] !== oldIPs[0]) errs.push(field.invalid('spec.clusterIPs[0]', ips, 'may not change once set'));
  } else if (oldIPs.length && ips[0] !== oldIPs[0]) {
    errs.push(field.invalid('spec.clusterIPs[0]', ips, 'may not change once set'));
  }
}

function validateEndpoints(ep: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  list(ep.subsets).forEach((ss, i) => {
    const p = ix('subsets', i);
    if (!list(ss.addresses).length && !list(ss.notReadyAddresses).length) {
      errs.push(field.required(p, 'must specify `addresses` or `notReadyAddresses`'));
    }
    for (const kind of ['addresses', 'notReadyAddresses']) {
      list(ss[kind]).forEach((addr, j) => {
        const ap = ix(at(p, kind), j);
        ipErrors(at(ap, 'ip'), addr.ip ?? '', errs);
        if (addr.hostname) for (const m of isDNS1123Label(addr.hostname)) errs.push(field.invalid(at(ap, 'hostname'), addr.hostname, m));
        if (addr.nodeName !== undefined) for (const m of isDNS1123Subdomain(addr.nodeName)) errs.push(field.invalid(at(ap, 'nodeName'), addr.nodeName, m));
      });
    }
    const ports = list(ss.ports);
    ports.forEach((port, j) => {
      const pp = ix(at(p, 'ports'), j);
      if (ports.length > 1 && !port.name) errs.push(field.required(at(pp, 'name')));
      else if (port.name) for (const m of isDNS1123Label(port.name)) errs.push(field.invalid(at(pp, 'name'), port.name, m));
      for (const m of isValidPortNum(port.port ?? 0)) errs.push(field.invalid(at(pp, 'port'), port.port ?? 0, m));
      if (port.appProtocol) for (const m of isQualifiedName(port.appProtocol)) errs.push(field.invalid(at(pp, 'appProtocol'), port.appProtocol, m));
    });
  });
  return errs;
}

const MAX_DATA_SIZE = 1024 * 1024;

function validateConfigMap(cm: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  let size = 0;
  for (const [k, v] of entries(cm.data)) {
    for (const m of isConfigMapKey(k)) errs.push(field.invalid(ix('data', k), k, m));
    if (isObj(cm.binaryData) && Object.hasOwn(cm.binaryData, k)) errs.push(field.invalid(ix('data', k), k, 'duplicate of key present in binaryData'));
    size += Buffer.byteLength(String(v));
  }
  for (const [k, v] of entries(cm.binaryData)) {
    for (const m of isConfigMapKey(k)) errs.push(field.invalid(ix('binaryData', k), k, m));
    size += base64Length(String(v));
  }
  if (size > MAX_DATA_SIZE) errs.push(field.tooLong('', MAX_DATA_SIZE));
  if (old?.immutable === true) immutableData(cm, old, ['data', 'binaryData'], errs);
  return errs;
}

/** Decoded byte length of a base64 string. */
const base64Length = (s: string) => Math.floor((s.replace(/[\r\n]/g, '').replace(/=+$/, '').length * 3) / 4);

function immutableData(obj: KubeObject, old: KubeObject, keys: string[], errs: StatusCause[]): void {
  if (obj.immutable !== true) errs.push(field.forbidden('immutable', 'field is immutable when `immutable` is set'));
  for (const k of keys) if (!semanticEqual(obj[k], old[k])) errs.push(field.forbidden(k, 'field is immutable when `immutable` is set'));
}

function validateSecret(secret: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const data = isObj(secret.data) ? secret.data : {};
  let size = 0;
  for (const [k, v] of Object.entries(data)) {
    for (const m of isConfigMapKey(k)) errs.push(field.invalid(ix('data', k), k, m));
    size += base64Length(String(v));
  }
  if (size > MAX_DATA_SIZE) errs.push(field.tooLong('data', MAX_DATA_SIZE));
  const decoded = (k: string) => Buffer.from(String(data[k]), 'base64').toString('utf8');
  const requireKeys = (...keys: string[]) => {
    for (const k of keys) if (!Object.hasOwn(data, k)) errs.push(field.required(ix('data', k)));
  };
  switch (secret.type) {
    case 'kubernetes.io/service-account-token':
      if (!secret.metadata?.annotations?.['kubernetes.io/service-account.name']) {
        errs.push(field.required('metadata.annotations[kubernetes.io/service-account.name]'));
      }
      break;
    case 'kubernetes.io/dockercfg':
    case 'kubernetes.io/dockerconfigjson': {
      const key = secret.type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson';
      if (!Object.hasOwn(data, key)) {
        requireKeys(key);
        break;
      }
      try {
        if (!isObj(JSON.parse(decoded(key)))) throw new Error('json: cannot unmarshal into Go value of type map[string]interface {}');
      } catch (e) {
        errs.push(field.invalid(ix('data', key), '<secret contents redacted>', (e as Error).message));
      }
      break;
    }
    case 'kubernetes.io/basic-auth':
      if (!Object.hasOwn(data, 'username') && !Object.hasOwn(data, 'password')) requireKeys('username', 'password');
      break;
    case 'kubernetes.io/ssh-auth':
      if (!data['ssh-privatekey']) errs.push(field.required(ix('data', 'ssh-privatekey')));
      break;
    case 'kubernetes.io/tls':
      requireKeys('tls.crt', 'tls.key');
      break;
  }
  if (old) {
    if ((secret.type ?? '') !== (old.type ?? '')) errs.push(field.invalid('type', secret.type ?? '', FIELD_IMMUTABLE));
    if (old.immutable === true) immutableData(secret, old, ['data'], errs);
  }
  return errs;
}

function validateNamespace(ns: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  for (const f of list(ns.spec?.finalizers)) {
    validateFinalizerName(f, 'spec.finalizers', errs);
    validateKubeFinalizerName(f, 'spec.finalizers', errs);
  }
  return errs;
}

function validateNode(node: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const spec = isObj(node.spec) ? node.spec : {};
  const seen = new Set<string>();
  list(spec.taints).forEach((t, i) => {
    const p = ix('spec.taints', i);
    for (const m of isQualifiedName(t.key ?? '')) errs.push(field.invalid(at(p, 'key'), t.key ?? '', m));
    const msgs = isLabelValue(t.value ?? '');
    if (msgs.length) errs.push(field.invalid(at(p, 'value'), t.value ?? '', msgs.join(';')));
    if (!t.effect) errs.push(field.required(at(p, 'effect')));
    else if (!TAINT_EFFECTS.includes(t.effect)) errs.push(field.notSupported(at(p, 'effect'), t.effect, TAINT_EFFECTS));
    const key = `${t.effect}\u0000${t.key}`;
    if (seen.has(key)) errs.push(field.duplicate(p, t, 'taints must be unique by key and effect pair'));
    seen.add(key);
  });
  const cidrs = list(spec.podCIDRs);
  cidrs.forEach((c: string, i) => {
    if (!isCIDR(c)) errs.push(field.invalid(ix('spec.podCIDRs', i), c, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
    else if (cidrs.indexOf(c) !== i) errs.push(field.duplicate(ix('spec.podCIDRs', i), c));
  });
  if (cidrs.length > 2) errs.push(field.invalid('spec.podCIDRs', cidrs, 'may specify no more than one CIDR for each IP family'));
  errs.push(...validateNodeStatus(node, old));
  if (!old) return errs;

  const oldSpec = isObj(old.spec) ? old.spec : {};
  const oldCIDRs = list(oldSpec.podCIDRs);
  if (oldCIDRs.length && (oldCIDRs.length !== cidrs.length || oldCIDRs.some((c, i) => c !== cidrs[i]))) {
    errs.push(field.forbidden('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'));
  }
  if (oldSpec.providerID && oldSpec.providerID !== spec.providerID) {
    errs.push(field.forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  }
  return errs;
}

function validateNodeStatus(node: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  for (const kind of ['capacity', 'allocatable']) {
    for (const [name, q] of entries(node.status?.[kind])) {
      if ((quantityOf(q) ?? 0) < 0) errs.push(field.invalid(`status.${kind}.${name}`, quantityText(q), IS_NEGATIVE));
    }
  }
  if (!old) return errs;
  const addresses = new Set<string>();
  list(node.status?.addresses).forEach((a, i) => {
    const key = `${a.type}\u0000${a.address}`;
    if (addresses.has(key)) errs.push(field.duplicate(ix('status.addresses', i), a));
    addresses.add(key);
  });
  return errs;
}

function validateEvent(ev: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const ns = ev.metadata?.namespace ?? '';
  const involvedNs = ev.involvedObject?.namespace ?? '';
  if (!ev.eventTime) {
    // Legacy (core/v1 style) events.
    const ok = involvedNs ? ns === involvedNs : ns === '' || ns === 'default';
    if (!ok) errs.push(field.invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    return errs;
  }
  if (!involvedNs && ns !== 'default' && ns !== 'kube-system') errs.push(field.invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
  const controller = ev.reportingComponent ?? '';
  if (!controller) errs.push(field.required('reportingComponent'));
  for (const m of isQualifiedName(controller)) errs.push(field.invalid('reportingComponent', controller, m));
  const limited: [string, number, boolean][] = [['reportingInstance', 128, true], ['action', 128, true], ['reason', 128, true], ['message', 1024, false]];
  for (const [k, max, required] of limited) {
    const v = String(ev[k] ?? '');
    if (required && !v) errs.push(field.required(k));
    if (v.length > max) errs.push(field.invalid(k, '', `can have at most ${max} characters`));
  }
  return errs;
}

function validateLease(lease: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  const spec = isObj(lease.spec) ? lease.spec : {};
  if (typeof spec.leaseDurationSeconds === 'number' && spec.leaseDurationSeconds <= 0) {
    errs.push(field.invalid('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0'));
  }
  if (typeof spec.leaseTransitions === 'number' && spec.leaseTransitions < 0) {
    errs.push(field.invalid('spec.leaseTransitions', spec.leaseTransitions, IS_NEGATIVE));
  }
  if (spec.preferredHolder && !spec.strategy) errs.push(field.forbidden('spec.preferredHolder', 'may only be specified if `strategy` is defined'));
  return errs;
}

/**
 * Checks per kind beyond the schema: cross-field rules and, when `old` is
 * given (an update), immutable fields. They expect schema-valid input (types
 * right) and are run by `validateObject` after metadata checks.
 */
/** The highest priority a user-defined PriorityClass may have; above it are the system classes. */
const HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000;

function validatePriorityClass(pc: KubeObject, old?: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  if (pc.metadata?.name?.startsWith('system-')) {
    errs.push(field.forbidden('metadata.name', 'priority class names with the prefix "system-" are reserved for system use'));
  }
  if (typeof pc.value === 'number' && pc.value > HIGHEST_USER_DEFINABLE_PRIORITY) {
    errs.push(field.invalid('value', pc.value, `must be less than or equal to ${HIGHEST_USER_DEFINABLE_PRIORITY}`));
  }
  if (old && old.value !== pc.value) errs.push(field.forbidden('value', 'may not be changed in an update.'));
  if (old && (old.preemptionPolicy ?? 'PreemptLowerPriority') !== (pc.preemptionPolicy ?? 'PreemptLowerPriority')) {
    errs.push(field.invalid('preemptionPolicy', pc.preemptionPolicy, FIELD_IMMUTABLE));
  }
  return errs;
}

export const semanticValidators: Record<string, (obj: KubeObject, old?: KubeObject) => StatusCause[]> = {
  Namespace: validateNamespace,
  Pod: validatePod,
  Node: validateNode,
  Service: validateService,
  Endpoints: validateEndpoints,
  ConfigMap: validateConfigMap,
  Secret: validateSecret,
  Event: validateEvent,
  ServiceAccount: () => [],
  Deployment: validateDeployment,
  ReplicaSet: validateReplicaSet,
  DaemonSet: validateDaemonSet,
  Job: validateJob,
  CronJob: validateCronJob,
  Lease: validateLease,
  PriorityClass: validatePriorityClass,
};

/** The rules of kinds whose status has any beyond its schema, for writes through the status subresource. */
const statusValidators: Record<string, (obj: KubeObject, old?: KubeObject) => StatusCause[]> = {
  Node: validateNodeStatus,
};

// ---------------------------------------------------------------------------
// The entry point

/**
 * Validates an object on create (`old` undefined) or update, the way the
 * Kubernetes API server does after defaulting. Call it after the kind's
 * defaulter. In place, it:
 *
 * - removes nulls (Go decodes them as unset) and fields the schema does not
 *   declare: under `Strict` each is a strict error `unknown field "spec.foo"`
 *   (the request then fails, so nothing is removed and nothing else is
 *   checked); under `Warn` each becomes a warning; under `Ignore` they just go;
 * - on update, carries over values the server allocated that the client may
 *   omit (a Service's clusterIP and nodePorts), as `updateDefaulters` say;
 * - checks types against `rt.schema` (ajv, compiled once per kind), then
 *   metadata, then `rt.validate` (the kind's semantic rules).
 *
 * Type errors stop validation after the schema step, since Kubernetes rejects
 * such a body before validating it. Causes come back deduplicated, in the
 * order found; an empty list means valid.
 */
export function validateObject(rt: ResourceType, obj: KubeObject, old: KubeObject | undefined, fieldValidation: FieldValidation): ValidationResult {
  const causes: StatusCause[] = [];
  const warnings: string[] = [];
  const unknown: string[] = [];
  prune(obj, rt.schema, '', unknown, fieldValidation !== 'Strict');
  const unknownErrors = unknown.map((path) => `unknown field "${path}"`);
  if (fieldValidation === 'Strict' && unknownErrors.length) return { causes, warnings, strictErrors: unknownErrors };
  if (fieldValidation === 'Warn') warnings.push(...unknownErrors);
  if (old) updateDefaulters[rt.kind]?.(obj, old);

  if (!checkSchema(rt.schema, obj, causes)) {
    validateObjectMeta(rt, obj, old, causes);
    if (rt.validate) causes.push(...rt.validate(obj, old));
  }
  return { causes: dedupe(causes), warnings, strictErrors: [] };
}

const statusSchemas = new WeakMap<JSONSchema, JSONSchema>();

/** A kind's schema cut down to its status: what a status write's object is checked against. */
function statusSchemaOf(schema: JSONSchema): JSONSchema {
  let cut = statusSchemas.get(schema);
  if (!cut) {
    const status = schema.properties?.status;
    cut = { type: 'object', properties: status ? { status } : {} };
    statusSchemas.set(schema, cut);
  }
  return cut;
}

/**
 * Validates a write through the status subresource, whose object is the
 * stored one (valid when it was written) with a new `status`: only the
 * status is pruned and checked, against the schema and the kind's status
 * rules, as Kubernetes' status strategies validate only what they let
 * change (ValidatePodStatusUpdate and its kin). Unknown fields are dropped.
 */
export function validateStatus(rt: ResourceType, obj: KubeObject, old: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const schema = statusSchemaOf(rt.schema);
  const part = { status: obj.status } as unknown as KubeObject;
  prune(part, schema, '', [], true);
  if ('status' in part) obj.status = part.status;
  else delete obj.status;
  if (!checkSchema(schema, part, causes)) causes.push(...(statusValidators[rt.kind]?.(obj, old) ?? []));
  return dedupe(causes);
}

/**
 * Drops repeated causes, and the schema's bare `Required value` where a rule
 * said more about the same field (`Required value: can not be empty`).
 */
function dedupe(causes: StatusCause[]): StatusCause[] {
  if (causes.length < 2) return causes;
  const seen = new Set<string>();
  const explained = new Set(causes.filter((c) => c.reason === 'FieldValueRequired' && c.message !== 'Required value').map((c) => c.field));
  return causes.filter((c) => {
    const key = `${c.field}\u0000${c.message}`;
    if (seen.has(key) || (c.message === 'Required value' && explained.has(c.field))) return false;
    seen.add(key);
    return true;
  });
}
