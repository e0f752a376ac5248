import { createHash } from 'node:crypto';
import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError } from '../client/api-client';
import { EventRecorder } from '../client/events';
import type { Informer } from '../client/informer';
import type { NodeInfo, PodInfo } from '../scheduler/framework';
import { nodeAffinityFilter } from '../scheduler/plugins/node-affinity';
import { tolerates, type Taint, type Toleration } from '../scheduler/plugins/taint-toleration';
import { controlledBy, controllerOf, controllerOwnerKey, controllerRef, objectKey, type ControllerContext, type Reconciler, type Result } from './controller';
import type { ControllerFactory } from './manager';

const DAEMONSETS = resolveResourceName('daemonsets')!;
const PODS = resolveResourceName('pods')!;
const NODES = resolveResourceName('nodes')!;

/** The label naming the template a daemon pod was made from (Kubernetes names its ControllerRevision by it). */
export const REVISION_HASH_LABEL = 'controller-revision-hash';
export const TEMPLATE_GENERATION_LABEL = 'pod-template-generation';

type Obj = Record<string, any>;

/** What AddOrUpdateDaemonPodTolerations gives every daemon pod, so daemons run on troubled nodes too. */
const DAEMON_TOLERATIONS: Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];
const NETWORK_UNAVAILABLE: Toleration = { key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' };

const isReady = (pod: KubeObject) => (pod.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
const isFinished = (pod: KubeObject) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/** A short stable hash of the pod template: pods carrying another hash are out of date. */
export function templateHash(template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template ?? {})).digest('hex').slice(0, 10);
}

/** The node a daemon pod is for: its nodeName, or before binding the node its matchFields affinity names. */
function nodeOfPod(pod: KubeObject): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  for (const term of pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
    for (const f of term.matchFields ?? []) if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
  }
  return undefined;
}

/**
 * The pod spec of the daemon pod for `nodeName` (util.ReplaceDaemonSetPodNodeNameNodeAffinity
 * and AddOrUpdateDaemonPodTolerations): the required node affinity becomes
 * "metadata.name is this node", so the default scheduler places it there.
 */
export function daemonPodSpec(template: Obj, nodeName?: string): Obj {
  const spec = structuredClone(template.spec ?? {});
  const tolerations: Toleration[] = [...(spec.tolerations ?? [])];
  const extra = spec.hostNetwork ? [...DAEMON_TOLERATIONS, NETWORK_UNAVAILABLE] : DAEMON_TOLERATIONS;
  for (const t of extra) {
    if (!tolerations.some((x) => x.key === t.key && x.effect === t.effect && (x.operator ?? 'Equal') === 'Exists')) tolerations.push(t);
  }
  spec.tolerations = tolerations;
  if (nodeName !== undefined) {
    spec.affinity = { ...(spec.affinity ?? {}) };
    spec.affinity.nodeAffinity = {
      ...(spec.affinity.nodeAffinity ?? {}),
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
      },
    };
  }
  return spec;
}

/**
 * NodeShouldRunDaemonPod: `shouldRun` when the node matches the template's
 * nodeSelector and required node affinity and every NoSchedule/NoExecute
 * taint is tolerated; `shouldContinue` (a pod already there may stay) unless
 * it does not match or a NoExecute taint is not tolerated.
 */
export function nodeShouldRunDaemonPod(podSpec: Obj, node: KubeObject): { shouldRun: boolean; shouldContinue: boolean } {
  const info = { name: node.metadata.name!, node, labels: node.metadata.labels ?? {} } as unknown as NodeInfo;
  const pod = { pod: { metadata: {}, spec: podSpec }, key: '' } as unknown as PodInfo;
  if (nodeAffinityFilter.filter(pod, info, new Map()) !== undefined) return { shouldRun: false, shouldContinue: false };
  let shouldRun = true;
  for (const taint of (node.spec?.taints ?? []) as Taint[]) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (tolerates(podSpec.tolerations, taint.key, taint.value ?? '', taint.effect)) continue;
    if (taint.effect === 'NoExecute') return { shouldRun: false, shouldContinue: false };
    shouldRun = false;
  }
  return { shouldRun, shouldContinue: true };
}

/** maxUnavailable as a number of nodes (int or percent of desired, rounded up; at least 1 when maxSurge is 0). */
function maxUnavailableOf(ds: KubeObject, desired: number): number {
  const v = ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1;
  const n = typeof v === 'string' && v.endsWith('%') ? Math.ceil((Number(v.slice(0, -1)) * desired) / 100) : Number(v) || 0;
  return n === 0 ? 1 : n;
}

/**
 * The DaemonSet controller (pkg/controller/daemon, simplified): one pod per
 * node that should run it, created with a node-name affinity for the
 * scheduler to bind, deleted from nodes that stop matching (or that are
 * gone: force-deleted, since no kubelet will confirm). Template changes roll
 * out with RollingUpdate: out-of-date pods are deleted, unavailable ones
 * first, while at most maxUnavailable nodes lack an available pod; the
 * replacement is created once the old pod is gone. OnDelete replaces only
 * pods deleted by hand. Pods are matched to a template by the
 * `controller-revision-hash` label (a hash of the template; mk has no
 * ControllerRevision objects).
 */
export class DaemonSetController implements Reconciler {
  readonly name = 'daemonset';
  private daemonSets!: Informer;
  private pods!: Informer;
  private nodes!: Informer;
  private readonly events: EventRecorder;
  /** Per DaemonSet key: nodes whose pod was created and not yet seen by the informer, with when. */
  private readonly expected = new Map<string, Map<string, number>>();

  constructor(private readonly ctx: ControllerContext, private readonly now: () => number = Date.now) {
    this.events = new EventRecorder(ctx.client, 'daemonset-controller');
  }

  setup(informers: ControllerContext['informers'], enqueue: (key: string) => void): void {
    this.daemonSets = informers.for(DAEMONSETS);
    this.pods = informers.for(PODS);
    this.nodes = informers.for(NODES);
    this.daemonSets.on({ add: (d) => enqueue(objectKey(d)), update: (_o, d) => enqueue(objectKey(d)), delete: (d) => enqueue(objectKey(d)) });
    const byOwner = (pod: KubeObject) => {
      const key = controllerOwnerKey(pod, 'DaemonSet');
      if (key) enqueue(key);
    };
    this.pods.on({ add: byOwner, update: (_o, p) => byOwner(p), delete: byOwner });
    const all = () => {
      for (const ds of this.daemonSets.list()) enqueue(objectKey(ds));
    };
    this.nodes.on({
      add: all,
      delete: all,
      update: (o, n) => {
        if (JSON.stringify([o.metadata.labels, o.spec]) !== JSON.stringify([n.metadata.labels, n.spec])) all();
      },
    });
  }

  async reconcile(key: string): Promise<Result | void> {
    const ds = this.daemonSets.get(key);
    if (!ds) {
      this.expected.delete(key);
      return;
    }
    if (ds.metadata.deletionTimestamp) return;
    const now = this.now();
    const template = ds.spec?.template ?? {};
    const hash = templateHash(template);
    const checkSpec = daemonPodSpec(template);
    const minReadyMs = (ds.spec?.minReadySeconds ?? 0) * 1000;

    const byNode = new Map<string, KubeObject[]>();
    for (const pod of controlledBy(this.pods, ds)) {
      const node = nodeOfPod(pod) ?? '';
      byNode.set(node, [...(byNode.get(node) ?? []), pod]);
    }
    let exp = this.expected.get(key);
    if (!exp) this.expected.set(key, (exp = new Map()));

    const nodes = new Map(this.nodes.list().map((n) => [n.metadata.name!, n]));
    const toCreate: string[] = [];
    const toDelete: KubeObject[] = [];
    const toForceDelete: KubeObject[] = [];
    const status = { desiredNumberScheduled: 0, currentNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0, numberAvailable: 0, updatedNumberScheduled: 0, numberUnavailable: 0 };
    let requeueAfterMs: number | undefined;
    const available = (pod: KubeObject): boolean => {
      if (!isReady(pod) || pod.metadata.deletionTimestamp) return false;
      if (minReadyMs === 0) return true;
      const since = Date.parse((pod.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready')?.lastTransitionTime ?? '') || now;
      if (now - since >= minReadyMs) return true;
      requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, since + minReadyMs - now);
      return false;
    };
    /** Nodes that should run a pod: their current pod (undefined while none runs or it terminates). */
    const daemonNodes: Array<{ node: string; pod?: KubeObject }> = [];

    for (const [name, node] of nodes) {
      const { shouldRun, shouldContinue } = nodeShouldRunDaemonPod(checkSpec, node);
      const all = byNode.get(name) ?? [];
      byNode.delete(name);
      if (all.length > 0) exp.delete(name);
      const pending = exp.has(name) && now - exp.get(name)! < 60_000;
      // Finished daemon pods are replaced; terminating ones are waited for.
      const finished = all.filter((p) => isFinished(p) && !p.metadata.deletionTimestamp);
      toDelete.push(...finished);
      const live = all.filter((p) => !isFinished(p));
      const running = live.filter((p) => !p.metadata.deletionTimestamp);
      if (shouldRun) status.desiredNumberScheduled++;
      if (!shouldContinue || (!shouldRun && running.length === 0)) {
        if (running.length) status.numberMisscheduled++;
        toDelete.push(...running);
        continue;
      }
      if (!shouldRun) {
        // Stays where it runs (an untolerated NoSchedule taint came later), but is not wanted.
        status.numberMisscheduled++;
        continue;
      }
      if (running.length === 0) {
        if (live.length === 0 && !pending) toCreate.push(name);
        daemonNodes.push({ node: name });
        continue;
      }
      // Keep the oldest; delete duplicates.
      running.sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)));
      toDelete.push(...running.slice(1));
      const pod = running[0];
      daemonNodes.push({ node: name, pod });
      status.currentNumberScheduled++;
      if (isReady(pod)) status.numberReady++;
      if (available(pod)) status.numberAvailable++;
      if (pod.metadata.labels?.[REVISION_HASH_LABEL] === hash) status.updatedNumberScheduled++;
    }
    // Pods for nodes that no longer exist: no kubelet will confirm a graceful deletion.
    for (const pods of byNode.values()) toForceDelete.push(...pods);
    status.numberUnavailable = status.desiredNumberScheduled - status.numberAvailable;

    if ((ds.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
      toDelete.push(...this.rollingUpdateVictims(ds, daemonNodes, hash, available));
    }

    await Promise.all([
      ...toCreate.map((node) => this.createPod(ds, node, hash, exp!)),
      ...toDelete.map((p) => this.deletePod(p)),
      ...toForceDelete.map((p) => this.deletePod(p, 0)),
    ]);

    const next = { ...(ds.status ?? {}), ...status, observedGeneration: ds.metadata.generation };
    if (JSON.stringify(next) !== JSON.stringify(ds.status ?? {})) await this.ctx.client.updateStatus(DAEMONSETS, { ...ds, status: next });
    return requeueAfterMs !== undefined && Number.isFinite(requeueAfterMs) ? { requeueAfterMs: Math.max(1, requeueAfterMs) } : undefined;
  }

  /**
   * Old-template pods to delete now: every unavailable one (it costs no
   * availability), then available ones while fewer than maxUnavailable
   * nodes lack an available pod.
   */
  private rollingUpdateVictims(
    ds: KubeObject,
    daemonNodes: Array<{ node: string; pod?: KubeObject }>,
    hash: string,
    available: (pod: KubeObject) => boolean,
  ): KubeObject[] {
    const maxUnavailable = maxUnavailableOf(ds, daemonNodes.length);
    let unavailable = 0;
    const oldAvailable: KubeObject[] = [];
    const victims: KubeObject[] = [];
    for (const { pod } of daemonNodes) {
      const isOld = pod !== undefined && pod.metadata.labels?.[REVISION_HASH_LABEL] !== hash;
      if (!pod || !available(pod)) {
        unavailable++;
        if (isOld) victims.push(pod!);
      } else if (isOld) {
        oldAvailable.push(pod);
      }
    }
    for (const pod of oldAvailable) {
      if (unavailable >= maxUnavailable) break;
      victims.push(pod);
      unavailable++;
    }
    return victims;
  }

  private async createPod(ds: KubeObject, node: string, hash: string, exp: Map<string, number>): Promise<void> {
    const template = ds.spec.template ?? {};
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${ds.metadata.name}-`,
        namespace: ds.metadata.namespace,
        labels: { ...(template.metadata?.labels ?? {}), [REVISION_HASH_LABEL]: hash, [TEMPLATE_GENERATION_LABEL]: String(ds.metadata.generation ?? 1) },
        ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
        ownerReferences: [controllerRef(ds)],
      },
      spec: daemonPodSpec(template, node),
    };
    exp.set(node, this.now());
    try {
      const created = await this.ctx.client.create(PODS, pod);
      this.events.record(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
    } catch (err) {
      exp.delete(node);
      this.events.record(ds, 'Warning', 'FailedCreate', `Error creating: ${(err as Error).message}`);
      throw err;
    }
  }

  private async deletePod(pod: KubeObject, gracePeriodSeconds?: number): Promise<void> {
    try {
      await this.ctx.client.delete(PODS, pod.metadata.namespace, pod.metadata.name!, {
        preconditions: { uid: pod.metadata.uid },
        ...(gracePeriodSeconds !== undefined ? { gracePeriodSeconds } : {}),
      });
    } catch (err) {
      if (!(err instanceof ApiStatusError && (err.status.code === 404 || err.status.code === 409))) throw err;
    }
  }
}

export const daemonSetControllerFactory: ControllerFactory = {
  name: 'daemonset',
  create: (ctx) => new DaemonSetController(ctx),
};
