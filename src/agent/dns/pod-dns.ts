import * as fs from 'node:fs';
import type { KubeObject } from '../../api/types';
import type { SandboxConfig } from '../runtime/runtime';

/**
 * A pod's resolv.conf, decided as the kubelet does (pkg/kubelet/network/dns):
 * `dnsPolicy` ClusterFirst gives the cluster DNS server as the only
 * nameserver, the `<ns>.svc.<domain> svc.<domain> <domain>` search path ahead
 * of the host's, and `ndots:5`; Default keeps the host's resolver; None
 * starts empty; `dnsConfig` is merged on top of any of them. A hostNetwork
 * pod resolves like the host unless it asks for ClusterFirstWithHostNet.
 */

export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  options: string[];
}

export interface ClusterDnsSettings {
  /** The kubelet's --cluster-dns: empty when this node serves no cluster DNS. */
  clusterDNS: string[];
  /** The kubelet's --cluster-domain (cluster.local). */
  clusterDomain: string;
  /** The host's resolver (the kubelet's --resolv-conf, /etc/resolv.conf). */
  host: ResolvConf;
}

export type PodDns = SandboxConfig['dns'];

export interface PodDnsResult {
  /** undefined: the runtime's default, which is the host's resolver. */
  dns: PodDns;
  /** Events the kubelet records about this decision (MissingClusterDNS, DNSConfigForming). */
  warnings: Array<{ reason: string; message: string }>;
}

/** glibc's limits, which the kubelet enforces (validation.MaxDNSNameservers, MaxDNSSearchPaths, MaxDNSSearchListChars). */
const MAX_NAMESERVERS = 3;
const MAX_SEARCH_PATHS = 32;
const MAX_SEARCH_CHARS = 2048;

/** Parses resolv.conf: nameserver, search/domain (the last one wins, as in glibc) and options lines. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) continue;
    const [key, ...fields] = line.split(/\s+/);
    if (key === 'nameserver' && fields[0]) out.nameservers.push(fields[0]);
    else if (key === 'search' || key === 'domain') out.searches = fields.filter((f) => f !== '.');
    else if (key === 'options') out.options.push(...fields);
  }
  return out;
}

/** The host's resolv.conf, or an empty one when it cannot be read. */
export function readHostResolvConf(file = '/etc/resolv.conf'): ResolvConf {
  try {
    return parseResolvConf(fs.readFileSync(file, 'utf8'));
  } catch {
    return { nameservers: [], searches: [], options: [] };
  }
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/** `name:value` options merged by name, later ones winning (the kubelet's mergeDNSOptions). */
function mergeOptions(base: string[], extra: Array<{ name?: string; value?: string | null }>): string[] {
  const merged = new Map<string, string>();
  for (const op of base) {
    const i = op.indexOf(':');
    if (i >= 0) merged.set(op.slice(0, i), op.slice(i + 1));
    else merged.set(op, '');
  }
  for (const op of extra) {
    if (!op?.name) continue;
    merged.set(op.name, op.value ?? '');
  }
  return [...merged].map(([name, value]) => (value ? `${name}:${value}` : name));
}

export function podDnsConfig(pod: KubeObject, settings: ClusterDnsSettings): PodDnsResult {
  const spec = pod.spec ?? {};
  const warnings: PodDnsResult['warnings'] = [];
  const policy: string = spec.dnsPolicy ?? 'ClusterFirst';
  let type: 'none' | 'cluster' | 'host';
  if (policy === 'None') type = 'none';
  else if (policy === 'ClusterFirstWithHostNet') type = 'cluster';
  else if (policy === 'Default' || (policy === 'ClusterFirst' && spec.hostNetwork === true)) type = 'host';
  else type = 'cluster';

  if (type === 'cluster' && !settings.clusterDNS.length) {
    const msg = 'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.';
    warnings.push({ reason: 'MissingClusterDNS', message: `pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})". ${msg}` });
    type = 'host';
  }

  let dns: ResolvConf | undefined;
  if (type === 'none') {
    dns = { nameservers: [], searches: [], options: [] };
  } else if (type === 'cluster') {
    const domain = settings.clusterDomain;
    const searches = domain ? unique([`${pod.metadata.namespace ?? 'default'}.svc.${domain}`, `svc.${domain}`, domain, ...settings.host.searches]) : [...settings.host.searches];
    dns = { nameservers: [...settings.clusterDNS], searches, options: ['ndots:5'] };
  } else if (spec.dnsConfig) {
    // The runtime's default would be the host's resolver; spelled out here so dnsConfig can extend it.
    // Loopback nameservers are left out: inside the pod they would be the pod's own loopback (Docker drops them too).
    const host = settings.host;
    dns = { nameservers: host.nameservers.filter((ip) => !isLoopback(ip)), searches: [...host.searches], options: [...host.options] };
  }

  const extra = spec.dnsConfig;
  if (extra && dns) {
    dns.nameservers = unique([...dns.nameservers, ...(extra.nameservers ?? []).map(String)]);
    dns.searches = unique([...dns.searches, ...(extra.searches ?? []).map(String)]);
    dns.options = mergeOptions(dns.options, extra.options ?? []);
  }
  if (!dns) return { dns: undefined, warnings };

  if (dns.nameservers.length > MAX_NAMESERVERS) {
    dns.nameservers = dns.nameservers.slice(0, MAX_NAMESERVERS);
    warnings.push({
      reason: 'DNSConfigForming',
      message: `Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${dns.nameservers.join(' ')}`,
    });
  }
  const searches = dns.searches.slice(0, MAX_SEARCH_PATHS);
  while (searches.length && searches.join(' ').length > MAX_SEARCH_CHARS) searches.pop();
  if (searches.length < dns.searches.length) {
    dns.searches = searches;
    warnings.push({
      reason: 'DNSConfigForming',
      message: `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${searches.join(' ')}`,
    });
  }
  return { dns, warnings };
}
