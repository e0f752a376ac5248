import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { ZoneAnswer } from './cluster-zone';
import {
  CLASSIC_UDP_SIZE,
  DnsFormatError,
  encodeQuery,
  encodeResponse,
  errorResponse,
  parseQuery,
  parseResponse,
  RCODE,
  TYPE,
  type Question,
  type ResourceRecord,
} from './message';

/**
 * The agent's DNS server, on UDP and TCP (RFC 7766) at one address: names
 * of the cluster are answered from the zone (the informers' caches), every
 * other name is relayed as bytes to the host's resolvers (the nameservers
 * of the agent's /etc/resolv.conf, tried in order), the way CoreDNS's
 * `forward . /etc/resolv.conf` does in k3s. A UDP answer too long for the
 * client is truncated (TC) so the client asks again over TCP.
 */

export interface DnsServerOptions {
  /** Answers for the cluster's names; undefined means "not ours: forward". */
  answer: (q: Question) => ZoneAnswer | undefined;
  /** Upstream resolvers, `ip` or `ip:port` (port 53 when left out). */
  upstreams: string[];
  /** Per upstream, before trying the next. Default 2 s. */
  forwardTimeoutMs?: number;
  log?: (line: string) => void;
}

/** The EDNS0 payload size mk advertises and honours at most (the DNS flag day 2020 figure). */
const EDNS_UDP_SIZE = 1232;
/** A TCP client that sends nothing for this long is disconnected. */
const TCP_IDLE_MS = 10_000;

interface Upstream {
  host: string;
  port: number;
}

function parseUpstream(s: string): Upstream {
  const bracketed = /^\[(.+)\]:(\d+)$/.exec(s);
  if (bracketed) return { host: bracketed[1], port: Number(bracketed[2]) };
  const m = /^([^:]+):(\d+)$/.exec(s);
  if (m) return { host: m[1], port: Number(m[2]) };
  return { host: s, port: 53 };
}

export class DnsServer {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly tcpClients = new Set<net.Socket>();
  private readonly forwarder: Forwarder;
  private readonly log: (line: string) => void;
  private upstreams: Upstream[];
  /** Queries answered from the zone, and forwarded. */
  readonly stats = { answered: 0, forwarded: 0, failed: 0 };

  constructor(private readonly opts: DnsServerOptions) {
    this.log = opts.log ?? (() => undefined);
    this.upstreams = opts.upstreams.map(parseUpstream);
    this.forwarder = new Forwarder(opts.forwardTimeoutMs ?? 2_000);
  }

  /** Listens on UDP and TCP at host:port (port 0: one free port for both); resolves with the port. */
  async listen(host: string, port: number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const bound = udp.address().port;
      const tcp = net.createServer((s) => this.serveTcp(s));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ host, port: bound, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        // With port 0 the TCP twin of a free UDP port may be taken: pick another.
        if (port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 10) continue;
        throw err;
      }
      udp.on('message', (msg, rinfo) => void this.serveUdp(msg, rinfo));
      udp.on('error', (err) => this.log(`dns: udp: ${err.message}`));
      tcp.on('error', (err) => this.log(`dns: tcp: ${err.message}`));
      this.udp = udp;
      this.tcp = tcp;
      // Never forward to ourselves (a host whose resolv.conf names the cluster DNS IP).
      this.upstreams = this.upstreams.filter((u) => !(u.host === host && u.port === bound));
      return bound;
    }
  }

  async close(): Promise<void> {
    this.forwarder.close();
    for (const s of this.tcpClients) s.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
    ]);
    this.udp = undefined;
    this.tcp = undefined;
  }

  /** The answer to one message (undefined: send nothing, e.g. for a stray response). */
  async handle(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let query;
    try {
      query = parseQuery(msg);
    } catch (err) {
      if (msg.length < 12 || (msg.length >= 3 && msg[2] & 0x80)) return undefined;
      return errorResponse(msg, err instanceof DnsFormatError ? RCODE.FORMERR : RCODE.SERVFAIL);
    }
    if (query.opcode !== 0) return errorResponse(msg, RCODE.NOTIMP);
    if (query.questions.length !== 1) return errorResponse(msg, query.questions.length ? RCODE.NOTIMP : RCODE.FORMERR);
    const q = query.questions[0];
    let zone: ZoneAnswer | undefined;
    try {
      zone = this.opts.answer(q);
    } catch (err) {
      this.log(`dns: answering ${q.name}: ${(err as Error).message}`);
      return errorResponse(msg, RCODE.SERVFAIL);
    }
    if (zone) {
      this.stats.answered++;
      const answers = await this.followCname(q, zone.answers);
      const maxSize = transport === 'tcp' ? 65535 : Math.min(query.ednsUdpSize ?? CLASSIC_UDP_SIZE, EDNS_UDP_SIZE);
      return encodeResponse(
        {
          id: query.id,
          rd: query.rd,
          aa: true,
          rcode: zone.rcode,
          questions: [q],
          answers,
          authority: zone.authority,
          ednsUdpSize: query.ednsUdpSize !== undefined ? EDNS_UDP_SIZE : undefined,
        },
        maxSize,
      );
    }
    for (const upstream of this.upstreams) {
      try {
        const answer = await (transport === 'udp' ? this.forwarder.udp(upstream, msg) : this.forwarder.tcp(upstream, msg));
        this.stats.forwarded++;
        return answer;
      } catch {
        // the next upstream
      }
    }
    this.stats.failed++;
    return errorResponse(msg, RCODE.SERVFAIL);
  }

  /**
   * An ExternalName answer is a CNAME; stub resolvers (glibc, musl) expect
   * the server to follow it, as CoreDNS does: the target's A or AAAA records
   * (from the zone, or asked upstream) are appended after it.
   */
  private async followCname(q: Question, answers: ResourceRecord[]): Promise<ResourceRecord[]> {
    if (q.type !== TYPE.A && q.type !== TYPE.AAAA) return answers;
    const out = [...answers];
    for (let depth = 0; depth < 8; depth++) {
      const last = out[out.length - 1];
      if (last?.type !== TYPE.CNAME) break;
      const next: Question = { name: last.target, type: q.type, class: q.class };
      const inZone = this.opts.answer(next);
      if (inZone) {
        out.push(...inZone.answers);
        continue;
      }
      const query = encodeQuery(Math.floor(Math.random() * 0x10000), next.name, q.type);
      let found: ResourceRecord[] = [];
      for (const upstream of this.upstreams) {
        try {
          found = parseResponse(await this.forwarder.udp(upstream, query)).answers;
          break;
        } catch {
          // the next upstream
        }
      }
      out.push(...found);
    }
    return out;
  }

  private async serveUdp(msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const answer = await this.handle(msg, 'udp');
    if (answer && this.udp) this.udp.send(answer, rinfo.port, rinfo.address);
  }

  private serveTcp(socket: net.Socket): void {
    this.tcpClients.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('error', () => undefined);
    socket.on('close', () => this.tcpClients.delete(socket));
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        void this.handle(msg, 'tcp').then((answer) => {
          if (!answer || socket.destroyed) return;
          const framed = Buffer.alloc(2 + answer.length);
          framed.writeUInt16BE(answer.length, 0);
          answer.copy(framed, 2);
          socket.write(framed);
        });
      }
    });
  }
}

/**
 * Relays raw queries to upstream resolvers. UDP goes through one socket per
 * address family, each query under a fresh id (restored in the answer) so
 * answers find their query whatever order they come back in.
 */
class Forwarder {
  private readonly sockets = new Map<'udp4' | 'udp6', dgram.Socket>();
  private readonly pending = new Map<number, { upstream: Upstream; originalId: number; resolve: (b: Buffer) => void; timer: NodeJS.Timeout }>();
  private closed = false;

  constructor(private readonly timeoutMs: number) {}

  udp(upstream: Upstream, query: Buffer): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('closed'));
    const family = net.isIPv6(upstream.host) ? 'udp6' : 'udp4';
    const socket = this.socket(family);
    let id: number;
    do id = Math.floor(Math.random() * 0x10000);
    while (this.pending.has(id));
    const originalId = query.readUInt16BE(0);
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer from ${upstream.host}:${upstream.port}`));
      }, this.timeoutMs);
      this.pending.set(id, { upstream, originalId, resolve, timer });
      socket.send(out, upstream.port, upstream.host, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  tcp(upstream: Upstream, query: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: upstream.host, port: upstream.port });
      socket.setTimeout(this.timeoutMs * 2, () => socket.destroy(new Error('timeout')));
      let buf: Buffer = Buffer.alloc(0);
      socket.on('error', reject);
      socket.on('close', () => reject(new Error('closed before answering')));
      socket.on('connect', () => {
        const framed = Buffer.alloc(2 + query.length);
        framed.writeUInt16BE(query.length, 0);
        query.copy(framed, 2);
        socket.write(framed);
      });
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          resolve(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
          socket.destroy();
        }
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }

  private socket(family: 'udp4' | 'udp6'): dgram.Socket {
    let s = this.sockets.get(family);
    if (s) return s;
    s = dgram.createSocket(family);
    s.on('error', () => undefined);
    s.on('message', (msg, rinfo) => {
      if (msg.length < 12) return;
      const p = this.pending.get(msg.readUInt16BE(0));
      // Only the resolver asked may answer (a spoofed answer from elsewhere is dropped).
      if (!p || rinfo.port !== p.upstream.port || rinfo.address.replace(/^::ffff:/, '') !== p.upstream.host) return;
      clearTimeout(p.timer);
      this.pending.delete(msg.readUInt16BE(0));
      const answer = Buffer.from(msg);
      answer.writeUInt16BE(p.originalId, 0);
      p.resolve(answer);
    });
    this.sockets.set(family, s);
    return s;
  }
}
