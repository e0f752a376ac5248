import * as zlib from 'node:zlib';
import {
  decodeHeaderBlock,
  encodeControlFrame,
  encodeDataFrame,
  encodeHeaderBlock,
  FrameReader,
  RstStatus,
  SPDY_DICTIONARY,
  SpdySession,
  type SpdyStream,
  type SpdyTransport,
} from '../../src/apiserver/spdy';
import { eventually } from '../helpers';

/**
 * The SPDY/3.1 server session, driven the way spdystream (kubectl's SPDY
 * library) drives it: a client-side zlib context with the SPDY dictionary
 * that compresses every header block in one stream, sync-flushed.
 */

const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const WINDOW_UPDATE = 9;

/** The client's end: compresses its header blocks, and reads what the server wrote. */
class FakeClient {
  readonly written: Buffer[] = [];
  ended = false;
  private readonly deflate = zlib.createDeflate({ dictionary: SPDY_DICTIONARY });
  private readonly inflate = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
  private readonly reader = new FrameReader();
  private readonly inflated: Buffer[] = [];

  readonly transport: SpdyTransport = {
    write: (data, sent) => {
      this.written.push(data);
      sent?.();
    },
    bufferedAmount: 0,
    end: () => {
      this.ended = true;
    },
    pause: () => undefined,
    resume: () => undefined,
  };

  constructor() {
    this.inflate.on('data', (c: Buffer) => this.inflated.push(c));
  }

  compress(headers: Record<string, string[]>): Promise<Buffer> {
    const out: Buffer[] = [];
    const onData = (c: Buffer) => out.push(c);
    this.deflate.on('data', onData);
    this.deflate.write(encodeHeaderBlock(headers));
    return new Promise((resolve) =>
      this.deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.deflate.removeListener('data', onData);
        resolve(Buffer.concat(out));
      }),
    );
  }

  async synStream(id: number, headers: Record<string, string[]>, fin = false): Promise<Buffer> {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt32BE(id, 0);
    return encodeControlFrame(SYN_STREAM, fin ? 1 : 0, Buffer.concat([fixed, await this.compress(headers)]));
  }

  /** Every frame the server wrote so far, with SYN_REPLY headers inflated in order. */
  async frames(): Promise<Array<{ kind: string; type?: number; flags: number; streamId?: number; data?: Buffer; payload?: Buffer; headers?: Record<string, string[]> }>> {
    for (const b of this.written.splice(0)) this.reader.push(b);
    const out = [];
    for (let f = this.reader.next(); f; f = this.reader.next()) {
      if (f.kind === 'data') {
        out.push({ kind: 'data', flags: f.flags, streamId: f.streamId, data: f.data });
        continue;
      }
      let headers: Record<string, string[]> | undefined;
      if (f.type === SYN_REPLY) {
        this.inflate.write(f.payload.subarray(4));
        await new Promise<void>((r) => this.inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
        headers = decodeHeaderBlock(Buffer.concat(this.inflated.splice(0)));
      }
      out.push({ kind: 'control', type: f.type, flags: f.flags, payload: f.payload, streamId: f.payload.readUInt32BE(0) & 0x7fffffff, headers });
    }
    return out;
  }
}

function session(): { client: FakeClient; server: SpdySession; streams: SpdyStream[] } {
  const client = new FakeClient();
  const server = new SpdySession(client.transport);
  const streams: SpdyStream[] = [];
  server.on('stream', (s: SpdyStream) => streams.push(s));
  return { client, server, streams };
}

/** The first frame kubectl 1.31 sent for a connection (captured): SYN_STREAM 1, streamType=error, port=80, requestID=0. */
const KUBECTL_SYN_STREAM = Buffer.from(
  '80030001' + '0000003d' + '00000001' + '00000000' + '0000' +
    '78f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45a024cc6461c0c0c0c0590489c44c50e266340000' + '0000ffff',
  'hex',
);

test('the dictionary is the SPDY/3 one: its zlib id is the one kubectl names, and kubectl\'s headers inflate with it', async () => {
  expect(SPDY_DICTIONARY.length).toBe(1423);
  // A zlib stream with a preset dictionary carries the dictionary's Adler-32 after its 2-byte header.
  const ours = zlib.deflateSync(Buffer.from('x'), { dictionary: SPDY_DICTIONARY });
  expect(ours.subarray(2, 6).toString('hex')).toBe('e3c6a7c2');
  expect(KUBECTL_SYN_STREAM.subarray(20, 24).toString('hex')).toBe('e3c6a7c2');

  const { server, streams } = session();
  server.receive(KUBECTL_SYN_STREAM);
  await eventually(() => expect(streams).toHaveLength(1));
  expect(streams[0]!.id).toBe(1);
  expect(streams[0]!.headers).toEqual({ streamtype: ['error'], port: ['80'], requestid: ['0'] });
});

test('header blocks round-trip, multi-valued headers NUL-joined and names lower-cased', () => {
  const block = encodeHeaderBlock({ StreamType: ['data'], port: ['80'], multi: ['a', 'b'] });
  expect(decodeHeaderBlock(block)).toEqual({ streamtype: ['data'], port: ['80'], multi: ['a', 'b'] });
  expect(() => decodeHeaderBlock(block.subarray(0, block.length - 1))).toThrow('truncated header block');
});

test('streams open with their headers, are answered with SYN_REPLY, and carry data both ways', async () => {
  const { client, server, streams } = session();
  // kubectl's first pair: the error stream (which it closes at once) and the data stream.
  server.receive(await client.synStream(1, { streamtype: ['error'], port: ['80'], requestid: ['0'] }, true));
  server.receive(await client.synStream(3, { streamtype: ['data'], port: ['80'], requestid: ['0'] }));
  await eventually(() => expect(streams).toHaveLength(2));
  const [error, data] = streams;
  expect(error!.header('streamType')).toBe('error');
  expect(data!.header('port')).toBe('80');
  expect(data!.header('requestID')).toBe('0');

  await Promise.all([error!.reply(), data!.reply()]);
  const received: Buffer[] = [];
  data!.on('data', (c: Buffer) => received.push(c));
  server.receive(encodeDataFrame(3, Buffer.from('GET / HTTP/1.1\r\n\r\n'), false));
  expect(Buffer.concat(received).toString()).toBe('GET / HTTP/1.1\r\n\r\n');

  data!.write(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
  data!.end();
  error!.end();
  const frames = await client.frames();
  expect(frames.map((f) => [f.kind, f.type ?? null, f.streamId, f.flags])).toEqual([
    ['control', SYN_REPLY, 1, 0],
    ['control', SYN_REPLY, 3, 0],
    ['data', null, 3, 0],
    ['data', null, 3, 1],
    ['data', null, 1, 1],
  ]);
  expect(frames[0]!.headers).toEqual({});
  expect(frames[2]!.data!.toString()).toBe('HTTP/1.1 200 OK\r\n\r\n');
  // The error stream was half-closed by the client at SYN and now by the server: it is over.
  expect(error!.isClosed).toBe(true);
  expect(data!.isClosed).toBe(false);
  server.receive(encodeDataFrame(3, Buffer.alloc(0), true));
  expect(data!.isClosed).toBe(true);
});

test('frames split anywhere (a tunnelled connection writes field by field) are reassembled', async () => {
  const { client, server, streams } = session();
  const bytes = Buffer.concat([
    await client.synStream(1, { streamtype: ['data'], port: ['8080'], requestid: ['7'] }),
    encodeDataFrame(1, Buffer.from('hello'), true),
  ]);
  const received: string[] = [];
  server.on('stream', (s: SpdyStream) => s.on('data', (c: Buffer) => received.push(c.toString())));
  for (let i = 0; i < bytes.length; i++) server.receive(bytes.subarray(i, i + 1));
  await eventually(() => expect(received.join('')).toBe('hello'));
  expect(streams[0]!.header('requestid')).toBe('7');
});

test('later header blocks use the same compression context (as spdystream writes them)', async () => {
  const { client, server, streams } = session();
  for (let i = 0; i < 5; i++) {
    server.receive(await client.synStream(2 * i + 1, { streamtype: ['data'], port: ['80'], requestid: [String(i)] }));
  }
  await eventually(() => expect(streams.map((s) => s.header('requestID'))).toEqual(['0', '1', '2', '3', '4']));
  // Replies out of order still inflate in send order on the client.
  await streams[3]!.reply();
  await streams[0]!.reply();
  const frames = await client.frames();
  expect(frames.map((f) => f.streamId)).toEqual([7, 1]);
  expect(frames.every((f) => f.headers && Object.keys(f.headers).length === 0)).toBe(true);
});

test('pings from the client are echoed; window updates and settings are ignored', async () => {
  const { client, server } = session();
  const ping = Buffer.alloc(4);
  ping.writeUInt32BE(1);
  server.receive(encodeControlFrame(PING, 0, ping));
  server.receive(encodeControlFrame(WINDOW_UPDATE, 0, Buffer.alloc(8)));
  const frames = await client.frames();
  expect(frames).toHaveLength(1);
  expect(frames[0]).toMatchObject({ kind: 'control', type: PING });
  expect(frames[0]!.payload!.readUInt32BE(0)).toBe(1);
});

test('a reset from the client ends the stream; a stream id that does not ascend is refused', async () => {
  const { client, server, streams } = session();
  server.receive(await client.synStream(5, { streamtype: ['data'], port: ['80'] }));
  await eventually(() => expect(streams).toHaveLength(1));
  const events: string[] = [];
  streams[0]!.on('reset', () => events.push('reset')).on('close', () => events.push('close'));
  const rst = Buffer.alloc(8);
  rst.writeUInt32BE(5, 0);
  rst.writeUInt32BE(RstStatus.CANCEL, 4);
  server.receive(encodeControlFrame(RST_STREAM, 0, rst));
  expect(events).toEqual(['reset', 'close']);

  server.receive(await client.synStream(3, { streamtype: ['data'], port: ['80'] }));
  await eventually(async () => {
    const frames = await client.frames();
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ type: RST_STREAM, streamId: 3 });
    expect(frames[0]!.payload!.readUInt32BE(4)).toBe(RstStatus.PROTOCOL_ERROR);
  });
  expect(streams).toHaveLength(1);
});

test('close sends GOAWAY with the last stream id and resets the open streams', async () => {
  const { client, server, streams } = session();
  server.receive(await client.synStream(9, { streamtype: ['data'], port: ['80'] }));
  await eventually(() => expect(streams).toHaveLength(1));
  let reset = false;
  streams[0]!.on('reset', () => (reset = true));
  let closed = false;
  server.on('close', () => (closed = true));
  server.close();
  expect(reset).toBe(true);
  expect(closed).toBe(true);
  expect(client.ended).toBe(true);
  const frames = await client.frames();
  expect(frames).toHaveLength(1);
  expect(frames[0]).toMatchObject({ type: GOAWAY, streamId: 9 });
});

test('garbage in a header block ends the session with a protocol error', async () => {
  const { client, server } = session();
  let closed = false;
  server.on('close', () => (closed = true));
  const fixed = Buffer.alloc(10);
  fixed.writeUInt32BE(1, 0);
  server.receive(encodeControlFrame(SYN_STREAM, 0, Buffer.concat([fixed, Buffer.from('not zlib at all')])));
  await eventually(() => expect(closed).toBe(true));
  const frames = await client.frames();
  expect(frames[0]).toMatchObject({ type: GOAWAY });
  expect(frames[0]!.payload!.readUInt32BE(4)).toBe(1);
});

test('a header block that inflates past 256 KiB ends the session instead of filling memory', async () => {
  const { client, server, streams } = session();
  let closed = false;
  server.on('close', () => (closed = true));
  // A megabyte of one letter compresses to about a kilobyte.
  const frame = await client.synStream(1, { streamtype: ['data'], port: ['80'], padding: ['a'.repeat(1024 * 1024)] });
  expect(frame.length).toBeLessThan(4096);
  server.receive(frame);
  await eventually(() => expect(closed).toBe(true));
  expect(streams).toHaveLength(0);
  expect((await client.frames())[0]).toMatchObject({ type: GOAWAY });
});
