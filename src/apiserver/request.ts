import type { IncomingMessage } from 'node:http';
import * as querystring from 'node:querystring';
import YAML from 'yaml';
import { lookupResource, type ResourceType } from '../api/registry';
import { badRequest, notFound, tooLarge, unsupportedMediaType } from './errors';

/** Request bodies larger than this get 413, as the Kubernetes API server's 3 MiB limit. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Query parameters; a repeated one counts once, by its first value, as Go's url.Values.Get reads it. */
export type Query = Record<string, string | undefined>;

export function parseQuery(qs: string): Query {
  const parsed = querystring.parse(qs);
  const query: Query = {};
  for (const [k, v] of Object.entries(parsed)) query[k] = Array.isArray(v) ? v[0] : v;
  return query;
}

/** A request as the resource handlers see it: node's own, with path and query parsed once. */
export interface ApiRequest extends IncomingMessage {
  path: string;
  query: Query;
}

/** Splits `req.url` into `path` and `query` on the request itself. */
export function toApiRequest(req: IncomingMessage): ApiRequest {
  const api = req as ApiRequest;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  api.path = q < 0 ? url : url.slice(0, q);
  api.query = q < 0 ? {} : parseQuery(url.slice(q + 1));
  return api;
}

/** What a resource URL names, once the registry has resolved it. */
export interface ResourceRequest {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** Legacy `/api/v1/watch/...` paths mean watch=true. */
  watchPath: boolean;
}

/**
 * Resolves `/api/v1/...` and `/apis/{group}/{version}/...` resource paths:
 *   {prefix}/{plural}[/{name}[/{sub}]]
 *   {prefix}/namespaces/{ns}/{plural}[/{name}[/{sub}]]
 *   {prefix}/watch/...   (legacy watch form of the two above)
 * Returns undefined for paths that are not resource paths (discovery).
 */
export function parseResourcePath(path: string): ResourceRequest | undefined {
  let parts: string[];
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw badRequest(`malformed percent-encoding in the request path ${JSON.stringify(path)}`);
  }
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1];
    version = parts[2];
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  // namespaces/{ns}/{plural}... is a namespaced path, unless the third segment is a namespace subresource.
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  const rt = plural ? lookupResource(group, version, plural) : undefined;
  if (!rt || extra.length) {
    throw notFound({ group, plural: plural ?? '', kind: plural ?? '' }, name ?? plural ?? '');
  }
  if (namespace !== undefined && !rt.namespaced) {
    throw notFound(rt, name ?? '');
  }
  if (subresource && !rt.subresources.includes(subresource)) {
    throw notFound({ group, plural: `${rt.plural}/${subresource}`, kind: rt.kind }, name);
  }
  return { rt, namespace, name, subresource, watchPath };
}

/** Reads the whole body, refusing more than MAX_BODY_BYTES with 413. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(`request entity too large: limit is ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge(`request entity too large: limit is ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => !failed && resolve(Buffer.concat(chunks)));
    req.on('error', (err) => !failed && reject(err));
  });
}

/** The body media types mk understands, by what a request's Content-Type says. */
export type BodyType = 'json' | 'yaml' | 'merge-patch' | 'json-patch' | 'strategic-merge-patch' | 'apply-patch';

export function bodyType(contentType: string | undefined): BodyType {
  const type = (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
  switch (type) {
    case '':
    case 'application/json':
    case '*/*':
      return 'json';
    case 'application/yaml':
    case 'application/x-yaml':
      return 'yaml';
    case 'application/merge-patch+json':
      return 'merge-patch';
    case 'application/json-patch+json':
      return 'json-patch';
    case 'application/strategic-merge-patch+json':
      return 'strategic-merge-patch';
    case 'application/apply-patch+yaml':
      return 'apply-patch';
    default:
      throw unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/strategic-merge-patch+json, application/merge-patch+json, application/json-patch+json`);
  }
}

/**
 * How deeply a request body may nest. Real objects nest a few dozen levels;
 * the limit is far below where the YAML parser, validation, patching and
 * serialization (all recursive) would run out of stack.
 */
export const MAX_BODY_DEPTH = 256;

/** Parses a body as JSON or YAML; malformed input is a 400 naming the parser's complaint. */
export function parseBody(raw: Buffer, type: BodyType): unknown {
  const text = raw.toString('utf8');
  if (!text.trim()) throw badRequest('the request body is empty');
  let value: unknown;
  if (type === 'yaml' || type === 'apply-patch') {
    try {
      // Checked before composing: the composer recurses once per level of nesting.
      if (yamlNestingExceeds(text, MAX_BODY_DEPTH)) throw new Error(`nesting exceeds ${MAX_BODY_DEPTH} levels`);
      // Repeated keys are fieldValidation's business (strict-decoding.ts): the last one wins here, as in Go.
      const docs = YAML.parseAllDocuments(text, { uniqueKeys: false });
      if (docs.length !== 1) throw new Error(`expected one document, got ${docs.length}`);
      if (docs[0].errors.length) throw docs[0].errors[0];
      // JSON keys are strings: a collection as a key has no JSON form, and
      // stringifying nested ones takes time exponential in their depth.
      if (hasCollectionKey(docs[0].contents)) throw new Error('invalid map key: keys must be scalars');
      value = docs[0].toJS();
    } catch (err) {
      throw badRequest(`error decoding YAML: ${(err as Error).message.split('\n')[0]}`);
    }
  } else {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw badRequest(`error decoding JSON: ${(err as Error).message}`);
    }
  }
  if (depthExceeds(value, MAX_BODY_DEPTH)) {
    throw badRequest(`error decoding ${type === 'yaml' || type === 'apply-patch' ? 'YAML' : 'JSON'}: nesting exceeds ${MAX_BODY_DEPTH} levels`);
  }
  return value;
}

/**
 * Whether a YAML text may nest deeper than `limit`, judged from its tokens
 * alone (an upper bound): open flow collections, plus in block context the
 * indentation and the block indicators on one line (`- - - x`).
 */
function yamlNestingExceeds(text: string, limit: number): boolean {
  let flow = 0;
  let indent = 0;
  let onLine = 0;
  let lineStart = true;
  let scalarNext = false;
  for (const token of new YAML.Lexer().lex(text)) {
    if (scalarNext) {
      scalarNext = false; // a scalar's source, whatever characters it holds
      continue;
    }
    if (lineStart && flow === 0 && /^ +$/.test(token)) indent = token.length;
    lineStart = false;
    switch (token) {
      case '\u001f':
        scalarNext = true;
        break;
      case '[':
      case '{':
        flow++;
        break;
      case ']':
      case '}':
        flow = Math.max(0, flow - 1);
        break;
      case '-':
      case '?':
      case ':':
        if (flow === 0) onLine++;
        break;
      case '\n':
      case '\r\n':
        indent = 0;
        onLine = 0;
        lineStart = true;
        break;
    }
    if (flow + indent + onLine > limit) return true;
  }
  return false;
}

function hasCollectionKey(root: unknown): boolean {
  const stack = [root];
  while (stack.length) {
    const node = stack.pop();
    if (YAML.isMap(node)) {
      for (const pair of node.items) {
        if (pair.key !== null && !YAML.isScalar(pair.key)) return true;
        stack.push(pair.value);
      }
    } else if (YAML.isSeq(node)) {
      stack.push(...node.items);
    }
  }
  return false;
}

/** Whether a parsed document nests deeper than `limit`, found without recursion. */
function depthExceeds(root: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (!node || typeof node !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(node)) if (child && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}
