import {
  DnsFormatError,
  encodeQuery,
  encodeResponse,
  errorResponse,
  parseQuery,
  parseResponse,
  RCODE,
  TYPE,
  type ResourceRecord,
} from '../../src/agent/dns/message';

/** A query for web.default.svc.cluster.local A, written out byte by byte as a resolver sends it. */
const HANDWRITTEN_QUERY = Buffer.from([
  0xbe, 0xef, // id
  0x01, 0x00, // RD
  0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 1 question
  3, ...Buffer.from('web'), 7, ...Buffer.from('default'), 3, ...Buffer.from('svc'), 7, ...Buffer.from('cluster'), 5, ...Buffer.from('local'), 0,
  0x00, 0x01, // A
  0x00, 0x01, // IN
]);

describe('DNS queries', () => {
  it('parses a query as a resolver writes it', () => {
    expect(parseQuery(HANDWRITTEN_QUERY)).toEqual({
      id: 0xbeef,
      opcode: 0,
      rd: true,
      questions: [{ name: 'web.default.svc.cluster.local', type: TYPE.A, class: 1 }],
      ednsUdpSize: undefined,
    });
  });

  it('reads the EDNS0 payload size from an OPT record (never below 512)', () => {
    expect(parseQuery(encodeQuery(1, 'a.b', TYPE.A, { ednsUdpSize: 4096 })).ednsUdpSize).toBe(4096);
    expect(parseQuery(encodeQuery(1, 'a.b', TYPE.A, { ednsUdpSize: 100 })).ednsUdpSize).toBe(512);
    expect(parseQuery(encodeQuery(1, 'a.b', TYPE.A)).ednsUdpSize).toBeUndefined();
  });

  it('follows compression pointers in question names', () => {
    // Two questions, the second pointing into the first: "x.svc.cluster.local" -> "cluster.local" at offset 12+2+4.
    const first = [1, 0x78, 3, ...Buffer.from('svc'), 7, ...Buffer.from('cluster'), 5, ...Buffer.from('local'), 0, 0, 1, 0, 1];
    const second = [1, 0x79, 0xc0, 12 + 2 + 4, 0, 1, 0, 1];
    const msg = Buffer.from([0, 7, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, ...first, ...second]);
    expect(parseQuery(msg).questions.map((q) => q.name)).toEqual(['x.svc.cluster.local', 'y.cluster.local']);
  });

  it.each([
    ['shorter than a header', Buffer.from([1, 2, 3])],
    ['a label past the end', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0x61])],
    ['a question without type and class', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0])],
    ['a compression loop', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1])],
    ['a response', Buffer.from([0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0])],
  ])('rejects %s', (_what, msg) => {
    expect(() => parseQuery(msg)).toThrow(DnsFormatError);
  });

  it('rejects names longer than 255 octets', () => {
    const labels = Array.from({ length: 5 }, () => 'a'.repeat(60));
    const name = Buffer.concat([...labels.map((l) => Buffer.from([l.length, ...Buffer.from(l)])), Buffer.from([0, 0, 1, 0, 1])]);
    expect(() => parseQuery(Buffer.concat([Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), name]))).toThrow('longer than 255');
  });
});

describe('DNS responses', () => {
  const question = { name: 'web.default.svc.cluster.local', type: TYPE.A, class: 1 };

  it('encodes answers a parser reads back, with header flags', () => {
    const answers: ResourceRecord[] = [
      { name: question.name, ttl: 5, type: TYPE.A, address: '10.43.0.5' },
      { name: question.name, ttl: 5, type: TYPE.SRV, priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' },
      { name: 'alias.default.svc.cluster.local', ttl: 5, type: TYPE.CNAME, target: 'example.com' },
      { name: 'example.com', ttl: 60, type: TYPE.AAAA, data: Buffer.from('20010db8000000000000000000000001', 'hex') },
    ];
    const soa: ResourceRecord = { name: 'cluster.local', ttl: 5, type: TYPE.SOA, mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 7, refresh: 7200, retry: 1800, expire: 86400, minimum: 5 };
    const buf = encodeResponse({ id: 9, rd: true, aa: true, rcode: RCODE.NOERROR, questions: [question], answers, authority: [soa] });
    const r = parseResponse(buf);
    expect(r).toMatchObject({ id: 9, rd: true, aa: true, truncated: false, rcode: 0, questions: [question], answers, authority: [soa] });
    // QR and RA set.
    expect(buf.readUInt16BE(2) & 0x8080).toBe(0x8080);
  });

  it('compresses repeated names into pointers', () => {
    const answers: ResourceRecord[] = Array.from({ length: 3 }, (_, i) => ({ name: question.name, ttl: 5, type: TYPE.A, address: `10.0.0.${i}` }));
    const buf = encodeResponse({ id: 1, rd: false, aa: true, rcode: 0, questions: [question], answers });
    // Header 12 + question (31 + 4) + 3 answers of (2-byte pointer + 10 + 4).
    expect(buf.length).toBe(12 + 35 + 3 * 16);
  });

  it('truncates a UDP answer that does not fit and sets TC', () => {
    const answers: ResourceRecord[] = Array.from({ length: 100 }, (_, i) => ({ name: question.name, ttl: 5, type: TYPE.A, address: `10.0.${i >> 8}.${i & 255}` }));
    const buf = encodeResponse({ id: 1, rd: true, aa: true, rcode: 0, questions: [question], answers }, 512);
    expect(buf.length).toBeLessThanOrEqual(512);
    const r = parseResponse(buf);
    expect(r.truncated).toBe(true);
    // As many whole records as fit: (512 - 47) / 16.
    expect(r.answers).toHaveLength(Math.floor((512 - 47) / 16));
    expect(parseResponse(encodeResponse({ id: 1, rd: true, aa: true, rcode: 0, questions: [question], answers })).answers).toHaveLength(100);
  });

  it('adds an OPT record when asked to', () => {
    const r = parseResponse(encodeResponse({ id: 1, rd: true, aa: true, rcode: 0, questions: [question], answers: [], ednsUdpSize: 1232 }));
    expect(r.ednsUdpSize).toBe(1232);
  });

  it('builds error answers from the query header alone', () => {
    const r = parseResponse(Buffer.concat([errorResponse(HANDWRITTEN_QUERY, RCODE.FORMERR)]));
    expect(r).toMatchObject({ id: 0xbeef, rd: true, rcode: RCODE.FORMERR, questions: [], answers: [] });
  });
});
