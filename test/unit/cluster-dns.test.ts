import * as dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import * as net from 'node:net';
import { ClusterZone, type ServiceLookup } from '../../src/agent/dns/cluster-zone';
import { DnsServer } from '../../src/agent/dns/dns-server';
import { encodeQuery, encodeResponse, parseQuery, parseResponse, RCODE, TYPE, type Question } from '../../src/agent/dns/message';
import type { KubeObject } from '../../src/api/types';

/**
 * The cluster DNS server, asked by Node's own resolver (c-ares, an
 * independent DNS implementation) over real UDP and TCP on 127.0.0.1, with
 * a stand-in upstream resolver on loopback for forwarded names.
 */

function service(ns: string, name: string, spec: Record<string, any>): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec };
}

function endpoints(ns: string, name: string, subsets: any[]): KubeObject {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { namespace: ns, name }, subsets };
}

function directory(objects: KubeObject[]): ServiceLookup & { put(o: KubeObject): void } {
  const svcs = new Map<string, KubeObject>();
  const eps = new Map<string, KubeObject>();
  const put = (o: KubeObject) => (o.kind === 'Service' ? svcs : eps).set(`${o.metadata.namespace}/${o.metadata.name}`, o);
  objects.forEach(put);
  return {
    put,
    service: (ns, name) => svcs.get(`${ns}/${name}`),
    endpoints: (ns, name) => eps.get(`${ns}/${name}`),
    services: () => svcs.values(),
  };
}

const manyPods = Array.from({ length: 100 }, (_, i) => ({ ip: `172.17.${i >> 8}.${(i & 255) + 1}` }));

const objects = [
  service('default', 'web', { type: 'ClusterIP', clusterIP: '10.43.0.5', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }] }),
  endpoints('default', 'web', [{ addresses: [{ ip: '172.17.0.2' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }]),
  service('default', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }),
  endpoints('default', 'db', [
    {
      addresses: [{ ip: '172.17.0.3', hostname: 'db-0' }, { ip: '172.17.0.4' }],
      notReadyAddresses: [{ ip: '172.17.0.9' }],
      ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
    },
  ]),
  service('default', 'empty', { clusterIP: 'None', ports: [{ port: 80 }] }),
  service('default', 'big', { clusterIP: 'None', ports: [{ port: 80 }] }),
  endpoints('default', 'big', [{ addresses: manyPods, ports: [{ port: 80, protocol: 'TCP' }] }]),
  service('other', 'web', { clusterIP: '10.43.0.6', ports: [{ port: 443 }] }),
  service('default', 'search', { type: 'ExternalName', externalName: 'search.example.org' }),
  service('default', 'ext', { type: 'ExternalName', externalName: 'example.test' }),
  service('default', 'alias', { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' }),
];

describe('the cluster zone', () => {
  const zone = new ClusterZone('cluster.local', directory(objects));
  const ask = (name: string, type: number = TYPE.A) => zone.answer({ name, type, class: 1 } as Question);

  it('answers a Service with its ClusterIP, in any case and with a trailing dot', () => {
    for (const name of ['web.default.svc.cluster.local', 'WEB.Default.SVC.cluster.LOCAL.']) {
      expect(ask(name)).toMatchObject({ rcode: RCODE.NOERROR, answers: [{ type: TYPE.A, address: '10.43.0.5', ttl: 5, name }] });
    }
    expect(ask('web.other.svc.cluster.local')?.answers).toMatchObject([{ address: '10.43.0.6' }]);
  });

  it('answers a headless Service with its ready endpoints only', () => {
    expect(ask('db.default.svc.cluster.local')?.answers.map((a: any) => a.address)).toEqual(['172.17.0.3', '172.17.0.4']);
    expect(ask('db-0.db.default.svc.cluster.local')?.answers).toMatchObject([{ address: '172.17.0.3' }]);
    expect(ask('172-17-0-4.db.default.svc.cluster.local')?.answers).toMatchObject([{ address: '172.17.0.4' }]);
    // Not ready: no name.
    expect(ask('172-17-0-9.db.default.svc.cluster.local')?.rcode).toBe(RCODE.NXDOMAIN);
    // A headless Service without ready endpoints exists, with no records.
    expect(ask('empty.default.svc.cluster.local')).toMatchObject({ rcode: RCODE.NOERROR, answers: [], authority: [{ type: TYPE.SOA }] });
  });

  it('answers SRV for named ports', () => {
    expect(ask('_http._tcp.web.default.svc.cluster.local', TYPE.SRV)?.answers).toEqual([
      expect.objectContaining({ type: TYPE.SRV, port: 80, target: 'web.default.svc.cluster.local', weight: 100 }),
    ]);
    expect(ask('web.default.svc.cluster.local', TYPE.SRV)?.answers.map((a: any) => a.port)).toEqual([80, 9090]);
    expect(ask('_pg._tcp.db.default.svc.cluster.local', TYPE.SRV)?.answers.map((a: any) => `${a.target}:${a.port}`)).toEqual([
      'db-0.db.default.svc.cluster.local:5432',
      '172-17-0-4.db.default.svc.cluster.local:5432',
    ]);
    expect(ask('_nope._tcp.web.default.svc.cluster.local', TYPE.SRV)?.rcode).toBe(RCODE.NXDOMAIN);
    expect(ask('_http._udp.web.default.svc.cluster.local', TYPE.SRV)?.rcode).toBe(RCODE.NXDOMAIN);
  });

  it('answers an ExternalName Service with a CNAME', () => {
    expect(ask('search.default.svc.cluster.local')?.answers).toEqual([expect.objectContaining({ type: TYPE.CNAME, target: 'search.example.org' })]);
  });

  it('answers pod names from the address they spell', () => {
    expect(ask('10-1-2-3.default.pod.cluster.local')?.answers).toMatchObject([{ address: '10.1.2.3' }]);
    expect(ask('10-1-2-300.default.pod.cluster.local')?.rcode).toBe(RCODE.NXDOMAIN);
  });

  it('has no data for other types of existing names, and no names it does not know', () => {
    expect(ask('web.default.svc.cluster.local', TYPE.AAAA)).toMatchObject({ rcode: RCODE.NOERROR, answers: [], authority: [{ type: TYPE.SOA, name: 'cluster.local' }] });
    for (const name of ['svc.cluster.local', 'default.svc.cluster.local', 'cluster.local']) expect(ask(name)).toMatchObject({ rcode: RCODE.NOERROR, answers: [] });
    for (const name of ['nope.default.svc.cluster.local', 'web.nope.svc.cluster.local', 'web.default.cluster.local', 'web.default.svc.cluster.local.default.svc.cluster.local', 'a.b.c.d.e.f.svc.cluster.local']) {
      expect(ask(name)).toMatchObject({ rcode: RCODE.NXDOMAIN, answers: [], authority: [{ type: TYPE.SOA }] });
    }
    expect(ask('cluster.local', TYPE.SOA)?.answers).toMatchObject([{ type: TYPE.SOA, mname: 'ns.dns.cluster.local' }]);
  });

  it('answers reverse lookups of ClusterIPs and headless endpoints, and leaves other addresses to the upstream', () => {
    expect(ask('5.0.43.10.in-addr.arpa', TYPE.PTR)?.answers).toMatchObject([{ type: TYPE.PTR, target: 'web.default.svc.cluster.local' }]);
    expect(ask('3.0.17.172.in-addr.arpa', TYPE.PTR)?.answers).toMatchObject([{ target: 'db-0.db.default.svc.cluster.local' }]);
    expect(ask('8.8.8.8.in-addr.arpa', TYPE.PTR)).toBeUndefined();
  });

  it('leaves names outside the cluster domain to the upstream', () => {
    expect(ask('example.com')).toBeUndefined();
    expect(ask('cluster.local.example.com')).toBeUndefined();
    expect(ask('notcluster.local')).toBeUndefined();
  });
});

/** A stand-in upstream resolver on 127.0.0.1 (UDP and TCP) that knows one name. */
async function fakeUpstream(): Promise<{ port: number; queries: string[]; close(): Promise<void> }> {
  const queries: string[] = [];
  const answer = (msg: Buffer) => {
    const q = parseQuery(msg);
    queries.push(q.questions[0].name);
    const known = q.questions[0].name === 'example.test' && q.questions[0].type === TYPE.A;
    return encodeResponse({
      id: q.id,
      rd: q.rd,
      aa: false,
      rcode: known ? RCODE.NOERROR : RCODE.NXDOMAIN,
      questions: q.questions,
      answers: known ? [{ name: 'example.test', ttl: 60, type: TYPE.A, address: '192.0.2.10' }] : [],
    });
  };
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, r) => udp.send(answer(msg), r.port, r.address));
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const port = udp.address().port;
  const tcp = net.createServer((s) =>
    s.on('data', (d: Buffer) => {
      const a = answer(d.subarray(2, 2 + d.readUInt16BE(0)));
      s.end(Buffer.concat([Buffer.from([a.length >> 8, a.length & 255]), a]));
    }),
  );
  await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', () => r()));
  return {
    port,
    queries,
    close: async () => {
      await new Promise<void>((r) => udp.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

describe('the DNS server, asked by a real resolver', () => {
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let server: DnsServer;
  let resolver: Resolver;
  let port: number;
  const dir = directory(objects);

  beforeAll(async () => {
    upstream = await fakeUpstream();
    const zone = new ClusterZone('cluster.local', dir);
    // The first upstream answers nothing (nobody listens there): the server moves on to the second.
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const deadPort = silent.address().port;
    silent.close();
    server = new DnsServer({ answer: (q) => zone.answer(q), upstreams: [`127.0.0.1:${deadPort}`, `127.0.0.1:${upstream.port}`], forwardTimeoutMs: 200 });
    port = await server.listen('127.0.0.1', 0);
    resolver = new Resolver({ timeout: 3000, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
  });

  afterAll(async () => {
    await server?.close();
    await upstream?.close();
  });

  it('resolves Service names', async () => {
    expect(await resolver.resolve4('web.default.svc.cluster.local')).toEqual(['10.43.0.5']);
    expect((await resolver.resolve4('db.default.svc.cluster.local')).sort()).toEqual(['172.17.0.3', '172.17.0.4']);
    expect(await resolver.resolveSrv('_http._tcp.web.default.svc.cluster.local')).toEqual([{ name: 'web.default.svc.cluster.local', port: 80, priority: 0, weight: 100 }]);
    expect(await resolver.resolveCname('search.default.svc.cluster.local')).toEqual(['search.example.org']);
  });

  it('says NXDOMAIN for unknown cluster names and NODATA for other types', async () => {
    await expect(resolver.resolve4('nope.default.svc.cluster.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve6('web.default.svc.cluster.local')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('falls back to TCP for answers too long for UDP', async () => {
    const ips = await resolver.resolve4('big.default.svc.cluster.local');
    expect(ips.sort()).toEqual(manyPods.map((p) => p.ip).sort());
  });

  it('follows the CNAME of an ExternalName Service to its addresses, as stub resolvers expect', async () => {
    expect(await resolver.resolve4('ext.default.svc.cluster.local')).toEqual(['192.0.2.10']);
    expect(await resolver.resolve4('alias.default.svc.cluster.local')).toEqual(['10.43.0.5']);
    const raw = parseResponse((await server.handle(encodeQuery(8, 'ext.default.svc.cluster.local', TYPE.A), 'udp'))!);
    expect(raw.answers).toEqual([
      expect.objectContaining({ type: TYPE.CNAME, name: 'ext.default.svc.cluster.local', target: 'example.test' }),
      expect.objectContaining({ type: TYPE.A, name: 'example.test', address: '192.0.2.10' }),
    ]);
  });

  it('follows changes at once (answers come from the caches)', async () => {
    dir.put(service('default', 'late', { clusterIP: '10.43.0.77', ports: [{ port: 80 }] }));
    expect(await resolver.resolve4('late.default.svc.cluster.local')).toEqual(['10.43.0.77']);
  });

  it('forwards other names to the upstream resolvers, moving on from one that does not answer', async () => {
    expect(await resolver.resolve4('example.test')).toEqual(['192.0.2.10']);
    await expect(resolver.resolve4('missing.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(upstream.queries).toEqual(expect.arrayContaining(['example.test', 'missing.test']));
    expect(upstream.queries).not.toContain('web.default.svc.cluster.local');
  });

  it('forwards over TCP what comes over TCP', async () => {
    const msg = encodeQuery(77, 'example.test', TYPE.A);
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => s.write(Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg])));
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          resolve(buf.subarray(2));
          s.destroy();
        }
      });
      s.on('error', reject);
    });
    expect(parseResponse(answer)).toMatchObject({ id: 77, rcode: 0, answers: [{ address: '192.0.2.10' }] });
  });

  it('answers malformed queries with FORMERR and unsupported opcodes with NOTIMP', async () => {
    expect(parseResponse((await server.handle(Buffer.from([0, 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, 0x61]), 'udp'))!).rcode).toBe(RCODE.FORMERR);
    const notify = encodeQuery(6, 'web.default.svc.cluster.local', TYPE.A);
    notify[2] |= 4 << 3; // opcode NOTIFY
    expect(parseResponse((await server.handle(notify, 'udp'))!).rcode).toBe(RCODE.NOTIMP);
    // A stray response is not answered at all.
    expect(await server.handle(Buffer.from([0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]), 'udp')).toBeUndefined();
  });

  it('says SERVFAIL when no upstream answers', async () => {
    const lonely = new DnsServer({ answer: () => undefined, upstreams: [], forwardTimeoutMs: 100 });
    expect(parseResponse((await lonely.handle(encodeQuery(3, 'example.test', TYPE.A), 'udp'))!).rcode).toBe(RCODE.SERVFAIL);
    await lonely.close();
  });
});
