/**
 * The DNS wire format (RFC 1035, with EDNS0 from RFC 6891), as much of it
 * as a cluster DNS server needs: parsing queries and encoding answers. Forwarded
 * queries are relayed as bytes and never decoded here.
 */

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** The largest UDP answer a client without EDNS0 accepts. */
export const CLASSIC_UDP_SIZE = 512;

export interface Question {
  /** As the client spelled it, without the trailing dot. */
  name: string;
  type: number;
  class: number;
}

export interface Query {
  id: number;
  opcode: number;
  /** Recursion desired: echoed in the answer. */
  rd: boolean;
  questions: Question[];
  /** The UDP payload size an EDNS0 client advertises; undefined without an OPT record. */
  ednsUdpSize?: number;
}

export type RecordData =
  | { type: typeof TYPE.A; address: string }
  /** The 16 address bytes, as relayed from an upstream answer. */
  | { type: typeof TYPE.AAAA; data: Buffer }
  | { type: typeof TYPE.CNAME | typeof TYPE.PTR | typeof TYPE.NS; target: string }
  | { type: typeof TYPE.SRV; priority: number; weight: number; port: number; target: string }
  | { type: typeof TYPE.SOA; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };

export type ResourceRecord = RecordData & { name: string; ttl: number };

export interface Response {
  id: number;
  opcode?: number;
  rd: boolean;
  rcode: number;
  /** Authoritative answer: set for names in the cluster domain. */
  aa: boolean;
  questions: Question[];
  answers: ResourceRecord[];
  authority?: ResourceRecord[];
  /** Answer with an OPT record advertising this UDP size (the query had one). */
  ednsUdpSize?: number;
}

/** A message that is not a well-formed DNS message: answered with FORMERR when it has at least a header. */
export class DnsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsFormatError';
  }
}

/** The 16-bit id of a message (0 when too short to have one). */
export function messageId(buf: Buffer): number {
  return buf.length >= 2 ? buf.readUInt16BE(0) : 0;
}

/** Reads a possibly compressed name at `offset`; returns it and the offset just after it. */
function readName(buf: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let next = -1;
  let jumps = 0;
  let total = 0;
  for (;;) {
    if (offset >= buf.length) throw new DnsFormatError('name runs past the end of the message');
    const len = buf[offset];
    if ((len & 0xc0) === 0xc0) {
      if (offset + 1 >= buf.length) throw new DnsFormatError('truncated compression pointer');
      if (++jumps > 32) throw new DnsFormatError('compression loop');
      if (next < 0) next = offset + 2;
      offset = ((len & 0x3f) << 8) | buf[offset + 1];
      continue;
    }
    if (len & 0xc0) throw new DnsFormatError('unsupported label type');
    if (len === 0) {
      if (next < 0) next = offset + 1;
      break;
    }
    if (offset + 1 + len > buf.length) throw new DnsFormatError('label runs past the end of the message');
    total += len + 1;
    if (total > 255) throw new DnsFormatError('name longer than 255 octets');
    labels.push(buf.toString('latin1', offset + 1, offset + 1 + len));
    offset += 1 + len;
  }
  return { name: labels.join('.'), next };
}

/** Skips a resource record; returns its type, class, ttl field and the offset after it. */
function readRecordHeader(buf: Buffer, offset: number): { name: string; type: number; cls: number; ttl: number; rdlength: number; next: number } {
  const { name, next } = readName(buf, offset);
  if (next + 10 > buf.length) throw new DnsFormatError('truncated resource record');
  const rdlength = buf.readUInt16BE(next + 8);
  if (next + 10 + rdlength > buf.length) throw new DnsFormatError('truncated record data');
  return { name, type: buf.readUInt16BE(next), cls: buf.readUInt16BE(next + 2), ttl: buf.readUInt32BE(next + 4), rdlength, next: next + 10 + rdlength };
}

/** Parses a query. Throws DnsFormatError for anything malformed (or a response). */
export function parseQuery(buf: Buffer): Query {
  if (buf.length < 12) throw new DnsFormatError('message shorter than a header');
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) throw new DnsFormatError('a response, not a query');
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);
  const nscount = buf.readUInt16BE(8);
  const arcount = buf.readUInt16BE(10);
  let offset = 12;
  const questions: Question[] = [];
  for (let i = 0; i < qdcount; i++) {
    const { name, next } = readName(buf, offset);
    if (next + 4 > buf.length) throw new DnsFormatError('truncated question');
    questions.push({ name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) });
    offset = next + 4;
  }
  for (let i = 0; i < ancount + nscount; i++) offset = readRecordHeader(buf, offset).next;
  let ednsUdpSize: number | undefined;
  for (let i = 0; i < arcount; i++) {
    const rr = readRecordHeader(buf, offset);
    // An OPT record's class is the sender's UDP payload size; below 512 means 512.
    if (rr.type === TYPE.OPT) ednsUdpSize = Math.max(CLASSIC_UDP_SIZE, rr.cls);
    offset = rr.next;
  }
  return { id, opcode: (flags >> 11) & 0xf, rd: !!(flags & 0x0100), questions, ednsUdpSize };
}

/** Writes names with compression: a suffix written once is pointed at afterwards. */
class Writer {
  private buf = Buffer.alloc(512);
  length = 0;
  private readonly names = new Map<string, number>();

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.length);
    this.length += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.length);
    this.length += 4;
  }

  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v, at);
  }

  name(name: string): void {
    const labels = name.replace(/\.$/, '').split('.').filter((l) => l.length);
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      const at = this.names.get(suffix);
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.length < 0x4000) this.names.set(suffix, this.length);
      const label = Buffer.from(labels[i], 'latin1');
      if (label.length > 63) throw new Error(`DNS label longer than 63 octets in ${name}`);
      this.u8(label.length);
      this.ensure(label.length);
      label.copy(this.buf, this.length);
      this.length += label.length;
    }
    this.u8(0);
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function ipv4Bytes(address: string): number[] {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${address}`);
  return parts;
}

function writeRecord(w: Writer, rr: ResourceRecord): void {
  w.name(rr.name);
  w.u16(rr.type);
  w.u16(CLASS_IN);
  w.u32(rr.ttl);
  const lengthAt = w.length;
  w.u16(0);
  const start = w.length;
  switch (rr.type) {
    case TYPE.A:
      for (const b of ipv4Bytes(rr.address)) w.u8(b);
      break;
    case TYPE.AAAA:
      for (const b of rr.data) w.u8(b);
      break;
    case TYPE.CNAME:
    case TYPE.PTR:
    case TYPE.NS:
      w.name(rr.target);
      break;
    case TYPE.SRV:
      w.u16(rr.priority);
      w.u16(rr.weight);
      w.u16(rr.port);
      // RFC 2782: the SRV target is not compressed.
      writeUncompressed(w, rr.target);
      break;
    case TYPE.SOA:
      w.name(rr.mname);
      w.name(rr.rname);
      for (const v of [rr.serial, rr.refresh, rr.retry, rr.expire, rr.minimum]) w.u32(v);
      break;
  }
  w.setU16(lengthAt, w.length - start);
}

function writeUncompressed(w: Writer, name: string): void {
  for (const label of name.replace(/\.$/, '').split('.').filter((l) => l.length)) {
    const b = Buffer.from(label, 'latin1');
    w.u8(b.length);
    for (const x of b) w.u8(x);
  }
  w.u8(0);
}

/**
 * Encodes a response. With `maxSize` (UDP), records that do not fit are
 * left out and the TC bit is set, so the client asks again over TCP.
 */
export function encodeResponse(res: Response, maxSize = Infinity): Buffer {
  const build = (answers: ResourceRecord[], authority: ResourceRecord[], truncated: boolean): Buffer => {
    const w = new Writer();
    w.u16(res.id);
    const flags = 0x8000 | ((res.opcode ?? 0) << 11) | (res.aa ? 0x0400 : 0) | (truncated ? 0x0200 : 0) | (res.rd ? 0x0100 : 0) | 0x0080 | (res.rcode & 0xf);
    w.u16(flags);
    w.u16(res.questions.length);
    w.u16(answers.length);
    w.u16(authority.length);
    w.u16(res.ednsUdpSize !== undefined ? 1 : 0);
    for (const q of res.questions) {
      w.name(q.name);
      w.u16(q.type);
      w.u16(q.class);
    }
    for (const rr of answers) writeRecord(w, rr);
    for (const rr of authority) writeRecord(w, rr);
    if (res.ednsUdpSize !== undefined) {
      w.u8(0); // root name
      w.u16(TYPE.OPT);
      w.u16(res.ednsUdpSize);
      w.u32(0); // extended rcode, version 0, no flags
      w.u16(0);
    }
    return w.bytes();
  };
  const authority = res.authority ?? [];
  const full = build(res.answers, authority, false);
  if (full.length <= maxSize) return Buffer.from(full);
  // As many whole answers as fit (binary search); a truncated answer carries no authority section.
  let out = build([], [], true);
  let lo = 1;
  let hi = res.answers.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const attempt = build(res.answers.slice(0, mid), [], true);
    if (attempt.length <= maxSize) {
      out = attempt;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return Buffer.from(out);
}

/** An answer with no records and the given rcode (FORMERR, SERVFAIL, NOTIMP...), built from the raw query's header. */
export function errorResponse(query: Buffer, rcode: number): Buffer {
  const w = Buffer.alloc(12);
  if (query.length >= 4) {
    query.copy(w, 0, 0, 2);
    const flags = query.readUInt16BE(2);
    // Keep the opcode and RD bit; set QR and RA.
    w.writeUInt16BE(0x8000 | (flags & 0x7800) | (flags & 0x0100) | 0x0080 | (rcode & 0xf), 2);
  }
  return w;
}

/**
 * Decodes a response: what encodeResponse writes, and the A, AAAA and CNAME
 * records of an upstream's answer (the server follows ExternalName CNAMEs
 * with it). Records of other types are skipped.
 */
export function parseResponse(buf: Buffer): Response & { truncated: boolean } {
  if (buf.length < 12) throw new DnsFormatError('message shorter than a header');
  const flags = buf.readUInt16BE(2);
  const counts = [4, 6, 8, 10].map((o) => buf.readUInt16BE(o));
  let offset = 12;
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const { name, next } = readName(buf, offset);
    questions.push({ name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) });
    offset = next + 4;
  }
  const sections: ResourceRecord[][] = [[], [], []];
  let ednsUdpSize: number | undefined;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]; i++) {
      const h = readRecordHeader(buf, offset);
      const rdata = h.next - h.rdlength;
      if (h.type === TYPE.OPT) {
        ednsUdpSize = h.cls;
      } else {
        const base = { name: h.name, ttl: h.ttl };
        switch (h.type) {
          case TYPE.A:
            sections[s].push({ ...base, type: TYPE.A, address: [...buf.subarray(rdata, rdata + 4)].join('.') });
            break;
          case TYPE.AAAA:
            sections[s].push({ ...base, type: TYPE.AAAA, data: Buffer.from(buf.subarray(rdata, rdata + 16)) });
            break;
          case TYPE.CNAME:
          case TYPE.PTR:
          case TYPE.NS:
            sections[s].push({ ...base, type: h.type, target: readName(buf, rdata).name });
            break;
          case TYPE.SRV:
            sections[s].push({
              ...base,
              type: TYPE.SRV,
              priority: buf.readUInt16BE(rdata),
              weight: buf.readUInt16BE(rdata + 2),
              port: buf.readUInt16BE(rdata + 4),
              target: readName(buf, rdata + 6).name,
            });
            break;
          case TYPE.SOA: {
            const m = readName(buf, rdata);
            const r = readName(buf, m.next);
            const v = (k: number) => buf.readUInt32BE(r.next + 4 * k);
            sections[s].push({ ...base, type: TYPE.SOA, mname: m.name, rname: r.name, serial: v(0), refresh: v(1), retry: v(2), expire: v(3), minimum: v(4) });
            break;
          }
        }
      }
      offset = h.next;
    }
  }
  return {
    id: buf.readUInt16BE(0),
    opcode: (flags >> 11) & 0xf,
    rd: !!(flags & 0x0100),
    aa: !!(flags & 0x0400),
    truncated: !!(flags & 0x0200),
    rcode: flags & 0xf,
    questions,
    answers: sections[0],
    authority: sections[1],
    ednsUdpSize,
  };
}

/** A query message (tests and the forwarder's health checks). */
export function encodeQuery(id: number, name: string, type: number, opts: { rd?: boolean; ednsUdpSize?: number } = {}): Buffer {
  const w = new Writer();
  w.u16(id);
  w.u16(opts.rd === false ? 0 : 0x0100);
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(opts.ednsUdpSize !== undefined ? 1 : 0);
  w.name(name);
  w.u16(type);
  w.u16(CLASS_IN);
  if (opts.ednsUdpSize !== undefined) {
    w.u8(0);
    w.u16(TYPE.OPT);
    w.u16(opts.ednsUdpSize);
    w.u32(0);
    w.u16(0);
  }
  return Buffer.from(w.bytes());
}
