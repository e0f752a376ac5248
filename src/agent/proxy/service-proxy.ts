import type { KubeObject } from '../../api/types';
import type { Informer } from '../../client/informer';
import { realClock, type Clock } from '../clock';
import { Balancer, type Endpoint } from './balancer';
import type { HostAddresses } from './host-addresses';
import { TcpFrontend } from './tcp-frontend';

/**
 * The agent's service proxy, after kube-proxy's userspace mode: for every
 * TCP port of every Service a listener on the node (`<node-ip>:<nodePort>`)
 * and, when the host lets mk hold the ClusterIPs (HostAddresses),
 * one on `<clusterIP>:<port>`; each relays connections to the ready
 * addresses of the Service's Endpoints through a shared Balancer.
 *
 * Level-based: any Service or Endpoints event only schedules a pass, and a
 * pass recomputes the wanted listeners from the informers' caches and moves
 * the host toward them (close what is no longer wanted, then addresses,
 * then open what is missing). A listener that cannot open (its port taken)
 * is retried every few seconds.
 */

export interface ServiceProxyOptions {
  services: Informer;
  endpoints: Informer;
  /** NodePorts listen here (the agent's --node-ip). */
  nodeIP: string;
  /** ClusterIPs are served only with this, already acquired. */
  addresses?: HostAddresses;
  /** Addresses to hold besides the ClusterIPs (the cluster DNS server's). */
  extraAddresses?: string[];
  /** `ip:port` pairs served by something else in the agent (the DNS server): never proxied. */
  reserved?: string[];
  clock?: Clock;
  log?: (line: string) => void;
  /** How soon to try again a listener that could not open. Default 5 s. */
  retryMs?: number;
}

interface WantedFrontend {
  host: string;
  port: number;
  /** `namespace/name:portName`: the balancer it uses. */
  balancer: string;
  clusterIP: boolean;
}

/** `namespace/name:portName`, as kube-proxy names a service port. */
function servicePortName(svc: KubeObject, port: any): string {
  return `${svc.metadata.namespace}/${svc.metadata.name}:${port.name ?? ''}`;
}

function isIPv4(s: unknown): s is string {
  return typeof s === 'string' && /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s) && s.split('.').every((p) => Number(p) <= 255);
}

/** The ready addresses of an Endpoints object for one service port (matched by port name and protocol). */
export function endpointsFor(ep: KubeObject | undefined, portName: string, protocol = 'TCP'): Endpoint[] {
  const out: Endpoint[] = [];
  for (const subset of ep?.subsets ?? []) {
    const port = (subset.ports ?? []).find((p: any) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === protocol);
    if (!port) continue;
    for (const a of subset.addresses ?? []) if (a?.ip) out.push({ ip: a.ip, port: port.port });
  }
  return out;
}

export class ServiceProxy {
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private readonly retryMs: number;
  private readonly reserved: Set<string>;
  private readonly balancers = new Map<string, Balancer>();
  /** `ip:port` -> its listener and the service port it serves. */
  private readonly frontends = new Map<string, { frontend: TcpFrontend; name: string }>();
  /** Listeners that failed to open, with the error last reported (reported once until it changes). */
  private readonly failing = new Map<string, string>();
  /** Service ports not proxied (UDP, SCTP), so each is reported once. */
  private skipped = new Set<string>();
  private scheduled = false;
  private running?: Promise<void>;
  private again = false;
  private cancelRetry?: () => void;
  private stopped = false;
  private started = false;

  constructor(private readonly opts: ServiceProxyOptions) {
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? (() => undefined);
    this.retryMs = opts.retryMs ?? 5_000;
    this.reserved = new Set(opts.reserved ?? []);
  }

  /** Whether ClusterIPs are served on this host (else only NodePorts). */
  get servesClusterIPs(): boolean {
    return !!this.opts.addresses;
  }

  /** Starts following Services and Endpoints; resolves after the first pass. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const poke = () => this.schedule();
    for (const inf of [this.opts.services, this.opts.endpoints]) inf.on({ add: poke, update: poke, delete: poke });
    await Promise.all([this.opts.services.start(), this.opts.endpoints.start()]);
    await this.pass();
  }

  /** Closes every listener (established connections are cut). The addresses are their owner's to remove. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelRetry?.();
    await this.running?.catch(() => undefined);
    await Promise.all([...this.frontends.values()].map((f) => f.frontend.close(true)));
    this.frontends.clear();
  }

  /** The listeners now open: `ip:port` -> service port name. */
  listeners(): Map<string, string> {
    return new Map([...this.frontends].map(([key, f]) => [key, f.name]));
  }

  /** The balancer of a service port (`namespace/name:portName`), for tests and diagnostics. */
  balancer(name: string): Balancer | undefined {
    return this.balancers.get(name);
  }

  /** Runs a pass now (tests; start() runs the first). Resolves when the host matches the caches. */
  sync(): Promise<void> {
    return this.pass();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped || !this.started) return;
    this.scheduled = true;
    // Events come in bursts (a Service and its Endpoints, a relist): one pass for the burst.
    setImmediate(() => {
      this.scheduled = false;
      void this.pass();
    });
  }

  private pass(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.reconcile();
        } while (this.again && !this.stopped);
      } catch (err) {
        this.log(`service proxy: ${(err as Error).message}`);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** The listeners the caches call for, and the balancers brought up to date on the way. */
  private wanted(): Map<string, WantedFrontend> {
    const wanted = new Map<string, WantedFrontend>();
    const liveBalancers = new Set<string>();
    const skipped = new Set<string>();
    const clusterIPs = !!this.opts.addresses;
    for (const svc of this.opts.services.list()) {
      const spec = svc.spec ?? {};
      if (spec.type === 'ExternalName') continue;
      const ep = this.opts.endpoints.get(`${svc.metadata.namespace}/${svc.metadata.name}`);
      for (const port of spec.ports ?? []) {
        const name = servicePortName(svc, port);
        if ((port.protocol ?? 'TCP') !== 'TCP') {
          if (!this.skipped.has(name)) this.log(`service proxy: ${name} is ${port.protocol}; only TCP ports are proxied`);
          skipped.add(name);
          continue;
        }
        let balancer = this.balancers.get(name);
        if (!balancer) this.balancers.set(name, (balancer = new Balancer(this.clock)));
        liveBalancers.add(name);
        balancer.setAffinity({ timeoutSeconds: spec.sessionAffinity === 'ClientIP' ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800) : 0 });
        balancer.setEndpoints(endpointsFor(ep, port.name ?? ''));
        const add = (host: string, p: number, clusterIP: boolean) => {
          const key = `${host}:${p}`;
          if (this.reserved.has(key)) return;
          // Two services claiming one address (a nodePort reused during a change): the first keeps it.
          if (!wanted.has(key)) wanted.set(key, { host, port: p, balancer: name, clusterIP });
        };
        if (clusterIPs && isIPv4(spec.clusterIP) && port.port) add(spec.clusterIP, port.port, true);
        if (port.nodePort) add(this.opts.nodeIP, port.nodePort, false);
      }
    }
    for (const name of this.balancers.keys()) if (!liveBalancers.has(name)) this.balancers.delete(name);
    this.skipped = skipped;
    return wanted;
  }

  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const wanted = this.wanted();

    const closing: Array<Promise<void>> = [];
    for (const [key, f] of this.frontends) {
      const w = wanted.get(key);
      if (w) {
        f.frontend.balancer = this.balancers.get(w.balancer)!;
        f.name = w.balancer;
        continue;
      }
      this.frontends.delete(key);
      closing.push(f.frontend.close());
      this.log(`service proxy: stopped listening on ${key}`);
    }
    await Promise.all(closing);

    if (this.opts.addresses) {
      const ips = new Set(this.opts.extraAddresses ?? []);
      for (const w of wanted.values()) if (w.clusterIP) ips.add(w.host);
      await this.opts.addresses.sync(ips);
    }

    for (const key of this.failing.keys()) if (!wanted.has(key)) this.failing.delete(key);
    await Promise.all(
      [...wanted].filter(([key]) => !this.frontends.has(key)).map(async ([key, w]) => {
        const f = new TcpFrontend(w.host, w.port, this.balancers.get(w.balancer)!);
        try {
          await f.listen();
        } catch (err) {
          const msg = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
          if (this.failing.get(key) !== msg) this.log(`service proxy: cannot listen on ${key} for ${w.balancer}: ${(err as Error).message}; retrying`);
          this.failing.set(key, msg);
          return;
        }
        if (this.stopped) {
          await f.close(true);
          return;
        }
        this.failing.delete(key);
        this.frontends.set(key, { frontend: f, name: w.balancer });
        this.log(`service proxy: listening on ${key} for ${w.balancer}`);
      }),
    );

    this.cancelRetry?.();
    this.cancelRetry = undefined;
    if (this.failing.size && !this.stopped) this.cancelRetry = this.clock.after(this.retryMs, () => void this.pass());
  }
}
