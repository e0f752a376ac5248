import { resolveResourceName } from '../../api/registry';
import type { KubeClient } from '../../client/api-client';
import { Informer } from '../../client/informer';
import { ClusterZone } from '../dns/cluster-zone';
import { DnsServer } from '../dns/dns-server';
import { readHostResolvConf } from '../dns/pod-dns';
import { HostAddresses } from './host-addresses';
import { ServiceProxy } from './service-proxy';

const ENDPOINTS = resolveResourceName('endpoints')!;

/**
 * What a node does for Services (k3s runs kube-proxy and CoreDNS for this;
 * mk's agent does it itself): the service proxy, the ClusterIPs held on the
 * host, and the cluster DNS server on the cluster DNS IP.
 *
 * ClusterIPs and DNS need the host's cooperation: Linux, root, iproute2, and
 * no other mk agent on the host holding them (HostAddresses). Without it,
 * only NodePorts are served, and `clusterDNS` is empty so pods keep the
 * host's resolver (the kubelet's fallback without --cluster-dns).
 */

export interface NodeProxyOptions {
  client: KubeClient;
  /** The agent's Services informer (shared with the env of containers). */
  services: Informer;
  nodeIP: string;
  /** The kubelet's --cluster-dns: the address the DNS server holds and listens on (port 53). '' for none. */
  clusterDNS: string;
  /** The kubelet's --cluster-domain. */
  clusterDomain: string;
  /** Try to hold ClusterIPs on the host. Default true; false serves NodePorts only. */
  clusterIPs?: boolean;
  /** Where other names are forwarded; default: the nameservers of /etc/resolv.conf. */
  dnsUpstreams?: string[];
  /** Tests: another interface name and lock file than mk-svc0 and /run/mk/service-proxy.lock. */
  interfaceName?: string;
  lockFile?: string;
  log?: (line: string) => void;
}

export class NodeProxy {
  private readonly log: (line: string) => void;
  private readonly endpoints: Informer;
  private addresses?: HostAddresses;
  private dns?: DnsServer;
  private proxy?: ServiceProxy;
  /** Why ClusterIPs are not served, when they are not. */
  limitation?: string;

  constructor(private readonly opts: NodeProxyOptions) {
    this.log = opts.log ?? (() => undefined);
    this.endpoints = new Informer(opts.client, ENDPOINTS);
  }

  /** The cluster DNS servers pods should use: this node's, when it serves one. */
  get clusterDNS(): string[] {
    return this.dns ? [this.opts.clusterDNS] : [];
  }

  get serviceProxy(): ServiceProxy | undefined {
    return this.proxy;
  }

  get dnsServer(): DnsServer | undefined {
    return this.dns;
  }

  async start(): Promise<void> {
    const { opts } = this;
    if (opts.clusterIPs === false) this.limitation = 'ClusterIPs are disabled';
    else this.limitation = await HostAddresses.unavailableReason();
    if (!this.limitation) {
      const addresses = new HostAddresses({ interfaceName: opts.interfaceName, lockFile: opts.lockFile, log: this.log });
      try {
        if (await addresses.acquire()) this.addresses = addresses;
        else this.limitation = 'another mk agent on this host holds the ClusterIPs';
      } catch (err) {
        this.limitation = (err as Error).message;
      }
    }

    if (this.addresses && opts.clusterDNS) {
      await this.addresses.sync([opts.clusterDNS]);
      const zone = new ClusterZone(opts.clusterDomain, {
        service: (ns, name) => opts.services.get(`${ns}/${name}`),
        endpoints: (ns, name) => this.endpoints.get(`${ns}/${name}`),
        services: () => opts.services.list(),
      });
      const dns = new DnsServer({
        answer: (q) => zone.answer(q),
        upstreams: opts.dnsUpstreams ?? readHostResolvConf().nameservers,
        log: this.log,
      });
      try {
        await dns.listen(opts.clusterDNS, 53);
        this.dns = dns;
      } catch (err) {
        this.log(`agent: cluster DNS cannot listen on ${opts.clusterDNS}:53 (${(err as Error).message}); pods keep the host's resolver`);
      }
    }

    this.proxy = new ServiceProxy({
      services: opts.services,
      endpoints: this.endpoints,
      nodeIP: opts.nodeIP,
      addresses: this.addresses,
      extraAddresses: this.dns ? [opts.clusterDNS] : [],
      reserved: this.dns ? [`${opts.clusterDNS}:53`] : [],
      log: this.log,
    });
    await this.proxy.start();
    const served = this.addresses
      ? `NodePorts on ${opts.nodeIP}, ClusterIPs on ${this.addresses.interfaceName}${this.dns ? `, cluster DNS on ${opts.clusterDNS}:53 (${opts.clusterDomain})` : ''}`
      : `NodePorts on ${opts.nodeIP} only (${this.limitation}; pods keep the host's resolver)`;
    this.log(`agent: service proxy serving ${served}`);
  }

  /** Closes the listeners and the DNS server and removes what was added to the host. */
  async stop(): Promise<void> {
    await this.proxy?.stop();
    await this.dns?.close();
    this.endpoints.stop();
    await this.addresses?.release();
  }
}
