import { createHash } from 'node:crypto';
import * as os from 'node:os';
import { microTime } from '../agent/clock';
import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import { KUBERNETES_SERVICE } from './kubernetes-service';

/**
 * The Endpoints of the `kubernetes` Service name every API server of the
 * cluster that is alive, as kube-apiserver's lease endpoint reconciler
 * (--endpoint-reconciler-type=lease) keeps them: each server holds a Lease
 * of its own in kube-system (labelled as kube-apiserver's identity Leases
 * are), renewed every few seconds and naming the address it is reached at;
 * each sets the Endpoints to the addresses whose Lease is current. A server
 * that stops deletes its Lease and takes itself out at once; one that dies
 * drops out when its Lease runs out.
 *
 * "Current" compares the Lease's renewTime, written by another server's
 * clock, with this one's: the servers of a cluster are expected to keep
 * their clocks in step (kube-apiserver relies on etcd's TTLs instead).
 */

const LEASES = resolveResourceName('leases.coordination.k8s.io')!;
const ENDPOINTS = resolveResourceName('endpoints')!;
const NAMESPACE = 'kube-system';
export const IDENTITY_LABEL = 'apiserver.kubernetes.io/identity';
/** Where a server's Lease says how to reach it: `10.0.0.1:6443`. */
export const ENDPOINT_ANNOTATION = 'mk/apiserver-endpoint';
/** A Lease this long past its term is deleted by whichever server sees it (kube-apiserver's identity Lease GC does the same). */
const DELETE_AFTER_TERMS = 4;

export interface EndpointReconcilerOptions {
  client: KubeClient;
  /** This server as a candidate (hostname_uuid). */
  identity: string;
  /** The address and port it is reached at. */
  address: string;
  port: number;
  /** How long a Lease counts after its last renewal, and how often each server renews and reconciles. */
  leaseDurationMs: number;
  intervalMs: number;
  log?: (line: string) => void;
}

/** The Lease name of a server: stable for one host and port, so a restart renews the same Lease. */
export function apiserverLeaseName(address: string, port: number): string {
  return `apiserver-${createHash('sha256').update(`${os.hostname()}/${address}:${port}`).digest('hex').slice(0, 16)}`;
}

export class EndpointReconciler {
  private readonly leaseName: string;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly opts: EndpointReconcilerOptions) {
    this.leaseName = apiserverLeaseName(opts.address, opts.port);
  }

  /** Renews this server's Lease and reconciles the Endpoints once, then keeps doing so. */
  async start(): Promise<void> {
    await this.round();
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.round().finally(() => (this.running = undefined));
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  /** Deletes this server's Lease and takes it out of the Endpoints. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    try {
      await this.opts.client.delete(LEASES, NAMESPACE, this.leaseName);
    } catch (err) {
      if (!ApiStatusError.isNotFound(err)) this.log(`removing lease ${NAMESPACE}/${this.leaseName} failed: ${(err as Error).message}`);
    }
    await this.reconcile().catch((err) => this.log(`removing this server from the kubernetes endpoints failed: ${(err as Error).message}`));
  }

  private async round(): Promise<void> {
    try {
      await this.renew();
      if (!this.stopped) await this.reconcile();
    } catch (err) {
      this.log(`keeping the kubernetes endpoints failed: ${(err as Error).message}`);
    }
  }

  private log(line: string): void {
    this.opts.log?.(`mk server: ${line}`);
  }

  private async renew(): Promise<void> {
    const now = microTime(Date.now());
    const metadata = {
      name: this.leaseName,
      namespace: NAMESPACE,
      labels: { [IDENTITY_LABEL]: 'kube-apiserver', 'kubernetes.io/hostname': os.hostname() },
      annotations: { [ENDPOINT_ANNOTATION]: endpointText(this.opts.address, this.opts.port) },
    };
    const spec = { holderIdentity: this.opts.identity, leaseDurationSeconds: Math.ceil(this.opts.leaseDurationMs / 1000), renewTime: now };
    let lease: KubeObject | undefined;
    try {
      lease = await this.opts.client.get(LEASES, NAMESPACE, this.leaseName);
    } catch (err) {
      if (!ApiStatusError.isNotFound(err)) throw err;
    }
    if (!lease) {
      await this.opts.client.create(LEASES, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec: { ...spec, acquireTime: now } });
      return;
    }
    const acquireTime = lease.spec?.holderIdentity === this.opts.identity ? lease.spec.acquireTime : now;
    await this.opts.client.update(LEASES, {
      ...lease,
      metadata: { ...lease.metadata, labels: { ...lease.metadata.labels, ...metadata.labels }, annotations: { ...lease.metadata.annotations, ...metadata.annotations } },
      spec: { ...spec, acquireTime },
    });
  }

  /** Sets the Endpoints to the servers whose Leases are current (one subset per port, addresses sorted). */
  private async reconcile(): Promise<void> {
    const now = Date.now();
    const leases = (await this.opts.client.list(LEASES, NAMESPACE, { labelSelector: `${IDENTITY_LABEL}=kube-apiserver` })).items;
    const byPort = new Map<number, Set<string>>();
    for (const lease of leases) {
      const endpoint = parseEndpoint(lease.metadata.annotations?.[ENDPOINT_ANNOTATION]);
      const mine = lease.metadata.name === this.leaseName;
      if (!endpoint || (mine && this.stopped)) continue;
      const term = Number(lease.spec?.leaseDurationSeconds ?? 0) * 1000;
      const age = now - Date.parse(lease.spec?.renewTime ?? '');
      if (!mine && !(age < term)) {
        if (age > term * DELETE_AFTER_TERMS) {
          await this.opts.client.delete(LEASES, NAMESPACE, lease.metadata.name!, { preconditions: { resourceVersion: lease.metadata.resourceVersion } }).catch(() => undefined);
        }
        continue;
      }
      if (!byPort.has(endpoint.port)) byPort.set(endpoint.port, new Set());
      byPort.get(endpoint.port)!.add(endpoint.ip);
    }
    const subsets = [...byPort.entries()].sort((a, b) => a[0] - b[0]).map(([port, ips]) => ({
      addresses: [...ips].sort().map((ip) => ({ ip })),
      ports: [{ name: 'https', port, protocol: 'TCP' }],
    }));
    const labels = { 'endpointslice.kubernetes.io/skip-mirror': 'true' };
    let ep: KubeObject | undefined;
    try {
      ep = await this.opts.client.get(ENDPOINTS, 'default', KUBERNETES_SERVICE);
    } catch (err) {
      if (!ApiStatusError.isNotFound(err)) throw err;
    }
    try {
      if (!ep) {
        await this.opts.client.create(ENDPOINTS, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: KUBERNETES_SERVICE, namespace: 'default', labels }, subsets });
      } else if (JSON.stringify(ep.subsets ?? []) !== JSON.stringify(subsets) || ep.metadata.labels?.['endpointslice.kubernetes.io/skip-mirror'] !== 'true') {
        await this.opts.client.update(ENDPOINTS, { ...ep, metadata: { ...ep.metadata, labels: { ...ep.metadata.labels, ...labels } }, subsets });
      }
    } catch (err) {
      // Another server reconciled at the same moment: the next round looks again.
      if (!ApiStatusError.isConflict(err) && !ApiStatusError.isAlreadyExists(err)) throw err;
    }
  }
}

function endpointText(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function parseEndpoint(text: string | undefined): { ip: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text ?? '');
  return m ? { ip: m[1]!, port: Number(m[2]) } : undefined;
}
