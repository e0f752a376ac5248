import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { tokenChecker } from '../apiserver/auth';
import { ApiError, badRequest, internalError, unauthorized, writeStatus } from '../apiserver/errors';
import {
  Channel,
  encodeFrame,
  decodeFrame,
  EXIT_CODE_CAUSE,
  isWebSocketRequest,
  negotiateProtocol,
  NON_ZERO_EXIT_CODE_REASON,
  offeredProtocols,
  rejectHandshake,
  supportedProtocolNames,
  type StreamProtocol,
} from '../client/exec';
import {
  AGENT_PORT_PARAM,
  negotiatePortForwardProtocol,
  parsePortList,
  portForwardProtocolNames,
} from '../client/port-forward';
import { servePortForward } from './port-forward';
import type { ContainerRuntime, ExecSession, LogOptions } from './runtime/runtime';

/**
 * The agent's own HTTP server, the counterpart of the kubelet's port 10250:
 * the API server reaches a node's containers through it for pods/log and
 * pods/exec. Plain HTTP on the node's address; every request must carry the
 * cluster token (`Authorization: Bearer ...`), else 401.
 *
 *   GET /containerLogs/{namespace}/{pod}/{container}?follow&tailLines&sinceSeconds&timestamps&limitBytes&previous
 *   GET /exec/{namespace}/{pod}/{container}?command=..&command=..&stdin&stdout&stderr&tty   (WebSocket)
 *   GET /portForward/{namespace}/{pod}?port=..&port=..                                       (WebSocket)
 *
 * Errors are `kind: Status` bodies with the Kubernetes code, which the API
 * server passes through to its client unchanged.
 */
export interface AgentServerOptions {
  /** Where logs, exec and port forwards go (several fake nodes can share one server). */
  runtime: Pick<ContainerRuntime, 'logs' | 'exec' | 'portForward'>;
  /** The cluster token; requests must present it as a bearer token. */
  token: string;
  /**
   * The runtime id of a pod's container: the current instance, or with
   * `previous` the last terminated one. `container` is undefined when the
   * request named none (allowed only for one-container pods). Throws
   * ApiError: notFound for an unknown pod, badRequest for a missing or
   * unknown container name or a previous instance that does not exist.
   */
  resolveContainer(namespace: string, pod: string, container: string | undefined, previous: boolean): Promise<string>;
  /**
   * The runtime id of the sandbox (network namespace) a port forward into
   * the pod enters, and the pod's uid. Throws ApiError: notFound for an
   * unknown pod, internalError for one without a sandbox.
   */
  resolveSandbox(namespace: string, pod: string): Promise<{ id: string; uid: string }>;
  /** Where unexpected (500) errors are reported. */
  log?: (line: string) => void;
}

/** Past this many unsent bytes on a WebSocket, exec output is paused until the client catches up. */
const HIGH_WATER_BYTES = 1024 * 1024;
/** How long after the command exits its output streams may take to drain before the status is sent anyway. */
const OUTPUT_DRAIN_MS = 2000;

export class AgentServer {
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly portForwardWss: WebSocketServer;
  private readonly authorized: (req: http.IncomingMessage) => boolean;

  constructor(private readonly opts: AgentServerOptions) {
    this.authorized = tokenChecker(opts.token);
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      handleProtocols: (offered) => negotiateProtocol([...offered])?.name || false,
    });
    this.portForwardWss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      handleProtocols: (offered) => negotiatePortForwardProtocol([...offered])?.name || false,
    });
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => this.respondError(res, err));
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head).catch((err) => rejectHandshake(socket, this.toApiError(err).toStatus()));
    });
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops listening and ends every log stream and exec session. */
  close(): Promise<void> {
    for (const ws of [...this.wss.clients, ...this.portForwardWss.clients]) ws.terminate();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this.authorized(req)) {
      req.resume();
      throw unauthorized();
    }
    const { segments, query } = splitUrl(req.url);
    if (req.method === 'GET' && segments.length === 4 && segments[0] === 'containerLogs') {
      return this.containerLogs(res, segments[1]!, segments[2]!, segments[3]!, query);
    }
    if (segments.length === 4 && segments[0] === 'exec') {
      throw badRequest('Upgrade request required: exec is served over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io)');
    }
    if (segments.length === 3 && segments[0] === 'portForward') {
      throw badRequest(`Upgrade request required: port forwarding is served over WebSocket (${portForwardProtocolNames().join(', ')})`);
    }
    throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${req.method} ${req.url})`);
  }

  private async containerLogs(res: http.ServerResponse, namespace: string, pod: string, container: string, q: URLSearchParams): Promise<void> {
    const opts: LogOptions = {
      follow: flag(q, 'follow'),
      timestamps: flag(q, 'timestamps'),
      tailLines: integer(q, 'tailLines'),
      sinceSeconds: integer(q, 'sinceSeconds'),
      limitBytes: integer(q, 'limitBytes'),
    };
    const id = await this.opts.resolveContainer(namespace, pod, container, flag(q, 'previous'));
    const stream = await this.opts.runtime.logs(id, opts);
    if (res.destroyed) {
      stream.destroy();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    // A follow may be quiet for long: the client should see the 200 at once.
    res.flushHeaders();
    pipeLimited(stream, res, opts.limitBytes);
  }

  private async upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    if (!this.authorized(req)) throw unauthorized();
    const { segments, query } = splitUrl(req.url);
    if (segments.length === 3 && segments[0] === 'portForward') return this.upgradePortForward(req, socket, head, segments[1]!, segments[2]!, query);
    if (segments.length !== 4 || segments[0] !== 'exec') {
      throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${req.method} ${req.url})`);
    }
    if (!isWebSocketRequest(req)) {
      throw badRequest('exec is served over WebSocket only (v5.channel.k8s.io, v4.channel.k8s.io); SPDY is not supported');
    }
    const offered = offeredProtocols(req);
    const protocol = negotiateProtocol(offered);
    if (!protocol) {
      throw badRequest(`requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${supportedProtocolNames().join(' ')}]`);
    }
    const params = execParams(query);
    const id = await this.opts.resolveContainer(segments[1]!, segments[2]!, segments[3]!, false);
    if (socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.runExec(ws, protocol, id, params).catch((err) => {
        this.opts.log?.(`exec in container ${id} failed: ${(err as Error)?.stack ?? err}`);
        ws.terminate();
      });
    });
  }

  private async upgradePortForward(req: http.IncomingMessage, socket: Duplex, head: Buffer, namespace: string, pod: string, query: URLSearchParams): Promise<void> {
    if (!isWebSocketRequest(req)) {
      throw badRequest(`port forwarding is served over WebSocket only (${portForwardProtocolNames().join(', ')}); SPDY is not supported`);
    }
    const offered = offeredProtocols(req);
    const protocol = negotiatePortForwardProtocol(offered);
    if (!protocol) {
      throw badRequest(`requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${portForwardProtocolNames().join(' ')}]`);
    }
    let ports: number[];
    try {
      ports = parsePortList(query.getAll(AGENT_PORT_PARAM), AGENT_PORT_PARAM);
    } catch (err) {
      throw badRequest((err as Error).message);
    }
    const sandbox = await this.opts.resolveSandbox(namespace, pod);
    if (socket.destroyed) return;
    this.portForwardWss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => undefined);
      servePortForward(ws, protocol, ports, {
        fullName: `${pod}_${namespace}`,
        uid: sandbox.uid,
        dial: (port) => this.opts.runtime.portForward(sandbox.id, port),
      });
    });
  }

  /**
   * One exec session: stdin and resize messages in, stdout and stderr out,
   * then how the command ended on the error channel, then a normal close.
   */
  private async runExec(ws: WebSocket, protocol: StreamProtocol, containerId: string, p: ExecParams): Promise<void> {
    const send = (channel: number, payload: Buffer, sent?: () => void): void => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const { data, binary } = encodeFrame(protocol, channel, payload);
      ws.send(data, { binary }, sent);
    };
    // As the kubelet does: an empty message on the lowest writable channel tells the client the session is up.
    send(p.stdout ? Channel.stdout : p.stderr ? Channel.stderr : Channel.error, Buffer.alloc(0));

    // Messages may arrive while the runtime is still starting the command; they wait for it.
    let session: ExecSession | undefined;
    const early: Array<{ channel: number; payload: Buffer; close: boolean }> = [];
    const deliver = (frame: { channel: number; payload: Buffer; close: boolean }) => {
      if (!session) return void early.push(frame);
      if (frame.channel === Channel.stdin) {
        if (frame.close) session.stdin?.end();
        else if (p.stdin) session.stdin?.write(frame.payload);
      } else if (frame.channel === Channel.resize && p.tty && !frame.close) {
        try {
          const size = JSON.parse(frame.payload.toString('utf8'));
          session.resize(Number(size.Width), Number(size.Height)).catch(() => undefined);
        } catch {
          // a malformed resize is ignored, as the kubelet ignores it
        }
      }
    };
    ws.on('message', (data) => {
      const frame = decodeFrame(protocol, data);
      if (frame) deliver(frame);
    });
    // The client is gone: its stdin ends with it.
    ws.on('close', () => session?.stdin?.end());

    try {
      session = await this.opts.runtime.exec(containerId, p.command, { stdin: p.stdin, stdout: p.stdout, stderr: p.stderr, tty: p.tty });
    } catch (err) {
      this.sendStatus(ws, protocol, send, failureStatus(`error executing command in container: ${(err as Error)?.message ?? err}`));
      return;
    }
    if (!p.stdin) session.stdin?.end();
    for (const frame of early.splice(0)) deliver(frame);
    if (ws.readyState !== WebSocket.OPEN) session.stdin?.end();

    const outputs = Promise.all([
      pump(session.stdout, Channel.stdout, ws, send),
      p.tty ? Promise.resolve() : pump(session.stderr, Channel.stderr, ws, send),
    ]);
    let exitCode: number;
    try {
      exitCode = await session.exitCode;
    } catch (err) {
      this.sendStatus(ws, protocol, send, failureStatus(`error executing command in container: ${(err as Error)?.message ?? err}`));
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([outputs, new Promise((resolve) => (timer = setTimeout(resolve, OUTPUT_DRAIN_MS)))]);
    clearTimeout(timer);
    this.sendStatus(ws, protocol, send, exitStatus(exitCode, p.command));
  }

  /** Writes how the command ended on the error channel (v1: only failures, as text) and closes normally. */
  private sendStatus(ws: WebSocket, protocol: StreamProtocol, send: (ch: number, payload: Buffer) => void, status: ExecStatus): void {
    if (protocol.version >= 4) send(Channel.error, Buffer.from(JSON.stringify(status)));
    else if (status.status !== 'Success') send(Channel.error, Buffer.from(status.message ?? ''));
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  }

  private toApiError(err: unknown): ApiError {
    if (err instanceof ApiError) return err;
    this.opts.log?.(`agent server error: ${(err as Error)?.stack ?? err}`);
    return internalError((err as Error)?.message ?? String(err));
  }

  private respondError(res: http.ServerResponse, err: unknown): void {
    writeStatus(res, this.toApiError(err));
  }
}

interface ExecParams {
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** The metav1.Status of the error channel, as the kubelet writes it (no kind, apiVersion or code). */
interface ExecStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: Array<{ reason?: string; message: string }> };
  code?: number;
}

function exitStatus(exitCode: number, command: string[]): ExecStatus {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: NON_ZERO_EXIT_CODE_REASON,
    details: { causes: [{ reason: EXIT_CODE_CAUSE, message: String(exitCode) }] },
  };
}

/** apierrors.NewInternalError, as the kubelet reports a command it could not run. */
function failureStatus(message: string): ExecStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

function execParams(q: URLSearchParams): ExecParams {
  const tty = flag(q, 'tty');
  const params: ExecParams = {
    command: q.getAll('command'),
    stdin: flag(q, 'stdin'),
    stdout: flag(q, 'stdout'),
    // A terminal has one output stream: stderr is folded into stdout (the kubelet drops it too).
    stderr: flag(q, 'stderr') && !tty,
    tty,
  };
  if (!params.stdin && !params.stdout && !params.stderr) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
  if (params.command.length === 0) throw badRequest('you must specify at least one command for the container');
  return params;
}

/** Sends a runtime stream as messages on `channel`, pausing it while the client is behind; resolves when it ends. */
function pump(stream: Readable | undefined, channel: number, ws: WebSocket, send: (ch: number, payload: Buffer, sent?: () => void) => void): Promise<void> {
  if (!stream) return Promise.resolve();
  return new Promise((resolve) => {
    const resumeWhenDrained = () => {
      if (stream.isPaused() && ws.bufferedAmount < HIGH_WATER_BYTES / 2) stream.resume();
    };
    stream.on('data', (chunk: Buffer | string) => {
      send(channel, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk), resumeWhenDrained);
      if (ws.readyState === WebSocket.OPEN && ws.bufferedAmount > HIGH_WATER_BYTES) stream.pause();
    });
    // A client that went away must not leave the runtime's stream paused forever.
    ws.once('close', () => stream.resume());
    stream.once('end', () => resolve());
    stream.once('close', () => resolve());
    stream.once('error', () => resolve());
  });
}

/** Copies a log stream to the response, ending after `limitBytes` if set; a client that goes away ends the stream. */
function pipeLimited(stream: Readable, res: http.ServerResponse, limitBytes: number | undefined): void {
  let left = limitBytes ?? Infinity;
  const stop = () => stream.destroy();
  res.once('close', stop);
  stream.on('data', (chunk: Buffer | string) => {
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    if (buf.length >= left) {
      buf = buf.subarray(0, left);
      left = 0;
      res.end(buf);
      stop();
      return;
    }
    left -= buf.length;
    if (!res.write(buf)) {
      stream.pause();
      res.once('drain', () => stream.resume());
    }
  });
  stream.once('end', () => res.end());
  stream.once('error', () => res.destroy());
}

function splitUrl(url: string | undefined): { segments: string[]; query: URLSearchParams } {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  let segments: string[];
  try {
    segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw badRequest(`malformed percent-encoding in the request path ${JSON.stringify(path)}`);
  }
  return { segments, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

/** A boolean query parameter as Go's strconv.ParseBool reads the true values. */
function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && ['1', 't', 'true'].includes(v.toLowerCase());
}

function integer(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`${name}: invalid value "${v}": must be an integer`);
  return Number(v);
}
