import {
  AllocationError,
  ClusterIPAllocator,
  DEFAULT_NODE_PORT_RANGE,
  DEFAULT_SERVICE_CIDR,
  NodePortAllocator,
  type RandomInt,
  type RangePool,
} from '../api/ipalloc';
import type { KubeObject, StatusCause } from '../api/types';
import { field } from '../api/validation';
import type { Store } from '../storage';
import { internalError, invalid } from './errors';
import { RangeRecord, SERVICE_IPS_KEY, SERVICE_NODE_PORTS_KEY } from './range-allocation';

/**
 * The Service admission that hands out cluster IPs and node ports, as
 * kube-apiserver's service REST storage does (pkg/registry/core/service/
 * storage/alloc.go): on create and update it takes what the new object needs
 * and asks for, and returns a Transaction; the caller commits it once the
 * object is stored (which frees what the old object held and the new one
 * does not) or reverts it when the write fails (which frees what was
 * taken). Deleting a Service frees everything it held.
 *
 * The pools are RangeAllocation records in the datastore, shared by every
 * server of the cluster and changed by compare-and-swap (range-allocation.ts),
 * so two servers, like two requests, are never handed the same address or
 * port. What a crash leaves taken without a Service holding it, the repair
 * (run at start and every few minutes) gives back, as Kubernetes' repair
 * controllers do.
 */

export interface Transaction {
  /** The object was stored: frees what the old object held and the new one does not. */
  commit(): Promise<void>;
  /** The write failed: frees what was taken for it. */
  revert(): Promise<void>;
}

export interface ServiceAllocatorOptions {
  /** `--service-cidr`, default 10.43.0.0/16. */
  serviceCidr?: string;
  /** `--service-node-port-range`, default 30000-32767. */
  nodePortRange?: string;
  random?: RandomInt;
}

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const SERVICES = { group: '', plural: 'services', kind: 'Service' };

const needsClusterIP = (spec: Obj) => spec.type !== 'ExternalName';
const isHeadless = (spec: Obj) => spec.clusterIP === 'None' || (Array.isArray(spec.clusterIPs) && spec.clusterIPs[0] === 'None');
const needsNodePorts = (spec: Obj) => spec.type === 'NodePort' || spec.type === 'LoadBalancer';
/** NodePort services always get node ports; LoadBalancers unless allocateLoadBalancerNodePorts is false. */
const allocatesNodePorts = (spec: Obj) => spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
/** apiservice.NeedsHealthCheck */
const needsHealthCheck = (spec: Obj) => spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';

const noop: Transaction = { commit: async () => undefined, revert: async () => undefined };

/**
 * How many repairs in a row must find a value taken with no Service holding
 * it before it is freed: a Service another server is creating holds its
 * value a moment before the Service is stored (Kubernetes' numRepairsBeforeLeakCleanup).
 */
const LEAK_REPAIRS = 3;
/** How often servers repair the pools (Kubernetes' repair controllers run every 3 minutes). */
export const REPAIR_INTERVAL_MS = 3 * 60_000;

/** What a create or update takes from the cluster IP pool. */
interface IPPlan {
  /** A dynamically chosen address (spec.clusterIP and clusterIPs get it). */
  assigned?: string;
  taken: string[];
}

/** What it takes from the node port pool: the node port of each spec.ports entry, and the health check port. */
interface PortPlan {
  nodePorts: unknown[];
  healthCheckNodePort?: unknown;
  taken: number[];
}

export class ServiceAllocator {
  readonly ips: RangeRecord<string, ClusterIPAllocator>;
  readonly ports: RangeRecord<number, NodePortAllocator>;
  /** Values seen taken with no Service holding them, and in how many repairs in a row. */
  private ipLeaks = new Map<string, number>();
  private portLeaks = new Map<number, number>();

  constructor(store: Store, opts: ServiceAllocatorOptions = {}) {
    this.ips = new RangeRecord(store, SERVICE_IPS_KEY, new ClusterIPAllocator(opts.serviceCidr ?? DEFAULT_SERVICE_CIDR, opts.random));
    this.ports = new RangeRecord(store, SERVICE_NODE_PORTS_KEY, new NodePortAllocator(opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE, opts.random));
  }

  /** The cluster IPs a stored Service holds. */
  heldIPs(svc: KubeObject | undefined): string[] {
    const spec = svc?.spec;
    if (!isObj(spec) || !needsClusterIP(spec) || isHeadless(spec)) return [];
    const ips: unknown[] = Array.isArray(spec.clusterIPs) && spec.clusterIPs.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
    return ips.filter((ip): ip is string => typeof ip === 'string' && ip !== '' && ip !== 'None');
  }

  /** The node ports a stored Service holds (its ports' and its health check's). */
  heldPorts(svc: KubeObject | undefined): number[] {
    const spec = svc?.spec;
    if (!isObj(spec)) return [];
    const held = new Set<number>();
    if (needsNodePorts(spec) && Array.isArray(spec.ports)) {
      for (const p of spec.ports) if (isObj(p) && Number.isInteger(p.nodePort) && p.nodePort > 0) held.add(p.nodePort);
    }
    if (needsHealthCheck(spec) && Number.isInteger(spec.healthCheckNodePort) && spec.healthCheckNodePort > 0) held.add(spec.healthCheckNodePort);
    return [...held];
  }

  /**
   * Takes what `svc` (already defaulted and validated) needs, filling in
   * clusterIP(s), nodePorts and healthCheckNodePort where empty. `old` is the
   * stored object on update. Throws an ApiError (422 for a requested value
   * that is taken or out of range, 500 when a pool is exhausted) after
   * giving back what it took. A dry run checks and fills in, but keeps nothing.
   */
  async allocate(svc: KubeObject, old: KubeObject | undefined, dryRun = false): Promise<Transaction> {
    const spec = svc.spec;
    if (!isObj(spec)) return noop;
    const name = svc.metadata?.name ?? '';
    this.checkIPFamilies(spec, name);
    const heldIPs = new Set(this.heldIPs(old));
    const heldPorts = new Set(this.heldPorts(old));
    const planIPs = (pool: ClusterIPAllocator) => this.planClusterIPs(spec, name, heldIPs, pool);
    const planPorts = (pool: NodePortAllocator) => this.planNodePorts(spec, name, heldPorts, pool);

    if (dryRun) {
      const ips = await this.ips.peek(planIPs);
      assign(spec, ips, await this.ports.peek(planPorts));
      return noop;
    }
    const ips = await this.ips.update(planIPs);
    let ports: PortPlan;
    try {
      ports = await this.ports.update(planPorts);
    } catch (err) {
      await this.free(ips.taken, []);
      throw err;
    }
    assign(spec, ips, ports);

    const keepIPs = new Set(this.heldIPs(svc));
    const keepPorts = new Set(this.heldPorts(svc));
    const freeIPs = [...heldIPs].filter((ip) => !keepIPs.has(ip));
    const freePorts = [...heldPorts].filter((p) => !keepPorts.has(p));
    let settled = false;
    return {
      commit: async () => {
        if (settled) return;
        settled = true;
        await this.free(freeIPs, freePorts);
      },
      revert: async () => {
        if (settled) return;
        settled = true;
        await this.free(ips.taken, ports.taken);
      },
    };
  }

  /** Frees what a deleted Service held. */
  async release(svc: KubeObject): Promise<void> {
    await this.free(this.heldIPs(svc), this.heldPorts(svc));
  }

  /**
   * Kubernetes' repair controllers for cluster IPs and node ports: makes the
   * shared pools agree with the stored Services. A value a Service holds is
   * taken if the pool lacks it; a value taken that no Service holds is freed
   * once LEAK_REPAIRS repairs in a row found it so, or at once when
   * `exclusive` (this server is the datastore's only user, as on SQLite, so
   * no create can be in flight elsewhere). Returns what the repair controllers
   * would report: values outside the configured ranges, values two Services
   * claim, and a pool the datastore keeps for another range.
   */
  async repair(services: KubeObject[], exclusive = false): Promise<string[]> {
    const warnings: string[] = [];
    const ipRange = this.ips.local.rangeText;
    const portRange = this.ports.local.rangeText;
    const storedIPs = await this.ips.load();
    if (storedIPs) warnings.push(`the service IP range in the datastore was ${storedIPs}, this server's is ${ipRange}; it is rebuilt for ${ipRange} (every server of a cluster needs the same --service-cidr)`);
    const storedPorts = await this.ports.load();
    if (storedPorts) warnings.push(`the node port range in the datastore was ${storedPorts}, this server's is ${portRange}; it is rebuilt for ${portRange} (every server of a cluster needs the same --service-node-port-range)`);

    const ips = new Set<string>();
    const ports = new Set<number>();
    for (const svc of services) {
      const who = `${svc.metadata.namespace}/${svc.metadata.name}`;
      for (const ip of this.heldIPs(svc)) {
        if (!this.ips.local.contains(ip)) {
          warnings.push(`Cluster IP ${ip} of service ${who} is not within the service CIDR ${ipRange}; please recreate the service`);
        } else if (ips.has(ip)) {
          warnings.push(`the cluster IP ${ip} for service ${who} was assigned to multiple services; please recreate the service`);
        } else {
          ips.add(ip);
        }
      }
      for (const port of this.heldPorts(svc)) {
        if (!this.ports.local.contains(port)) {
          warnings.push(`the node port ${port} for service ${who} is not within the node port range; please recreate the service`);
        } else if (ports.has(port)) {
          warnings.push(`the node port ${port} for service ${who} was assigned to multiple services; please recreate the service`);
        } else {
          ports.add(port);
        }
      }
    }
    this.ipLeaks = await this.ips.update((pool) => reconcilePool(pool, ips, this.ipLeaks, exclusive));
    this.portLeaks = await this.ports.update((pool) => reconcilePool(pool, ports, this.portLeaks, exclusive));
    return warnings;
  }

  /** Gives values back. Best effort: what cannot be freed now (the datastore is out of reach) the repair frees later. */
  private async free(ips: string[], ports: number[]): Promise<void> {
    if (ips.length) {
      await this.ips.update((pool) => ips.forEach((ip) => pool.release(ip))).catch(() => undefined);
    }
    if (ports.length) {
      await this.ports.update((pool) => ports.forEach((p) => pool.release(p))).catch(() => undefined);
    }
  }

  /**
   * The part of initIPFamilyFields a single-stack IPv4 cluster needs: what a
   * Service asks for must exist here. Selectorless headless Services are
   * exempt, as in Kubernetes (they carry no cluster IP to allocate).
   */
  private checkIPFamilies(spec: Obj, name: string): void {
    if (!needsClusterIP(spec)) return;
    const selectorless = !isObj(spec.selector) || Object.keys(spec.selector).length === 0;
    if (isHeadless(spec) && selectorless) return;
    const causes: StatusCause[] = [];
    const families: unknown[] = Array.isArray(spec.ipFamilies) ? spec.ipFamilies : [];
    const clusterIPs: unknown[] = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
    if (spec.ipFamilyPolicy === 'SingleStack') {
      if (clusterIPs.length === 2) causes.push(field.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"));
      if (families.length === 2) causes.push(field.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"));
    }
    if (spec.ipFamilyPolicy === 'RequireDualStack') {
      causes.push(field.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, 'this cluster is not configured for dual-stack services'));
    }
    families.forEach((f, i) => {
      if (f !== 'IPv4') causes.push(field.invalid(`spec.ipFamilies[${i}]`, f, 'not configured on this cluster'));
    });
    if (causes.length) throw invalid(SERVICES, name, causes);
  }

  /** Takes the requested cluster IPs, or a free one when none is requested, from `pool` (a private copy). */
  private planClusterIPs(spec: Obj, name: string, held: Set<string>, pool: ClusterIPAllocator): IPPlan {
    if (!needsClusterIP(spec) || isHeadless(spec)) return { taken: [] };
    const clusterIPs: string[] = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
    if (!clusterIPs.length) {
      const ip = take(() => pool.allocateNext(), 'failed to allocate a serviceIP');
      return { assigned: ip, taken: [ip] };
    }
    const taken: string[] = [];
    for (const ip of clusterIPs) {
      if (held.has(ip)) continue;
      try {
        pool.allocate(ip);
      } catch (err) {
        throw allocationFailed(err, name, field.invalid('spec.clusterIPs', clusterIPs, `failed to allocate IP ${ip}: ${(err as Error).message}`));
      }
      taken.push(ip);
    }
    return { taken };
  }

  /**
   * initNodePorts/updateNodePorts: a requested port is taken unless the old
   * object already held it; an empty one gets the port already given to the
   * same service port number (a TCP and a UDP port 53 share their node port),
   * else a free one. Works on copies of the ports: `assign` fills them in.
   */
  private planNodePorts(spec: Obj, name: string, held: Set<number>, pool: NodePortAllocator): PortPlan {
    const taken: number[] = [];
    const request = (port: number, path: string) => {
      if (held.has(port) || taken.includes(port)) return;
      try {
        pool.allocate(port);
      } catch (err) {
        throw allocationFailed(err, name, field.invalid(path, port, (err as Error).message));
      }
      taken.push(port);
    };
    const next = (what: string): number => {
      const port = take(() => pool.allocateNext(), `failed to allocate a ${what}`);
      taken.push(port);
      return port;
    };

    const copies: unknown[] = Array.isArray(spec.ports) ? spec.ports.map((p: unknown) => (isObj(p) ? { ...p } : p)) : [];
    if (needsNodePorts(spec)) {
      const ports = copies.filter(isObj);
      const byServicePort = new Map<number, number>();
      ports.forEach((p, i) => {
        if (p.nodePort) {
          request(p.nodePort, `spec.ports[${i}].nodePort`);
          if (!byServicePort.has(p.port)) byServicePort.set(p.port, p.nodePort);
          return;
        }
        if (!allocatesNodePorts(spec)) return;
        const sibling = byServicePort.get(p.port) ?? ports.find((q) => q !== p && q.port === p.port && q.nodePort)?.nodePort;
        if (sibling) {
          request(sibling, `spec.ports[${i}].nodePort`);
          p.nodePort = sibling;
        } else {
          p.nodePort = next('nodePort');
        }
        byServicePort.set(p.port, p.nodePort);
      });
    }
    let healthCheckNodePort = spec.healthCheckNodePort;
    if (needsHealthCheck(spec)) {
      if (healthCheckNodePort) request(healthCheckNodePort, 'spec.healthCheckNodePort');
      else healthCheckNodePort = next('HealthCheck NodePort');
    }
    return { nodePorts: copies.map((p) => (isObj(p) ? p.nodePort : undefined)), healthCheckNodePort, taken };
  }
}

/** Writes what the plans chose into the Service. */
function assign(spec: Obj, ips: IPPlan, ports: PortPlan): void {
  if (ips.assigned) {
    spec.clusterIP = ips.assigned;
    spec.clusterIPs = [ips.assigned];
  }
  if (Array.isArray(spec.ports)) {
    spec.ports.forEach((p: unknown, i: number) => {
      if (isObj(p) && ports.nodePorts[i] !== undefined) p.nodePort = ports.nodePorts[i];
    });
  }
  if (ports.healthCheckNodePort !== undefined) spec.healthCheckNodePort = ports.healthCheckNodePort;
}

/**
 * One repair of one pool (a private copy): takes what Services hold, frees
 * leaks as described at repair(). Returns the leak counts for the next repair.
 */
function reconcilePool<T>(pool: RangePool<T>, held: Set<T>, leaks: Map<T, number>, exclusive: boolean): Map<T, number> {
  for (const v of held) if (!pool.isAllocated(v)) pool.allocate(v);
  const next = new Map<T, number>();
  for (const v of pool.allocated()) {
    if (held.has(v)) continue;
    const seen = (leaks.get(v) ?? 0) + 1;
    if (exclusive || seen >= LEAK_REPAIRS) pool.release(v);
    else next.set(v, seen);
  }
  return next;
}

function take<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AllocationError) throw internalError(`Internal error occurred: ${what}: ${err.message}`);
    throw err;
  }
}

/** An AllocationError as the 422 Kubernetes answers with; anything else unchanged. */
function allocationFailed(err: unknown, name: string, cause: StatusCause): unknown {
  if (!(err instanceof AllocationError)) return err;
  return invalid(SERVICES, name, [cause]);
}
