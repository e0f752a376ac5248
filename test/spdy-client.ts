import * as tls from 'node:tls';
import * as zlib from 'node:zlib';
import {
  decodeHeaderBlock,
  encodeControlFrame,
  encodeDataFrame,
  encodeHeaderBlock,
  FrameReader,
  SPDY_DICTIONARY,
} from '../src/apiserver/spdy';
import type { TestServer } from './helpers';

/**
 * The client end of an `Upgrade: SPDY/3.1` connection to the API server,
 * speaking SPDY/3.1 as spdystream (kubectl's library) does: odd stream ids
 * from 1, one zlib context per direction for every header block, FIN to
 * half-close. For tests that need to drive what kubectl does not (old
 * protocol versions, resize streams, exact frames).
 */

const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const GOAWAY = 7;
const FLAG_FIN = 1;

export interface ClientStream {
  id: number;
  /** Everything the server sent on it so far. */
  received(): Buffer;
  /** Resolves once the server answered (SYN_REPLY). */
  replied: Promise<void>;
  /** Resolves when the server is done with the stream: 'fin' (its FIN) or 'reset' (RST_STREAM, or the connection ended first). */
  closed: Promise<'fin' | 'reset'>;
  write(data: Buffer | string): void;
  /** Half-closes: FIN. */
  end(): void;
}

export interface SpdyConnection {
  /** The X-Stream-Protocol-Version the server chose (undefined: it named none). */
  protocol?: string;
  openStream(headers: Record<string, string>): Promise<ClientStream>;
  /** Resolves when the server sends GOAWAY. */
  goneAway: Promise<void>;
  /** Resolves when the socket closes. */
  socketClosed: Promise<void>;
  destroy(): void;
}

/** What a refused upgrade answered. */
export interface RefusedUpgrade {
  status: number;
  body: string;
}

/**
 * Sends `POST path` with `Upgrade: SPDY/3.1` and the given protocols (one
 * X-Stream-Protocol-Version header each; none: the header is left out) and
 * resolves with the session, or with the refusal when the answer is not 101.
 */
export function spdyUpgrade(ts: TestServer, path: string, protocols: string[]): Promise<SpdyConnection | RefusedUpgrade> {
  const url = new URL(ts.url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca: ts.server.caPem });
    socket.on('error', reject);
    socket.once('secureConnect', () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${ts.token}\r\n` +
          'Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
          protocols.map((p) => `X-Stream-Protocol-Version: ${p}\r\n`).join('') +
          'Content-Length: 0\r\n\r\n',
      );
    });
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onHead);
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const rest = head.subarray(end + 4);
      if (status !== 101) {
        let body = rest;
        socket.on('data', (c: Buffer) => (body = Buffer.concat([body, c])));
        socket.once('close', () => resolve({ status, body: body.toString('utf8') }));
        return;
      }
      const protocol = lines.find((l) => /^x-stream-protocol-version:/i.test(l))?.split(':')[1]!.trim();
      resolve(new Session(socket, protocol, rest));
    };
    socket.on('data', onHead);
  });
}

class Session implements SpdyConnection {
  readonly goneAway: Promise<void>;
  readonly socketClosed: Promise<void>;
  private markGoneAway!: () => void;
  private readonly reader = new FrameReader();
  private readonly deflate = zlib.createDeflate({ dictionary: SPDY_DICTIONARY });
  private readonly inflate = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
  private readonly streams = new Map<number, { chunks: Buffer[]; replied: () => void; closed: (how: 'fin' | 'reset') => void }>();
  private nextId = 1;
  /** Header work (compressing ours, inflating theirs) in order, as the shared zlib contexts require. */
  private deflateQueue: Promise<unknown> = Promise.resolve();
  private inflateQueue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly socket: tls.TLSSocket,
    readonly protocol: string | undefined,
    rest: Buffer,
  ) {
    this.goneAway = new Promise((r) => (this.markGoneAway = r));
    this.socketClosed = new Promise((r) => socket.once('close', () => r()));
    socket.on('data', (c: Buffer) => this.receive(c));
    socket.once('close', () => {
      for (const s of this.streams.values()) s.closed('reset');
    });
    if (rest.length) this.receive(rest);
  }

  openStream(headers: Record<string, string>): Promise<ClientStream> {
    const id = this.nextId;
    this.nextId += 2;
    const chunks: Buffer[] = [];
    let replied!: () => void;
    let closed!: (how: 'fin' | 'reset') => void;
    const stream: ClientStream = {
      id,
      received: () => Buffer.concat(chunks),
      replied: new Promise((r) => (replied = r)),
      closed: new Promise((r) => (closed = r)),
      write: (data) => this.socket.write(encodeDataFrame(id, Buffer.from(data), false)),
      end: () => this.socket.write(encodeDataFrame(id, Buffer.alloc(0), true)),
    };
    let once = false;
    this.streams.set(id, {
      chunks,
      replied,
      closed: (how) => {
        if (once) return;
        once = true;
        closed(how);
      },
    });
    const block = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]]));
    const sent = (this.deflateQueue = this.deflateQueue.then(async () => {
      const compressed = await flush(this.deflate, encodeHeaderBlock(block));
      const fixed = Buffer.alloc(10);
      fixed.writeUInt32BE(id, 0);
      this.socket.write(encodeControlFrame(SYN_STREAM, 0, Buffer.concat([fixed, compressed])));
    }));
    return sent.then(() => stream);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.reader.push(chunk);
    for (let f = this.reader.next(); f; f = this.reader.next()) {
      if (f.kind === 'data') {
        const s = this.streams.get(f.streamId);
        if (!s) continue;
        if (f.data.length) s.chunks.push(Buffer.from(f.data));
        if (f.flags & FLAG_FIN) s.closed('fin');
        continue;
      }
      const payload = Buffer.from(f.payload);
      if (f.type === SYN_REPLY) {
        const s = this.streams.get(payload.readUInt32BE(0) & 0x7fffffff);
        this.inflateQueue = this.inflateQueue.then(async () => {
          decodeHeaderBlock(await flush(this.inflate, payload.subarray(4)));
          s?.replied();
          if (f.flags & FLAG_FIN) s?.closed('fin');
        });
      } else if (f.type === RST_STREAM) {
        this.streams.get(payload.readUInt32BE(0) & 0x7fffffff)?.closed('reset');
      } else if (f.type === GOAWAY) {
        this.markGoneAway();
      }
    }
  }
}

/** One block through a zlib stream, sync-flushed. */
function flush(stream: zlib.Deflate | zlib.Inflate, block: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const onData = (c: Buffer) => out.push(c);
    stream.on('data', onData);
    stream.write(block);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      stream.removeListener('data', onData);
      resolve(Buffer.concat(out));
    });
  });
}
