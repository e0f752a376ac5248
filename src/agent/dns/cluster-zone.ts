import type { KubeObject } from '../../api/types';
import { RCODE, TYPE, type Question, type ResourceRecord } from './message';

/**
 * The cluster's DNS names, per the Kubernetes DNS specification
 * (kubernetes/dns docs/specification.md) as CoreDNS's kubernetes plugin
 * serves them:
 *
 *   <svc>.<ns>.svc.<domain>             A: the ClusterIP; headless: the ready endpoint IPs;
 *                                       ExternalName: a CNAME; SRV: one per port
 *   <host>.<svc>.<ns>.svc.<domain>      A of a headless Service's endpoint (its hostname, or its IP with dashes)
 *   _<port>._<proto>.<svc>.<ns>.svc...  SRV of a named port
 *   <a-b-c-d>.<ns>.pod.<domain>         A a.b.c.d (CoreDNS `pods insecure`, k3s's setting)
 *   <d.c.b.a>.in-addr.arpa              PTR of a ClusterIP or headless endpoint; other addresses are forwarded
 *
 * Other names in the domain are NXDOMAIN; names outside it are not ours
 * (undefined: forward them). Answers are authoritative with a 5 s TTL, and
 * negative ones carry the zone's SOA so resolvers may cache them.
 */

export interface ServiceLookup {
  service(namespace: string, name: string): KubeObject | undefined;
  endpoints(namespace: string, name: string): KubeObject | undefined;
  /** Every Service (reverse lookups scan them). */
  services(): Iterable<KubeObject>;
}

export interface ZoneAnswer {
  rcode: number;
  answers: ResourceRecord[];
  authority: ResourceRecord[];
}

/** CoreDNS kubernetes plugin's default TTL. */
export const DEFAULT_TTL = 5;

const DASHED_IPV4 = /^(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})$/;

function dashedToIP(label: string): string | undefined {
  const m = DASHED_IPV4.exec(label);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) return undefined;
  return m.slice(1).map(Number).join('.');
}

const isIPv4 = (s: unknown): s is string => typeof s === 'string' && /^\d{1,3}(\.\d{1,3}){3}$/.test(s);

function isHeadless(svc: KubeObject): boolean {
  return svc.spec?.clusterIP === 'None';
}

/** The ready addresses of an Endpoints object, each once, with the name CoreDNS gives it. */
function readyAddresses(ep: KubeObject | undefined): Array<{ ip: string; host: string }> {
  const seen = new Map<string, string>();
  for (const subset of ep?.subsets ?? []) {
    for (const a of subset.addresses ?? []) {
      if (!isIPv4(a?.ip) || seen.has(a.ip)) continue;
      seen.set(a.ip, a.hostname || a.ip.replace(/\./g, '-'));
    }
  }
  return [...seen].map(([ip, host]) => ({ ip, host }));
}

export class ClusterZone {
  readonly domain: string;

  constructor(
    domain: string,
    private readonly lookup: ServiceLookup,
    private readonly ttl = DEFAULT_TTL,
  ) {
    this.domain = domain.toLowerCase().replace(/\.$/, '');
  }

  /** The answer to a question about a cluster name, or undefined when the name is not the cluster's (forward it). */
  answer(q: Question): ZoneAnswer | undefined {
    const name = q.name.toLowerCase().replace(/\.$/, '');
    if (name.endsWith('.in-addr.arpa')) return this.reverse(name, q);
    if (name !== this.domain && !name.endsWith(`.${this.domain}`)) return undefined;
    const labels = name === this.domain ? [] : name.slice(0, -(this.domain.length + 1)).split('.');
    const n = labels.length;
    const last = labels[n - 1];

    if (n === 0) {
      if (q.type === TYPE.SOA) return this.found([this.soa()]);
      if (q.type === TYPE.NS) return this.found([{ name: this.domain, ttl: this.ttl, type: TYPE.NS, target: `ns.dns.${this.domain}` }]);
      return this.nodata();
    }
    // Names between the apex and the records (svc.<domain>, <ns>.svc.<domain>...) exist without records.
    if ((n === 1 || n === 2) && (last === 'svc' || last === 'pod')) return this.nodata();
    if (last === 'pod' && n === 3) {
      const ip = dashedToIP(labels[0]);
      if (!ip) return this.nxdomain();
      return this.typed(q, TYPE.A, () => [{ name: q.name, ttl: this.ttl, type: TYPE.A, address: ip }]);
    }
    if (last !== 'svc') return this.nxdomain();
    if (n === 3) return this.serviceName(q, labels[1], labels[0]);
    if (n === 4) return this.endpointName(q, labels[2], labels[1], labels[0]);
    if (n === 5 && labels[0].startsWith('_') && labels[1].startsWith('_')) {
      return this.portName(q, labels[3], labels[2], labels[0].slice(1), labels[1].slice(1));
    }
    return this.nxdomain();
  }

  private fqdn(namespace: string, name: string): string {
    return `${name}.${namespace}.svc.${this.domain}`;
  }

  private serviceName(q: Question, namespace: string, name: string): ZoneAnswer {
    const svc = this.lookup.service(namespace, name);
    if (!svc) return this.nxdomain();
    if (svc.spec?.type === 'ExternalName') {
      const target = String(svc.spec.externalName ?? '').replace(/\.$/, '');
      if (!target) return this.nodata();
      return this.found([{ name: q.name, ttl: this.ttl, type: TYPE.CNAME, target }]);
    }
    if (q.type === TYPE.SRV) return this.srv(q, svc, svc.spec?.ports ?? []);
    return this.typed(q, TYPE.A, () => this.addressRecords(q.name, svc));
  }

  private endpointName(q: Question, namespace: string, name: string, host: string): ZoneAnswer {
    const svc = this.lookup.service(namespace, name);
    if (!svc || !isHeadless(svc)) return this.nxdomain();
    const found = readyAddresses(this.lookup.endpoints(namespace, name)).filter((a) => a.host.toLowerCase() === host);
    if (!found.length) return this.nxdomain();
    return this.typed(q, TYPE.A, () => found.map((a) => ({ name: q.name, ttl: this.ttl, type: TYPE.A, address: a.ip })));
  }

  private portName(q: Question, namespace: string, name: string, port: string, proto: string): ZoneAnswer {
    const svc = this.lookup.service(namespace, name);
    if (!svc || svc.spec?.type === 'ExternalName') return this.nxdomain();
    const ports = (svc.spec?.ports ?? []).filter((p: any) => p.name && p.name.toLowerCase() === port && String(p.protocol ?? 'TCP').toLowerCase() === proto);
    if (!ports.length) return this.nxdomain();
    if (q.type === TYPE.SRV) return this.srv(q, svc, ports);
    return this.typed(q, TYPE.A, () => this.addressRecords(q.name, svc));
  }

  /** A records of a Service: its ClusterIP, or for a headless one its ready endpoints. */
  private addressRecords(owner: string, svc: KubeObject): ResourceRecord[] {
    if (isHeadless(svc)) {
      return readyAddresses(this.lookup.endpoints(svc.metadata.namespace!, svc.metadata.name!)).map((a) => ({ name: owner, ttl: this.ttl, type: TYPE.A, address: a.ip }));
    }
    const ip = svc.spec?.clusterIP;
    return isIPv4(ip) ? [{ name: owner, ttl: this.ttl, type: TYPE.A, address: ip }] : [];
  }

  /** SRV records of ports: the Service's name as target, or each endpoint's for a headless one. */
  private srv(q: Question, svc: KubeObject, ports: any[]): ZoneAnswer {
    const ns = svc.metadata.namespace!;
    const name = svc.metadata.name!;
    const records: ResourceRecord[] = [];
    if (isHeadless(svc)) {
      const ep = this.lookup.endpoints(ns, name);
      for (const p of ports) {
        for (const subset of ep?.subsets ?? []) {
          const epPort = (subset.ports ?? []).find((x: any) => (x.name ?? '') === (p.name ?? ''));
          if (!epPort) continue;
          for (const a of readyAddresses({ ...ep!, subsets: [subset] })) {
            records.push({ name: q.name, ttl: this.ttl, type: TYPE.SRV, priority: 0, weight: 0, port: epPort.port, target: `${a.host}.${this.fqdn(ns, name)}` });
          }
        }
      }
    } else if (isIPv4(svc.spec?.clusterIP)) {
      for (const p of ports) records.push({ name: q.name, ttl: this.ttl, type: TYPE.SRV, priority: 0, weight: 0, port: p.port, target: this.fqdn(ns, name) });
    }
    // Equal weights adding up to 100, as CoreDNS gives them.
    for (const r of records) if (r.type === TYPE.SRV) r.weight = Math.floor(100 / records.length);
    return records.length ? this.found(records) : this.nodata();
  }

  private reverse(name: string, q: Question): ZoneAnswer | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
    if (!m) return undefined;
    const ip = [m[4], m[3], m[2], m[1]].map(Number).join('.');
    for (const svc of this.lookup.services()) {
      const ns = svc.metadata.namespace!;
      const svcName = svc.metadata.name!;
      let target: string | undefined;
      if (svc.spec?.clusterIP === ip) target = this.fqdn(ns, svcName);
      else if (isHeadless(svc)) {
        const a = readyAddresses(this.lookup.endpoints(ns, svcName)).find((x) => x.ip === ip);
        if (a) target = `${a.host}.${this.fqdn(ns, svcName)}`;
      }
      if (target) return this.typed(q, TYPE.PTR, () => [{ name: q.name, ttl: this.ttl, type: TYPE.PTR, target }]);
    }
    return undefined;
  }

  /** Records of `type` for A/ANY-style questions of that type; other types of an existing name: NODATA. */
  private typed(q: Question, type: number, records: () => ResourceRecord[]): ZoneAnswer {
    if (q.type !== type && q.type !== TYPE.ANY) return this.nodata();
    const list = records();
    return list.length ? this.found(list) : this.nodata();
  }

  private found(answers: ResourceRecord[]): ZoneAnswer {
    return { rcode: RCODE.NOERROR, answers, authority: [] };
  }

  private nodata(): ZoneAnswer {
    return { rcode: RCODE.NOERROR, answers: [], authority: [this.soa()] };
  }

  private nxdomain(): ZoneAnswer {
    return { rcode: RCODE.NXDOMAIN, answers: [], authority: [this.soa()] };
  }

  private soa(): ResourceRecord {
    return {
      name: this.domain,
      ttl: this.ttl,
      type: TYPE.SOA,
      mname: `ns.dns.${this.domain}`,
      rname: `hostmaster.${this.domain}`,
      // Any serial: nothing transfers this zone.
      serial: Math.floor(Date.now() / 1000),
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: this.ttl,
    };
  }
}
