import type { ServerResponse } from 'node:http';
import { apiVersionOf, type ResourceType } from '../api/registry';
import { labelSelectorToString, labelSelectorFromObject, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from '../api/selectors';
import { applyJsonPatch, mergePatchInPlace } from '../api/patch';
import { fieldManagerFromUserAgent, fieldManagerProblem } from '../api/managed-fields';
import { strategicMergeInPlace, strategicMergeSchema } from '../api/strategic-merge';
import { buildTable, type IncludeObject } from '../api/table';
import type { JSONSchema } from '../api/schemas';
import type { KubeObject, StatusCause } from '../api/types';
import type { FieldValidation } from '../api/validation';
import type { CachedObject } from '../storage/watch-cache';
import { ApiError, badRequest, gone, invalid, methodNotAllowed, unsupportedMediaType } from './errors';
import { bodyType, parseBody, parseResourcePath, readBody, type ApiRequest, type Query, type ResourceRequest } from './request';
import type { DeleteOptions, ResourceStorage, WriteOptions, WriteResult } from './resources';
import type { PodStreams } from './pod-streams';
import { serveWatch, type ObjectFilter, type WatchOptions } from './watch';
import { sendList, sendTableList } from './list-response';
import { decodeProblems, goValue } from './strict-decoding';
import { answerReview } from './access-review';
import { decodeProtobufObject, isProtobuf } from './protobuf';

function sendJson(res: ServerResponse, code: number, body: string, warnings: string[] = []): void {
  // An explicit length keeps the response to one write: without it node switches to chunked encoding.
  const headers: Record<string, string | string[] | number> = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
  if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(body);
}

/** True when the client asked for server-side printing (`kubectl get` does). */
function wantsTable(req: ApiRequest): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('as=Table');
}

/** What rows of a server-side Table carry (`?includeObject=None|Metadata|Object`). */
function includeObject(q: Query): IncludeObject | undefined {
  const v = q.includeObject;
  if (v === undefined) return undefined;
  if (v !== 'None' && v !== 'Metadata' && v !== 'Object') throw badRequest(`includeObject must be one of "None", "Metadata" or "Object", got "${v}"`);
  return v;
}

/** With `req`, also who writes: `?fieldManager`, else the User-Agent's product (how Kubernetes names managers). */
function writeOptions(q: Query, req?: ApiRequest): WriteOptions {
  const fv = q.fieldValidation;
  if (fv && fv !== 'Strict' && fv !== 'Warn' && fv !== 'Ignore') {
    throw badRequest(`fieldValidation must be one of "Strict", "Warn" or "Ignore", got "${fv}"`);
  }
  if (q.dryRun && q.dryRun !== 'All') throw badRequest(`dryRun must be "All", got "${q.dryRun}"`);
  const opts: WriteOptions = { dryRun: q.dryRun === 'All', fieldValidation: fv as FieldValidation | undefined };
  if (req) {
    const problem = q.fieldManager ? fieldManagerProblem(q.fieldManager) : undefined;
    if (problem) throw invalidOptions(req, [{ field: 'fieldManager', message: problem }]);
    opts.fieldManager = q.fieldManager || fieldManagerFromUserAgent(req.headers['user-agent']);
  }
  return opts;
}

/** A 422 about the query of a write, as Kubernetes reports invalid CreateOptions, UpdateOptions and PatchOptions. */
function invalidOptions(req: ApiRequest, causes: StatusCause[]): ApiError {
  const kind = req.method === 'POST' ? 'CreateOptions' : req.method === 'PUT' ? 'UpdateOptions' : 'PatchOptions';
  return invalid({ group: 'meta.k8s.io', plural: '', kind }, '', causes);
}

/** A boolean query parameter as Go's strconv.ParseBool reads it. */
function queryBool(name: string, value: string | undefined): boolean {
  if (value === undefined || value === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw badRequest(`${name}: strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
}

/** DeleteOptions' deprecated `orphanDependents`, from the query or the body. */
function orphanDependents(q: Query, body: any): boolean | undefined {
  const v = q.orphanDependents ?? body?.orphanDependents;
  return v === true || v === 'true' ? true : v === false || v === 'false' ? false : undefined;
}

function deleteOptions(q: Query, body: any): DeleteOptions {
  const opts: DeleteOptions = {};
  const grace = q.gracePeriodSeconds ?? body?.gracePeriodSeconds;
  if (grace !== undefined && grace !== null) {
    const n = Number(grace);
    if (!Number.isInteger(n)) throw badRequest(`gracePeriodSeconds must be an integer, got "${grace}"`);
    opts.gracePeriodSeconds = Math.max(0, n);
  }
  const policy = q.propagationPolicy ?? body?.propagationPolicy;
  if (policy !== undefined) {
    if (policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan') {
      throw badRequest(`propagationPolicy must be one of "Background", "Foreground" or "Orphan", got "${policy}"`);
    }
    opts.propagationPolicy = policy;
  } else if (orphanDependents(q, body) !== undefined) {
    // The older spelling: false asks that dependents go first, as Foreground does.
    opts.propagationPolicy = orphanDependents(q, body) ? 'Orphan' : 'Foreground';
  }
  if (body?.preconditions) opts.preconditions = body.preconditions;
  opts.dryRun = q.dryRun === 'All' || (Array.isArray(body?.dryRun) && body.dryRun.includes('All'));
  return opts;
}

/** The namespace and selector filter a list, watch or deletecollection applies. */
export function objectFilter(rt: ResourceType, namespace: string | undefined, q: Query): ObjectFilter {
  const labels = q.labelSelector ? parseLabelSelector(q.labelSelector) : undefined;
  const fields = q.fieldSelector ? parseFieldSelector(q.fieldSelector, rt.selectableFields) : undefined;
  return (obj) =>
    (!namespace || obj.metadata.namespace === namespace) &&
    (!labels || matchesLabels(labels, obj.metadata.labels)) &&
    (!fields || matchesFields(fields, obj));
}

interface ContinueToken {
  /** The key of the last object returned; the next page starts after it. */
  start: string;
  rv: number;
}

function decodeContinue(token: string): ContinueToken {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed.start === 'string' && typeof parsed.rv === 'number') return parsed;
  } catch {
    // fall through to the error below
  }
  throw badRequest('invalid continue token');
}

/**
 * The generic REST handlers: one set of verbs for every kind in the
 * registry. Anything that is not a resource path is left to the caller.
 */
export function resourceHandler(resources: ResourceStorage, watchOptions: Omit<WatchOptions, 'asTable'>, podStreams?: PodStreams) {
  const handlers = {
    list(req: ApiRequest, res: ServerResponse, r: ResourceRequest, q: Query): void {
      const { rt, namespace } = r;
      const filter = objectFilter(rt, namespace, q);
      if (r.watchPath || q.watch === 'true' || q.watch === '1') {
        const rv = q.resourceVersion;
        if (rv && rv !== '0' && !/^\d+$/.test(rv)) throw badRequest(`invalid resource version "${rv}"`);
        if (q.timeoutSeconds && !/^\d+$/.test(q.timeoutSeconds)) throw badRequest(`timeoutSeconds must be a non-negative integer, got "${q.timeoutSeconds}"`);
        void resources.store.compactedRevision().then((compacted) => {
          if (rv && rv !== '0' && Number(rv) < compacted) {
            const status = gone(`too old resource version: ${rv} (${compacted + 1})`).toStatus();
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
            return;
          }
          const asTable = wantsTable(req) ? (obj: KubeObject) => buildTable(rt, [obj], { now: Date.now(), includeObject: includeObject(q) }) : undefined;
          serveWatch(req, res, rt, resources, filter, { ...watchOptions, asTable });
        }).catch((err) => res.destroy(err));
        return;
      }

      const { items, revision } = resources.list(rt, namespace);
      let start = 0;
      if (q.continue) {
        const token = decodeContinue(q.continue);
        start = items.findIndex((i) => i.key > token.start);
        if (start < 0) start = items.length;
      }
      const limit = q.limit ? Number(q.limit) : 0;
      if (q.limit && (!Number.isInteger(limit) || limit < 0)) throw badRequest(`limit must be a non-negative integer, got "${q.limit}"`);
      const page: CachedObject[] = [];
      let next: string | undefined;
      for (let i = start; i < items.length; i++) {
        if (!filter(items[i].object)) continue;
        if (limit && page.length === limit) {
          next = Buffer.from(JSON.stringify({ start: page[page.length - 1].key, rv: revision })).toString('base64url');
          break;
        }
        page.push(items[i]);
      }

      const listMeta = { resourceVersion: String(revision), ...(next ? { continue: next } : {}) };
      const sent = wantsTable(req)
        ? sendTableList(res, rt, page, { now: Date.now(), includeObject: includeObject(q), listMeta })
        : sendList(res, rt, page, listMeta);
      sent.catch((err) => res.destroy(err));
    },

    async create(req: ApiRequest, res: ServerResponse, r: ResourceRequest, q: Query): Promise<void> {
      const opts = writeOptions(q, req);
      const obj = await readObject(req, opts, r.rt);
      const result = await resources.create(r.rt, r.namespace, obj as KubeObject, opts);
      sendWritten(res, 201, result);
    },

    get(req: ApiRequest, res: ServerResponse, r: ResourceRequest): void {
      const found = resources.get(r.rt, r.namespace, r.name!);
      if (wantsTable(req)) {
        sendJson(res, 200, JSON.stringify(buildTable(r.rt, [found.object], { now: Date.now(), includeObject: includeObject(req.query as Query) })));
        return;
      }
      sendJson(res, 200, found.json);
    },

    async update(req: ApiRequest, res: ServerResponse, r: ResourceRequest, q: Query): Promise<void> {
      const opts = writeOptions(q, req);
      const obj = (await readObject(req, opts, r.rt)) as KubeObject;
      const sub = r.subresource === 'status' ? 'status' : undefined;
      sendWritten(res, 200, await resources.update(r.rt, r.namespace, r.name!, obj, opts, sub));
    },

    async patch(req: ApiRequest, res: ServerResponse, r: ResourceRequest, q: Query): Promise<void> {
      const type = bodyType(req.headers['content-type']);
      if (type === 'apply-patch') return handlers.apply(req, res, r, q);
      if (q.force !== undefined) throw invalidOptions(req, [{ field: 'force', reason: 'FieldValueForbidden', message: 'Forbidden: may not be specified for non-apply patch' }]);
      const raw = await readBody(req);
      const patch = parseBody(raw, type);
      const sub = r.subresource === 'status' ? 'status' : undefined;
      const apply = patcher(type, patch, strategicMergeSchema(r.rt));
      const opts = writeOptions(q, req);
      opts.decodeProblems = decodeProblems(raw.toString('utf8'), type, opts.fieldValidation ?? 'Warn');
      // Kubernetes shows a strategic merge patch as Go prints the decoded map, other patches as the patched object.
      opts.patch = type === 'strategic-merge-patch' ? { value: goValue(patch) } : {};
      sendWritten(res, 200, await resources.guaranteedUpdate(r.rt, r.namespace, r.name!, undefined, apply, opts, sub));
    },

    /** Server-side apply: PATCH with `application/apply-patch+yaml` (see server-side-apply.ts). */
    async apply(req: ApiRequest, res: ServerResponse, r: ResourceRequest, q: Query): Promise<void> {
      if (!q.fieldManager) {
        throw invalidOptions(req, [{ field: 'fieldManager', reason: 'FieldValueRequired', message: 'Required value: is required for apply patch' }]);
      }
      const force = queryBool('force', q.force);
      const opts = writeOptions(q, req);
      const raw = await readBody(req);
      const config = parseBody(raw, 'apply-patch');
      opts.decodeProblems = decodeProblems(raw.toString('utf8'), 'apply-patch', opts.fieldValidation ?? 'Warn');
      const sub = r.subresource === 'status' ? 'status' : undefined;
      const result = await resources.apply(r.rt, r.namespace, r.name!, config, { ...opts, force }, sub);
      sendWritten(res, result.created ? 201 : 200, result);
    },

    async delete(req: ApiRequest, res: ServerResponse, r: ResourceRequest, q: Query): Promise<void> {
      const raw = await readBody(req);
      const body = raw.length ? parseBody(raw, 'json') : undefined;
      const result = await resources.delete(r.rt, r.namespace, r.name!, deleteOptions(q, body));
      // A deletion under way (grace period, finalizers) answers 200 with the object, as Kubernetes does;
      // 202 only when orphanDependents=false asked for it (Kubernetes keeps that for old clients).
      if (!result.removed) return sendJson(res, orphanDependents(q, body) === false ? 202 : 200, result.object.json);
      // As Kubernetes' registry: once the object is gone, most kinds answer with a Status naming it
      // (the typed clients declare V1Status as delete's result); a few return the deleted object.
      if (r.rt.returnDeletedObject) return sendJson(res, 200, result.object.json);
      const { name, uid } = result.object.object.metadata;
      const details = { name, ...(r.rt.group ? { group: r.rt.group } : {}), kind: r.rt.plural, uid };
      sendJson(res, 200, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details }));
    },

    async deleteCollection(req: ApiRequest, res: ServerResponse, r: ResourceRequest, q: Query): Promise<void> {
      const raw = await readBody(req);
      const opts = deleteOptions(q, raw.length ? parseBody(raw, 'json') : undefined);
      const filter = objectFilter(r.rt, r.namespace, q);
      const victims = resources.list(r.rt, r.namespace).items.filter((i) => filter(i.object));
      const deleted: string[] = [];
      for (const v of victims) {
        try {
          const out = await resources.delete(r.rt, v.object.metadata.namespace, v.object.metadata.name!, opts);
          deleted.push(out.object.json);
        } catch (err) {
          // Something else deleted it first: that is what was asked for.
          if ((err as { code?: number }).code !== 404) throw err;
        }
      }
      const body = `{"kind":"${r.rt.listKind}","apiVersion":"${apiVersionOf(r.rt)}","metadata":{},"items":[${deleted.join(',')}]}`;
      sendJson(res, 200, body);
    },

    async review(req: ApiRequest, res: ServerResponse, r: ResourceRequest, q: Query): Promise<void> {
      const opts = writeOptions(q);
      const answer = answerReview(r.rt, (await readObject(req, opts, r.rt)) as KubeObject, opts);
      sendJson(res, 201, JSON.stringify(answer.object), answer.warnings);
    },

    async binding(req: ApiRequest, res: ServerResponse, r: ResourceRequest): Promise<void> {
      const binding = (await readObject(req)) as KubeObject;
      await resources.bind(r.rt, r.namespace!, r.name!, binding);
      sendJson(res, 201, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }));
    },

    async scale(req: ApiRequest, res: ServerResponse, r: ResourceRequest, q: Query): Promise<void> {
      if (req.method === 'GET') {
        sendJson(res, 200, JSON.stringify(toScale(resources.get(r.rt, r.namespace, r.name!).object)));
        return;
      }
      // The Scale a PUT sends, or how a PATCH turns the current Scale into the desired one.
      let scaleOf: (current: KubeObject) => KubeObject;
      let precondition: string | undefined;
      if (req.method === 'PUT') {
        const desired = (await readObject(req)) as KubeObject;
        precondition = desired.metadata?.resourceVersion;
        scaleOf = () => desired;
      } else {
        const type = bodyType(req.headers['content-type']);
        const patch = parseBody(await readBody(req), type);
        // Patched against the object as it is at write time, so a concurrent status write is not a conflict.
        scaleOf = (current) => patcher(type, patch, SCALE_SCHEMA)(toScale(current));
      }
      const result = await resources.guaranteedUpdate(r.rt, r.namespace, r.name!, precondition, (obj) => {
        const replicas = scaleOf(obj)?.spec?.replicas;
        if (!Number.isInteger(replicas) || replicas < 0) {
          throw invalid({ group: 'autoscaling', plural: 'scale', kind: 'Scale' }, r.name!, [
            { field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0` },
          ]);
        }
        obj.spec = { ...obj.spec, replicas };
        return obj;
      }, { ...writeOptions(q, req), managerSubresource: 'scale' });
      sendJson(res, 200, JSON.stringify(toScale(result.object.object)));
    },

    async finalize(req: ApiRequest, res: ServerResponse, r: ResourceRequest, q: Query): Promise<void> {
      const ns = (await readObject(req)) as KubeObject;
      const finalizers = ns?.spec?.finalizers ?? [];
      // Not a status write: finalize changes spec.finalizers, and nothing else of the namespace.
      const result = await resources.guaranteedUpdate(r.rt, undefined, r.name!, ns.metadata?.resourceVersion, (obj) => {
        obj.spec = { ...obj.spec, finalizers };
        return obj;
      }, { ...writeOptions(q, req), managerSubresource: 'finalize' });
      sendWritten(res, 200, result);
    },
  };

  function sendWritten(res: ServerResponse, code: number, result: WriteResult): void {
    sendJson(res, code, result.object.json, result.warnings);
  }

  async function dispatch(req: ApiRequest, res: ServerResponse, r: ResourceRequest): Promise<void> {
    const q = req.query as Query;
    const m = req.method;
    if (!r.rt.verbs.includes('get')) {
      // Never stored (SelfSubjectAccessReview): a create answers, and that is all there is.
      if (m === 'POST' && !r.name && r.rt.verbs.includes('create')) return handlers.review(req, res, r, q);
      throw methodNotAllowed(`the server does not allow this method on the requested resource`);
    }
    if (!r.name) {
      if (m === 'GET') return handlers.list(req, res, r, q);
      if (m === 'POST' && (r.namespace !== undefined || !r.rt.namespaced)) return handlers.create(req, res, r, q);
      if (m === 'DELETE') return handlers.deleteCollection(req, res, r, q);
      throw methodNotAllowed(`the server does not allow this method on the requested resource`);
    }
    if (r.rt.namespaced && r.namespace === undefined) {
      throw badRequest(`${r.rt.plural} is a namespaced resource: use /namespaces/{namespace}/${r.rt.plural}/${r.name}`);
    }
    switch (r.subresource) {
      case undefined:
        if (m === 'GET') return handlers.get(req, res, r);
        if (m === 'PUT') return handlers.update(req, res, r, q);
        if (m === 'PATCH') return handlers.patch(req, res, r, q);
        if (m === 'DELETE') return handlers.delete(req, res, r, q);
        break;
      case 'status':
        if (m === 'GET') return handlers.get(req, res, r);
        if (m === 'PUT') return handlers.update(req, res, r, q);
        if (m === 'PATCH') return handlers.patch(req, res, r, q);
        break;
      case 'binding':
        if (m === 'POST') return handlers.binding(req, res, r);
        break;
      case 'scale':
        if (m === 'GET' || m === 'PUT' || m === 'PATCH') return handlers.scale(req, res, r, q);
        break;
      case 'finalize':
        if (m === 'PUT') return handlers.finalize(req, res, r, q);
        break;
      case 'log':
      case 'exec':
      case 'portforward':
        if (podStreams) return podStreams.serve(req, res, r);
        break;
    }
    throw methodNotAllowed(`the server does not allow this method on the requested resource`);
  }

  /** Serves one request; resolves false (nothing sent) when the path is not a resource path. */
  return async (req: ApiRequest, res: ServerResponse): Promise<boolean> => {
    const r = parseResourcePath(req.path);
    if (!r) return false;
    await dispatch(req, res, r);
    return true;
  };
}

/**
 * Reads a JSON or YAML object; with `opts` (a create or update), also what
 * strict field validation needs from the text. With `rt`, a protobuf body of
 * that kind is accepted too (client-go's typed clients send one).
 */
async function readObject(req: ApiRequest, opts?: WriteOptions, rt?: ResourceType): Promise<unknown> {
  if (rt && isProtobuf(req.headers['content-type'])) return decodeProtobufObject(await readBody(req), rt);
  const type = bodyType(req.headers['content-type']);
  if (type !== 'json' && type !== 'yaml') throw unsupportedMediaType(`${req.headers['content-type']} is only accepted for PATCH`);
  const raw = await readBody(req);
  const obj = parseBody(raw, type);
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw badRequest('the request body must be a JSON or YAML object');
  if (opts) opts.decodeProblems = decodeProblems(raw.toString('utf8'), type, opts.fieldValidation ?? 'Warn');
  return obj;
}

/** autoscaling/v1 Scale has no lists, so strategic merge patch needs no metadata for it. */
const SCALE_SCHEMA: JSONSchema = { type: 'object' };

/**
 * How a PATCH body of a given media type turns the current object into the
 * desired one. `strategicSchema` carries the kind's strategic merge patch
 * metadata (`strategicMergeSchema`); without it the kind takes no strategic
 * merge patch, as Kubernetes treats custom resources.
 *
 * The returned function takes the current object over (every caller passes
 * a private copy): merge patches change it in place rather than copy it first.
 */
export function patcher(type: string, patch: unknown, strategicSchema?: JSONSchema): (current: KubeObject) => KubeObject {
  switch (type) {
    case 'merge-patch':
      if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw badRequest('a merge patch must be a JSON object');
      return (current) => mergePatchInPlace(current, patch);
    case 'json-patch':
      return (current) => applyJsonPatch(current, patch);
    case 'strategic-merge-patch':
      if (!strategicSchema) {
        throw unsupportedMediaType('the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json');
      }
      if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw badRequest('a strategic merge patch must be a JSON object');
      return (current) => strategicMergeInPlace(current, patch, strategicSchema);
    case 'apply-patch':
      // Not a function of the current object alone (ResourceStorage.apply does it): only the scale subresource gets here.
      throw unsupportedMediaType('server-side apply is not supported on this subresource; use application/merge-patch+json, application/strategic-merge-patch+json or application/json-patch+json');
    default:
      throw unsupportedMediaType(`PATCH needs a patch media type (application/strategic-merge-patch+json, application/merge-patch+json or application/json-patch+json), got ${type}`);
  }
}

/** The autoscaling/v1 Scale view of a workload, for the `scale` subresource. */
function toScale(obj: KubeObject): KubeObject {
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: obj.spec?.replicas ?? 0 },
    status: {
      replicas: obj.status?.replicas ?? 0,
      selector: obj.spec?.selector ? labelSelectorToString(labelSelectorFromObject(obj.spec.selector)) : '',
    },
  };
}
