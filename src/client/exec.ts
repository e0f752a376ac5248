import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { lookupResource } from '../api/registry';
import type { Status } from '../api/types';
import { ApiStatusError, ConnectionError, resourcePath, type ApiClientOptions } from './api-client';

/**
 * Kubernetes' remote command protocol over WebSocket (exec; attach would
 * reuse it), as k8s.io/apimachinery's wsstream and remotecommand packages
 * define it. This file holds the wire format that all three ends share (the
 * agent's server, the API server's proxy, and this client) plus the client.
 *
 * Every message is one channel byte followed by the payload: 0 stdin,
 * 1 stdout, 2 stderr, 3 error (how the command ended), 4 resize
 * (`{"Width":80,"Height":24}`). The base64 variants send text messages with
 * the channel as an ASCII digit and the payload base64-encoded.
 *
 * - `channel.k8s.io` (v1): the error channel carries a plain-text message, and nothing on success.
 * - `v4.channel.k8s.io`: the error channel carries a metav1.Status; a
 *   non-zero exit is reason NonZeroExitCode with the code in an ExitCode cause.
 * - `v5.channel.k8s.io`: v4 plus the CLOSE signal `[255, channel]`, with
 *   which a client half-closes stdin (so `echo x | kubectl exec -i -- cat` ends).
 */

export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;
/** v5's CLOSE signal: `[CLOSE_SIGNAL, channel]` half-closes that channel. */
export const CLOSE_SIGNAL = 255;

export const NON_ZERO_EXIT_CODE_REASON = 'NonZeroExitCode';
export const EXIT_CODE_CAUSE = 'ExitCode';

export interface StreamProtocol {
  name: string;
  /** 1 for the pre-v4 protocols (plain-text error channel). */
  version: 1 | 4 | 5;
  base64: boolean;
}

const PROTOCOLS: StreamProtocol[] = [
  { name: 'v5.channel.k8s.io', version: 5, base64: false },
  { name: 'v5.base64.channel.k8s.io', version: 5, base64: true },
  { name: 'v4.channel.k8s.io', version: 4, base64: false },
  { name: 'v4.base64.channel.k8s.io', version: 4, base64: true },
  { name: 'channel.k8s.io', version: 1, base64: false },
  { name: 'base64.channel.k8s.io', version: 1, base64: true },
];
const byName = new Map(PROTOCOLS.map((p) => [p.name, p]));

/** What a client that names no subprotocol gets: binary channels, v1 semantics (wsstream's "" entry). */
const NO_PROTOCOL: StreamProtocol = { name: '', version: 1, base64: false };

/** What mk's client offers, best first (kubectl 1.30+ offers v5 alone). */
export const CLIENT_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

/** The subprotocols a request offers (`Sec-WebSocket-Protocol`, comma-separated, possibly repeated). */
export function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  if (!raw) return [];
  return (Array.isArray(raw) ? raw.join(',') : raw).split(',').map((p) => p.trim()).filter(Boolean);
}

/**
 * The server's choice among what a client offers: the first offered one it
 * supports, in the client's order, as Kubernetes' handshake picks. `NO_PROTOCOL`
 * when the client offered none; undefined when it offered only unknown ones.
 */
export function negotiateProtocol(offered: string[]): StreamProtocol | undefined {
  if (offered.length === 0) return NO_PROTOCOL;
  for (const name of offered) {
    const p = byName.get(name);
    if (p) return p;
  }
  return undefined;
}

export function supportedProtocolNames(): string[] {
  return PROTOCOLS.map((p) => p.name);
}

export function protocolByName(name: string): StreamProtocol {
  return byName.get(name) ?? NO_PROTOCOL;
}

/** One message: the channel and the payload. */
export function encodeFrame(protocol: StreamProtocol, channel: number, payload: Buffer): { data: Buffer | string; binary: boolean } {
  if (protocol.base64) return { data: String.fromCharCode(48 + channel) + payload.toString('base64'), binary: false };
  const frame = Buffer.allocUnsafe(payload.length + 1);
  frame[0] = channel;
  payload.copy(frame, 1);
  return { data: frame, binary: true };
}

/** A received message as channel + payload; `close` is v5's CLOSE signal for `channel`. Undefined for an empty message. */
export function decodeFrame(protocol: StreamProtocol, data: RawData): { channel: number; payload: Buffer; close: boolean } | undefined {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (buf.length === 0) return undefined;
  if (protocol.base64) {
    return { channel: buf[0]! - 48, payload: Buffer.from(buf.subarray(1).toString('latin1'), 'base64'), close: false };
  }
  if (protocol.version === 5 && buf[0] === CLOSE_SIGNAL) {
    return buf.length === 2 ? { channel: buf[1]!, payload: Buffer.alloc(0), close: true } : undefined;
  }
  return { channel: buf[0]!, payload: buf.subarray(1), close: false };
}

/**
 * Refuses a WebSocket handshake with a Status body and its HTTP code, on the
 * raw socket an 'upgrade' event hands over. Clients read it as they read any
 * API error (client-go's dialer, and `unexpected-response` below).
 */
export function rejectHandshake(socket: Duplex, status: Status): void {
  if (socket.destroyed) return;
  socket.on('error', () => undefined);
  const body = JSON.stringify(status);
  socket.end(
    `HTTP/1.1 ${status.code} ${STATUS_CODES[status.code] ?? ''}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/** Whether a request asks to become a WebSocket (GET with `Upgrade: websocket`), not SPDY or anything else. */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  return req.method === 'GET' && String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

export interface ExecTarget {
  namespace: string;
  pod: string;
  /** Required by the server when the pod has more than one container. */
  container?: string;
  command: string[];
  stdin?: boolean;
  /** Defaults to true. */
  stdout?: boolean;
  /** Defaults to true, and false with a tty (a terminal has one output stream). */
  stderr?: boolean;
  tty?: boolean;
}

/** The terminal of an interactive session: its size now, and a way to hear about changes. */
export interface TerminalSize {
  size(): { width: number; height: number } | undefined;
  /** Calls `listener` after each resize; returns the unsubscribe function. */
  onResize(listener: () => void): () => void;
}

export interface ExecIO {
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** With a tty: where resize messages come from. */
  terminal?: TerminalSize;
}

export interface ExecOptions {
  /** The subprotocols to offer, best first; CLIENT_PROTOCOLS by default. */
  protocols?: string[];
}

/**
 * Runs a command in a pod's container over the API server's pods/exec
 * WebSocket and resolves with its exit code once the server closes the
 * session. Throws ApiStatusError when the server refuses (pod not found,
 * bad container, unauthorized) or reports a failure other than a non-zero
 * exit, and ConnectionError when the server cannot be reached.
 *
 * With the v4 protocol the end of `io.stdin` cannot be signalled, so a
 * command that reads stdin to its end keeps running (as with kubectl).
 */
export function execInPod(config: ApiClientOptions, target: ExecTarget, io: ExecIO = {}, opts: ExecOptions = {}): Promise<number> {
  const tty = !!target.tty;
  const wantStdout = target.stdout ?? true;
  const wantStderr = tty ? false : (target.stderr ?? true);
  const wantStdin = !!target.stdin && !!io.stdin;

  const base = new URL(config.server);
  const params = new URLSearchParams();
  for (const arg of target.command) params.append('command', arg);
  if (target.container) params.set('container', target.container);
  if (wantStdin) params.set('stdin', 'true');
  if (wantStdout) params.set('stdout', 'true');
  if (wantStderr) params.set('stderr', 'true');
  if (tty) params.set('tty', 'true');
  const pods = lookupResource('', 'v1', 'pods')!;
  const url = new URL(`${base.pathname.replace(/\/$/, '')}${resourcePath(pods, target.namespace, target.pod, 'exec')}?${params}`, base);
  url.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';

  const headers: Record<string, string> = { 'User-Agent': config.userAgent ?? 'mk/0.1.0' };
  if (config.token) headers.Authorization = `Bearer ${config.token}`;
  const ws = new WebSocket(url, opts.protocols ?? CLIENT_PROTOCOLS, {
    headers,
    ca: config.caData,
    cert: config.clientCertData,
    key: config.clientKeyData,
    rejectUnauthorized: !config.insecureSkipTLSVerify,
    perMessageDeflate: false,
  });

  return new Promise<number>((resolve, reject) => {
    let protocol = NO_PROTOCOL;
    const errorChannel: Buffer[] = [];
    const cleanups: Array<() => void> = [];
    let settled = false;
    const finish = (err: unknown, code?: number) => {
      if (settled) return;
      settled = true;
      for (const c of cleanups) c();
      if (err) reject(err);
      else resolve(code!);
    };
    const send = (channel: number, payload: Buffer) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const { data, binary } = encodeFrame(protocol, channel, payload);
      ws.send(data, { binary });
    };

    onUpgradeRefused(ws, config.server, finish);
    ws.on('error', (err) => finish(new ConnectionError(config.server, err)));

    ws.on('open', () => {
      protocol = protocolByName(ws.protocol);
      if (wantStdin) {
        const stdin = io.stdin!;
        const onData = (chunk: Buffer | string) => send(Channel.stdin, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        const onEnd = () => {
          if (protocol.version >= 5) ws.send(Buffer.from([CLOSE_SIGNAL, Channel.stdin]));
        };
        stdin.on('data', onData);
        stdin.once('end', onEnd);
        stdin.resume();
        cleanups.push(() => {
          stdin.removeListener('data', onData);
          stdin.removeListener('end', onEnd);
          stdin.pause();
        });
      }
      if (tty && io.terminal) {
        const sendSize = () => {
          const size = io.terminal!.size();
          if (size) send(Channel.resize, Buffer.from(JSON.stringify({ Width: size.width, Height: size.height })));
        };
        sendSize();
        cleanups.push(io.terminal.onResize(sendSize));
      }
    });

    ws.on('message', (data) => {
      const frame = decodeFrame(protocol, data);
      if (!frame || frame.close) return;
      let out: NodeJS.WritableStream | undefined;
      if (frame.channel === Channel.stdout) out = io.stdout;
      else if (frame.channel === Channel.stderr) out = io.stderr;
      else if (frame.channel === Channel.error) errorChannel.push(Buffer.from(frame.payload));
      if (out && frame.payload.length && !out.write(frame.payload)) {
        // A slow reader (a pipe) holds the session back rather than buffering without bound.
        ws.pause();
        out.once('drain', () => ws.resume());
      }
    });

    ws.on('close', (code, reason) => {
      const message = Buffer.concat(errorChannel).toString('utf8');
      try {
        if (message) return finish(undefined, exitCodeOf(protocol, message));
        if (code === 1000 || code === 1005) return finish(undefined, 0);
        finish(new Error(`the exec session closed unexpectedly (WebSocket code ${code}${reason.length ? `: ${reason}` : ''})`));
      } catch (err) {
        finish(err);
      }
    });
  });
}

/** The exit code an error-channel message reports; throws for a failure that is not an exit code. */
function exitCodeOf(protocol: StreamProtocol, message: string): number {
  if (protocol.version === 1) {
    // v1 sends only failures, as text: "command terminated with non-zero exit code: ..., exit code 3".
    const m = /exit code (\d+)\s*$/.exec(message);
    if (m) return Number(m[1]);
    throw new Error(message);
  }
  let status: Partial<Status>;
  try {
    status = JSON.parse(message);
  } catch {
    throw new Error(`error stream protocol error: ${message}`);
  }
  if (status.status === 'Success') return 0;
  if (status.reason === NON_ZERO_EXIT_CODE_REASON) {
    const cause = status.details?.causes?.find((c) => c.reason === EXIT_CODE_CAUSE);
    const code = Number(cause?.message);
    if (!cause || !Number.isInteger(code)) throw new Error(`error stream protocol error: no valid ${EXIT_CODE_CAUSE} cause in ${message}`);
    return code;
  }
  throw new ApiStatusError({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: status.message ?? message,
    reason: status.reason,
    details: status.details,
    code: status.code ?? 500,
  });
}

/**
 * When the server answers a WebSocket upgrade with an ordinary HTTP response
 * (a 404 for an unknown pod, a 400 for a bad request), hands `fail` the
 * Status it carried as an ApiStatusError, as any other request would.
 */
export function onUpgradeRefused(ws: WebSocket, server: string, fail: (err: Error) => void): void {
  ws.on('unexpected-response', (_req, res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: the text is the message
      }
      fail(ApiStatusError.fromResponse(res.statusCode ?? 0, body));
    });
    res.on('error', (err) => fail(new ConnectionError(server, err)));
  });
}
