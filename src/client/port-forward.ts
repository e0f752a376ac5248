import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { lookupResource } from '../api/registry';
import { ApiStatusError, ConnectionError, resourcePath, type ApiClientOptions } from './api-client';
import { decodeFrame, encodeFrame, onUpgradeRefused, type StreamProtocol } from './exec';

/**
 * pods/portforward over WebSocket, as the kubelet serves it (k8s.io
 * kubelet/cri/streaming/portforward/websocket.go) and the API server proxies
 * it. This file holds the wire format all three ends share (the agent, the
 * API server's proxy and this client) plus the client.
 *
 * The request names its ports up front (`?ports=8080,9090` at the API
 * server, `?port=` at the agent); the i-th port gets data channel 2i and
 * error channel 2i+1, each message being the channel byte and its payload
 * (exec's framing, see client/exec.ts). The server's first message on each
 * channel carries the port as 2 little-endian bytes; after that the data
 * channel carries the TCP stream both ways and the error channel, server to
 * client only, the text of what went wrong. The server closes the WebSocket
 * once every port's connection has ended: one WebSocket forwards one TCP
 * connection per port, so a client opens one per accepted connection.
 */

/** The subprotocols the kubelet accepts for port forwarding; a client that offers none gets binary channels. */
const PROTOCOLS: StreamProtocol[] = [
  { name: 'v4.channel.k8s.io', version: 4, base64: false },
  { name: 'v4.base64.channel.k8s.io', version: 4, base64: true },
];
const NO_PROTOCOL: StreamProtocol = { name: '', version: 4, base64: false };

/** What mk's client offers. */
export const PORT_FORWARD_CLIENT_PROTOCOLS = ['v4.channel.k8s.io'];

/** The API server's query parameter (PodPortForwardOptions.ports) and the kubelet's (`port`). */
export const PORTS_PARAM = 'ports';
export const AGENT_PORT_PARAM = 'port';

/**
 * How long the other direction of a forwarded connection may still run once
 * one direction has ended, as containerd (after socat) allows, before the
 * connection is closed.
 */
export const HALF_CLOSE_GRACE_MS = 1000;

/** Past this many unsent bytes on one side, reading from the other pauses. */
export const HIGH_WATER_BYTES = 1024 * 1024;

/** The server's choice among what a client offers: the first offered one it supports. Undefined: none supported. */
export function negotiatePortForwardProtocol(offered: string[]): StreamProtocol | undefined {
  if (offered.length === 0) return NO_PROTOCOL;
  for (const name of offered) {
    const p = PROTOCOLS.find((x) => x.name === name);
    if (p) return p;
  }
  return undefined;
}

export function portForwardProtocolNames(): string[] {
  return PROTOCOLS.map((p) => p.name);
}

/** The protocol a negotiated subprotocol name stands for ('' for none). */
export function portForwardProtocol(name: string): StreamProtocol {
  return PROTOCOLS.find((p) => p.name === name) ?? NO_PROTOCOL;
}

/**
 * The ports of a request: every value of the parameter, each a
 * comma-separated list of 1..65535 (kubelet NewV4Options). Throws an Error
 * whose message is the kubelet's, for the caller to answer 400 with.
 */
export function parsePortList(values: string[], param: string): number[] {
  if (values.length === 0) throw new Error(`query parameter "${param}" is required`);
  const ports: number[] = [];
  for (const value of values) {
    if (value === '') throw new Error(`query parameter "${param}" cannot be empty`);
    for (const p of value.split(',')) {
      const port = /^\d{1,5}$/.test(p) ? Number(p) : NaN;
      if (!(port <= 65535)) throw new Error(`unable to parse "${value}" as a port: strconv.ParseUint: parsing "${p}": invalid syntax`);
      if (port < 1) throw new Error(`port "${value}" must be > 0`);
      ports.push(port);
    }
  }
  return ports;
}

/** The port as the first message of each channel carries it. */
export function portPrefix(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(port);
  return b;
}

/** Which port (by index in the request) and which of its two channels a channel number is. */
export function channelOf(channel: number): { index: number; error: boolean } {
  return { index: channel >> 1, error: (channel & 1) === 1 };
}

/** One message on a channel (`channel` per channelOf). */
export function encodeChannel(protocol: StreamProtocol, channel: number, payload: Buffer): { data: Buffer | string; binary: boolean } {
  return encodeFrame(protocol, channel, payload);
}

/**
 * Reads a server's messages: drops the 2-byte port prefix at the start of
 * each channel (however the bytes are split across messages) and returns
 * what remains, or undefined when nothing does.
 */
export class PortForwardReader {
  private readonly prefixLeft = new Map<number, number>();

  constructor(readonly protocol: StreamProtocol) {}

  read(data: RawData): { channel: number; payload: Buffer } | undefined {
    const frame = decodeFrame(this.protocol, data);
    if (!frame) return undefined;
    const left = this.prefixLeft.get(frame.channel) ?? 2;
    let payload = frame.payload;
    if (left > 0) {
      const skip = Math.min(left, payload.length);
      this.prefixLeft.set(frame.channel, left - skip);
      payload = payload.subarray(skip);
    }
    return payload.length ? { channel: frame.channel, payload } : undefined;
  }
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

export interface PortForwardTarget {
  namespace: string;
  pod: string;
}

export interface ForwardResult {
  /** What the server wrote on the error channel (the connection to the pod's port failed or broke). */
  error?: string;
}

/**
 * Forwards one accepted connection to `port` in the pod over its own
 * WebSocket, and resolves once both are closed. Rejects with ApiStatusError
 * when the API server refuses (no such pod, no node yet, unauthorized) and
 * ConnectionError when it cannot be reached; `socket` is destroyed then.
 */
export function forwardConnection(config: ApiClientOptions, target: PortForwardTarget, port: number, socket: Duplex): Promise<ForwardResult> {
  const base = new URL(config.server);
  const pods = lookupResource('', 'v1', 'pods')!;
  const url = new URL(`${base.pathname.replace(/\/$/, '')}${resourcePath(pods, target.namespace, target.pod, 'portforward')}?${PORTS_PARAM}=${port}`, base);
  url.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  const headers: Record<string, string> = { 'User-Agent': config.userAgent ?? 'mk/0.1.0' };
  if (config.token) headers.Authorization = `Bearer ${config.token}`;

  // Nothing is read from the local side until the tunnel is up.
  socket.pause();
  const ws = new WebSocket(url, PORT_FORWARD_CLIENT_PROTOCOLS, {
    headers,
    ca: config.caData,
    cert: config.clientCertData,
    key: config.clientKeyData,
    rejectUnauthorized: !config.insecureSkipTLSVerify,
    perMessageDeflate: false,
  });

  return new Promise<ForwardResult>((resolve, reject) => {
    let protocol = NO_PROTOCOL;
    let reader = new PortForwardReader(protocol);
    const errorText: Buffer[] = [];
    let opened = false;
    let settled = false;
    let graceTimer: NodeJS.Timeout | undefined;

    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };

    onUpgradeRefused(ws, config.server, fail);
    ws.on('error', (err) => {
      if (!opened) fail(new ConnectionError(config.server, err));
    });

    ws.on('open', () => {
      opened = true;
      protocol = portForwardProtocol(ws.protocol);
      reader = new PortForwardReader(protocol);
      socket.on('data', (chunk: Buffer) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        const { data, binary } = encodeChannel(protocol, 0, chunk);
        ws.send(data, { binary }, () => {
          if (socket.isPaused() && ws.bufferedAmount < HIGH_WATER_BYTES / 2) socket.resume();
        });
        if (ws.bufferedAmount > HIGH_WATER_BYTES) socket.pause();
      });
      // The local side is done sending: the pod gets a moment to answer, then the connection ends (v4 cannot half-close).
      socket.once('end', () => {
        graceTimer = setTimeout(() => ws.close(1000), HALF_CLOSE_GRACE_MS);
      });
      socket.resume();
    });

    ws.on('message', (data) => {
      const frame = reader.read(data);
      if (!frame) return;
      const { index, error } = channelOf(frame.channel);
      if (index !== 0) return;
      if (error) {
        errorText.push(Buffer.from(frame.payload));
        return;
      }
      if (!socket.write(frame.payload)) {
        ws.pause();
        socket.once('drain', () => ws.resume());
      }
    });

    ws.on('close', () => {
      clearTimeout(graceTimer);
      if (settled) return;
      settled = true;
      socket.end();
      const message = Buffer.concat(errorText).toString('utf8');
      resolve(message ? { error: message } : {});
    });

    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(graceTimer);
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      if (ws.readyState !== WebSocket.CONNECTING) return;
      // The local client gave up before the tunnel was up: nothing went wrong on the pod's side.
      settled = true;
      resolve({});
      ws.terminate();
    });
  });
}

// ---------------------------------------------------------------------------
// Local listeners (client-go's PortForwarder)
// ---------------------------------------------------------------------------

/** A local port and the pod port it forwards to; local 0 picks a free one. */
export interface ForwardedPort {
  local: number;
  remote: number;
}

export interface Listening {
  /** The address as printed: `127.0.0.1:8080`, `[::1]:8080`. */
  address: string;
  local: number;
  remote: number;
}

export interface PortForwarderEvents {
  /** A local connection was accepted for this port. */
  onConnection?(port: ForwardedPort): void;
  /** Forwarding a connection failed (the server's error-channel text, or a refused request). */
  onError?(port: ForwardedPort, message: string): void;
}

interface ListenAddress {
  host: string;
  /** 'all': fine to fail as long as another 'all' address works (localhost's two); 'any': must not fail. */
  failureMode: 'all' | 'any';
}

/**
 * kubectl's --address values: IP addresses, and `localhost` for both
 * 127.0.0.1 and ::1 (either may fail to bind as long as one works).
 * Throws an Error for anything else.
 */
export function parseListenAddresses(values: string[]): ListenAddress[] {
  const out: ListenAddress[] = [];
  const seen = new Set<string>();
  const add = (host: string, failureMode: ListenAddress['failureMode']) => {
    if (seen.has(host)) return;
    seen.add(host);
    out.push({ host, failureMode });
  };
  for (const value of values) {
    if (value === 'localhost') {
      add('127.0.0.1', 'all');
      add('::1', 'all');
    } else if (net.isIP(value)) {
      add(value, 'any');
    } else {
      throw new Error(`${value} is not a valid IP`);
    }
  }
  return out;
}

/**
 * kubectl's `[LOCAL:]REMOTE` port arguments (client-go parsePorts): `8080`
 * (same port locally), `8080:80`, `:80` and `0:80` (a free local port).
 * Throws an Error with client-go's message for a bad one.
 */
export function parseForwardedPorts(specs: string[]): ForwardedPort[] {
  const uint16 = (s: string): number | undefined => (/^\d{1,5}$/.test(s) && Number(s) <= 65535 ? Number(s) : undefined);
  return specs.map((spec) => {
    const parts = spec.split(':');
    if (parts.length > 2) throw new Error(`invalid port format '${spec}'`);
    const localString = parts.length === 1 ? parts[0]! : parts[0] || '0';
    const remoteString = parts.length === 1 ? parts[0]! : parts[1]!;
    const local = uint16(localString);
    if (local === undefined) throw new Error(`error parsing local port '${localString}': strconv.ParseUint: parsing "${localString}": invalid syntax`);
    const remote = uint16(remoteString);
    if (remote === undefined) throw new Error(`error parsing remote port '${remoteString}': strconv.ParseUint: parsing "${remoteString}": invalid syntax`);
    if (remote === 0) throw new Error('remote port must be > 0');
    return { local, remote };
  });
}

/**
 * Listens on local ports and forwards each accepted connection to the pod
 * over its own WebSocket, as kubectl port-forward does with a stream pair
 * per connection.
 */
export class PortForwarder {
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly config: ApiClientOptions,
    private readonly target: PortForwardTarget,
    private readonly addresses: ListenAddress[],
    private readonly events: PortForwarderEvents = {},
  ) {}

  /**
   * Starts a listener per port and address. A port whose listeners fail is
   * reported in `failed` (client-go's "Unable to listen on port"); throws
   * when no port could be listened on at all.
   */
  async listen(ports: ForwardedPort[]): Promise<{ listening: Listening[]; failed: Array<{ port: ForwardedPort; message: string }> }> {
    const listening: Listening[] = [];
    const failed: Array<{ port: ForwardedPort; message: string }> = [];
    for (const requested of ports) {
      // A free port picked on the first address is kept for the next ones, as client-go does.
      const port = { ...requested };
      const errors: string[] = [];
      let failedAll = 0;
      let okAll = 0;
      let failedAny = 0;
      const opened: Listening[] = [];
      for (const addr of this.addresses) {
        try {
          const server = await this.listenOn(addr.host, port);
          port.local = (server.address() as net.AddressInfo).port;
          opened.push({ address: joinHostPort(addr.host, port.local), local: port.local, remote: port.remote });
          if (addr.failureMode === 'all') okAll++;
        } catch (err) {
          errors.push(`unable to create listener: Error listen tcp${net.isIPv6(addr.host) ? '6' : '4'} ${joinHostPort(addr.host, port.local)}: ${(err as Error).message}`);
          if (addr.failureMode === 'all') failedAll++;
          else failedAny++;
        }
      }
      if ((okAll === 0 && failedAll > 0) || failedAny > 0) {
        failed.push({ port: requested, message: `Listeners failed to create with the following errors: [${errors.join(' ')}]` });
      } else {
        listening.push(...opened);
      }
    }
    if (listening.length === 0) {
      await this.close();
      throw new Error(`unable to listen on any of the requested ports: [${ports.map((p) => `{${p.local} ${p.remote}}`).join(' ')}]`);
    }
    return { listening, failed };
  }

  /** Stops listening and ends every forwarded connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.servers.length = 0;
  }

  private listenOn(host: string, port: ForwardedPort): Promise<net.Server> {
    // allowHalfOpen: a client that stops sending may still be waiting for the answer.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket, port));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port.local, host, () => {
        server.removeListener('error', reject);
        this.servers.push(server);
        resolve(server);
      });
    });
  }

  private accept(socket: net.Socket, port: ForwardedPort): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.events.onConnection?.(port);
    forwardConnection(this.config, this.target, port.remote, socket).then(
      (result) => {
        if (result.error) this.events.onError?.(port, result.error);
      },
      (err: Error) => this.events.onError?.(port, err.message),
    );
  }
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
