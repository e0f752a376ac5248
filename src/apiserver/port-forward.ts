import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { onUpgradeRefused } from '../client/exec';
import {
  AGENT_PORT_PARAM,
  channelOf,
  encodeChannel,
  HALF_CLOSE_GRACE_MS,
  HIGH_WATER_BYTES,
  PORT_FORWARD_CLIENT_PROTOCOLS,
  portForwardProtocol,
  PortForwardReader,
} from '../client/port-forward';
import { RstStatus, SpdySession, type SpdyStream, type SpdyTransport } from './spdy';

/**
 * kubectl's port-forward at the API server. kubectl speaks SPDY/3.1 for it:
 * tunnelled in binary WebSocket messages (subprotocol
 * `SPDY/3.1+portforward.k8s.io`, kubectl 1.31+) or over a plain HTTP upgrade
 * (`Upgrade: SPDY/3.1`, older kubectl and the fallback). For every local
 * connection it opens a pair of streams, error then data, with the headers
 * `streamType`, `port` and `requestID`.
 *
 * mk terminates the SPDY session here and carries each stream pair to the
 * pod's agent as one pods/portforward WebSocket (see client/port-forward.ts),
 * the protocol agents speak: the data stream to channel 0, channel 1 to the
 * error stream, and the agent's close to FIN on both. (kube-apiserver instead
 * passes SPDY through to a kubelet that speaks it.) The stream-pair rules are
 * the kubelet's httpstream.go.
 */

/** The subprotocol of SPDY tunnelled over WebSocket, and the SPDY upgrade's protocol. */
export const SPDY_PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
export const SPDY_TUNNEL_PREFIX = 'SPDY/3.1+';
export const SPDY_UPGRADE = 'SPDY/3.1';

/** How long the first stream of a pair waits for the second (the kubelet's default stream creation timeout). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

interface StreamPair {
  requestId: string;
  data?: SpdyStream;
  error?: SpdyStream;
  timer?: NodeJS.Timeout;
}

export interface SpdyPortForwardTarget {
  /** The pod's name, for messages. */
  pod: string;
  /** `ws://host:port/portForward/{namespace}/{pod}` of the pod's agent, without the query. */
  agentUrl: string;
  /** The cluster token the agent requires. */
  token: string;
}

/**
 * Serves one SPDY port-forward session: pairs streams by request id and
 * forwards each complete pair through its own agent WebSocket. Returns a
 * function that ends the session and every forward under way.
 */
export function serveSpdyPortForward(session: SpdySession, target: SpdyPortForwardTarget): () => void {
  const pairs = new Map<string, StreamPair>();
  const upstreams = new Set<WebSocket>();

  const printError = (pair: StreamPair, message: string) => {
    pair.error?.write(Buffer.from(message));
  };

  session.on('stream', (stream: SpdyStream) => {
    const problem = invalidStreamHeaders(stream);
    if (problem) {
      // The kubelet's stream handler refuses such a stream outright.
      stream.reset(RstStatus.CANCEL);
      return;
    }
    stream.reply().catch(() => undefined);
    const requestId = requestIdOf(stream);
    let pair = pairs.get(requestId);
    if (!pair) {
      pair = { requestId };
      pairs.set(requestId, pair);
      const created = pair;
      created.timer = setTimeout(() => {
        pairs.delete(requestId);
        printError(created, `(conn=${target.pod}, request=${requestId}) timed out waiting for streams`);
        created.error?.end();
        created.data?.end();
      }, STREAM_CREATION_TIMEOUT_MS);
    }
    const kind = stream.header('streamType') === 'error' ? 'error' : 'data';
    if (pair[kind]) {
      printError(pair, `error processing stream for request ${requestId}: ${kind} stream already assigned`);
      stream.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    pair[kind] = stream;
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      pairs.delete(requestId);
      forwardPair(pair.data, pair.error, target, upstreams, session);
    }
  });

  const end = () => {
    for (const pair of pairs.values()) clearTimeout(pair.timer);
    pairs.clear();
    for (const ws of upstreams) ws.terminate();
    upstreams.clear();
  };
  session.once('close', end);
  return () => {
    session.close();
    end();
  };
}

/** Why a new stream is not a port-forward stream (the kubelet's httpStreamReceived), or undefined. */
function invalidStreamHeaders(stream: SpdyStream): string | undefined {
  const port = stream.header('port');
  if (!port) return '"port" header is required';
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return `unable to parse "${port}" as a port`;
  if (Number(port) < 1) return `port "${port}" must be > 0`;
  const type = stream.header('streamType');
  if (!type) return '"streamType" header is required';
  if (type !== 'error' && type !== 'data') return `invalid stream type "${type}"`;
  return undefined;
}

/**
 * The pair a stream belongs to. Clients too old to send `requestID` open
 * error then data streams with consecutive odd ids: the error stream's id
 * names the pair (the kubelet's best-effort rule).
 */
function requestIdOf(stream: SpdyStream): string {
  const id = stream.header('requestID');
  if (id) return id;
  return String(stream.header('streamType') === 'error' ? stream.id : stream.id - 2);
}

/** One forwarded connection: the stream pair spliced to an agent WebSocket. */
function forwardPair(dataStream: SpdyStream, errorStream: SpdyStream, target: SpdyPortForwardTarget, upstreams: Set<WebSocket>, session: SpdySession): void {
  const port = Number(dataStream.header('port'));
  const finish = () => {
    dataStream.end();
    errorStream.end();
  };
  const fail = (message: string) => {
    errorStream.write(Buffer.from(`error forwarding port ${port} to pod ${target.pod}: ${message}`));
    finish();
  };

  // Replies first: the client drops data on a stream it has not seen answered.
  Promise.all([dataStream.reply(), errorStream.reply()]).then(
    () => {
      if (dataStream.isClosed) {
        errorStream.end();
        return;
      }
      const ws = new WebSocket(`${target.agentUrl}?${AGENT_PORT_PARAM}=${port}`, PORT_FORWARD_CLIENT_PROTOCOLS, {
        headers: { Authorization: `Bearer ${target.token}` },
        perMessageDeflate: false,
      });
      upstreams.add(ws);
      const early: Buffer[] = [];
      let reader = new PortForwardReader(portForwardProtocol(''));
      let graceTimer: NodeJS.Timeout | undefined;
      let opened = false;
      let aborted = false;
      let pausedSession = false;

      const toAgent = (chunk: Buffer) => {
        const { data: msg, binary } = encodeChannel(reader.protocol, 0, chunk);
        ws.send(msg, { binary }, () => {
          if (pausedSession && ws.bufferedAmount < HIGH_WATER_BYTES / 2) {
            pausedSession = false;
            session.resume();
          }
        });
        // The agent is behind: stop reading the client (every stream of the session, as a TCP window would).
        if (ws.bufferedAmount > HIGH_WATER_BYTES && !pausedSession) {
          pausedSession = true;
          session.pause();
        }
      };
      const closeUpstream = () => {
        if (ws.readyState !== WebSocket.CONNECTING) return ws.close(1000);
        aborted = true;
        ws.terminate();
        finish();
      };
      dataStream.on('data', (chunk: Buffer) => {
        if (ws.readyState === WebSocket.OPEN) toAgent(chunk);
        else if (ws.readyState === WebSocket.CONNECTING) early.push(chunk);
      });
      // The client stopped sending: the pod gets a moment to answer, then the connection ends (the agent cannot half-close).
      dataStream.once('end', () => {
        graceTimer = setTimeout(closeUpstream, HALF_CLOSE_GRACE_MS);
      });
      dataStream.once('reset', () => {
        aborted = true;
        ws.terminate();
      });

      onUpgradeRefused(ws, target.agentUrl, (err) => {
        fail(err.message);
        ws.terminate();
      });
      ws.on('error', (err) => {
        if (!opened && !aborted) fail(`error dialing backend: ${err.message}`);
      });
      ws.on('open', () => {
        opened = true;
        reader = new PortForwardReader(portForwardProtocol(ws.protocol));
        for (const chunk of early.splice(0)) toAgent(chunk);
      });
      ws.on('message', (msg) => {
        const frame = reader.read(msg);
        if (!frame) return;
        const { index, error } = channelOf(frame.channel);
        if (index !== 0) return;
        if (error) {
          errorStream.write(frame.payload);
          return;
        }
        dataStream.write(frame.payload, () => {
          if (ws.isPaused && session.bufferedAmount < HIGH_WATER_BYTES / 2) ws.resume();
        });
        if (session.bufferedAmount > HIGH_WATER_BYTES) ws.pause();
      });
      ws.on('close', () => {
        clearTimeout(graceTimer);
        upstreams.delete(ws);
        if (pausedSession) session.resume();
        if (opened) finish();
      });
    },
    () => undefined,
  );
}

/** A session over an upgraded socket (`Upgrade: SPDY/3.1`). */
export function socketTransport(socket: Duplex): SpdyTransport {
  return {
    write: (data, sent) => {
      if (!socket.writable) return;
      socket.write(data, sent ? () => sent() : undefined);
    },
    get bufferedAmount() {
      return socket.writableLength;
    },
    end: () => socket.end(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  };
}

/** A session tunnelled in binary WebSocket messages (client-go's TunnelingConnection). */
export function webSocketTransport(ws: WebSocket): SpdyTransport {
  return {
    write: (data, sent) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(data, { binary: true }, sent ? () => sent() : undefined);
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    end: () => ws.close(1000),
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
}

/** Starts a session on an upgraded socket: the 101 answer, then frames both ways. */
export function spdyOverSocket(socket: Socket | Duplex, head: Buffer, protocol: string | undefined): SpdySession {
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Connection: Upgrade\r\n' +
      `Upgrade: ${SPDY_UPGRADE}\r\n` +
      (protocol ? `X-Stream-Protocol-Version: ${protocol}\r\n` : '') +
      '\r\n',
  );
  const session = new SpdySession(socketTransport(socket));
  socket.on('data', (chunk: Buffer) => session.receive(chunk));
  socket.once('close', () => session.transportClosed());
  socket.once('end', () => session.close());
  if (head.length) session.receive(head);
  return session;
}

/** Starts a session on an accepted WebSocket whose subprotocol is SPDY_TUNNEL_PREFIX + portforward. */
export function spdyOverWebSocket(ws: WebSocket): SpdySession {
  const session = new SpdySession(webSocketTransport(ws));
  ws.on('message', (msg) => session.receive(Array.isArray(msg) ? Buffer.concat(msg) : Buffer.isBuffer(msg) ? msg : Buffer.from(msg)));
  ws.once('close', () => session.transportClosed());
  return session;
}
