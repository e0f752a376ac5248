import { EventEmitter } from 'node:events';
import * as zlib from 'node:zlib';

/**
 * The server side of SPDY/3.1 as Kubernetes clients speak it (moby/spdystream,
 * under client-go's httpstream/spdy): enough of the protocol for kubectl's
 * port-forward and exec, which open streams (SYN_STREAM with headers) and sends data
 * on them, and expects each stream answered (SYN_REPLY) and ended (FIN).
 *
 * Frames (all integers big-endian):
 *   control: 1 | version:15 | type:16 | flags:8 | length:24 | payload
 *   data:    0 | stream-id:31         | flags:8 | length:24 | payload
 * Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are zlib streams with the
 * SPDY/3 dictionary, one compression context per direction for the whole
 * connection, sync-flushed after each block: every block must be inflated
 * (or deflated) in order, even those of refused streams.
 *
 * Flow control (WINDOW_UPDATE) is ignored both ways, as spdystream does:
 * its clients never send window updates, so honouring the 64 KiB initial
 * window would stall every stream. Backpressure is the transport's.
 */

const VERSION = 3;
const TYPE = { SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, HEADERS: 8, WINDOW_UPDATE: 9 } as const;
const FLAG_FIN = 0x01;
/** A header block larger than this once inflated ends the session (a zlib bomb, not headers). */
const MAX_HEADER_BLOCK = 256 * 1024;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
} as const;

const GOAWAY_OK = 0;
const GOAWAY_PROTOCOL_ERROR = 1;

/** The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): length-prefixed names, then raw text. */
export const SPDY_DICTIONARY: Buffer = (() => {
  const words = [
    'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
    'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
    'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
    'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
    'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
    'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
    'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie',
    'keep-alive', 'origin',
  ];
  const tail =
    '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
    '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
    '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
    'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
    'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
    'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';
  const parts = words.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length);
    b.write(w, 4, 'latin1');
    return b;
  });
  return Buffer.concat([...parts, Buffer.from(tail, 'latin1')]);
})();

/** Header names (lower-case, as SPDY requires) to their values (a multi-valued header is NUL-separated on the wire). */
export type SpdyHeaders = Record<string, string[]>;

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

export type Frame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'control'; version: number; type: number; flags: number; payload: Buffer };

/** Cuts a byte stream into frames, however it was split into chunks. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The next whole frame, or undefined until more bytes arrive. */
  next(): Frame | undefined {
    if (this.length < 8) return undefined;
    const head = this.peek(8);
    const size = head.readUInt32BE(4) & 0xffffff;
    if (this.length < 8 + size) return undefined;
    const frame = this.take(8 + size);
    const flags = frame[4]!;
    const payload = frame.subarray(8);
    const first = frame.readUInt32BE(0);
    if (first & 0x80000000) return { kind: 'control', version: (first >>> 16) & 0x7fff, type: first & 0xffff, flags, payload };
    return { kind: 'data', streamId: first & 0x7fffffff, flags, data: payload };
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.length -= n;
    return out;
  }
}

export function encodeControlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE((((0x8000 | VERSION) << 16) | type) >>> 0, 0);
  head.writeUInt32BE(((flags & 0xff) << 24 | payload.length) >>> 0, 4);
  return Buffer.concat([head, payload]);
}

export function encodeDataFrame(streamId: number, data: Buffer, fin: boolean): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24 | data.length) >>> 0, 4);
  return Buffer.concat([head, data]);
}

/** An uncompressed name/value block: count, then length-prefixed names and NUL-joined values. */
export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const entries = Object.entries(headers);
  parts.push(u32(entries.length));
  for (const [name, values] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(values.join('\0'), 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Parses an uncompressed name/value block; throws on a truncated one. */
export function decodeHeaderBlock(block: Buffer): SpdyHeaders {
  let at = 0;
  const u32 = () => {
    if (at + 4 > block.length) throw new Error('truncated header block');
    const n = block.readUInt32BE(at);
    at += 4;
    return n;
  };
  const bytes = (n: number) => {
    if (at + n > block.length) throw new Error('truncated header block');
    const s = block.subarray(at, at + n).toString('utf8');
    at += n;
    return s;
  };
  const headers: SpdyHeaders = {};
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = bytes(u32()).toLowerCase();
    const values = bytes(u32()).split('\0');
    (headers[name] ??= []).push(...values);
  }
  return headers;
}

/**
 * One direction's header compression context. Calls are queued: blocks come
 * out in the order they went in, which the shared zlib stream requires.
 */
class HeaderZlib {
  private readonly stream: zlib.Inflate | zlib.Deflate;
  private readonly output: Buffer[] = [];
  private outputLength = 0;
  private limit = Infinity;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(mode: 'inflate' | 'deflate') {
    this.stream = mode === 'inflate' ? zlib.createInflate({ dictionary: SPDY_DICTIONARY }) : zlib.createDeflate({ dictionary: SPDY_DICTIONARY });
    // Output arrives as 'data' before the flush callback runs (ws's permessage-deflate relies on the same order).
    this.stream.on('data', (chunk: Buffer) => {
      this.output.push(chunk);
      this.outputLength += chunk.length;
      // Stopped as it grows, not after: a few KiB of zlib can inflate to gigabytes.
      if (this.outputLength > this.limit) this.stream.destroy(new Error(`header block larger than ${this.limit} bytes`));
    });
    this.stream.on('error', () => undefined);
  }

  /** The block through the stream, sync-flushed. Rejects when zlib fails or the output passes `limit`. */
  process(block: Buffer, limit = Infinity): Promise<Buffer> {
    const run = () =>
      new Promise<Buffer>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        this.stream.once('error', onError);
        this.limit = limit;
        this.stream.write(block);
        this.stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          this.stream.removeListener('error', onError);
          const out = Buffer.concat(this.output, this.outputLength);
          this.output.length = 0;
          this.outputLength = 0;
          resolve(out);
        });
      });
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.stream.destroy();
  }
}

// ---------------------------------------------------------------------------
// Session and streams
// ---------------------------------------------------------------------------

/** Where a session's bytes go: a raw upgraded socket, or binary WebSocket messages. */
export interface SpdyTransport {
  /** `sent` runs once the bytes have left (for backpressure). */
  write(data: Buffer, sent?: () => void): void;
  /** Bytes written and not yet sent. */
  readonly bufferedAmount: number;
  /** Ends the connection once what was written has been sent. */
  end(): void;
  /** Stops (and restarts) reading from the client, to hold it back while a stream's consumer catches up. */
  pause(): void;
  resume(): void;
}

/**
 * A stream the client opened. Events: 'data' (Buffer), 'end' (the client
 * sent FIN), 'reset' (the client sent RST_STREAM, or the session ended
 * first), 'close' (over in both directions, or reset).
 */
export class SpdyStream extends EventEmitter {
  private localEnded = false;
  private remoteEnded: boolean;
  private closed = false;
  private replied?: Promise<void>;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: SpdyHeaders,
    fin: boolean,
  ) {
    super();
    this.remoteEnded = fin;
  }

  /** The first value of a header (names are lower-case). */
  header(name: string): string | undefined {
    return this.headers[name.toLowerCase()]?.[0];
  }

  /** Accepts the stream (SYN_REPLY, no headers); data may be written once it resolves. */
  reply(): Promise<void> {
    this.replied ??= this.session.sendHeaders(TYPE.SYN_REPLY, this.id, {}, false);
    return this.replied;
  }

  /** Sends data; `sent` runs once it has left, so a producer can wait while `session.bufferedAmount` is high. */
  write(data: Buffer, sent?: () => void): void {
    if (this.localEnded || this.closed || data.length === 0) return;
    this.session.write(encodeDataFrame(this.id, data, false), sent);
  }

  /** Half-closes: FIN, nothing more from this side. */
  end(): void {
    if (this.localEnded || this.closed) return;
    this.localEnded = true;
    this.session.write(encodeDataFrame(this.id, Buffer.alloc(0), true));
    if (this.remoteEnded) this.finish();
  }

  /** Aborts the stream (RST_STREAM). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.closed) return;
    this.session.writeRst(this.id, status);
    this.finish();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  receive(data: Buffer, fin: boolean): void {
    if (this.closed || this.remoteEnded) return;
    if (data.length) this.emit('data', data);
    if (fin) this.receiveEnd();
  }

  /** @internal */
  receiveEnd(): void {
    if (this.remoteEnded) return;
    this.remoteEnded = true;
    this.emit('end');
    if (this.localEnded) this.finish();
  }

  /** @internal */
  receiveReset(): void {
    if (this.closed) return;
    this.emit('reset');
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.forget(this.id);
    this.emit('close');
  }
}

/**
 * The server end of one SPDY connection. Feed it the client's bytes with
 * `receive`, and tell it when the transport is gone with `transportClosed`.
 * Events: 'stream' (SpdyStream: reply() or reset() it), 'close' (the
 * session is over: every stream has been reset or closed).
 */
export class SpdySession extends EventEmitter {
  private readonly reader = new FrameReader();
  private readonly inflater = new HeaderZlib('inflate');
  private readonly deflater = new HeaderZlib('deflate');
  private readonly streams = new Map<number, SpdyStream>();
  private lastStreamId = 0;
  private busy = false;
  private goneAway = false;
  private closed = false;

  constructor(private readonly transport: SpdyTransport) {
    super();
  }

  get bufferedAmount(): number {
    return this.transport.bufferedAmount;
  }

  /** Stops reading the client's frames (every stream's) until resume(). */
  pause(): void {
    this.transport.pause();
  }

  resume(): void {
    this.transport.resume();
  }

  /** Bytes from the client. */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    this.reader.push(chunk);
    if (!this.busy) void this.drain();
  }

  /** The transport closed under the session. */
  transportClosed(): void {
    this.shutdown();
  }

  /** Ends the session: GOAWAY, then the transport once that has been sent. */
  close(status = GOAWAY_OK): void {
    if (this.closed) return;
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(this.lastStreamId, 0);
    payload.writeUInt32BE(status, 4);
    this.transport.write(encodeControlFrame(TYPE.GOAWAY, 0, payload));
    this.transport.end();
    this.shutdown();
  }

  /** @internal */
  write(frame: Buffer, sent?: () => void): void {
    if (!this.closed) this.transport.write(frame, sent);
  }

  /** @internal */
  writeRst(streamId: number, status: number): void {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(streamId & 0x7fffffff, 0);
    payload.writeUInt32BE(status, 4);
    this.write(encodeControlFrame(TYPE.RST_STREAM, 0, payload));
  }

  /** @internal Compresses and sends a header-bearing frame; compression order is send order. */
  async sendHeaders(type: number, streamId: number, headers: SpdyHeaders, fin: boolean): Promise<void> {
    const id = Buffer.alloc(4);
    id.writeUInt32BE(streamId & 0x7fffffff);
    // Compressing and writing happen in one queued step, so blocks reach the wire in compression order.
    const block = await this.deflater.process(encodeHeaderBlock(headers));
    this.write(encodeControlFrame(type, fin ? FLAG_FIN : 0, Buffer.concat([id, block])));
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
    if (this.goneAway && this.streams.size === 0) this.close();
  }

  /** Handles whole frames in order; waits only for header inflation, which must stay in order too. */
  private async drain(): Promise<void> {
    this.busy = true;
    try {
      for (let frame = this.reader.next(); frame && !this.closed; frame = this.reader.next()) {
        if (frame.kind === 'data') this.onData(frame.streamId, frame.flags, frame.data);
        else await this.onControl(frame.version, frame.type, frame.flags, frame.payload);
      }
    } catch {
      // A frame the session cannot make sense of (or a broken header stream) ends it.
      this.close(GOAWAY_PROTOCOL_ERROR);
    } finally {
      this.busy = false;
    }
  }

  private onData(streamId: number, flags: number, data: Buffer): void {
    // Data for a stream that is gone (reset, or closed while the frame was in flight) is dropped, as spdystream does.
    this.streams.get(streamId)?.receive(data, (flags & FLAG_FIN) !== 0);
  }

  private async onControl(version: number, type: number, flags: number, payload: Buffer): Promise<void> {
    if (version !== VERSION) throw new Error(`unsupported SPDY version ${version}`);
    switch (type) {
      case TYPE.SYN_STREAM: {
        if (payload.length < 10 || payload.length > MAX_HEADER_BLOCK) throw new Error(`SYN_STREAM of ${payload.length} bytes`);
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const headers = decodeHeaderBlock(await this.inflater.process(payload.subarray(10), MAX_HEADER_BLOCK));
        // Client streams are odd and ascending (spdystream's validateStreamId).
        if (id % 2 !== 1 || id <= this.lastStreamId || this.goneAway) {
          this.writeRst(id, RstStatus.PROTOCOL_ERROR);
          return;
        }
        this.lastStreamId = id;
        const stream = new SpdyStream(this, id, headers, (flags & FLAG_FIN) !== 0);
        this.streams.set(id, stream);
        this.emit('stream', stream);
        return;
      }
      case TYPE.SYN_REPLY:
      case TYPE.HEADERS: {
        // Nothing to do with them here, but the compression context must see every block.
        if (payload.length < 4 || payload.length > MAX_HEADER_BLOCK) throw new Error(`header frame of ${payload.length} bytes`);
        await this.inflater.process(payload.subarray(4), MAX_HEADER_BLOCK);
        if (flags & FLAG_FIN) this.streams.get(payload.readUInt32BE(0) & 0x7fffffff)?.receiveEnd();
        return;
      }
      case TYPE.RST_STREAM:
        if (payload.length < 8) throw new Error('short RST_STREAM');
        this.streams.get(payload.readUInt32BE(0) & 0x7fffffff)?.receiveReset();
        return;
      case TYPE.PING:
        // Odd ids are the client's pings: echo them. Even ones would answer pings of ours, and we send none.
        if (payload.length >= 4 && payload.readUInt32BE(0) % 2 === 1) this.write(encodeControlFrame(TYPE.PING, 0, payload.subarray(0, 4)));
        return;
      case TYPE.GOAWAY:
        this.goneAway = true;
        if (this.streams.size === 0) this.close();
        return;
      default:
        // SETTINGS, WINDOW_UPDATE and unknown types: ignored (see the flow-control note above).
        return;
    }
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of [...this.streams.values()]) stream.receiveReset();
    this.streams.clear();
    this.inflater.close();
    this.deflater.close();
    this.emit('close');
  }
}
