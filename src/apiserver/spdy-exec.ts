import { WebSocket, type RawData } from 'ws';
import type { Status } from '../api/types';
import { Channel, CLOSE_SIGNAL, decodeFrame, encodeFrame, onUpgradeRefused, protocolByName } from '../client/exec';
import { RstStatus, type SpdySession, type SpdyStream } from './spdy';

/**
 * kubectl's exec over SPDY/3.1 (`Upgrade: SPDY/3.1`), which kubectl before
 * 1.30 always speaks and later releases fall back to, served at the API
 * server. The client opens one stream per channel, named by its
 * `streamType` header: `error`, then `stdin`, `stdout`, `stderr` as the
 * request asked for them, and `resize` (JSON TerminalSize objects, one
 * after another) with a tty. The session starts once all of them are open,
 * and ends with the command: the error stream carries how it ended, then
 * every stream is finished and the connection closed (the kubelet's
 * cri/streaming/remotecommand httpstream.go and exec.go).
 *
 * Protocols (X-Stream-Protocol-Version), newest first:
 * - `v4.channel.k8s.io`: the error stream carries a metav1.Status, also on
 *   success; a non-zero exit is reason NonZeroExitCode with an ExitCode cause.
 * - `v3.channel.k8s.io`: v2 plus the resize stream.
 * - `v2.channel.k8s.io`: the error stream carries the failure's message as
 *   text, and nothing on success.
 * - `channel.k8s.io` (v1, also a client that names none): v2, with the
 *   1.0 kubelet's quirks kept: stdin is closed from the server side at once.
 *
 * As for port-forward (port-forward.ts), mk ends SPDY here and carries the
 * session to the pod's agent as a `v5.channel.k8s.io` exec WebSocket, whose
 * CLOSE signal passes on the client's end of stdin.
 */

export const SPDY_EXEC_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
/** What the agent is asked for: v5, the one that can say stdin has ended. */
const AGENT_PROTOCOL = protocolByName('v5.channel.k8s.io');

/** How long the client has to open all its streams (the kubelet's default stream creation timeout). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;
/** Past this many unsent bytes on one side, reading from the other pauses. */
const HIGH_WATER_BYTES = 1024 * 1024;

export interface SpdyExecOptions {
  stdin: boolean;
  stdout: boolean;
  /** Already false with a tty: a terminal has one output stream. */
  stderr: boolean;
  tty: boolean;
}

export interface SpdyExecTarget {
  /** `ws://host:port/exec/{namespace}/{pod}/{container}?command=...&stdin=1...` of the pod's agent. */
  agentUrl: string;
  /** The cluster token the agent requires. */
  token: string;
}

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/**
 * The version of an X-Stream-Protocol-Version value: 4, 3, 2, or 1 for
 * `channel.k8s.io` and for a client that named none ('').
 */
export function spdyExecVersion(protocol: string): 1 | 2 | 3 | 4 {
  const m = /^v([234])\.channel\.k8s\.io$/.exec(protocol);
  return m ? (Number(m[1]) as 2 | 3 | 4) : 1;
}

/**
 * Serves one exec session on an upgraded SPDY connection. Returns a
 * function that ends it (the session and the agent's WebSocket).
 */
export function serveSpdyExec(session: SpdySession, protocol: string, opts: SpdyExecOptions, target: SpdyExecTarget): () => void {
  const version = spdyExecVersion(protocol);
  const expected = 1 + Number(opts.stdin) + Number(opts.stdout) + Number(opts.stderr) + Number(opts.tty && version >= 3);
  const exec = new SpdyExec(session, version, target);
  let started = false;

  const timer = setTimeout(() => session.close(), STREAM_CREATION_TIMEOUT_MS);
  session.on('stream', (stream: SpdyStream) => {
    const type = stream.header('streamType');
    if (started || !isStreamType(type) || exec.has(type)) {
      // The kubelet answers such a stream but never uses it; refusing it says the same sooner.
      stream.reset(RstStatus.REFUSED_STREAM);
      return;
    }
    if (exec.add(type, stream) < expected) return;
    started = true;
    clearTimeout(timer);
    exec.start();
  });
  session.once('close', () => {
    clearTimeout(timer);
    exec.abort();
  });
  return () => {
    session.close();
    exec.abort();
  };
}

function isStreamType(type: string | undefined): type is StreamType {
  return type === 'error' || type === 'stdin' || type === 'stdout' || type === 'stderr' || type === 'resize';
}

/**
 * One exec: the client's streams spliced to an agent exec WebSocket. Input
 * (stdin, resize) is taken from the moment its stream opens and held until
 * the agent answers; output goes out only once every stream is answered.
 */
class SpdyExec {
  private readonly streams: Partial<Record<StreamType, SpdyStream>> = {};
  private readonly replies: Array<Promise<void>> = [];
  /** Frames for the agent from before its WebSocket opened. */
  private readonly early: Buffer[] = [];
  private ws?: WebSocket;
  private opened = false;
  private finished = false;
  private statusWritten = false;
  private pausedSession = false;

  constructor(
    private readonly session: SpdySession,
    private readonly version: 1 | 2 | 3 | 4,
    private readonly target: SpdyExecTarget,
  ) {}

  has(type: StreamType): boolean {
    return !!this.streams[type];
  }

  /** Takes a stream and answers it; returns how many the exec has. */
  add(type: StreamType, stream: SpdyStream): number {
    this.streams[type] = stream;
    this.replies.push(stream.reply());
    if (type === 'stdin') {
      stream.on('data', (chunk: Buffer) => this.toAgent(encodeFrame(AGENT_PROTOCOL, Channel.stdin, chunk).data as Buffer));
      const ended = () => this.toAgent(Buffer.from([CLOSE_SIGNAL, Channel.stdin]));
      stream.once('end', ended);
      stream.once('reset', ended);
    } else if (type === 'resize') {
      const sizes = new JsonObjectSplitter();
      stream.on('data', (chunk: Buffer) => {
        for (const size of sizes.push(chunk)) this.toAgent(encodeFrame(AGENT_PROTOCOL, Channel.resize, size).data as Buffer);
      });
    }
    return Object.keys(this.streams).length;
  }

  /** Every stream is open: once they are all answered, the command starts at the agent. */
  start(): void {
    Promise.all(this.replies).then(
      () => {
        if (this.finished) return;
        // v1: the 1.0 kubelet closed its side of stdin as soon as the streams were there.
        if (this.version === 1) this.streams.stdin?.end();
        this.dial();
      },
      () => this.session.close(),
    );
  }

  abort(): void {
    this.finished = true;
    this.ws?.terminate();
  }

  private dial(): void {
    const ws = new WebSocket(this.target.agentUrl, [AGENT_PROTOCOL.name], {
      headers: { Authorization: `Bearer ${this.target.token}` },
      perMessageDeflate: false,
    });
    this.ws = ws;
    onUpgradeRefused(ws, this.target.agentUrl, (err) => {
      this.fail(err.message);
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (!this.opened) this.fail(`error dialing backend: ${err.message}`);
    });
    ws.on('open', () => {
      this.opened = true;
      for (const frame of this.early.splice(0)) this.toAgent(frame);
    });
    ws.on('message', (data) => this.fromAgent(data));
    ws.on('close', () => {
      if (this.pausedSession) this.session.resume();
      // An agent gone without a word is a failure the client must hear about, not a clean exit.
      if (this.opened && !this.statusWritten) this.fail('the node agent closed the exec session without its exit status');
      this.finish();
    });
  }

  private toAgent(frame: Buffer): void {
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CONNECTING) return void this.early.push(frame);
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(frame, { binary: true }, () => {
      if (this.pausedSession && ws.bufferedAmount < HIGH_WATER_BYTES / 2) {
        this.pausedSession = false;
        this.session.resume();
      }
    });
    // The agent is behind (a large `kubectl cp` into the pod): stop reading the client until it catches up.
    if (ws.bufferedAmount > HIGH_WATER_BYTES && !this.pausedSession) {
      this.pausedSession = true;
      this.session.pause();
    }
  }

  private fromAgent(data: RawData): void {
    const frame = decodeFrame(AGENT_PROTOCOL, data);
    if (!frame || frame.close) return;
    if (frame.channel === Channel.error) {
      let status: Partial<Status>;
      try {
        status = JSON.parse(frame.payload.toString('utf8'));
      } catch {
        status = { metadata: {}, status: 'Failure', message: frame.payload.toString('utf8') };
      }
      this.writeStatus(status);
      return;
    }
    const out = frame.channel === Channel.stdout ? this.streams.stdout : frame.channel === Channel.stderr ? this.streams.stderr : undefined;
    if (!out || frame.payload.length === 0) return;
    const ws = this.ws!;
    out.write(frame.payload, () => {
      if (ws.isPaused && this.session.bufferedAmount < HIGH_WATER_BYTES / 2) ws.resume();
    });
    if (this.session.bufferedAmount > HIGH_WATER_BYTES) ws.pause();
  }

  /** How the command ended, in the protocol's form (v1-v3: only failures, as text). */
  private writeStatus(status: Partial<Status>): void {
    if (this.statusWritten) return;
    this.statusWritten = true;
    if (this.version >= 4) this.streams.error?.write(Buffer.from(JSON.stringify(status)));
    else if (status.status !== 'Success') this.streams.error?.write(Buffer.from(status.message ?? ''));
  }

  private fail(message: string): void {
    this.writeStatus({ metadata: {}, status: 'Failure', message: `Internal error occurred: ${message}`, reason: 'InternalError', details: { causes: [{ message }] }, code: 500 });
    this.finish();
  }

  /** Ends every stream (the error stream last, which is what the client waits on), then the session. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    for (const type of ['stdout', 'stderr', 'stdin', 'resize'] as const) this.streams[type]?.end();
    // v1: the error stream was reset at the end of the session (the 1.0 kubelet's deferred Reset).
    if (this.version === 1) this.streams.error?.reset(RstStatus.CANCEL);
    else this.streams.error?.end();
    this.session.close();
  }
}

/**
 * Cuts a byte stream of concatenated JSON objects (what Go's json.Encoder
 * writes, one per resize) into one Buffer per object.
 */
class JsonObjectSplitter {
  private pending = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let depth = 0;
    let inString = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const c = this.pending[i];
      if (inString) {
        if (c === 0x5c) i++;
        else if (c === 0x22) inString = false;
        continue;
      }
      if (c === 0x22) inString = true;
      else if (c === 0x7b) {
        if (depth++ === 0) start = i;
      } else if (c === 0x7d && depth > 0 && --depth === 0) {
        out.push(this.pending.subarray(start, i + 1));
        consumed = i + 1;
      }
    }
    this.pending = depth === 0 && !inString ? Buffer.alloc(0) : this.pending.subarray(consumed);
    return out;
  }
}
