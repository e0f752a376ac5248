import { resolveResourceName } from '../api/registry';
import { labelSelectorFromObject, matchesLabels, type LabelSelector } from '../api/selectors';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import { EventRecorder } from '../client/events';
import type { Informer } from '../client/informer';
import { claimCandidates, controllerOf, controllerRef, STATUS_COALESCE_MS, objectKey, type ControllerContext, type Reconciler, type Result } from './controller';
import { Expectations } from './expectations';
import type { SharedInformers } from './informers';
import type { ControllerFactory } from './manager';
import { podFromTemplate } from './pod-template';

const PODS = resolveResourceName('pods')!;
const REPLICASETS = resolveResourceName('replicasets')!;

/** Kubernetes' burstReplicas: at most this many creates or deletes per sync. */
const BURST_REPLICAS = 500;
/** The first batch of a slow start; batches double while every create succeeds. */
const SLOW_START_INITIAL_BATCH = 1;

// ---------------------------------------------------------------------------
// Pod helpers shared with the Deployment controller

export function isPodTerminal(pod: KubeObject): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** controller.IsPodActive: not terminal and not being deleted. */
export function isPodActive(pod: KubeObject): boolean {
  return !isPodTerminal(pod) && !pod.metadata.deletionTimestamp;
}

function readyCondition(pod: KubeObject): any {
  return pod.status?.conditions?.find((c: any) => c.type === 'Ready');
}

export function isPodReady(pod: KubeObject): boolean {
  return readyCondition(pod)?.status === 'True';
}

/** podutil.IsPodAvailable: ready for at least minReadySeconds. */
export function isPodAvailable(pod: KubeObject, minReadySeconds: number, now: number): boolean {
  const c = readyCondition(pod);
  if (c?.status !== 'True') return false;
  if (!minReadySeconds) return true;
  const since = Date.parse(c.lastTransitionTime ?? '');
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now;
}

function restarts(pod: KubeObject): number {
  return (pod.status?.containerStatuses ?? []).reduce((n: number, s: any) => n + (s.restartCount ?? 0), 0);
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function time(s: string | undefined): number {
  const t = Date.parse(s ?? '');
  return Number.isFinite(t) ? t : 0;
}

/**
 * controller.ActivePods' order, least valuable first: unscheduled before
 * scheduled, Pending < Unknown < Running, not ready before ready, the more
 * recently ready first, more restarts first, newer first. The head of the
 * sorted list is what a scale-down deletes.
 */
export function compareByDeletionCost(a: KubeObject, b: KubeObject): number {
  const aNode = a.spec?.nodeName ? 1 : 0;
  const bNode = b.spec?.nodeName ? 1 : 0;
  if (aNode !== bNode) return aNode - bNode;
  const aPhase = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0;
  const bPhase = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
  if (aPhase !== bPhase) return aPhase - bPhase;
  const aReady = isPodReady(a) ? 1 : 0;
  const bReady = isPodReady(b) ? 1 : 0;
  if (aReady !== bReady) return aReady - bReady;
  if (aReady && bReady) {
    const ta = time(readyCondition(a)?.lastTransitionTime);
    const tb = time(readyCondition(b)?.lastTransitionTime);
    if (ta !== tb) return tb - ta;
  }
  const ra = restarts(a);
  const rb = restarts(b);
  if (ra !== rb) return rb - ra;
  const ca = time(a.metadata.creationTimestamp);
  const cb = time(b.metadata.creationTimestamp);
  return cb - ca;
}

// ---------------------------------------------------------------------------
// Claiming: adoption and release (controller_ref_manager.go)

/**
 * ClaimPods: the pods `owner` controls after adopting matching orphans and
 * releasing controlled pods whose labels no longer match. Adoption and
 * release are merge patches of ownerReferences; a pod that vanished in the
 * meantime is skipped.
 */
export async function claimObjects(
  client: KubeClient,
  rt: typeof PODS,
  owner: KubeObject,
  selector: LabelSelector,
  candidates: KubeObject[],
): Promise<KubeObject[]> {
  const claimed: KubeObject[] = [];
  const uid = owner.metadata.uid;
  for (const obj of candidates) {
    const ref = controllerOf(obj);
    // Another controller's object is never ours: skip it before matching labels (most objects are).
    if (ref && ref.uid !== uid) continue;
    const matches = matchesLabels(selector, obj.metadata.labels);
    if (ref) {
      if (matches) {
        claimed.push(obj);
        continue;
      }
      if (owner.metadata.deletionTimestamp) continue;
      const refs = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
      await ignoreNotFound(
        client.patch(rt, obj.metadata.namespace, obj.metadata.name!, {
          metadata: { uid: obj.metadata.uid, ownerReferences: refs.length ? refs : null },
        }, 'merge'),
      );
      continue;
    }
    if (!matches || owner.metadata.deletionTimestamp || obj.metadata.deletionTimestamp) continue;
    const refs = [...(obj.metadata.ownerReferences ?? []), controllerRef(owner)];
    const adopted = await ignoreNotFound(
      client.patch(rt, obj.metadata.namespace, obj.metadata.name!, { metadata: { uid: obj.metadata.uid, ownerReferences: refs } }, 'merge'),
    );
    if (adopted) claimed.push(adopted);
  }
  return claimed;
}

async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (ApiStatusError.isNotFound(err)) return undefined;
    throw err;
  }
}

// ---------------------------------------------------------------------------

/**
 * The ReplicaSet controller (pkg/controller/replicaset): keeps
 * `spec.replicas` pods made from `spec.template` running, and reports what
 * it sees in `status`.
 *
 * Requeue rules: a failed write throws (retry with backoff); with
 * minReadySeconds, a ReplicaSet whose ready pods are not yet available is
 * looked at again when the first of them becomes available.
 */
export class ReplicaSetController implements Reconciler {
  readonly name = 'replicaset';
  private rsInformer!: Informer;
  private podInformer!: Informer;
  readonly expectations = new Expectations();
  private readonly recorder: EventRecorder;

  constructor(private readonly ctx: ControllerContext) {
    this.recorder = new EventRecorder(ctx.client, 'replicaset-controller');
  }

  setup(informers: SharedInformers, enqueue: (key: string, delayMs?: number) => void): void {
    this.rsInformer = informers.for(REPLICASETS);
    this.podInformer = informers.for(PODS);
    this.rsInformer.on({
      add: (rs) => enqueue(objectKey(rs)),
      update: (_old, rs) => enqueue(objectKey(rs)),
      delete: (rs) => {
        this.expectations.delete(objectKey(rs));
        enqueue(objectKey(rs));
      },
    });
    const ownerKey = (pod: KubeObject): string | undefined => {
      const ref = controllerOf(pod);
      return ref?.kind === 'ReplicaSet' ? `${pod.metadata.namespace}/${ref.name}` : undefined;
    };
    // An orphan may be adopted by any ReplicaSet that selects it.
    const enqueueSelecting = (pod: KubeObject) => {
      for (const rs of this.rsInformer.list()) {
        if (rs.metadata.namespace !== pod.metadata.namespace) continue;
        if (matchesLabels(labelSelectorFromObject(rs.spec?.selector), pod.metadata.labels)) enqueue(objectKey(rs));
      }
    };
    this.podInformer.on({
      add: (pod) => {
        const key = ownerKey(pod);
        if (!key) return enqueueSelecting(pod);
        this.expectations.creationObserved(key);
        if (pod.metadata.deletionTimestamp) this.expectations.deletionObserved(key, objectKey(pod));
        enqueue(key);
      },
      update: (old, pod) => {
        const key = ownerKey(pod);
        const oldKey = ownerKey(old);
        if (pod.metadata.deletionTimestamp && !old.metadata.deletionTimestamp && key) {
          this.expectations.deletionObserved(key, objectKey(pod));
        }
        if (oldKey && oldKey !== key) enqueue(oldKey);
        const relabelled = JSON.stringify(old.metadata.labels) !== JSON.stringify(pod.metadata.labels);
        if (key) {
          // Only the pod's status (or binding) moved: what the ReplicaSet reports, not what it must do.
          const statusOnly = oldKey === key && !relabelled && !!old.metadata.deletionTimestamp === !!pod.metadata.deletionTimestamp;
          enqueue(key, statusOnly ? STATUS_COALESCE_MS : 0);
        } else if (oldKey !== key || relabelled) enqueueSelecting(pod);
      },
      delete: (pod) => {
        const key = ownerKey(pod);
        if (!key) return;
        this.expectations.deletionObserved(key, objectKey(pod));
        enqueue(key);
      },
    });
  }

  async reconcile(key: string): Promise<Result | void> {
    const cached = this.rsInformer.get(key);
    if (!cached) {
      this.expectations.delete(key);
      return;
    }
    const rs = cached;
    const namespace = rs.metadata.namespace!;
    const selector = labelSelectorFromObject(rs.spec?.selector);
    const candidates = claimCandidates(this.podInformer, rs).filter(isPodActive);
    const satisfied = this.expectations.satisfied(key);
    const pods = await claimObjects(this.ctx.client, PODS, rs, selector, candidates);

    if (satisfied && !rs.metadata.deletionTimestamp) await this.manageReplicas(key, rs, pods);
    return this.updateStatus(rs, pods);
  }

  /** Creates or deletes pods so that `spec.replicas` are active, within one burst. */
  private async manageReplicas(key: string, rs: KubeObject, pods: KubeObject[]): Promise<void> {
    const diff = pods.length - (rs.spec?.replicas ?? 1);
    if (diff < 0) {
      const want = Math.min(-diff, BURST_REPLICAS);
      this.expectations.expect(key, want);
      const owner = controllerRef(rs);
      const ns = rs.metadata.namespace!;
      const { created, failed, error } = await slowStartBatch(want, SLOW_START_INITIAL_BATCH, async () => {
        try {
          await this.ctx.client.create(PODS, podFromTemplate(rs.spec.template, ns, `${rs.metadata.name}-`, owner), { readOnly: true });
        } catch (err) {
          // This create will never be observed.
          this.expectations.creationObserved(key);
          throw err;
        }
      });
      // Creates that were never sent will not be observed either.
      this.expectations.lowerCreations(key, want - created - failed);
      if (created > 0) this.recorder.record(rs, 'Normal', 'SuccessfulCreate', `Created ${created} pod(s)`);
      if (error) throw error;
      return;
    }
    if (diff > 0) {
      const victims = [...pods].sort(compareByDeletionCost).slice(0, Math.min(diff, BURST_REPLICAS));
      this.expectations.expect(key, 0, victims.map(objectKey));
      const results = await Promise.allSettled(
        victims.map(async (pod) => {
          try {
            await this.ctx.client.delete(PODS, pod.metadata.namespace, pod.metadata.name!, { preconditions: { uid: pod.metadata.uid } });
            this.recorder.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
          } catch (err) {
            this.expectations.deletionObserved(key, objectKey(pod));
            if (!ApiStatusError.isNotFound(err)) throw err;
          }
        }),
      );
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) throw failed.reason;
    }
  }

  /** Writes status through the status subresource when it changed. */
  private async updateStatus(rs: KubeObject, pods: KubeObject[]): Promise<Result | void> {
    const now = Date.now();
    const minReadySeconds = rs.spec?.minReadySeconds ?? 0;
    const templateLabels: Record<string, string> = rs.spec?.template?.metadata?.labels ?? {};
    const fullyLabeled = pods.filter((p) => Object.entries(templateLabels).every(([k, v]) => p.metadata.labels?.[k] === v)).length;
    const ready = pods.filter(isPodReady).length;
    const available = pods.filter((p) => isPodAvailable(p, minReadySeconds, now)).length;
    const status: Record<string, unknown> = {
      ...(rs.status ?? {}),
      replicas: pods.length,
      fullyLabeledReplicas: fullyLabeled,
      readyReplicas: ready,
      availableReplicas: available,
      observedGeneration: rs.metadata.generation,
    };
    const old = rs.status ?? {};
    const changed = STATUS_COUNTS.some(
      (f) => (old[f] ?? 0) !== (status[f] ?? 0),
    );
    if (changed) {
      try {
        // A merge patch of the counts, not an update carrying the cached resourceVersion: the
        // Deployment controller patches spec.replicas of the same object mid-rollout, and such an
        // update would conflict and be retried. observedGeneration says which spec these counts
        // answer; a newer spec queues another sync. The uid keeps it off a recreated namesake.
        const counts = Object.fromEntries(STATUS_COUNTS.map((f) => [f, status[f]]));
        await this.ctx.client.patch(REPLICASETS, rs.metadata.namespace, rs.metadata.name!, { metadata: { uid: rs.metadata.uid }, status: counts }, 'merge', { subresource: 'status' });
      } catch (err) {
        if (!ApiStatusError.isNotFound(err)) throw err;
      }
    }
    if (minReadySeconds > 0 && ready > available) {
      // Look again when the earliest ready-but-not-available pod becomes available.
      let soonest = Infinity;
      for (const p of pods) {
        if (!isPodReady(p) || isPodAvailable(p, minReadySeconds, now)) continue;
        soonest = Math.min(soonest, time(readyCondition(p)?.lastTransitionTime) + minReadySeconds * 1000 - now);
      }
      if (Number.isFinite(soonest)) return { requeueAfterMs: Math.max(10, soonest + 10) };
    }
  }
}

/** The status fields this controller computes (conditions are left as they are). */
const STATUS_COUNTS = ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'];

/**
 * controller.slowStartBatch: calls fn `count` times in batches of 1, 2, 4,
 * ... so a template that cannot be created fails once, not `count` times.
 * Stops after the first batch with a failure.
 */
export async function slowStartBatch(count: number, initial: number, fn: () => Promise<void>): Promise<{ created: number; failed: number; error?: unknown }> {
  let remaining = count;
  let created = 0;
  for (let batch = Math.min(remaining, initial); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn()));
    const failures = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    created += batch - failures.length;
    remaining -= batch;
    if (failures.length) return { created, failed: failures.length, error: failures[0]!.reason };
  }
  return { created, failed: 0 };
}

export const replicaSetControllerFactory: ControllerFactory = {
  name: 'replicaset',
  create: (ctx) => new ReplicaSetController(ctx),
  workers: 4,
};
