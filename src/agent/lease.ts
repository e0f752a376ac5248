import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import { microTime, type Clock } from './clock';

/**
 * The node heartbeat: the Lease `kube-node-lease/<node>`, renewed every
 * `intervalMs` (the kubelet's node lease controller). A renewal is one
 * update carrying the resourceVersion of the last write, so it costs a
 * single request; after a conflict or a deleted Lease the next renewal
 * reads (or creates) it first.
 */

const LEASES = resolveResourceName('leases.coordination.k8s.io')!;
const NODES = resolveResourceName('nodes')!;
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface NodeLeaseOptions {
  nodeName: string;
  durationSeconds: number;
  intervalMs: number;
  clock: Clock;
  log: (line: string) => void;
}

export class NodeLease {
  private lease?: KubeObject;
  private cancelTimer?: () => void;
  private stopped = false;
  private renewing?: Promise<void>;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: NodeLeaseOptions,
  ) {}

  /** Renews once now, then every interval. */
  async start(): Promise<void> {
    await this.tick();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    return this.renewing ?? Promise.resolve();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let ok = true;
    this.renewing = this.renew().catch((err) => {
      ok = false;
      this.lease = undefined;
      this.opts.log(`renewing lease ${NODE_LEASE_NAMESPACE}/${this.opts.nodeName} failed: ${(err as Error).message}`);
    });
    await this.renewing;
    this.renewing = undefined;
    if (this.stopped) return;
    // A failed renewal is retried sooner: the lease expires after durationSeconds.
    const next = ok ? this.opts.intervalMs : Math.min(this.opts.intervalMs, 1000);
    this.cancelTimer = this.opts.clock.after(next, () => void this.tick());
  }

  /** One renewal: update the lease we hold, or read/create it first. */
  async renew(): Promise<void> {
    const renewTime = microTime(this.opts.clock.now());
    if (this.lease) {
      try {
        this.lease = await this.client.update(LEASES, { ...this.lease, spec: { ...this.lease.spec, renewTime } });
        return;
      } catch (err) {
        if (!ApiStatusError.isConflict(err) && !ApiStatusError.isNotFound(err)) throw err;
        this.lease = undefined;
      }
    }
    const name = this.opts.nodeName;
    let current: KubeObject | undefined;
    try {
      current = await this.client.get(LEASES, NODE_LEASE_NAMESPACE, name);
    } catch (err) {
      if (!ApiStatusError.isNotFound(err)) throw err;
    }
    const spec = { holderIdentity: name, leaseDurationSeconds: this.opts.durationSeconds, renewTime };
    if (current) {
      this.lease = await this.client.update(LEASES, { ...current, spec: { ...current.spec, ...spec } });
      return;
    }
    // Owned by the Node, so deleting the Node deletes its Lease (as the kubelet sets it up).
    let ownerReferences: KubeObject['metadata']['ownerReferences'];
    try {
      const node = await this.client.get(NODES, undefined, name);
      ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata.uid! }];
    } catch {
      ownerReferences = undefined;
    }
    this.lease = await this.client.create(LEASES, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: NODE_LEASE_NAMESPACE, ...(ownerReferences ? { ownerReferences } : {}) },
      spec,
    });
  }
}
