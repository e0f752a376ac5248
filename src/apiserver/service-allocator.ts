import {
  AllocationError,
  ClusterIPAllocator,
  DEFAULT_NODE_PORT_RANGE,
  DEFAULT_SERVICE_CIDR,
  NodePortAllocator,
  type RandomInt,
} from '../api/ipalloc';
import type { KubeObject, StatusCause } from '../api/types';
import { field } from '../api/validation';
import { internalError, invalid } from './errors';

/**
 * The Service admission that hands out cluster IPs and node ports, as
 * kube-apiserver's service REST storage does (pkg/registry/core/service/
 * storage/alloc.go): on create and update it takes what the new object needs
 * and asks for, and returns a Transaction; the caller commits it once the
 * object is stored (which frees what the old object held and the new one
 * does not) or reverts it when the write fails (which frees what was
 * taken). Deleting a Service frees everything it held.
 *
 * The state is in memory and rebuilt from the stored Services at start, the
 * guarantee Kubernetes' repair controllers give. Allocation is synchronous,
 * so two concurrent writes can never be handed the same address or port.
 */

export interface Transaction {
  commit(): void;
  revert(): void;
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

const noop: Transaction = { commit: () => undefined, revert: () => undefined };

export class ServiceAllocator {
  readonly ips: ClusterIPAllocator;
  readonly ports: NodePortAllocator;

  constructor(opts: ServiceAllocatorOptions = {}) {
    this.ips = new ClusterIPAllocator(opts.serviceCidr ?? DEFAULT_SERVICE_CIDR, opts.random);
    this.ports = new NodePortAllocator(opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE, opts.random);
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
   * undoing what it took. A dry run checks and fills in, but keeps nothing.
   */
  allocate(svc: KubeObject, old: KubeObject | undefined, dryRun = false): Transaction {
    const spec = svc.spec;
    if (!isObj(spec)) return noop;
    const name = svc.metadata?.name ?? '';
    const undo: Array<() => void> = [];
    const revert = () => {
      for (const u of undo.splice(0).reverse()) u();
    };
    try {
      this.checkIPFamilies(spec, name);
      this.allocateClusterIPs(spec, name, new Set(this.heldIPs(old)), undo);
      this.allocateNodePorts(spec, name, new Set(this.heldPorts(old)), undo);
    } catch (err) {
      revert();
      throw err;
    }
    if (dryRun) {
      revert();
      return noop;
    }
    const keep = new Set(this.heldIPs(svc));
    const keepPorts = new Set(this.heldPorts(svc));
    const freeIPs = this.heldIPs(old).filter((ip) => !keep.has(ip));
    const freePorts = this.heldPorts(old).filter((p) => !keepPorts.has(p));
    let settled = false;
    return {
      commit: () => {
        if (settled) return;
        settled = true;
        for (const ip of freeIPs) this.ips.release(ip);
        for (const p of freePorts) this.ports.release(p);
      },
      revert: () => {
        if (settled) return;
        settled = true;
        revert();
      },
    };
  }

  /** Frees what a deleted Service held. */
  release(svc: KubeObject): void {
    for (const ip of this.heldIPs(svc)) this.ips.release(ip);
    for (const p of this.heldPorts(svc)) this.ports.release(p);
  }

  /**
   * Rebuilds the pools from the stored Services (at start, before any
   * write). Returns what Kubernetes' repair controllers would report: values
   * outside the configured ranges, and values two Services claim.
   */
  rebuild(services: KubeObject[]): string[] {
    const warnings: string[] = [];
    for (const svc of services) {
      const who = `${svc.metadata.namespace}/${svc.metadata.name}`;
      for (const ip of this.heldIPs(svc)) {
        if (!this.ips.contains(ip)) {
          warnings.push(`Cluster IP ${ip} of service ${who} is not within the service CIDR ${this.ips.range.cidr}; please recreate the service`);
        } else if (this.ips.isAllocated(ip)) {
          warnings.push(`the cluster IP ${ip} for service ${who} was assigned to multiple services; please recreate the service`);
        } else {
          this.ips.allocate(ip);
        }
      }
      for (const port of this.heldPorts(svc)) {
        if (!this.ports.contains(port)) {
          warnings.push(`the node port ${port} for service ${who} is not within the node port range; please recreate the service`);
        } else if (this.ports.isAllocated(port)) {
          warnings.push(`the node port ${port} for service ${who} was assigned to multiple services; please recreate the service`);
        } else {
          this.ports.allocate(port);
        }
      }
    }
    return warnings;
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

  private allocateClusterIPs(spec: Obj, name: string, held: Set<string>, undo: Array<() => void>): void {
    if (!needsClusterIP(spec) || isHeadless(spec)) return;
    const clusterIPs: string[] = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
    if (!clusterIPs.length) {
      const ip = this.take(() => this.ips.allocateNext(), 'failed to allocate a serviceIP');
      undo.push(() => this.ips.release(ip));
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
      return;
    }
    for (const ip of clusterIPs) {
      if (held.has(ip)) continue;
      try {
        this.ips.allocate(ip);
      } catch (err) {
        throw allocationFailed(err, name, field.invalid('spec.clusterIPs', clusterIPs, `failed to allocate IP ${ip}: ${(err as Error).message}`));
      }
      undo.push(() => this.ips.release(ip));
    }
  }

  /**
   * initNodePorts/updateNodePorts: a requested port is taken unless the old
   * object already held it; an empty one gets the port already given to the
   * same service port number (a TCP and a UDP port 53 share their node port),
   * else a free one.
   */
  private allocateNodePorts(spec: Obj, name: string, held: Set<number>, undo: Array<() => void>): void {
    const takenHere = new Set<number>();
    const request = (port: number, path: string) => {
      if (held.has(port) || takenHere.has(port)) return;
      try {
        this.ports.allocate(port);
      } catch (err) {
        throw allocationFailed(err, name, field.invalid(path, port, (err as Error).message));
      }
      takenHere.add(port);
      undo.push(() => this.ports.release(port));
    };
    const next = (what: string): number => {
      const port = this.take(() => this.ports.allocateNext(), `failed to allocate a ${what}`);
      takenHere.add(port);
      undo.push(() => this.ports.release(port));
      return port;
    };

    if (needsNodePorts(spec) && Array.isArray(spec.ports)) {
      const ports: Obj[] = spec.ports.filter(isObj);
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
    if (needsHealthCheck(spec)) {
      if (spec.healthCheckNodePort) request(spec.healthCheckNodePort, 'spec.healthCheckNodePort');
      else spec.healthCheckNodePort = next('HealthCheck NodePort');
    }
  }

  private take<T>(fn: () => T, what: string): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof AllocationError) throw internalError(`Internal error occurred: ${what}: ${err.message}`);
      throw err;
    }
  }
}

/** An AllocationError as the 422 Kubernetes answers with; anything else unchanged. */
function allocationFailed(err: unknown, name: string, cause: StatusCause): unknown {
  if (!(err instanceof AllocationError)) return err;
  return invalid(SERVICES, name, [cause]);
}
