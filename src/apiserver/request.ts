import type { IncomingMessage } from 'node:http';
import YAML from 'yaml';
import { lookupResource, type ResourceType } from '../api/registry';
import { badRequest, notFound, tooLarge, unsupportedMediaType } from './errors';

/** Request bodies larger than this get 413, as the Kubernetes API server's 3 MiB limit. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

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
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
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
      throw unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/merge-patch+json, application/json-patch+json`);
  }
}

/** Parses a body as JSON or YAML; malformed input is a 400 naming the parser's complaint. */
export function parseBody(raw: Buffer, type: BodyType): unknown {
  const text = raw.toString('utf8');
  if (!text.trim()) throw badRequest('the request body is empty');
  if (type === 'yaml' || type === 'apply-patch') {
    try {
      const docs = YAML.parseAllDocuments(text);
      if (docs.length !== 1) throw new Error(`expected one document, got ${docs.length}`);
      if (docs[0].errors.length) throw docs[0].errors[0];
      return docs[0].toJS();
    } catch (err) {
      throw badRequest(`error decoding YAML: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`error decoding JSON: ${(err as Error).message}`);
  }
}
