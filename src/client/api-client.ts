import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeList, KubeObject, Status, WatchEvent } from '../api/types';
import type { ResourceType } from '../api/registry';
import { loadClientConfig, type ClientConfig } from './kubeconfig';
import { classifyConnectionFailure, ServerRotation } from './server-rotation';

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
  /** See WatchOptions. */
  omitManagedFields?: boolean;
  /** See WatchOptions. */
  readOnly?: boolean;
}

export interface WatchOptions {
  resourceVersion?: string;
  labelSelector?: string;
  fieldSelector?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
  /**
   * The objects may come without `metadata.managedFields` (informers drop
   * them anyway). The in-process client then leaves them out; over HTTP the
   * server sends them regardless.
   */
  omitManagedFields?: boolean;
  /**
   * The caller promises never to change the objects it gets (an informer's
   * cache). The in-process client then hands out the server's cached objects
   * themselves, shared by every such caller, instead of parsing a private
   * copy for each; over HTTP every object is a private copy anyway.
   */
  readOnly?: boolean;
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

export interface CreateOptions {
  /**
   * The caller will not change the object it gets back (or ignores it). The
   * in-process client then returns the server's cached object itself
   * instead of parsing a copy, as for WatchOptions.readOnly.
   */
  readOnly?: boolean;
}

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
  /** Set by the API server's in-process client: requests share no connection and join the server's datastore commits. */
  readonly inProcess?: boolean;
  get<T extends KubeObject = KubeObject>(rt: ResourceType, namespace: string | undefined, name: string): Promise<T>;
  list<T extends KubeObject = KubeObject>(rt: ResourceType, namespace?: string, opts?: ListOptions): Promise<KubeList<T>>;
  create<T extends KubeObject = KubeObject>(rt: ResourceType, obj: T, opts?: CreateOptions): Promise<T>;
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
  /**
   * Every API server of the cluster (`mk agent --server a,b,c`), instead of
   * `server` alone. Requests go to one at a time and move to the next when it
   * refuses connections, does not connect within connectTimeoutMs, drops the
   * connection, times out or answers 503; a write whose connection broke is
   * not sent again (it may have been carried out). The servers must share
   * the CA and the token.
   */
  servers?: string[];
  /** Give up connecting to a server after this many ms (default 10 s): a host that is down answers nothing. */
  connectTimeoutMs?: number;
  token?: string;
  caData?: string;
  clientCertData?: string;
  clientKeyData?: string;
  insecureSkipTLSVerify?: boolean;
  /**
   * Give up on a request when its server has sent nothing for this many ms,
   * and on a watch whose server has not answered (its response headers)
   * within it; no limit by default. Either counts as a broken connection, so
   * with several servers a GET or a watch moves on to the next one.
   */
  timeoutMs?: number;
  /**
   * A watch that asked for bookmarks and has received nothing for this many
   * ms ends with a ConnectionError, and its server counts as failed: the API
   * server sends a BOOKMARK at least every minute (mk's bookmarkIntervalMs,
   * kube-apiserver's cacher alike), so silence this long means its host is
   * gone without closing the connection, which TCP alone notices only after
   * many minutes. Default 150 s (2.5 bookmark intervals); 0 turns it off.
   */
  watchIdleTimeoutMs?: number;
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
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_WATCH_IDLE_TIMEOUT_MS = 150_000;
/** Idle time before TCP keepalive probes start on a connection (Node's agent default is 1 s once a socket is pooled, and none on a TLS connection in use). */
const TCP_KEEPALIVE_MS = 30_000;

/** Methods a server may be sent twice with the same effect (RFC 9110 idempotent methods). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/**
 * The keep-alive race: the server closed an idle kept-alive connection just
 * as a request was written on it, so the request failed with ECONNRESET
 * without the server having read it. Worth one retry on a fresh connection:
 * always for an idempotent method; for POST and PATCH only while no answer
 * has come (a server that began answering had read, and maybe carried out,
 * the request). As in Node's http docs, `reusedSocket` tells the race from
 * a server that failed on a connection made for this request.
 */
function lostToKeepAliveRace(req: http.ClientRequest, err: Error, method: string, answered: boolean): boolean {
  return req.reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET' && (IDEMPOTENT.has(method) || !answered);
}

/** The server is saying it cannot serve now (not ready, or its datastore is down); another server of the cluster may. */
const SERVER_UNAVAILABLE = 503;

function serverText(url: URL): string {
  return url.href.replace(/\/$/, '');
}

function timedOut(ms: number): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`request timed out after ${ms}ms`);
  err.code = 'ESOCKETTIMEDOUT';
  return err;
}

/** An ApiClient over node:http(s) with a keep-alive agent. Call close() when done so the process can exit. */
export class ApiClient implements KubeClient {
  private readonly servers: ServerRotation;
  private readonly agent: http.Agent;
  /** Watches and followed logs hold their connection for minutes: they get their own pool. */
  private readonly streamAgent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(private readonly options: ApiClientOptions) {
    this.servers = new ServerRotation(options.servers?.length ? options.servers : [options.server]);
    const secure = this.servers.current.protocol === 'https:';
    this.transport = secure ? https : http;
    // Requests share at most MAX_REQUEST_SOCKETS kept-alive connections: a
    // burst (an agent with 100 fake nodes reporting at once) queues on warm
    // connections instead of opening, and later closing, a TLS session per
    // request in flight.
    const agentOptions = (maxSockets: number) => ({ keepAlive: true, keepAliveMsecs: TCP_KEEPALIVE_MS, maxSockets });
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

  /** The server requests go to now (with several servers, the one that last worked). */
  get server(): string {
    return serverText(this.servers.current);
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
    this.streamAgent.destroy();
  }

  /**
   * `connection`: a kept-alive one from the request pool or the stream pool,
   * or a fresh one of its own (a retry after the keep-alive race).
   */
  private requestOptions(
    server: URL, method: string, path: string, headers: Record<string, string>, connection: 'pooled' | 'streaming' | 'fresh' = 'pooled',
  ): http.RequestOptions {
    const prefix = server.pathname.replace(/\/$/, '');
    const h: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': this.options.userAgent ?? 'mk/0.1.0',
      ...headers,
    };
    if (this.options.token) h.Authorization = `Bearer ${this.options.token}`;
    return {
      method,
      protocol: server.protocol,
      hostname: server.hostname.replace(/^\[|\]$/g, ''),
      port: server.port || undefined,
      path: `${prefix}${path}`,
      headers: h,
      ...(connection === 'fresh'
        ? { agent: false, ...(this.transport === https ? this.tlsOptions() : {}) }
        : { agent: connection === 'streaming' ? this.streamAgent : this.agent }),
    };
  }

  /**
   * Sets up a request's new connection: TCP keepalive once it is up (Node
   * sets none on a TLS connection until it goes back to the pool, so a watch
   * would have none), and a limit of connectTimeoutMs on getting it up. The
   * limit's error code says the request never left: another server may take
   * it. Over TLS the connection is up once the handshake is done: a server
   * that is hung still has its TCP connections accepted by the kernel, but
   * never sees the request.
   */
  private setUpConnection(req: http.ClientRequest, server: URL): void {
    req.once('socket', (socket) => {
      if (!socket.connecting) return; // a kept-alive connection
      let tcpUp = false;
      socket.once('connect', () => {
        tcpUp = true;
        socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
      });
      const timer = setTimeout(() => {
        const err: NodeJS.ErrnoException = new Error(tcpUp ? `TLS handshake with ${server.host} timed out` : `dial tcp ${server.host}: i/o timeout`);
        err.code = 'ECONNECTTIMEOUT';
        req.destroy(err);
      }, this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
      const clear = () => clearTimeout(timer);
      socket.once(this.transport === https ? 'secureConnect' : 'connect', clear);
      socket.once('close', clear);
    });
  }

  /**
   * Fails a stream whose server has not answered within timeoutMs (a watch
   * is answered at once; its events may be minutes apart, so only the
   * answer is timed). The error counts as a broken connection.
   */
  private limitAnswer(req: http.ClientRequest): void {
    const ms = this.options.timeoutMs;
    if (!ms) return;
    const timer = setTimeout(() => req.destroy(timedOut(ms)), ms);
    const clear = () => clearTimeout(timer);
    req.once('response', clear);
    req.once('close', clear);
  }

  /**
   * One request to `server`, and once more on a fresh connection to the
   * same server when it was lost to the keep-alive race (the rotation does
   * not hear of that: the server did nothing wrong). If the retry cannot
   * even connect, the first error stands: it is the one that tells whether
   * the request may have been carried out.
   */
  private send(server: URL, method: string, path: string, payload: Buffer | undefined, headers: Record<string, string>, fresh = false): Promise<RawResponse> {
    return new Promise<RawResponse>((resolve, reject) => {
      let answered = false;
      let retried = false;
      const fail = (err: Error) => {
        if (retried) return;
        if (!fresh && lostToKeepAliveRace(req, err, method, answered)) {
          retried = true;
          this.send(server, method, path, payload, headers, true).then(resolve, (again: ConnectionError) => {
            reject(classifyConnectionFailure(again.code) === 'not-connected' ? new ConnectionError(serverText(server), err) : again);
          });
          return;
        }
        reject(err instanceof ConnectionError ? err : new ConnectionError(serverText(server), err));
      };
      const req = this.transport.request(this.requestOptions(server, method, path, headers, fresh ? 'fresh' : 'pooled'), (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', fail);
      });
      req.on('error', fail);
      this.setUpConnection(req, server);
      const timeoutMs = this.options.timeoutMs;
      if (timeoutMs) req.setTimeout(timeoutMs, () => req.destroy(timedOut(timeoutMs)));
      req.end(payload);
    });
  }

  /**
   * Sends a request to the current server, moving on to the next when it
   * cannot serve. A request that never reached a server, or was refused
   * with 503, goes to the next at once; so does a GET whose connection
   * broke. Any other request whose connection broke may have been carried
   * out, so it fails (its caller decides, as after any lost answer), and
   * the next request goes to the next server.
   */
  private async sendWithFailover(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
    let payload: Buffer | undefined;
    const hdrs = { ...headers };
    if (body !== undefined) {
      payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      if (!Object.keys(hdrs).some((k) => k.toLowerCase() === 'content-type')) hdrs['Content-Type'] = 'application/json';
      hdrs['Content-Length'] = String(payload.length);
    }
    for (let attempt = 1; ; attempt++) {
      const server = this.servers.current;
      const lastChance = attempt >= this.servers.size;
      let res: RawResponse;
      try {
        res = await this.send(server, method, path, payload, hdrs);
      } catch (err) {
        const failure = classifyConnectionFailure((err as ConnectionError).code);
        if (failure === 'other') throw err;
        this.servers.failed(server);
        if (lastChance || (failure === 'broken' && method !== 'GET')) throw err;
        continue;
      }
      if (res.statusCode === SERVER_UNAVAILABLE && this.servers.size > 1) {
        this.servers.failed(server);
        if (!lastChance) continue;
      }
      return res;
    }
  }

  /**
   * A raw request against the API server. A JSON answer is returned parsed,
   * anything else as text; a non-2xx answer throws ApiStatusError.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const res = await this.sendWithFailover(method, path, body, headers);
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
    const server = this.servers.current;
    const open = (connection: 'streaming' | 'fresh') => new Promise<http.IncomingMessage>((resolve, reject) => {
      let answered = false;
      const req = this.transport.request(this.requestOptions(server, 'GET', path, { Accept: '*/*' }, connection), (res) => {
        answered = true;
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(ApiStatusError.fromResponse(status, parseBody({ statusCode: status, headers: res.headers, body: Buffer.concat(chunks) }))));
        res.on('error', (err) => reject(new ConnectionError(serverText(server), err)));
      });
      req.on('error', (err) => {
        if (connection === 'streaming' && lostToKeepAliveRace(req, err, 'GET', answered)) return resolve(open('fresh'));
        reject(new ConnectionError(serverText(server), err));
      });
      this.setUpConnection(req, server);
      req.end();
    });
    return open('streaming');
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
    const idleLimitMs = opts.allowWatchBookmarks ? this.options.watchIdleTimeoutMs ?? DEFAULT_WATCH_IDLE_TIMEOUT_MS : 0;
    return this.stream(path, (line) => onEvent(JSON.parse(line) as WatchEvent<T>), idleLimitMs);
  }

  /**
   * GETs a streaming path and hands each complete, non-empty line to onLine.
   * Until a server answers, the request moves on to the next server as a
   * GET does (see sendWithFailover); a stream that breaks later just ends,
   * and its caller's next watch goes to whichever server is current then.
   * With `idleLimitMs`, an answered stream that receives nothing for that
   * long fails, and its server with it (see watchIdleTimeoutMs).
   */
  private stream(path: string, onLine: (line: string) => void, idleLimitMs = 0): WatchHandle {
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

    const open = (attempt: number, connection: 'streaming' | 'fresh' = 'streaming') => {
      const server = this.servers.current;
      const lastChance = attempt >= this.servers.size;
      let answered = false;
      const request = this.transport.request(this.requestOptions(server, 'GET', path, {}, connection), (res) => {
        answered = true;
        const status = res.statusCode ?? 0;
        if (status === SERVER_UNAVAILABLE && this.servers.size > 1 && !stopped) {
          this.servers.failed(server);
          if (!lastChance) {
            res.resume();
            open(attempt + 1);
            return;
          }
        }
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            finish(ApiStatusError.fromResponse(status, parseBody({ statusCode: status, headers: res.headers, body: Buffer.concat(chunks) }))),
          );
          res.on('error', (err) => finish(new ConnectionError(serverText(server), err)));
          return;
        }
        res.setEncoding('utf8');
        const idleTimer = idleLimitMs > 0 ? setTimeout(() => {
          this.servers.failed(server);
          const err: NodeJS.ErrnoException = new Error(`the watch received nothing, not even a bookmark, for ${idleLimitMs}ms`);
          err.code = 'ESOCKETTIMEDOUT';
          finish(new ConnectionError(serverText(server), err));
          request.destroy();
        }, idleLimitMs) : undefined;
        res.once('close', () => clearTimeout(idleTimer));
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
          idleTimer?.refresh();
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
        res.on('error', (err) => finish(new ConnectionError(serverText(server), err)));
      });
      req = request;
      request.on('error', (err) => {
        if (!stopped && connection === 'streaming' && lostToKeepAliveRace(request, err, 'GET', answered)) return open(attempt, 'fresh');
        const failure = new ConnectionError(serverText(server), err);
        if (!answered && !stopped && classifyConnectionFailure(failure.code) !== 'other') {
          this.servers.failed(server);
          if (!lastChance) return open(attempt + 1);
        }
        finish(failure);
      });
      this.setUpConnection(request, server);
      this.limitAnswer(request);
      request.end();
    };

    const done = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
      open(1);
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
