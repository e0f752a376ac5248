import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { lookupResource } from '../api/registry';
import type { KubeObject, StatusCause } from '../api/types';
import { ApiStatusError } from '../client/api-client';
import { isWebSocketRequest, negotiateProtocol, offeredProtocols, rejectHandshake, supportedProtocolNames } from '../client/exec';
import {
  AGENT_PORT_PARAM,
  negotiatePortForwardProtocol,
  parsePortList,
  portForwardProtocolNames,
  PORTS_PARAM,
} from '../client/port-forward';
import { tokenChecker } from './auth';
import { ApiError, badRequest, forbidden, internalError, invalid, methodNotAllowed, unauthorized } from './errors';
import {
  serveSpdyPortForward,
  SPDY_PORT_FORWARD_PROTOCOL,
  SPDY_TUNNEL_PREFIX,
  SPDY_UPGRADE,
  spdyOverSocket,
  spdyOverWebSocket,
} from './port-forward';
import { parseResourcePath, toApiRequest, type ApiRequest, type Query, type ResourceRequest } from './request';
import type { ResourceStorage } from './resources';
import { serveSpdyExec, SPDY_EXEC_PROTOCOLS } from './spdy-exec';

/**
 * pods/log, pods/exec and pods/portforward: the API server finds the pod's
 * node and proxies to the agent serving that node (see agent/server.ts), as
 * kube-apiserver proxies to the kubelet. Logs are a streamed HTTP response;
 * exec and port-forward WebSockets (the channel protocols, see
 * client/exec.ts and client/port-forward.ts) are accepted here and spliced
 * message by message to a WebSocket to the agent. kubectl's SPDY
 * port-forward (upgraded, or tunnelled in a WebSocket) and SPDY exec
 * (kubectl before 1.30) end here and go on to the agent as WebSockets (see
 * port-forward.ts and spdy-exec.ts).
 * Errors the agent answers with (its Status bodies) pass through with their code.
 */

const PODS = lookupResource('', 'v1', 'pods')!;
const NODES = lookupResource('', 'v1', 'nodes')!;
const POD_LOG_OPTIONS = { group: '', plural: 'podlogoptions', kind: 'PodLogOptions' };

/** pods/attach, which mk does not serve. */
const ATTACH_PATH = /^\/api\/v1\/namespaces\/[^/]+\/pods\/([^/]+)\/attach$/;
/** The kubelet's well-known port, used when a node does not report its own (as Kubernetes does). */
const DEFAULT_AGENT_PORT = 10250;
/** Node address types tried in order for reaching its agent. */
const ADDRESS_TYPES = ['InternalIP', 'ExternalIP', 'Hostname'];
/** Past this many unsent bytes on one side, reading from the other pauses. */
const HIGH_WATER_BYTES = 1024 * 1024;

interface StreamTarget {
  container: string;
  /** `http://host:port` of the agent on the pod's node. */
  agent: string;
}

export interface PodStreamsOptions {
  resources: ResourceStorage;
  /** The cluster token: what clients must present, and what the API server presents to agents. */
  token: string;
  logError?: (err: unknown) => void;
}

export class PodStreams {
  private readonly resources: ResourceStorage;
  private readonly token: string;
  private readonly authorized: (req: http.IncomingMessage) => boolean;
  /** The subprotocol each upgrading request gets: whatever its agent chose. */
  private readonly chosen = new WeakMap<http.IncomingMessage, string>();
  private readonly wss: WebSocketServer;
  private readonly upstreams = new Set<WebSocket>();
  /** SPDY port-forward and exec sessions under way, by their stop function. */
  private readonly spdySessions = new Set<() => void>();

  constructor(private readonly opts: PodStreamsOptions) {
    this.resources = opts.resources;
    this.token = opts.token;
    this.authorized = tokenChecker(opts.token);
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      handleProtocols: (_offered, req) => this.chosen.get(req) || false,
    });
  }

  /** pods/log, and pods/exec and pods/portforward requests that did not ask for an upgrade; called by the resource handler. */
  async serve(req: ApiRequest, res: http.ServerResponse, r: ResourceRequest): Promise<void> {
    const namespace = r.namespace!;
    const name = r.name!;
    if (r.subresource === 'log') {
      if (req.method !== 'GET') throw methodNotAllowed('the server does not allow this method on the requested resource');
      return this.log(res, namespace, name, req.query as Query);
    }
    if (req.method !== 'GET' && req.method !== 'POST') throw methodNotAllowed('the server does not allow this method on the requested resource');
    // Validated first, so the client hears about a missing pod rather than about the upgrade.
    if (r.subresource === 'portforward') this.podAgent(namespace, name);
    else this.target(namespace, name, (req.query as Query).container || undefined, 'exec');
    throw badRequest('Upgrade request required');
  }

  /** The https server's 'upgrade' event: pods/exec and pods/portforward, everything else refused with a Status. */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    this.route(req, socket, head).catch((err) => rejectHandshake(socket, this.toApiError(err).toStatus()));
  }

  /** Ends every exec and port-forward session (the https server does not track upgraded sockets). */
  close(): void {
    for (const stop of this.spdySessions) stop();
    for (const ws of this.wss.clients) ws.terminate();
    for (const ws of this.upstreams) ws.terminate();
  }

  private async route(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const apiReq = toApiRequest(req);
    if (!this.authorized(req)) throw unauthorized();
    const attach = ATTACH_PATH.exec(apiReq.path);
    if (attach) {
      // kubectl attach: say what mk offers instead, rather than a bare "pods/attach not found".
      throw new ApiError(404, 'NotFound', `mk does not serve pods/attach (its node agents do not attach to a container's main process): use \`kubectl logs -f ${decodeURIComponent(attach[1]!)}\` to follow its output, or \`kubectl exec\` to run a command in it`, {
        name: decodeURIComponent(attach[1]!),
        kind: 'pods/attach',
      });
    }
    const r = parseResourcePath(apiReq.path);
    const q = new URLSearchParams(req.url!.slice(apiReq.path.length + 1));
    if (r && r.rt === PODS && r.name && r.namespace !== undefined) {
      if (r.subresource === 'exec') return this.proxyExec(req, socket, head, r.namespace, r.name, q);
      if (r.subresource === 'portforward') return this.portForward(req, socket, head, r.namespace, r.name, q);
    }
    throw badRequest(`the server does not support upgrading ${req.method} ${apiReq.path}: only pods/exec and pods/portforward are`);
  }

  private async log(res: http.ServerResponse, namespace: string, name: string, q: Query): Promise<void> {
    const params = podLogParams(name, q);
    const target = this.target(namespace, name, q.container || undefined, 'log');
    const url = `${target.agent}/containerLogs/${segments(namespace, name, target.container)}?${params}`;
    await new Promise<void>((resolve, reject) => {
      // A fresh connection per stream (agent: false): destroying it when the client goes away cannot hit a pooled one.
      const upstream = http.get(url, { agent: false, headers: { Authorization: `Bearer ${this.token}` } }, (agentRes) => {
        const code = agentRes.statusCode ?? 502;
        if (code !== 200) {
          res.writeHead(code, { 'Content-Type': agentRes.headers['content-type'] ?? 'application/json' });
          agentRes.pipe(res);
          resolve();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.flushHeaders();
        agentRes.pipe(res);
        agentRes.on('error', () => res.destroy());
        resolve();
      });
      upstream.on('error', (err) => {
        if (res.headersSent) res.destroy();
        else reject(internalError(`error dialing backend: ${err.message}`));
      });
      // The client went away (or the response is done): the agent's stream ends with it.
      res.once('close', () => upstream.destroy());
    });
  }

  private async proxyExec(req: http.IncomingMessage, socket: Duplex, head: Buffer, namespace: string, name: string, q: URLSearchParams): Promise<void> {
    const target = this.target(namespace, name, q.get('container') || undefined, 'exec');
    const command = q.getAll('command');
    const flag = (f: string) => ['1', 't', 'true'].includes((q.get(f) ?? '').toLowerCase());
    const tty = flag('tty');
    const opts = { stdin: flag('stdin'), stdout: flag('stdout'), stderr: flag('stderr') && !tty, tty };
    if (!opts.stdin && !opts.stdout && !flag('stderr')) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
    if (command.length === 0) throw badRequest('you must specify at least one command for the container');

    const params = new URLSearchParams();
    for (const arg of command) params.append('command', arg);
    for (const [f, on] of Object.entries(opts)) if (on) params.set(f, '1');
    const url = `${target.agent.replace(/^http/, 'ws')}/exec/${segments(namespace, name, target.container)}?${params}`;
    if (isWebSocketRequest(req)) {
      const offered = offeredProtocols(req);
      if (!negotiateProtocol(offered)) {
        throw badRequest(`requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${supportedProtocolNames().join(' ')}]`);
      }
      return this.proxyWebSocket(req, socket, head, url, offered.filter((p) => negotiateProtocol([p])));
    }
    if (String(req.headers.upgrade ?? '').toLowerCase() !== SPDY_UPGRADE.toLowerCase()) {
      throw badRequest(`unable to upgrade: exec is served over WebSocket (${supportedProtocolNames().join(', ')}) or ${SPDY_UPGRADE}`);
    }
    const protocol = spdyHandshake(req, SPDY_EXEC_PROTOCOLS);
    if (socket.destroyed) return;
    const session = spdyOverSocket(socket, head, protocol);
    this.trackSpdy(serveSpdyExec(session, protocol ?? '', opts, { agentUrl: url, token: this.token }), socket);
  }

  /**
   * pods/portforward: the channel protocol proxied to the agent like exec,
   * or kubectl's SPDY (tunnelled in a WebSocket, or upgraded to) served here.
   */
  private async portForward(req: http.IncomingMessage, socket: Duplex, head: Buffer, namespace: string, name: string, q: URLSearchParams): Promise<void> {
    const agentUrl = `${this.podAgent(namespace, name).replace(/^http/, 'ws')}/portForward/${segments(namespace, name)}`;
    const spdyTarget = { pod: name, agentUrl, token: this.token };
    if (isWebSocketRequest(req)) {
      const offered = offeredProtocols(req);
      const tunnelled = offered.filter((p) => p.startsWith(SPDY_TUNNEL_PREFIX)).map((p) => p.slice(SPDY_TUNNEL_PREFIX.length));
      if (tunnelled.length) {
        if (!tunnelled.includes(SPDY_PORT_FORWARD_PROTOCOL)) {
          throw badRequest(`requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${SPDY_TUNNEL_PREFIX}${SPDY_PORT_FORWARD_PROTOCOL}]`);
        }
        if (socket.destroyed) return;
        this.chosen.set(req, SPDY_TUNNEL_PREFIX + SPDY_PORT_FORWARD_PROTOCOL);
        this.wss.handleUpgrade(req, socket, head, (client) => {
          client.on('error', () => undefined);
          this.trackSpdy(serveSpdyPortForward(spdyOverWebSocket(client), spdyTarget), client);
        });
        return;
      }
      if (!negotiatePortForwardProtocol(offered)) {
        throw badRequest(`requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${portForwardProtocolNames().join(' ')}]`);
      }
      let ports: number[];
      try {
        ports = parsePortList(q.getAll(PORTS_PARAM), PORTS_PARAM);
      } catch (err) {
        throw badRequest((err as Error).message);
      }
      const params = new URLSearchParams();
      for (const port of ports) params.append(AGENT_PORT_PARAM, String(port));
      return this.proxyWebSocket(req, socket, head, `${agentUrl}?${params}`, offered.filter((p) => negotiatePortForwardProtocol([p])));
    }
    if (String(req.headers.upgrade ?? '').toLowerCase() !== SPDY_UPGRADE.toLowerCase()) {
      throw badRequest(`unable to upgrade: port forwarding is served over WebSocket (${portForwardProtocolNames().join(', ')}, ${SPDY_TUNNEL_PREFIX}${SPDY_PORT_FORWARD_PROTOCOL}) or ${SPDY_UPGRADE}`);
    }
    const protocol = spdyHandshake(req, [SPDY_PORT_FORWARD_PROTOCOL]);
    if (socket.destroyed) return;
    this.trackSpdy(serveSpdyPortForward(spdyOverSocket(socket, head, protocol), spdyTarget), socket);
  }

  private trackSpdy(stop: () => void, transport: { once(event: 'close', listener: () => void): unknown }): void {
    this.spdySessions.add(stop);
    transport.once('close', () => this.spdySessions.delete(stop));
  }

  /** Accepts the client's WebSocket once the agent's has opened, and splices the two. */
  private async proxyWebSocket(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: string, protocols: string[]): Promise<void> {
    const upstream = new WebSocket(url, protocols, {
      headers: { Authorization: `Bearer ${this.token}` },
      perMessageDeflate: false,
    });
    const early = bufferUntilSpliced(upstream);
    this.upstreams.add(upstream);
    upstream.once('close', () => this.upstreams.delete(upstream));
    try {
      await new Promise<void>((resolve, reject) => {
        upstream.once('open', () => resolve());
        upstream.once('unexpected-response', (_r, res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(passThrough(res.statusCode ?? 502, Buffer.concat(chunks).toString('utf8'))));
          res.on('error', (err) => reject(internalError(`error dialing backend: ${err.message}`)));
        });
        upstream.once('error', (err) => reject(internalError(`error dialing backend: ${err.message}`)));
      });
    } catch (err) {
      upstream.terminate();
      throw err;
    }
    upstream.on('error', () => undefined);
    if (socket.destroyed) {
      upstream.close(1000);
      return;
    }
    this.chosen.set(req, upstream.protocol);
    this.wss.handleUpgrade(req, socket, head, (client) => {
      client.on('error', () => undefined);
      splice(client, upstream, early);
    });
  }

  /**
   * Where a stream for one of the pod's containers goes: the container
   * (validated as Kubernetes validates it) and the agent of the pod's node.
   */
  private target(namespace: string, name: string, container: string | undefined, kind: 'log' | 'exec'): StreamTarget {
    const pod = this.resources.get(PODS, namespace, name).object;
    const resolved = validateContainer(pod, container, kind);
    return { container: resolved, agent: this.agentOf(pod) };
  }

  /** The agent of the node a pod is on (404 for no such pod, 400 for one not scheduled yet). */
  private podAgent(namespace: string, name: string): string {
    return this.agentOf(this.resources.get(PODS, namespace, name).object);
  }

  private agentOf(pod: KubeObject): string {
    const nodeName: string | undefined = pod.spec?.nodeName;
    if (!nodeName) throw badRequest(`pod ${pod.metadata.name} does not have a host assigned`);
    const node = this.resources.get(NODES, undefined, nodeName).object;
    return agentAddress(node);
  }

  private toApiError(err: unknown): ApiError {
    if (err instanceof ApiError) return err;
    if (err instanceof ApiStatusError) return new ApiError(err.code, err.reason, err.message, err.status.details);
    this.opts.logError?.(err);
    return internalError((err as Error)?.message ?? String(err));
  }
}

/**
 * httpstream.Handshake for an `Upgrade: SPDY/3.1` request: the first
 * protocol the client names (X-Stream-Protocol-Version, in its order) that
 * the server supports; undefined when it names none (the oldest clients).
 * Throws 403 when it names only others.
 */
function spdyHandshake(req: http.IncomingMessage, supported: string[]): string | undefined {
  const raw = req.headers['x-stream-protocol-version'];
  const wanted = (Array.isArray(raw) ? raw.join(',') : String(raw ?? '')).split(',').map((p) => p.trim()).filter(Boolean);
  if (!wanted.length) return undefined;
  const chosen = wanted.find((p) => supported.includes(p));
  if (!chosen) throw forbidden(`unable to upgrade: unable to negotiate protocol: client supports [${wanted.join(' ')}], server accepts [${supported.join(' ')}]`);
  return chosen;
}

/** An agent's error answer, passed through with its code (and its Status, when it sent one). */
function passThrough(code: number, text: string): ApiError {
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain text: becomes the message
  }
  const status = ApiStatusError.fromResponse(code, body).status;
  return new ApiError(status.code, status.reason ?? 'InternalError', status.message ?? '', status.details);
}

/** Holds the agent's messages (and its close) from the moment it answers until the client side is spliced on. */
function bufferUntilSpliced(upstream: WebSocket): { messages: Array<[RawData, boolean]>; closed?: [number, Buffer]; stop(): void } {
  const early: { messages: Array<[RawData, boolean]>; closed?: [number, Buffer]; stop(): void } = {
    messages: [],
    stop: () => {
      upstream.removeListener('message', onMessage);
      upstream.removeListener('close', onClose);
    },
  };
  const onMessage = (data: RawData, isBinary: boolean) => early.messages.push([data, isBinary]);
  const onClose = (code: number, reason: Buffer) => (early.closed = [code, reason]);
  upstream.on('message', onMessage);
  upstream.on('close', onClose);
  return early;
}

/** Pipes messages both ways and closes both sides together, with the code of the side that closed first. */
function splice(client: WebSocket, upstream: WebSocket, early: ReturnType<typeof bufferUntilSpliced>): void {
  early.stop();
  const forward = (from: WebSocket, to: WebSocket) => {
    from.on('message', (data, isBinary) => send(from, to, data, isBinary));
    from.once('close', (code, reason) => closeWith(to, code, reason));
  };
  for (const [data, isBinary] of early.messages) send(upstream, client, data, isBinary);
  forward(client, upstream);
  if (early.closed) closeWith(client, ...early.closed);
  else forward(upstream, client);
}

function send(from: WebSocket, to: WebSocket, data: RawData, isBinary: boolean): void {
  if (to.readyState !== WebSocket.OPEN) return;
  to.send(data, { binary: isBinary }, () => {
    if (from.isPaused && to.bufferedAmount < HIGH_WATER_BYTES / 2) from.resume();
  });
  if (to.bufferedAmount > HIGH_WATER_BYTES) from.pause();
}

function closeWith(ws: WebSocket, code: number, reason: Buffer): void {
  if (ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) return;
  // 1005 (no code) and 1006 (dropped) are reported, never sent: send "normal" or "internal error" instead.
  const sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
  ws.close(sendable ? code : code === 1005 ? 1000 : 1011, sendable ? reason : undefined);
}

/**
 * The container a request means, as Kubernetes' validateContainer (logs) and
 * streamLocation (exec) decide it: the only one when none is named, else a
 * 400 listing the choices; a named one must exist.
 */
function validateContainer(pod: KubeObject, container: string | undefined, kind: 'log' | 'exec'): string {
  const name = pod.metadata.name!;
  const names = (list: any[] | undefined): string[] => (list ?? []).map((c) => c.name);
  const containers = names(pod.spec?.containers);
  const init = names(pod.spec?.initContainers);
  const ephemeral = names(pod.spec?.ephemeralContainers);
  if (container) {
    if (![...containers, ...init, ...ephemeral].includes(container)) throw badRequest(`container ${container} is not valid for pod ${name}`);
    return container;
  }
  if (containers.length === 1) return containers[0]!;
  if (containers.length === 0) throw badRequest(`a container name must be specified for pod ${name}`);
  if (kind === 'log') {
    throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${[...init, ...containers, ...ephemeral].join(' ')}]`);
  }
  let message = `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`;
  if (init.length) message += ` or one of the init containers: [${init.join(' ')}]`;
  throw badRequest(message);
}

/** `http://address:port` of the agent on a node, from its status as the agent published it. */
function agentAddress(node: KubeObject): string {
  const addresses: Array<{ type: string; address: string }> = node.status?.addresses ?? [];
  let host: string | undefined;
  for (const type of ADDRESS_TYPES) {
    host = addresses.find((a) => a.type === type && a.address)?.address;
    if (host) break;
  }
  if (!host) {
    throw internalError(`no preferred addresses found; known addresses: [${addresses.map((a) => `{${a.type} ${a.address}}`).join(' ')}]`);
  }
  const port = Number(node.status?.daemonEndpoints?.kubeletEndpoint?.Port) || DEFAULT_AGENT_PORT;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function segments(...parts: string[]): string {
  return parts.map(encodeURIComponent).join('/');
}

/**
 * The agent's query for a PodLogOptions request, validated as Kubernetes
 * validates it: integers must parse (400), and out-of-range values are 422
 * Invalid. `sinceTime` becomes `sinceSeconds`, the one form agents take.
 */
function podLogParams(name: string, q: Query): URLSearchParams {
  const integer = (key: string): number | undefined => {
    const v = q[key];
    if (v === undefined || v === '') return undefined;
    if (!/^-?\d+$/.test(v)) throw badRequest(`${key}: Invalid value: "${v}": must be an integer`);
    return Number(v);
  };
  const bool = (key: string): boolean => ['1', 't', 'true'].includes((q[key] ?? '').toLowerCase());
  const tailLines = integer('tailLines');
  const limitBytes = integer('limitBytes');
  let sinceSeconds = integer('sinceSeconds');
  const causes: StatusCause[] = [];
  if (tailLines !== undefined && tailLines < 0) {
    causes.push({ field: 'tailLines', message: `Invalid value: ${tailLines}: must be greater than or equal to 0` });
  }
  if (limitBytes !== undefined && limitBytes < 1) {
    causes.push({ field: 'limitBytes', message: `Invalid value: ${limitBytes}: must be greater than 0` });
  }
  if (sinceSeconds !== undefined && q.sinceTime) {
    causes.push({ reason: 'FieldValueForbidden', message: 'Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified' });
  } else if (sinceSeconds !== undefined && sinceSeconds < 1) {
    causes.push({ field: 'sinceSeconds', message: `Invalid value: ${sinceSeconds}: must be greater than 0` });
  }
  if (causes.length) throw invalid(POD_LOG_OPTIONS, name, causes);
  if (q.sinceTime) {
    const t = Date.parse(q.sinceTime);
    if (Number.isNaN(t)) throw badRequest(`sinceTime: Invalid value: "${q.sinceTime}": must be an RFC 3339 time`);
    sinceSeconds = Math.max(1, Math.ceil((Date.now() - t) / 1000));
  }

  const params = new URLSearchParams();
  if (bool('follow')) params.set('follow', 'true');
  if (bool('previous')) params.set('previous', 'true');
  if (bool('timestamps')) params.set('timestamps', 'true');
  if (tailLines !== undefined) params.set('tailLines', String(tailLines));
  if (sinceSeconds !== undefined) params.set('sinceSeconds', String(sinceSeconds));
  if (limitBytes !== undefined) params.set('limitBytes', String(limitBytes));
  return params;
}
