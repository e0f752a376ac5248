import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Router, type Request, type Response } from 'express';
import type { ResourceType } from '../api/registry';
import { definitionNameOf, definitions, type JSONSchema } from '../api/schemas';
import { groupVersions, KUBERNETES_VERSION } from './discovery';
import { encodeSwagger } from './openapi-proto';

/**
 * The OpenAPI documents of the API: `/openapi/v2` (Swagger 2.0, one
 * document) and `/openapi/v3` (a discovery document naming one OpenAPI 3.0
 * document per group-version, `/openapi/v3/apis/apps/v1?hash=...`).
 *
 * Both are generated from the schemas the server validates with
 * (`src/api/schemas.ts`) and from the registry, so what kubectl learns here
 * is what the server enforces:
 * - `kubectl explain` finds a kind through the `x-kubernetes-group-version-kind`
 *   of the operations on its path, then walks the schema by `$ref`;
 * - `kubectl apply`/`create` check that the PATCH operation of a kind takes
 *   `fieldValidation`, and then leave unknown-field checks to the server
 *   (`fieldValidation=Strict`); without it they validate client-side;
 * - `kubectl apply` reads `x-kubernetes-patch-strategy`/`-merge-key` from the
 *   kind's schema to compute its strategic merge patch.
 *
 * The documents never change while the process runs (the registry and the
 * schemas are static), so each is rendered once, on first request, and
 * served with an ETag; a v3 document asked for by its current hash is
 * immutable, as kube-apiserver serves it.
 */

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1.';
const STATUS = META + 'Status';
const DELETE_OPTIONS = META + 'DeleteOptions';
const PATCH = META + 'Patch';
const WATCH_EVENT = META + 'WatchEvent';

/** `io.k8s.api.core.v1.Pod`, `io.k8s.api.apps.v1.Deployment`: the name Kubernetes gives a kind's schema. */
export function kindDefinitionName(group: string, version: string, kind: string): string {
  const pkg = group === '' ? 'core' : group.split('.')[0];
  return `io.k8s.api.${pkg}.${version}.${kind}`;
}

/** `Core`, `Apps`, `RbacAuthorization`: a group as operation ids spell it. */
function groupWord(group: string): string {
  if (!group) return 'Core';
  return group.replace(/\.k8s\.io$/, '').split('.').map(capitalize).join('');
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const uncapitalize = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

// ---------------------------------------------------------------------------
// Schemas as published

/** How Kubernetes publishes the two scalar unions; internally they carry `x-kubernetes-int-or-string` for ajv. */
const PUBLISHED_SCALARS: Record<string, (v3: boolean) => JSONSchema> = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': (v3) =>
    v3 ? { format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }] } : { type: 'string', format: 'int-or-string' },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': (v3) => (v3 ? { oneOf: [{ type: 'string' }, { type: 'number' }] } : { type: 'string' }),
};

/**
 * Collects the named schemas one document needs. A use of a shared
 * definition becomes a `$ref` to it, keeping what the use adds (its own
 * description, a patch strategy) beside the `$ref`, as Kubernetes does.
 */
class SchemaSet {
  readonly named: Record<string, JSONSchema> = {};

  constructor(private readonly v3: boolean) {}

  ref(name: string, schema: JSONSchema = definitions[name]): JSONSchema {
    if (!Object.hasOwn(this.named, name)) {
      if (!schema) throw new Error(`no schema named ${name}`);
      this.named[name] = {}; // placeholder: a definition may refer to itself
      const scalar = PUBLISHED_SCALARS[name];
      this.named[name] = scalar ? { description: schema.description, ...scalar(this.v3) } : this.convert(schema);
    }
    return { $ref: (this.v3 ? '#/components/schemas/' : '#/definitions/') + name };
  }

  node(schema: JSONSchema): JSONSchema {
    const name = definitionNameOf(schema);
    if (!name) return this.convert(schema);
    const shared = definitions[name];
    const out = this.ref(name, shared);
    for (const [k, v] of Object.entries(schema)) if (shared[k] !== v) out[k] = v;
    return out;
  }

  private convert(schema: JSONSchema): JSONSchema {
    const out: JSONSchema = {};
    for (const [k, v] of Object.entries(schema)) {
      if (k === 'properties') out.properties = Object.fromEntries(Object.entries(v as JSONSchema).map(([p, s]) => [p, this.node(s)]));
      else if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object')) out[k] = this.node(v);
      else if (k === 'format' && v === 'quantity') continue;
      else out[k] = v;
    }
    return out;
  }
}

function listSchema(rt: ResourceType, itemRef: JSONSchema, listMetaRef: JSONSchema): JSONSchema {
  return {
    description: `${rt.listKind} is a list of ${rt.kind} objects.`,
    type: 'object',
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
      kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
      metadata: { ...listMetaRef, description: 'Standard list metadata.' },
      items: { type: 'array', items: itemRef, description: `The ${rt.plural}.` },
    },
    required: ['items'],
    'x-kubernetes-group-version-kind': [{ group: rt.group, version: rt.version, kind: rt.listKind }],
  };
}

// ---------------------------------------------------------------------------
// Operations, in a form both documents render

interface Param {
  name: string;
  description: string;
  type: 'string' | 'integer' | 'boolean';
  /** Repeatable (`?command=sh&command=-c`). */
  array?: boolean;
}

interface Operation {
  method: 'get' | 'put' | 'post' | 'patch' | 'delete';
  operationId: string;
  description: string;
  action: string;
  gvk: { group: string; version: string; kind: string };
  params: Param[];
  /** Definition name of the request body, and the media types it may come in. */
  body?: { name: string; types: string[]; required: boolean };
  /** Status code to definition name, or 'string' for plain text. */
  responses: Record<string, string>;
  produces: string[];
}

interface PathItem {
  params: Array<{ name: string; description: string }>;
  ops: Operation[];
}

const q = (name: string, type: Param['type'], description: string, array?: boolean): Param => ({ name, type, description, ...(array ? { array } : {}) });

const DRY_RUN = q('dryRun', 'string', 'When present, the request is checked but nothing is stored. The only valid value is All.');
const FIELD_MANAGER = q('fieldManager', 'string', 'A name for the actor or entity making these changes.');
const FIELD_VALIDATION = q(
  'fieldValidation',
  'string',
  'What to do with unknown or duplicate fields in the body: Ignore drops them, Warn (the default) drops them and answers a Warning header for each, Strict rejects the request with 400 BadRequest.',
);
const FORCE = q('force', 'boolean', 'Server-side apply: take over fields other managers own instead of answering 409 Conflict.');
const LIST_PARAMS = [
  q('allowWatchBookmarks', 'boolean', 'With watch: also send BOOKMARK events carrying the current resourceVersion.'),
  q('continue', 'string', 'The continue token of the previous page of a limited list.'),
  q('fieldSelector', 'string', 'Only objects whose fields match, e.g. spec.nodeName=node-1,status.phase!=Running.'),
  q('labelSelector', 'string', 'Only objects whose labels match, e.g. app=web,tier in (front,back).'),
  q('limit', 'integer', 'At most this many items; the list metadata then carries a continue token.'),
  q('resourceVersion', 'string', 'For a watch: the version to start after. For a list: 0 means any version.'),
  q('sendInitialEvents', 'boolean', 'With watch: start with ADDED events for the current objects.'),
  q('timeoutSeconds', 'integer', 'Ends a watch after this many seconds.'),
  q('watch', 'boolean', 'Watch for changes instead of listing: a stream of watch events.'),
];
const DELETE_PARAMS = [
  DRY_RUN,
  q('gracePeriodSeconds', 'integer', 'Seconds before the object is removed; 0 removes it at once.'),
  q('orphanDependents', 'boolean', 'Deprecated: use propagationPolicy=Orphan.'),
  q('propagationPolicy', 'string', 'What happens to dependents: Orphan, Background (the default) or Foreground.'),
];
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
const JSON_TYPES = ['application/json', 'application/yaml'];
const JSON_OUT = ['application/json'];
const WATCH_OUT = ['application/json', 'application/json;stream=watch'];

/** The operations of one kind, by path, named as kube-apiserver names them (`patchAppsV1NamespacedDeployment`). */
function kindPaths(rt: ResourceType): Map<string, PathItem> {
  const paths = new Map<string, PathItem>();
  const prefix = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  const word = `${groupWord(rt.group)}${capitalize(rt.version)}`;
  const scope = rt.namespaced ? 'Namespaced' : '';
  const gvk = { group: rt.group, version: rt.version, kind: rt.kind };
  const self = kindDefinitionName(rt.group, rt.version, rt.kind);
  const list = kindDefinitionName(rt.group, rt.version, rt.listKind);
  const collection = rt.namespaced ? `${prefix}/namespaces/{namespace}/${rt.plural}` : `${prefix}/${rt.plural}`;
  const item = `${collection}/{name}`;
  const namespaceParam = rt.namespaced ? [{ name: 'namespace', description: 'object name and auth scope, such as for teams and projects' }] : [];
  const nameParam = (what: string) => ({ name: 'name', description: `name of the ${what}` });
  const op = (o: Omit<Operation, 'gvk' | 'produces'> & Partial<Pick<Operation, 'gvk' | 'produces'>>): Operation => ({ gvk, produces: JSON_OUT, ...o });

  if (!rt.verbs.includes('get')) {
    // Never stored: a create answers, and there is nothing else to do.
    paths.set(collection, {
      params: namespaceParam,
      ops: [op({
        method: 'post', operationId: `create${word}${scope}${rt.kind}`, description: `create a ${rt.kind}`, action: 'post',
        params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], body: { name: self, types: JSON_TYPES, required: true },
        responses: { 200: self, 201: self, 202: self },
      })],
    });
    return paths;
  }

  paths.set(collection, {
    params: namespaceParam,
    ops: [
      op({ method: 'get', operationId: `list${word}${scope}${rt.kind}`, description: `list or watch objects of kind ${rt.kind}`, action: 'list', params: LIST_PARAMS, responses: { 200: list }, produces: WATCH_OUT }),
      op({
        method: 'post', operationId: `create${word}${scope}${rt.kind}`, description: `create a ${rt.kind}`, action: 'post',
        params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], body: { name: self, types: JSON_TYPES, required: true }, responses: { 200: self, 201: self, 202: self },
      }),
      op({
        method: 'delete', operationId: `delete${word}Collection${scope}${rt.kind}`, description: `delete collection of ${rt.kind}`, action: 'deletecollection',
        params: [...DELETE_PARAMS, ...LIST_PARAMS.filter((p) => ['continue', 'fieldSelector', 'labelSelector', 'limit', 'resourceVersion', 'timeoutSeconds'].includes(p.name))],
        body: { name: DELETE_OPTIONS, types: JSON_TYPES, required: false }, responses: { 200: STATUS },
      }),
    ],
  });
  paths.set(item, {
    params: [nameParam(rt.kind), ...namespaceParam],
    ops: [
      op({ method: 'get', operationId: `read${word}${scope}${rt.kind}`, description: `read the specified ${rt.kind}`, action: 'get', params: [], responses: { 200: self } }),
      op({
        method: 'put', operationId: `replace${word}${scope}${rt.kind}`, description: `replace the specified ${rt.kind}`, action: 'put',
        params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], body: { name: self, types: JSON_TYPES, required: true }, responses: { 200: self, 201: self },
      }),
      op({
        method: 'delete', operationId: `delete${word}${scope}${rt.kind}`, description: `delete a ${rt.kind}`, action: 'delete',
        params: DELETE_PARAMS, body: { name: DELETE_OPTIONS, types: JSON_TYPES, required: false }, responses: { 200: self, 202: self },
      }),
      op({
        method: 'patch', operationId: `patch${word}${scope}${rt.kind}`, description: `partially update the specified ${rt.kind}`, action: 'patch',
        params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE], body: { name: PATCH, types: PATCH_TYPES, required: true }, responses: { 200: self, 201: self },
      }),
    ],
  });
  if (rt.namespaced) {
    paths.set(`${prefix}/${rt.plural}`, {
      params: [],
      ops: [op({
        method: 'get', operationId: `list${word}${rt.kind}ForAllNamespaces`, description: `list or watch objects of kind ${rt.kind}`, action: 'list',
        params: LIST_PARAMS, responses: { 200: list }, produces: WATCH_OUT,
      })],
    });
  }

  for (const sub of rt.subresources) {
    const subPath = `${item}/${sub}`;
    const params = [nameParam(`${rt.kind}`), ...namespaceParam];
    const readWrite = (suffix: string, schema: string, subGvk: Operation['gvk'], what: string): Operation[] => [
      op({ method: 'get', operationId: `read${word}${scope}${rt.kind}${suffix}`, description: `read ${what} of the specified ${rt.kind}`, action: 'get', gvk: subGvk, params: [], responses: { 200: schema } }),
      op({
        method: 'put', operationId: `replace${word}${scope}${rt.kind}${suffix}`, description: `replace ${what} of the specified ${rt.kind}`, action: 'put', gvk: subGvk,
        params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], body: { name: schema, types: JSON_TYPES, required: true }, responses: { 200: schema, 201: schema },
      }),
      op({
        method: 'patch', operationId: `patch${word}${scope}${rt.kind}${suffix}`, description: `partially update ${what} of the specified ${rt.kind}`, action: 'patch', gvk: subGvk,
        params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE], body: { name: PATCH, types: PATCH_TYPES, required: true }, responses: { 200: schema, 201: schema },
      }),
    ];
    switch (sub) {
      case 'status':
        paths.set(subPath, { params, ops: readWrite('Status', self, gvk, 'status') });
        break;
      case 'scale':
        paths.set(subPath, { params, ops: readWrite('Scale', 'io.k8s.api.autoscaling.v1.Scale', { group: 'autoscaling', version: 'v1', kind: 'Scale' }, 'scale') });
        break;
      case 'binding':
        paths.set(subPath, {
          params,
          ops: [op({
            method: 'post', operationId: `create${word}${scope}${rt.kind}Binding`, description: `create binding of a ${rt.kind}`, action: 'post',
            gvk: { group: '', version: 'v1', kind: 'Binding' }, params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
            body: { name: 'io.k8s.api.core.v1.Binding', types: JSON_TYPES, required: true }, responses: { 200: 'io.k8s.api.core.v1.Binding', 201: 'io.k8s.api.core.v1.Binding' },
          })],
        });
        break;
      case 'finalize':
        paths.set(subPath, {
          params,
          ops: [op({
            method: 'put', operationId: `replace${word}${scope}${rt.kind}Finalize`, description: `replace finalize of the specified ${rt.kind}`, action: 'put',
            params: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], body: { name: self, types: JSON_TYPES, required: true }, responses: { 200: self, 201: self },
          })],
        });
        break;
      case 'log':
        paths.set(subPath, {
          params,
          ops: [op({
            method: 'get', operationId: `read${word}${scope}${rt.kind}Log`, description: `read log of the specified ${rt.kind}`, action: 'get',
            params: [
              q('container', 'string', 'The container to read the log of; defaults to the only container.'),
              q('follow', 'boolean', 'Keep the stream open and send new lines as they come.'),
              q('limitBytes', 'integer', 'At most this many bytes of log.'),
              q('previous', 'boolean', 'The log of the previous, terminated run of the container.'),
              q('sinceSeconds', 'integer', 'Only lines written in the last this many seconds.'),
              q('sinceTime', 'string', 'Only lines written after this RFC 3339 time.'),
              q('tailLines', 'integer', 'Only the last this many lines.'),
              q('timestamps', 'boolean', 'Prefix each line with its RFC 3339 timestamp.'),
            ],
            responses: { 200: 'string' }, produces: ['text/plain'],
          })],
        });
        break;
      case 'exec':
      case 'portforward': {
        const exec = sub === 'exec';
        const what = exec ? 'Exec' : 'Portforward';
        const connectParams = exec
          ? [
            q('command', 'string', 'The command and its arguments, one value each.', true),
            q('container', 'string', 'The container to run the command in.'),
            q('stderr', 'boolean', 'Stream the standard error of the command.'),
            q('stdin', 'boolean', 'Stream standard input to the command.'),
            q('stdout', 'boolean', 'Stream the standard output of the command.'),
            q('tty', 'boolean', 'Run the command with a terminal.'),
          ]
          : [q('ports', 'integer', 'The ports of the pod to forward to.', true)];
        const connectGvk = { group: '', version: 'v1', kind: exec ? 'PodExecOptions' : 'PodPortForwardOptions' };
        paths.set(subPath, {
          params,
          ops: (['get', 'post'] as const).map((method) => op({
            method, operationId: `connect${word}${capitalize(method)}${scope}${rt.kind}${what}`, description: `connect ${method.toUpperCase()} requests to ${sub} of ${rt.kind}`,
            action: 'connect', gvk: connectGvk, params: connectParams, responses: { 200: 'string' }, produces: ['*/*'],
          })),
        });
        break;
      }
    }
  }
  return paths;
}

// ---------------------------------------------------------------------------
// Rendering

interface Rendered {
  body: Buffer;
  /** Uppercase hex SHA-512 of the body, as kube-openapi computes its ETags and v3 hashes. */
  hash: string;
}

function rendered(doc: object): Rendered {
  const body = Buffer.from(JSON.stringify(doc));
  return { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() };
}

const INFO = () => ({ title: 'Kubernetes', version: `v${KUBERNETES_VERSION.major}.${KUBERNETES_VERSION.minor}.${KUBERNETES_VERSION.patch}` });
const SECURITY_SCHEME = { type: 'apiKey', name: 'authorization', in: 'header', description: 'Bearer token: the cluster token in the kubeconfig mk server writes.' };

function renderOperation(o: Operation, set: SchemaSet, v3: boolean, tag: string): JSONSchema {
  const schemaOf = (name: string): JSONSchema => (name === 'string' ? { type: 'string' } : set.ref(name));
  const out: JSONSchema = { tags: [tag], description: o.description, operationId: o.operationId };
  const params: JSONSchema[] = o.params.map((p) => {
    const type: JSONSchema = p.array ? { type: 'array', items: { type: p.type } } : { type: p.type, uniqueItems: true };
    return v3 ? { name: p.name, in: 'query', description: p.description, schema: type } : { name: p.name, in: 'query', description: p.description, ...type };
  });
  if (v3) {
    if (params.length) out.parameters = params;
    if (o.body) {
      const schema = set.ref(o.body.name);
      out.requestBody = { content: Object.fromEntries(o.body.types.map((t) => [t, { schema }])), required: o.body.required };
    }
    out.responses = Object.fromEntries(Object.entries(o.responses).map(([code, name]) => [
      code, { description: code === '201' ? 'Created' : code === '202' ? 'Accepted' : 'OK', content: Object.fromEntries(o.produces.map((t) => [t, { schema: schemaOf(name) }])) },
    ]));
    out.responses['401'] = { description: 'Unauthorized' };
  } else {
    if (o.body) {
      out.consumes = o.body.types;
      params.unshift({ name: 'body', in: 'body', required: o.body.required, schema: set.ref(o.body.name) });
    } else {
      out.consumes = ['*/*'];
    }
    out.produces = o.produces;
    out.schemes = ['https'];
    if (params.length) out.parameters = params;
    out.responses = Object.fromEntries(Object.entries(o.responses).map(([code, name]) => [
      code, { description: code === '201' ? 'Created' : code === '202' ? 'Accepted' : 'OK', schema: schemaOf(name) },
    ]));
    out.responses['401'] = { description: 'Unauthorized' };
  }
  out['x-kubernetes-action'] = o.action;
  out['x-kubernetes-group-version-kind'] = o.gvk;
  return out;
}

function renderPaths(rts: ResourceType[], set: SchemaSet, v3: boolean): Record<string, JSONSchema> {
  const out: Record<string, JSONSchema> = {};
  for (const rt of rts) {
    // Every kind and its list are published, whether or not an operation refers to them (explain looks kinds up by GVK).
    const self = set.ref(kindDefinitionName(rt.group, rt.version, rt.kind), rt.schema);
    if (rt.verbs.includes('list')) {
      set.named[kindDefinitionName(rt.group, rt.version, rt.listKind)] = listSchema(rt, self, set.ref(META + 'ListMeta'));
    }
    const tag = `${uncapitalize(groupWord(rt.group))}_${rt.version}`;
    for (const [path, item] of kindPaths(rt)) {
      const rendered: JSONSchema = {};
      for (const o of item.ops) rendered[o.method] = renderOperation(o, set, v3, tag);
      if (item.params.length) {
        rendered.parameters = item.params.map((p) =>
          v3 ? { name: p.name, in: 'path', required: true, description: p.description, schema: { type: 'string', uniqueItems: true } } : { name: p.name, in: 'path', required: true, description: p.description, type: 'string', uniqueItems: true },
        );
      }
      out[path] = rendered;
    }
  }
  if (rts.some((rt) => rt.verbs.includes('watch'))) set.ref(WATCH_EVENT);
  return out;
}

function sortedKeys(o: Record<string, JSONSchema>): Record<string, JSONSchema> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/** The Swagger 2.0 document of every group-version. */
export function openApiV2(): object {
  const set = new SchemaSet(false);
  const rts = [...groupVersions().values()].flatMap((versions) => [...versions.values()].flat());
  const paths = renderPaths(rts, set, false);
  return {
    swagger: '2.0',
    info: INFO(),
    paths: sortedKeys(paths),
    definitions: sortedKeys(set.named),
    securityDefinitions: { BearerToken: SECURITY_SCHEME },
    security: [{ BearerToken: [] }],
  };
}

/** The OpenAPI 3.0 documents, by the discovery path of their group-version (`api/v1`, `apis/apps/v1`). */
export function openApiV3(): Map<string, object> {
  const docs = new Map<string, object>();
  for (const [group, versions] of groupVersions()) {
    for (const [version, rts] of versions) {
      const set = new SchemaSet(true);
      const paths = renderPaths(rts, set, true);
      docs.set(group ? `apis/${group}/${version}` : `api/${version}`, {
        openapi: '3.0.0',
        info: INFO(),
        paths: sortedKeys(paths),
        components: { schemas: sortedKeys(set.named), securitySchemes: { BearerToken: SECURITY_SCHEME } },
        security: [{ BearerToken: [] }],
      });
    }
  }
  return docs;
}

// ---------------------------------------------------------------------------
// Serving

/** Renders on first use and keeps the result: the documents never change while the process runs. */
function once<T>(render: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= render());
}

const v3Documents = once(() => new Map([...openApiV3()].map(([gv, doc]) => [gv, rendered(doc)])));
const v3Discovery = once(() => rendered({
  paths: Object.fromEntries([...v3Documents()].map(([gv, r]) => [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=${r.hash}` }])),
}));
const v2Document = once(() => openApiV2());
const v2Json = once(() => rendered(v2Document()));
// Only older clients ask for it, and it takes longest to render (~0.2 s): never rendered unless asked for.
const v2Protobuf = once(() => {
  const body = encodeSwagger(v2Document());
  return { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() };
});

const JSON_TYPE = 'application/json';
/** What client-go asks /openapi/v2 for (the second spelling is the one before 1.10). */
const V2_PROTOBUF_TYPES = ['application/com.github.proto-openapi.spec.v2@v1.0+protobuf', 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf'];

/**
 * The first type of `offered` an Accept header admits, taking its clauses
 * in the order given (as kube-openapi does, ignoring q-values but honouring
 * q=0). A missing header admits anything.
 */
function negotiate(accept: string | undefined, offered: string[]): string | undefined {
  if (!accept) return offered[0];
  for (const clause of accept.split(',')) {
    const [type, ...params] = clause.split(';').map((s) => s.trim().toLowerCase());
    if (params.some((p) => /^q=0(\.0*)?$/.test(p.replace(/\s/g, '')))) continue;
    const [main, sub] = type.split('/');
    const match = offered.find((o) => {
      const [oMain, oSub] = o.split('/');
      return (main === '*' || main === oMain) && (sub === '*' || sub === oSub);
    });
    if (match) return match;
  }
  return undefined;
}

function send(req: IncomingMessage, res: ServerResponse, doc: Rendered, contentType: string, headers: Record<string, string>): void {
  const etag = JSON.stringify(doc.hash);
  const cached = String(req.headers['if-none-match'] ?? '').split(',').map((s) => s.trim()).includes(etag);
  res.writeHead(cached ? 304 : 200, { ...headers, ETag: etag, Vary: 'Accept', ...(cached ? {} : { 'Content-Type': contentType, 'Content-Length': String(doc.body.length) }) });
  res.end(cached || req.method === 'HEAD' ? undefined : doc.body);
}

/** 406, as kube-openapi answers an Accept header it cannot satisfy. */
function notAcceptable(res: Response, offered: string[]): void {
  res.status(406).type('text/plain').send(`406 Not Acceptable: this document is served as ${offered.join(', ')}`);
}

/** `/openapi/v2`, `/openapi/v3` and `/openapi/v3/{group-version}`. */
export function openApiRouter(): Router {
  const router = Router();

  router.get('/openapi/v2', (req: Request, res: Response) => {
    const offered = [JSON_TYPE, ...V2_PROTOBUF_TYPES];
    const type = negotiate(req.headers.accept, offered);
    if (!type) return notAcceptable(res, offered);
    // Revalidated on every use (ETag): the document only changes with a new mk binary.
    // Answered with the dotted spelling whichever was asked: Go's mime parser rejects the '@' in the other.
    if (type === JSON_TYPE) send(req, res, v2Json(), JSON_TYPE, { 'Cache-Control': 'no-cache, private' });
    else send(req, res, v2Protobuf(), V2_PROTOBUF_TYPES[1], { 'Cache-Control': 'no-cache, private' });
  });

  router.get('/openapi/v3', (req: Request, res: Response) => {
    send(req, res, v3Discovery(), JSON_TYPE, { 'Cache-Control': 'no-cache, private' });
  });

  router.get(/^\/openapi\/v3\/(.+)$/, (req: Request, res: Response) => {
    const gv = req.path.slice('/openapi/v3/'.length).replace(/\/$/, '');
    const doc = v3Documents().get(gv);
    if (!doc) {
      res.status(404).type('text/plain').send('404 page not found');
      return;
    }
    // mk has no protobuf encoding of the v3 documents: a client that takes only protobuf gets 406.
    if (!negotiate(req.headers.accept, [JSON_TYPE])) return notAcceptable(res, [JSON_TYPE]);
    const hash = typeof req.query.hash === 'string' ? req.query.hash : undefined;
    if (hash !== undefined && hash !== doc.hash) {
      // An old hash: send the client to the current document, as kube-openapi does.
      res.writeHead(301, { Location: `/openapi/v3/${gv}?hash=${doc.hash}`, 'Cache-Control': 'no-cache, no-store', 'Content-Length': '0' });
      res.end();
      return;
    }
    const headers: Record<string, string> = hash
      ? { 'Cache-Control': 'public, immutable', Expires: new Date(Date.now() + 365 * 24 * 3600 * 1000).toUTCString() }
      : { 'Cache-Control': 'no-cache, private' };
    send(req, res, doc, JSON_TYPE, headers);
  });
  return router;
}

