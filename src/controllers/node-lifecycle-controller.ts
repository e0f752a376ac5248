import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import type { Informer } from '../client/informer';
import { timestamp } from '../apiserver/resources';
import type { Reconciler } from './controller';
import type { SharedInformers } from './informers';
import type { ControllerFactory } from './manager';

/**
 * The node lifecycle controller (pkg/controller/nodelifecycle) with its
 * taint-based eviction (the NoExecute taint manager), keyed by node name:
 *
 * - a node whose Lease in kube-node-lease has not been renewed for
 *   `gracePeriodMs` (--node-monitor-grace-period) gets every condition set
 *   to Unknown (reason NodeStatusUnknown, "Kubelet stopped posting node
 *   status.");
 * - the Ready condition decides the taints: Unknown →
 *   `node.kubernetes.io/unreachable`, False → `node.kubernetes.io/not-ready`,
 *   each as NoSchedule and NoExecute (with timeAdded); True → neither. An
 *   agent that comes back posts Ready True itself, and the taints go;
 * - a pod on a node with a NoExecute taint it does not tolerate is evicted
 *   now; one that tolerates it for tolerationSeconds is evicted when that
 *   runs out (counted from the taint's timeAdded); one that tolerates it
 *   without a limit stays.
 *
 * Lease renewals are timed by this controller's clock when it sees them
 * change (as Kubernetes does), so clock skew between node and server does
 * not matter. Timers wake a node exactly when its grace or a toleration
 * runs out.
 *
 * Eviction from an unreachable node is a force delete (grace 0): no agent
 * will ever confirm the pod stopped, and the pod must go for its controller
 * to replace it elsewhere (Kubernetes gets there through the taint manager's
 * delete followed by pod GC). From a not-ready node, whose agent still
 * runs, eviction is an ordinary graceful delete.
 */

const NODES = resolveResourceName('nodes')!;
const PODS = resolveResourceName('pods')!;
const LEASES = resolveResourceName('leases.coordination.k8s.io')!;
const LEASE_NAMESPACE = 'kube-node-lease';

export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
const CONDITION_TAINTS = new Set([UNREACHABLE_TAINT, NOT_READY_TAINT]);
const NODE_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

export interface NodeLifecycleOptions {
  /** How long a node may go without renewing its Lease before it is Unknown. Default 40 s. */
  gracePeriodMs?: number;
  now?: () => number;
}

interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

/** Kubernetes' Toleration.ToleratesTaint. */
function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (!t.key && t.operator !== 'Exists') return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

export class NodeLifecycleController implements Reconciler {
  readonly name = 'nodelifecycle';
  private readonly gracePeriodMs: number;
  private readonly now: () => number;
  private nodes?: Informer;
  private leases?: Informer;
  /** node name -> the pods bound to it (pod keys). */
  private readonly podsByNode = new Map<string, Set<string>>();
  private pods?: Informer;
  /** node name -> the last heartbeat seen (Lease renewTime, Ready lastHeartbeatTime), and when this controller saw it. */
  private readonly heartbeats = new Map<string, { signal: string; seenAt: number }>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private enqueue: (key: string) => void = () => undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly log: (line: string) => void = () => undefined,
    opts: NodeLifecycleOptions = {},
  ) {
    this.gracePeriodMs = opts.gracePeriodMs ?? 40_000;
    this.now = opts.now ?? Date.now;
  }

  setup(informers: SharedInformers, enqueue: (key: string) => void): void {
    this.enqueue = enqueue;
    this.nodes = informers.for(NODES);
    this.leases = informers.for(LEASES);
    this.pods = informers.for(PODS);
    const byName = (o: KubeObject) => enqueue(o.metadata.name!);
    this.nodes.on({ add: byName, update: (_o, n) => byName(n), delete: (n) => this.forgetNode(n.metadata.name!) });
    const lease = (l: KubeObject) => {
      if (l.metadata.namespace === LEASE_NAMESPACE) enqueue(l.metadata.name!);
    };
    this.leases.on({ add: lease, update: (_o, l) => lease(l), delete: lease });
    this.pods.on({
      add: (p) => this.indexPod(undefined, p),
      update: (o, p) => this.indexPod(o, p),
      delete: (p) => this.indexPod(p, undefined),
    });
  }

  private indexPod(old: KubeObject | undefined, pod: KubeObject | undefined): void {
    const key = (p: KubeObject) => `${p.metadata.namespace}/${p.metadata.name}`;
    const oldNode = old?.spec?.nodeName;
    if (oldNode && oldNode !== pod?.spec?.nodeName) this.podsByNode.get(oldNode)?.delete(key(old));
    const node = pod?.spec?.nodeName;
    if (!pod || !node) return;
    let set = this.podsByNode.get(node);
    if (!set) this.podsByNode.set(node, (set = new Set()));
    if (!set.has(key(pod))) {
      set.add(key(pod));
      this.enqueue(node); // a pod new to a tainted node may have to go
    }
  }

  private forgetNode(name: string): void {
    this.heartbeats.delete(name);
    clearTimeout(this.timers.get(name)?.timer);
    this.timers.delete(name);
  }

  /** Wakes the node's reconcile at `at` (the earliest of the wake-ups asked for wins). */
  private wakeAt(name: string, at: number): void {
    const pending = this.timers.get(name);
    if (pending && pending.at <= at) return;
    clearTimeout(pending?.timer);
    const timer = setTimeout(() => {
      this.timers.delete(name);
      this.enqueue(name);
    }, Math.max(0, at - this.now()) + 10);
    timer.unref?.();
    this.timers.set(name, { at, timer });
  }

  async reconcile(name: string): Promise<void> {
    let node = this.nodes!.get(name);
    if (!node) return this.forgetNode(name);
    const now = this.now();

    // When did this node last show life? A changed Lease renewTime or Ready heartbeat (an agent
    // registering again posts status before it renews its Lease), seen by our clock.
    const renewTime: string | undefined = this.leases!.get(`${LEASE_NAMESPACE}/${name}`)?.spec?.renewTime;
    const signal = `${renewTime}|${node.status?.conditions?.find((c: any) => c.type === 'Ready')?.lastHeartbeatTime}`;
    let hb = this.heartbeats.get(name);
    if (!hb || hb.signal !== signal) this.heartbeats.set(name, (hb = { signal, seenAt: now }));
    const expiresAt = hb.seenAt + this.gracePeriodMs;
    if (now >= expiresAt) node = await this.markUnknown(node);
    else this.wakeAt(name, expiresAt);

    node = await this.syncTaints(node, now);
    await this.evictPods(node, now);
  }

  /** Sets every condition to Unknown (once: conditions already Unknown stay as they are). */
  private async markUnknown(node: KubeObject): Promise<KubeObject> {
    const conditions: any[] = structuredClone(node.status?.conditions ?? []);
    const stamp = timestamp(new Date(this.now()));
    let changed = false;
    for (const type of NODE_CONDITIONS) {
      let c = conditions.find((x) => x.type === type);
      if (!c) {
        if (type !== 'Ready') continue;
        conditions.push((c = { type, lastHeartbeatTime: stamp }));
      }
      if (c.status === 'Unknown') continue;
      Object.assign(c, { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: stamp });
      changed = true;
    }
    if (!changed) return node;
    this.log(`nodelifecycle: node ${node.metadata.name} stopped renewing its lease; marking it Unknown`);
    return this.client.patch(NODES, undefined, node.metadata.name!, { metadata: { resourceVersion: node.metadata.resourceVersion }, status: { conditions } }, 'merge', {
      subresource: 'status',
    });
  }

  /** The unreachable / not-ready taints the Ready condition calls for, kept in spec.taints. */
  private async syncTaints(node: KubeObject, now: number): Promise<KubeObject> {
    const ready = node.status?.conditions?.find((c: any) => c.type === 'Ready')?.status;
    const wanted = ready === 'Unknown' ? UNREACHABLE_TAINT : ready === 'False' ? NOT_READY_TAINT : undefined;
    const taints: Taint[] = node.spec?.taints ?? [];
    const keep = taints.filter((t) => !CONDITION_TAINTS.has(t.key) || (t.key === wanted && (t.effect === 'NoSchedule' || t.effect === 'NoExecute')));
    const next = [...keep];
    if (wanted) {
      if (!next.some((t) => t.key === wanted && t.effect === 'NoSchedule')) next.push({ key: wanted, effect: 'NoSchedule' });
      if (!next.some((t) => t.key === wanted && t.effect === 'NoExecute')) next.push({ key: wanted, effect: 'NoExecute', timeAdded: timestamp(new Date(now)) });
    }
    if (next.length === taints.length && next.every((t, i) => t === taints[i])) return node;
    this.log(`nodelifecycle: node ${node.metadata.name} taints: ${next.map((t) => `${t.key}:${t.effect}`).join(', ') || 'none'}`);
    return this.client.patch(NODES, undefined, node.metadata.name!, {
      metadata: { resourceVersion: node.metadata.resourceVersion },
      spec: { taints: next.length ? next : null },
    }, 'merge');
  }

  /** Taint-based eviction of the node's pods; wakes the node again when the next toleration runs out. */
  private async evictPods(node: KubeObject, now: number): Promise<void> {
    const taints = ((node.spec?.taints ?? []) as Taint[]).filter((t) => t.effect === 'NoExecute');
    if (!taints.length) return;
    const name = node.metadata.name!;
    const force = taints.some((t) => t.key === UNREACHABLE_TAINT);
    for (const key of [...(this.podsByNode.get(name) ?? [])]) {
      const pod = this.pods!.get(key);
      if (!pod || pod.spec?.nodeName !== name) {
        this.podsByNode.get(name)?.delete(key);
        continue;
      }
      if (pod.metadata.deletionTimestamp && !force) continue;
      const evictAt = this.evictionTime(pod, taints);
      if (evictAt === undefined) continue;
      if (evictAt > now) {
        this.wakeAt(name, evictAt);
        continue;
      }
      this.log(`nodelifecycle: evicting pod ${key} from node ${name} (${taints.map((t) => t.key).join(', ')})`);
      try {
        await this.client.delete(PODS, pod.metadata.namespace, pod.metadata.name!, {
          preconditions: { uid: pod.metadata.uid },
          ...(force ? { gracePeriodSeconds: 0 } : {}),
        });
      } catch (err) {
        if (!ApiStatusError.isNotFound(err) && !ApiStatusError.isConflict(err)) throw err;
      }
    }
  }

  /** When the pod must leave: now for an untolerated taint, after the shortest tolerationSeconds, or never (undefined). */
  private evictionTime(pod: KubeObject, taints: Taint[]): number | undefined {
    const tolerations: Toleration[] = pod.spec?.tolerations ?? [];
    let at: number | undefined;
    for (const taint of taints) {
      const matching = tolerations.filter((t) => tolerates(t, taint));
      if (!matching.length) return 0;
      const limits = matching.map((t) => t.tolerationSeconds).filter((s): s is number => typeof s === 'number');
      if (!limits.length) continue; // tolerated forever
      const added = taint.timeAdded ? Date.parse(taint.timeAdded) : this.now();
      const expiry = added + Math.max(0, Math.min(...limits)) * 1000;
      at = at === undefined ? expiry : Math.min(at, expiry);
    }
    return at;
  }
}

/** The node lifecycle controller with the server's --node-monitor-grace-period. */
export function nodeLifecycleControllerFactory(opts: NodeLifecycleOptions = {}): ControllerFactory {
  return {
    name: 'nodelifecycle',
    create: (ctx) => new NodeLifecycleController(ctx.client, ctx.log, opts),
  };
}
