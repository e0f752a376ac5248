import type { KubeObject } from './types';
import { badRequest } from '../apiserver/errors';

/**
 * Label and field selectors with the semantics of apimachinery's
 * `labels.Parse`, `metav1.LabelSelectorAsSelector` and `fields.ParseSelector`.
 *
 * Selectors are parsed once into plain data and then matched many times: the
 * API server matches every watch event against every watcher's selectors, so
 * matching does no parsing, no regex compilation and no allocation.
 *
 * Every error a selector can cause is an `ApiError` 400 BadRequest whose
 * message is the one apimachinery produces, because clients show it verbatim.
 */

/** Operators as apimachinery's `selection.Operator` spells them. */
export type LabelOperator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  /** Sorted and de-duplicated; empty for `exists` and `!`. */
  readonly values: readonly string[];
  /** The integer bound of a `gt`/`lt` requirement, parsed once. */
  readonly bound?: bigint;
}

export interface LabelSelector {
  readonly type: 'label';
  /** ANDed together, sorted by key. No requirements matches everything. */
  readonly requirements: readonly LabelRequirement[];
  /** Set only for the selector of a nil `metav1.LabelSelector`, which matches no object. */
  readonly matchesNothing: boolean;
}

export interface FieldRequirement {
  readonly field: string;
  /** `==` is parsed as `=`, as apimachinery does. */
  readonly operator: '=' | '!=';
  /** Unescaped. */
  readonly value: string;
  /** `field` split on '.', so matching walks the object without re-splitting. */
  readonly path: readonly string[];
}

export interface FieldSelector {
  readonly type: 'field';
  /** ANDed together. No requirements matches everything. */
  readonly requirements: readonly FieldRequirement[];
}

const NO_REQUIREMENTS: readonly LabelRequirement[] = Object.freeze([]);
const EVERYTHING: LabelSelector = Object.freeze({ type: 'label', requirements: NO_REQUIREMENTS, matchesNothing: false });
const NOTHING: LabelSelector = Object.freeze({ type: 'label', requirements: NO_REQUIREMENTS, matchesNothing: true });

// ---------------------------------------------------------------------------
// Name and value rules (apimachinery util/validation), shared with object
// validation so metadata.labels and selectors reject the same strings.

const QUALIFIED_NAME_MAX = 63;
const LABEL_VALUE_MAX = 63;
const DNS1123_SUBDOMAIN_MAX = 253;
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;
const DNS1123_SUBDOMAIN_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
const QUALIFIED_NAME_MSG =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

function regexError(msg: string, fmt: string, ...examples: string[]): string {
  // Spacing copied from apimachinery's RegexError, double spaces included.
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${fmt}')`;
}

function maxLenError(n: number): string {
  return `must be no more than ${n} characters`;
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isLowerAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 122);
}

// The Go regexes are linear-time; V8's backtrack. Selectors arrive in query
// strings of any length, so these checks are written as single scans.

/** `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` */
function isQualifiedNamePart(s: string): boolean {
  if (s.length === 0 || !isAlnum(s.charCodeAt(0)) || !isAlnum(s.charCodeAt(s.length - 1))) return false;
  for (let i = 1; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (!isAlnum(c) && c !== 45 /* - */ && c !== 95 /* _ */ && c !== 46 /* . */) return false;
  }
  return true;
}

/** Dot-separated labels, each `[a-z0-9]([-a-z0-9]*[a-z0-9])?`. */
function isDns1123Subdomain(s: string): boolean {
  let start = 0;
  for (let i = 0; i <= s.length; i++) {
    if (i < s.length && s.charCodeAt(i) !== 46) continue;
    if (i === start || !isLowerAlnum(s.charCodeAt(start)) || !isLowerAlnum(s.charCodeAt(i - 1))) return false;
    for (let j = start + 1; j < i - 1; j++) {
      const c = s.charCodeAt(j);
      if (!isLowerAlnum(c) && c !== 45) return false;
    }
    start = i + 1;
  }
  return true;
}

/** apimachinery `IsDNS1123Subdomain`: the problems with `value`, empty when valid. */
export function dns1123SubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!isDns1123Subdomain(value)) errs.push(regexError(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, 'example.com'));
  return errs;
}

/**
 * apimachinery `IsQualifiedName` (label keys, annotation keys, finalizers):
 * an optional DNS-subdomain prefix and '/', then a name of at most 63
 * characters. Returns the problems, empty when valid.
 */
export function qualifiedNameErrors(value: string): string[] {
  const nameExamples = ['MyName', 'my.name', '123-abc'];
  const parts = value.split('/');
  if (parts.length > 2) {
    return [
      `a qualified name ${regexError(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, ...nameExamples)} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  const errs: string[] = [];
  const name = parts.length === 2 ? parts[1] : parts[0];
  if (parts.length === 2) {
    const prefix = parts[0];
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...dns1123SubdomainErrors(prefix).map((m) => `prefix part ${m}`));
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > QUALIFIED_NAME_MAX) errs.push(`name part ${maxLenError(QUALIFIED_NAME_MAX)}`);
  if (!isQualifiedNamePart(name)) errs.push(`name part ${regexError(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, ...nameExamples)}`);
  return errs;
}

/** apimachinery `IsValidLabelValue`: at most 63 characters, may be empty. Returns the problems, empty when valid. */
export function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > LABEL_VALUE_MAX) errs.push(maxLenError(LABEL_VALUE_MAX));
  if (value !== '' && !isQualifiedNamePart(value)) {
    errs.push(regexError(LABEL_VALUE_MSG, LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345'));
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Label requirements

/** A `field.Invalid` error as apimachinery prints it: `<path>: Invalid value: <value>: <detail>`. */
function invalidValue(path: string, value: unknown, detail: string): string {
  return `${path}: Invalid value: ${JSON.stringify(value ?? null)}: ${detail}`;
}

/** apimachinery's aggregate error: one message alone, several in brackets. */
function aggregate(errs: string[]): string {
  return errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`;
}

function keyError(key: string, path: string): string | undefined {
  const errs = qualifiedNameErrors(key);
  return errs.length ? invalidValue(path, key, errs.join('; ')) : undefined;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const DECIMAL = /^[+-]?[0-9]+$/;

/** Go's `strconv.ParseInt(s, 10, 64)`; undefined where Go returns an error. */
function parseInt64(s: string): bigint | undefined {
  if (!DECIMAL.test(s)) return undefined;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

/**
 * apimachinery `NewRequirement`: validates and normalises one requirement.
 * Returns the error messages instead of throwing so each caller can wrap them
 * the way its Kubernetes counterpart does.
 */
function newRequirement(key: string, operator: LabelOperator, values: string[], keyPath: string): LabelRequirement | string {
  const errs: string[] = [];
  const badKey = keyError(key, keyPath);
  if (badKey) errs.push(badKey);
  let bound: bigint | undefined;
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) errs.push(invalidValue('values', values, "for 'in', 'notin' operators, values set can't be empty"));
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) errs.push(invalidValue('values', values, 'exact-match compatibility requires one single value'));
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) errs.push(invalidValue('values', values, 'values set must be empty for exists and does not exist'));
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) errs.push(invalidValue('values', values, "for 'Gt', 'Lt' operators, exactly one value is required"));
      values.forEach((v, i) => {
        bound = parseInt64(v);
        if (bound === undefined) errs.push(invalidValue(`values[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"));
      });
      break;
  }
  values.forEach((v, i) => {
    const valueErrs = labelValueErrors(v);
    if (valueErrs.length) errs.push(invalidValue(`values[${i}][${key}]`, v, valueErrs.join('; ')));
  });
  if (errs.length) return aggregate(errs);
  const normalised = [...new Set(values)].sort();
  return bound === undefined ? { key, operator, values: normalised } : { key, operator, values: normalised, bound };
}

function byKey(a: LabelRequirement, b: LabelRequirement): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Label selector grammar (apimachinery labels.Parse)

type Token = 'ident' | 'in' | 'notin' | '!' | '=' | '==' | '!=' | '>' | '<' | '(' | ')' | ',' | 'eos';

interface Scanned {
  tok: Token;
  lit: string;
}

const SPECIAL = new Set(['=', '!', '(', ')', ',', '>', '<']);
const WHITESPACE = new Set([' ', '\t', '\r', '\n']);

function lex(s: string): Scanned[] {
  const out: Scanned[] = [];
  let i = 0;
  for (;;) {
    while (i < s.length && WHITESPACE.has(s[i])) i++;
    if (i >= s.length) {
      out.push({ tok: 'eos', lit: '' });
      return out;
    }
    if (SPECIAL.has(s[i])) {
      // Longest match: '!=' and '==' are the only two-character operators.
      const two = s.slice(i, i + 2);
      const lit = two === '!=' || two === '==' ? two : s[i];
      out.push({ tok: lit as Token, lit });
      i += lit.length;
      continue;
    }
    const start = i;
    while (i < s.length && !SPECIAL.has(s[i]) && !WHITESPACE.has(s[i])) i++;
    const lit = s.slice(start, i);
    out.push({ tok: lit === 'in' || lit === 'notin' ? lit : 'ident', lit });
  }
}

/**
 * A recursive-descent parser mirroring apimachinery's, so that what parses,
 * what fails and the error messages are the same. Inside values `in` and
 * `notin` are ordinary identifiers (`x in (in)` is valid).
 */
class LabelParser {
  private pos = 0;

  constructor(private readonly items: Scanned[]) {}

  private lookahead(values: boolean): Scanned {
    return this.asValue(this.items[this.pos], values);
  }

  private consume(values: boolean): Scanned {
    return this.asValue(this.items[this.pos++], values);
  }

  private asValue(item: Scanned, values: boolean): Scanned {
    return values && (item.tok === 'in' || item.tok === 'notin') ? { tok: 'ident', lit: item.lit } : item;
  }

  parse(): LabelRequirement[] {
    const requirements: LabelRequirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead(true);
      if (tok === 'eos') return requirements;
      if (tok !== 'ident' && tok !== '!') {
        throw badRequest(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
      const r = this.parseRequirement();
      if (typeof r === 'string') throw badRequest(`unable to parse requirement: ${r}`);
      requirements.push(r);
      const next = this.consume(true);
      if (next.tok === 'eos') return requirements;
      if (next.tok !== ',') throw badRequest(`found '${next.lit}', expected: ',' or 'end of string'`);
      const after = this.lookahead(true);
      if (after.tok !== 'ident' && after.tok !== '!') {
        throw badRequest(`found '${after.lit}', expected: identifier after ','`);
      }
    }
  }

  /** A requirement, or the message of why it is invalid. */
  private parseRequirement(): LabelRequirement | string {
    let negated = false;
    let { tok, lit: key } = this.consume(true);
    if (tok === '!') {
      negated = true;
      ({ tok, lit: key } = this.consume(true));
    }
    if (tok !== 'ident') return `found '${key}', expected: identifier`;
    // apimachinery validates the key here with a nil field path, hence "<nil>".
    const badKey = keyError(key, '<nil>');
    if (badKey) return badKey;
    // `!key` is complete on its own; anything after it is left for the caller
    // to reject, which gives apimachinery's message for `!a=b`.
    if (negated) return newRequirement(key, '!', [], 'key');
    const after = this.lookahead(true).tok;
    if (after === 'eos' || after === ',') return newRequirement(key, 'exists', [], 'key');

    const op = this.consume(false);
    let operator: LabelOperator;
    switch (op.tok) {
      case 'in':
      case 'notin':
      case '=':
      case '==':
      case '!=':
        operator = op.tok;
        break;
      case '>':
        operator = 'gt';
        break;
      case '<':
        operator = 'lt';
        break;
      default:
        return `found '${op.lit}', expected: in, notin, =, ==, !=, gt, lt`;
    }
    const values = operator === 'in' || operator === 'notin' ? this.parseValues() : this.parseExactValue();
    if (typeof values === 'string') return values;
    return newRequirement(key, operator, values, 'key');
  }

  /** `( v1, v2, ... )`; empty entries are the empty string, as in `(a,,b)` or `()`. */
  private parseValues(): string[] | string {
    const open = this.consume(true);
    if (open.tok !== '(') return `found '${open.lit}' expected: '('`;
    const first = this.lookahead(true);
    if (first.tok === ')') {
      this.consume(true);
      return [''];
    }
    if (first.tok !== 'ident' && first.tok !== ',') return `found '${first.lit}', expected: ',', ')' or identifier`;
    const values = new Set<string>();
    for (;;) {
      const { tok, lit } = this.consume(true);
      if (tok === 'ident') {
        values.add(lit);
        const next = this.lookahead(true);
        if (next.tok === ',') continue;
        if (next.tok === ')') break;
        return `found '${next.lit}', expected: ',' or ')'`;
      } else if (tok === ',') {
        if (values.size === 0) values.add('');
        const next = this.lookahead(true).tok;
        if (next === ')') {
          values.add('');
          break;
        }
        if (next === ',') {
          this.consume(true);
          values.add('');
        }
      } else {
        return `found '${lit}', expected: ',', or identifier`;
      }
    }
    this.consume(true); // the ')' seen by lookahead
    return [...values].sort();
  }

  /** The single value after `=`, `==`, `!=`, `>` or `<`; empty when the requirement ends there. */
  private parseExactValue(): string[] | string {
    const next = this.lookahead(true).tok;
    if (next === 'eos' || next === ',') return [''];
    const { tok, lit } = this.consume(true);
    return tok === 'ident' ? [lit] : `found '${lit}', expected: identifier`;
  }
}

/**
 * Parses a label selector string (`?labelSelector=`, `kubectl -l`), e.g.
 * `app=web,tier in (fe,be),!canary,release`. The empty string selects
 * everything.
 *
 * @throws ApiError 400 BadRequest with apimachinery's message, e.g.
 *   `unable to parse requirement: <nil>: Invalid value: "a b": ...`.
 */
export function parseLabelSelector(text: string): LabelSelector {
  const requirements = new LabelParser(lex(text)).parse();
  if (requirements.length === 0) return EVERYTHING;
  return { type: 'label', requirements: requirements.sort(byKey), matchesNothing: false };
}

/** `metav1.LabelSelector`, the `spec.selector` of Deployments, ReplicaSets and DaemonSets. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: { key: string; operator: string; values?: string[] | null }[] | null;
}

const EXPRESSION_OPERATORS: Record<string, LabelOperator> = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
};

/**
 * apimachinery `LabelSelectorAsSelector`: a nil selector selects nothing,
 * an empty one (`{}`) selects everything.
 *
 * @throws ApiError 400 BadRequest for an unknown operator or an invalid key,
 *   value or value count. Objects reaching controllers have passed validation,
 *   so a controller seeing this has a bug to report, not a request to retry.
 */
export function labelSelectorFromObject(sel: LabelSelectorObject | null | undefined): LabelSelector {
  if (sel == null) return NOTHING;
  const requirements: LabelRequirement[] = [];
  const add = (r: LabelRequirement | string) => {
    if (typeof r === 'string') throw badRequest(r);
    requirements.push(r);
  };
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) add(newRequirement(key, '=', [value], 'key'));
  for (const expr of sel.matchExpressions ?? []) {
    const operator = Object.prototype.hasOwnProperty.call(EXPRESSION_OPERATORS, expr.operator)
      ? EXPRESSION_OPERATORS[expr.operator]
      : undefined;
    if (!operator) throw badRequest(`${JSON.stringify(expr.operator)} is not a valid label selector operator`);
    add(newRequirement(expr.key, operator, [...(expr.values ?? [])], 'key'));
  }
  if (requirements.length === 0) return EVERYTHING;
  return { type: 'label', requirements: requirements.sort(byKey), matchesNothing: false };
}

function requirementMatches(r: LabelRequirement, labels: Record<string, string> | null | undefined): boolean {
  const has = labels != null && Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.operator) {
    case '=':
    case '==':
    case 'in':
      return has && r.values.includes(labels![r.key]);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(labels![r.key]);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has) return false;
      const n = parseInt64(labels![r.key]);
      if (n === undefined) return false;
      return r.operator === 'gt' ? n > r.bound! : n < r.bound!;
    }
  }
}

/** Whether an object with these labels is selected. Missing labels are no labels. */
export function matchesLabels(sel: LabelSelector, labels: Record<string, string> | null | undefined): boolean {
  if (sel.matchesNothing) return false;
  for (const r of sel.requirements) if (!requirementMatches(r, labels)) return false;
  return true;
}

function requirementToString(r: LabelRequirement): string {
  switch (r.operator) {
    case 'exists':
      return r.key;
    case '!':
      return `!${r.key}`;
    case 'in':
    case 'notin':
      return `${r.key} ${r.operator} (${r.values.join(',')})`;
    case 'gt':
      return `${r.key}>${r.values[0]}`;
    case 'lt':
      return `${r.key}<${r.values[0]}`;
    default:
      return `${r.key}${r.operator}${r.values[0]}`;
  }
}

/**
 * The canonical form apimachinery prints (requirements by key, set values
 * sorted); it parses back to an equal selector. Like apimachinery, a
 * select-nothing selector prints as '' too.
 */
export function labelSelectorToString(sel: LabelSelector): string {
  return sel.requirements.map(requirementToString).join(',');
}

// ---------------------------------------------------------------------------
// Field selectors (apimachinery fields.ParseSelector plus the API server's
// per-kind field label check)

const ALWAYS_SELECTABLE = ['metadata.name', 'metadata.namespace'];

/** Splits on commas that are not backslash-escaped; escapes stay in the terms. */
function splitTerms(text: string): string[] {
  if (text === '') return [];
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    if (escaped) escaped = false;
    else if (text[i] === '\\') escaped = true;
    else if (text[i] === ',') {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms;
}

function unescapeValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      const next = s[++i];
      if (next === undefined) throw badRequest('invalid field selector: invalid escape sequence: \\');
      if (next !== '\\' && next !== ',' && next !== '=') {
        throw badRequest(`invalid field selector: invalid escape sequence: \\${next}`);
      }
      out += next;
    } else if (c === ',' || c === '=') {
      // apimachinery prints the rune's code point here; the character says more.
      throw badRequest(`invalid field selector: unescaped character in value: ${c}`);
    } else {
      out += c;
    }
  }
  return out;
}

/** Escapes a literal for use as a field selector value (apimachinery `EscapeValue`). */
export function escapeFieldValue(value: string): string {
  return value.replace(/[\\,=]/g, (c) => `\\${c}`);
}

/**
 * Parses a field selector string (`?fieldSelector=`), e.g.
 * `spec.nodeName=node1,status.phase!=Running`. `\,`, `\=` and `\\` escape
 * those characters in values; whitespace is significant, as in Kubernetes.
 *
 * @param allowedFields the kind's selectable fields beyond `metadata.name`
 *   and `metadata.namespace` (the registry's `selectableFields`).
 * @throws ApiError 400 BadRequest for a syntax error or a field the kind does
 *   not support: `field label not supported: <field>`, or for kinds with no
 *   extra selectable fields, Kubernetes' default
 *   `"<field>" is not a known field selector: only "metadata.name", "metadata.namespace"`.
 */
export function parseFieldSelector(text: string, allowedFields: readonly string[]): FieldSelector {
  const requirements: FieldRequirement[] = [];
  for (const term of splitTerms(text).sort()) {
    if (term === '') continue;
    // The first operator wins: field names cannot be escaped, values can.
    const m = /!=|==|=/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const field = term.slice(0, m.index);
    const value = unescapeValue(term.slice(m.index + m[0].length));
    requirements.push({ field, operator: m[0] === '!=' ? '!=' : '=', value, path: field.split('.') });
  }
  for (const { field } of requirements) {
    if (ALWAYS_SELECTABLE.includes(field) || allowedFields.includes(field)) continue;
    throw badRequest(
      allowedFields.length
        ? `field label not supported: ${field}`
        : `${JSON.stringify(field)} is not a known field selector: only "metadata.name", "metadata.namespace"`,
    );
  }
  return { type: 'field', requirements };
}

function valueAt(obj: unknown, path: readonly string[]): string {
  let v: any = obj;
  for (const segment of path) {
    if (v === null || typeof v !== 'object') return '';
    v = v[segment];
  }
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(v);
    default:
      // Missing fields compare as '', as in the field sets Kubernetes builds;
      // objects and lists are never selectable.
      return '';
  }
}

/**
 * The value a field selector compares for the dotted `path` of `obj`:
 * strings as they are, numbers and booleans stringified (`true`/`false`),
 * anything missing or non-scalar as ''.
 */
export function fieldValue(obj: KubeObject, path: string): string {
  return valueAt(obj, path.split('.'));
}

/** Whether `obj` satisfies every requirement of the field selector. */
export function matchesFields(sel: FieldSelector, obj: KubeObject): boolean {
  for (const r of sel.requirements) {
    if ((valueAt(obj, r.path) === r.value) !== (r.operator === '=')) return false;
  }
  return true;
}

/** The canonical form apimachinery prints, with values escaped. */
export function fieldSelectorToString(sel: FieldSelector): string {
  return sel.requirements.map((r) => `${r.field}${r.operator}${escapeFieldValue(r.value)}`).join(',');
}

/**
 * The value `sel` pins `key` to (`spec.nodeName=node1`, `app=web`,
 * `app in (web)`), or undefined when objects with other values could match.
 * Lets the watch cache use an index instead of scanning (apimachinery
 * `RequiresExactMatch`).
 */
export function requiredExactValue(sel: FieldSelector | LabelSelector, key: string): string | undefined {
  if (sel.type === 'field') {
    return sel.requirements.find((r) => r.field === key && r.operator === '=')?.value;
  }
  const r = sel.requirements.find((req) => req.key === key);
  if (!r || r.values.length !== 1) return undefined;
  return r.operator === '=' || r.operator === '==' || r.operator === 'in' ? r.values[0] : undefined;
}
