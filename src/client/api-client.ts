import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeList, KubeObject, Status, WatchEvent } from '../api/types';
import type { ResourceType } from '../api/registry';
import { loadClientConfig, type ClientConfig } from './kubeconfig';

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

const reasonForCode: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/**
 * The API server answered with an error. `status` is the `kind: Status`
 * body it sent, or one synthesised from the HTTP code when the body was
 * not a Status, so callers can always switch on `reason` and `code`.
 */
export class ApiStatusError extends Error {
  constructor(readonly status: Status) {
    super(status.message || status.reason || `the server responded with the status code ${status.code}`);
    this.name = 'ApiStatusError';
  }

  get code(): number {
    return this.status.code;
  }

  get reason(): string {
    return this.status.reason ?? '';
  }

  /** The same error with its message prefixed, as kubectl adds `error when creating "f.yaml": `. */
  withMessagePrefix(prefix: string): ApiStatusError {
    return new ApiStatusError({ ...this.status, message: `${prefix}${this.status.message ?? ''}` });
  }

  /** Builds the error for a non-2xx answer from its body (a Status when the server follows the API conventions). */
  static fromResponse(code: number, body: unknown): ApiStatusError {
    if (body && typeof body === 'object' && (body as Status).kind === 'Status') {
      const s = body as Status;
      return new ApiStatusError({ ...s, code: s.code || code });
    }
    const text = typeof body === 'string' ? body.trim() : '';
    const message =
      text ||
      (code === 404 ? 'the server could not find the requested resource' : `the server responded with the status code ${code} but did not return more information`);
    return new ApiStatusError({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason: reasonForCode[code] ?? (code >= 500 ? 'InternalError' : 'Unknown'),
      code,
    });
  }

  static isNotFound(err: unknown): boolean {
    return err instanceof ApiStatusError && err.code === 404;
  }

  static isConflict(err: unknown): boolean {
    return err instanceof ApiStatusError && err.code === 409 && err.reason !== 'AlreadyExists';
  }

  static isAlreadyExists(err: unknown): boolean {
    return err instanceof ApiStatusError && err.reason === 'AlreadyExists';
  }

  /** 410: the resourceVersion a watch or list asked for is too old; relist. */
  static isGone(err: unknown): boolean {
    return err instanceof ApiStatusError && err.code === 410;
  }
}

/**
 * The API server could not be reached at all. The message is kubectl's,
 * e.g. `The connection to the server 127.0.0.1:6443 was refused - did you
 * specify the right host or port?`.
 */
export class ConnectionError extends Error {
  /** The Node error code (`ECONNREFUSED`, `ENOTFOUND`, `ETIMEDOUT`, ...). */
  readonly code?: string;

  constructor(
    readonly server: string,
    readonly cause: Error,
  ) {
    super(ConnectionError.describe(server, cause));
    this.name = 'ConnectionError';
    this.code = (cause as NodeJS.ErrnoException).code;
  }

  private static describe(server: string, cause: Error): string {
    if ((cause as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
      let host = server;
      try {
        host = new URL(server).host;
      } catch {
        // keep the raw string
      }
      return `The connection to the server ${host} was refused - did you specify the right host or port?`;
    }
    return `Unable to connect to the server: ${cause.message}`;
  }
}

// ---------------------------------------------------------------------------
// Paths and options
// ---------------------------------------------------------------------------

/**
 * The REST path of a kind, collection or object: `/api/v1/namespaces/ns/pods/web`,
 * `/apis/apps/v1/deployments` (all namespaces), `/api/v1/nodes/n1/status`.
 * A namespaced kind without a namespace addresses all namespaces.
 */
export function resourcePath(rt: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const base = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  const ns = rt.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  let p = `${base}${ns}/${rt.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

function withQuery(path: string, query: Record<string, string | number | boolean | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface WatchOptions {
  resourceVersion?: string;
  labelSelector?: string;
  fieldSelector?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

export interface DeleteOptions {
  propagationPolicy?: PropagationPolicy;
  gracePeriodSeconds?: number;
  /** Only delete if the object still has this uid / resourceVersion. */
  preconditions?: { uid?: string; resourceVersion?: string };
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

const patchContentTypes: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface PatchOptions {
  /** Required by the API for `apply` patches; mk defaults it to `mk`. */
  fieldManager?: string;
  force?: boolean;
  subresource?: string;
}

/** The query of GET pods/NAME/log (Kubernetes' PodLogOptions). */
export interface PodLogOptions {
  container?: string;
  follow?: boolean;
  previous?: boolean;
  timestamps?: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  /** RFC 3339. */
  sinceTime?: string;
  limitBytes?: number;
}

/** A running watch. `done` settles when the stream ends: resolved on a clean end or stop(), rejected on failure. */
export interface WatchHandle {
  stop(): void;
  done: Promise<void>;
}

/**
 * The typed operations every mk component uses to talk to the API. ApiClient
 * implements it over HTTP; an in-process implementation can stand in for it.
 * Every method throws ApiStatusError for API errors and ConnectionError when
 * the server cannot be reached.
 */
export interface KubeClient {
  get<T extends KubeObject = KubeObject>(rt: ResourceType, namespace: string | undefined, name: string): Promise<T>;
  list<T extends KubeObject = KubeObject>(rt: ResourceType, namespace?: string, opts?: ListOptions): Promise<KubeList<T>>;
  create<T extends KubeObject = KubeObject>(rt: ResourceType, obj: T): Promise<T>;
  update<T extends KubeObject = KubeObject>(rt: ResourceType, obj: T): Promise<T>;
  updateStatus<T extends KubeObject = KubeObject>(rt: ResourceType, obj: T): Promise<T>;
  patch<T extends KubeObject = KubeObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType,
    opts?: PatchOptions,
  ): Promise<T>;
  delete(rt: ResourceType, namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<KubeObject | Status>;
  deleteCollection(rt: ResourceType, namespace: string | undefined, opts?: ListOptions & DeleteOptions): Promise<KubeObject | Status>;
  watch<T extends KubeObject = KubeObject>(
    rt: ResourceType,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): WatchHandle;
  /** POST pods/NAME/binding: assigns a pod to a node (the scheduler's one write to a pod). */
  bind(namespace: string, podName: string, nodeName: string, podUid?: string): Promise<void>;
  /**
   * PUT namespaces/NAME/finalize: replaces the namespace's spec.finalizers
   * (the namespace controller's last step); a resourceVersion in `ns` is a
   * precondition.
   */
  finalizeNamespace(ns: KubeObject): Promise<KubeObject>;
}

export interface ApiClientOptions {
  server: string;
  token?: string;
  caData?: string;
  clientCertData?: string;
  clientKeyData?: string;
  insecureSkipTLSVerify?: boolean;
  /** Give up on a (non-watch) request after this many ms; no limit by default. */
  timeoutMs?: number;
  userAgent?: string;
}

// ---------------------------------------------------------------------------
// The HTTP client
// ---------------------------------------------------------------------------

interface RawResponse {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function parseBody(res: RawResponse): unknown {
  const text = res.body.toString('utf8');
  const type = String(res.headers['content-type'] ?? '');
  if (type.includes('json') || /^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** Concurrent non-streaming requests per client; more wait for a free connection. */
const MAX_REQUEST_SOCKETS = 32;

/** An ApiClient over node:http(s) with a keep-alive agent. Call close() when done so the process can exit. */
export class ApiClient implements KubeClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  /** Watches and followed logs hold their connection for minutes: they get their own pool. */
  private readonly streamAgent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(private readonly options: ApiClientOptions) {
    this.base = new URL(options.server);
    const secure = this.base.protocol === 'https:';
    this.transport = secure ? https : http;
    // Requests share at most MAX_REQUEST_SOCKETS kept-alive connections: a
    // burst (an agent with 100 fake nodes reporting at once) queues on warm
    // connections instead of opening, and later closing, a TLS session per
    // request in flight.
    const agentOptions = (maxSockets: number) => ({ keepAlive: true, maxSockets });
    this.agent = secure
      ? new https.Agent({ ...agentOptions(MAX_REQUEST_SOCKETS), ...this.tlsOptions() })
      : new http.Agent(agentOptions(MAX_REQUEST_SOCKETS));
    this.streamAgent = secure ? new https.Agent({ ...agentOptions(Infinity), ...this.tlsOptions() }) : new http.Agent(agentOptions(Infinity));
  }

  private tlsOptions(): https.AgentOptions {
    return {
      ca: this.options.caData,
      cert: this.options.clientCertData,
      key: this.options.clientKeyData,
      rejectUnauthorized: !this.options.insecureSkipTLSVerify,
    };
  }

  /** A client for the context a kubeconfig selects (see loadClientConfig for the lookup order). */
  static fromKubeconfig(opts: { kubeconfig?: string; context?: string } = {}): { client: ApiClient; config: ClientConfig } {
    const config = loadClientConfig(opts);
    return { client: new ApiClient(config), config };
  }

  get server(): string {
    return this.options.server;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
    this.streamAgent.destroy();
  }

  private requestOptions(method: string, path: string, headers: Record<string, string>, streaming = false): http.RequestOptions {
    const prefix = this.base.pathname.replace(/\/$/, '');
    const h: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': this.options.userAgent ?? 'mk/0.1.0',
      ...headers,
    };
    if (this.options.token) h.Authorization = `Bearer ${this.options.token}`;
    return {
      method,
      protocol: this.base.protocol,
      hostname: this.base.hostname.replace(/^\[|\]$/g, ''),
      port: this.base.port || undefined,
      path: `${prefix}${path}`,
      headers: h,
      agent: streaming ? this.streamAgent : this.agent,
    };
  }

  private send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
    let payload: Buffer | undefined;
    const hdrs = { ...headers };
    if (body !== undefined) {
      payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      if (!Object.keys(hdrs).some((k) => k.toLowerCase() === 'content-type')) hdrs['Content-Type'] = 'application/json';
      hdrs['Content-Length'] = String(payload.length);
    }
    return new Promise<RawResponse>((resolve, reject) => {
      const req = this.transport.request(this.requestOptions(method, path, hdrs), (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (err) => reject(new ConnectionError(this.options.server, err)));
      });
      req.on('error', (err) => reject(err instanceof ConnectionError ? err : new ConnectionError(this.options.server, err)));
      if (this.options.timeoutMs) {
        req.setTimeout(this.options.timeoutMs, () => {
          req.destroy(new Error(`request timed out after ${this.options.timeoutMs}ms`));
        });
      }
      req.end(payload);
    });
  }

  /**
   * A raw request against the API server. A JSON answer is returned parsed,
   * anything else as text; a non-2xx answer throws ApiStatusError.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const res = await this.send(method, path, body, headers);
    const parsed = parseBody(res);
    if (res.statusCode < 200 || res.statusCode >= 300) throw ApiStatusError.fromResponse(res.statusCode, parsed);
    return parsed as T;
  }

  get<T extends KubeObject = KubeObject>(rt: ResourceType, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>('GET', resourcePath(rt, namespace, name));
  }

  list<T extends KubeObject = KubeObject>(rt: ResourceType, namespace?: string, opts: ListOptions = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>(
      'GET',
      withQuery(resourcePath(rt, namespace), {
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        limit: opts.limit,
        continue: opts.continue,
        resourceVersion: opts.resourceVersion,
      }),
    );
  }

  create<T extends KubeObject = KubeObject>(rt: ResourceType, obj: T): Promise<T> {
    return this.request<T>('POST', resourcePath(rt, obj.metadata?.namespace), obj);
  }

  update<T extends KubeObject = KubeObject>(rt: ResourceType, obj: T): Promise<T> {
    return this.request<T>('PUT', resourcePath(rt, obj.metadata?.namespace, obj.metadata?.name ?? ''), obj);
  }

  updateStatus<T extends KubeObject = KubeObject>(rt: ResourceType, obj: T): Promise<T> {
    return this.request<T>('PUT', resourcePath(rt, obj.metadata?.namespace, obj.metadata?.name ?? '', 'status'), obj);
  }

  patch<T extends KubeObject = KubeObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType,
    opts: PatchOptions = {},
  ): Promise<T> {
    const fieldManager = opts.fieldManager ?? (type === 'apply' ? 'mk' : undefined);
    const path = withQuery(resourcePath(rt, namespace, name, opts.subresource), {
      fieldManager,
      force: opts.force === undefined ? undefined : opts.force,
    });
    return this.request<T>('PATCH', path, patch, { 'Content-Type': patchContentTypes[type] });
  }

  delete(rt: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<KubeObject | Status> {
    return this.request('DELETE', withQuery(resourcePath(rt, namespace, name), deleteQuery(opts)), deleteBody(opts));
  }

  deleteCollection(rt: ResourceType, namespace: string | undefined, opts: ListOptions & DeleteOptions = {}): Promise<KubeObject | Status> {
    const path = withQuery(resourcePath(rt, namespace), {
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      ...deleteQuery(opts),
    });
    return this.request('DELETE', path, deleteBody(opts));
  }

  async bind(namespace: string, podName: string, nodeName: string, podUid?: string): Promise<void> {
    const binding = {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: podName, namespace, ...(podUid ? { uid: podUid } : {}) },
      target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
    };
    await this.request('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(podName)}/binding`, binding);
  }

  finalizeNamespace(ns: KubeObject): Promise<KubeObject> {
    return this.request<KubeObject>('PUT', `/api/v1/namespaces/${encodeURIComponent(ns.metadata.name ?? '')}/finalize`, ns);
  }

  /**
   * GET pods/NAME/log as a stream. Resolves once the server answers 200, with
   * the body still to be read (endless with `follow`: destroy it to stop);
   * a non-2xx answer throws ApiStatusError.
   */
  logs(namespace: string, name: string, opts: PodLogOptions = {}): Promise<http.IncomingMessage> {
    const path = withQuery(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/log`, {
      container: opts.container,
      follow: opts.follow || undefined,
      previous: opts.previous || undefined,
      timestamps: opts.timestamps || undefined,
      tailLines: opts.tailLines,
      sinceSeconds: opts.sinceSeconds,
      sinceTime: opts.sinceTime,
      limitBytes: opts.limitBytes,
    });
    return new Promise((resolve, reject) => {
      const req = this.transport.request(this.requestOptions('GET', path, { Accept: '*/*' }, true), (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(ApiStatusError.fromResponse(status, parseBody({ statusCode: status, headers: res.headers, body: Buffer.concat(chunks) }))));
        res.on('error', (err) => reject(new ConnectionError(this.options.server, err)));
      });
      req.on('error', (err) => reject(new ConnectionError(this.options.server, err)));
      req.end();
    });
  }

  /**
   * Watches a kind from `resourceVersion`, calling onEvent for each
   * newline-delimited JSON event (`ADDED`, `MODIFIED`, `DELETED`,
   * `BOOKMARK`, `ERROR`). An `ERROR` event (such as 410 Expired) is passed
   * to onEvent like any other; a non-2xx answer to the request itself
   * rejects `done` with ApiStatusError. If onEvent throws, the watch stops
   * and `done` rejects with that error.
   */
  watch<T extends KubeObject = KubeObject>(
    rt: ResourceType,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): WatchHandle {
    const path = withQuery(resourcePath(rt, namespace), {
      watch: true,
      resourceVersion: opts.resourceVersion,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      allowWatchBookmarks: opts.allowWatchBookmarks,
      timeoutSeconds: opts.timeoutSeconds,
    });
    return this.stream(path, (line) => onEvent(JSON.parse(line) as WatchEvent<T>));
  }

  /** GETs a streaming path and hands each complete, non-empty line to onLine. */
  private stream(path: string, onLine: (line: string) => void): WatchHandle {
    let stopped = false;
    let req: http.ClientRequest | undefined;
    let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      if (err && !stopped) settle!.reject(err);
      else settle!.resolve();
    };

    const done = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
      req = this.transport.request(this.requestOptions('GET', path, {}, true), (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            finish(ApiStatusError.fromResponse(status, parseBody({ statusCode: status, headers: res.headers, body: Buffer.concat(chunks) }))),
          );
          res.on('error', (err) => finish(new ConnectionError(this.options.server, err)));
          return;
        }
        res.setEncoding('utf8');
        let buffered = '';
        const deliver = (line: string) => {
          if (stopped || settled || !line.trim()) return;
          try {
            onLine(line);
          } catch (err) {
            finish(err);
            stopped = true;
            req?.destroy();
          }
        };
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            deliver(line);
          }
        });
        res.on('end', () => {
          deliver(buffered);
          buffered = '';
          finish();
        });
        res.on('close', () => finish());
        res.on('error', (err) => finish(new ConnectionError(this.options.server, err)));
      });
      req.on('error', (err) => finish(new ConnectionError(this.options.server, err)));
      req.end();
    });

    return {
      stop: () => {
        if (stopped) return;
        stopped = true;
        req?.destroy();
        finish();
      },
      done,
    };
  }
}

function deleteQuery(opts: DeleteOptions): Record<string, string | number | undefined> {
  return { propagationPolicy: opts.propagationPolicy, gracePeriodSeconds: opts.gracePeriodSeconds };
}

/** kubectl sends its options as a DeleteOptions body; mk also puts them in the query so either server style works. */
function deleteBody(opts: DeleteOptions): Record<string, unknown> | undefined {
  if (opts.propagationPolicy === undefined && opts.gracePeriodSeconds === undefined && !opts.preconditions) return undefined;
  const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
  if (opts.propagationPolicy !== undefined) body.propagationPolicy = opts.propagationPolicy;
  if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
  if (opts.preconditions) body.preconditions = opts.preconditions;
  return body;
}
