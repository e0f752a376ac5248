import { resolveResourceName } from '../api/registry';
import { labelSelectorFromObject, matchesLabels } from '../api/selectors';
import type { KubeObject } from '../api/types';
import { ApiStatusError } from '../client/api-client';
import { EventRecorder } from '../client/events';
import type { Informer } from '../client/informer';
import { claimCandidates, controlledBy, controllerOf, controllerRef, objectKey, STATUS_COALESCE_MS, type ControllerContext, type Reconciler, type Result } from './controller';
import type { SharedInformers } from './informers';
import type { ControllerFactory } from './manager';
import { comparableTemplate, comparableTemplateOf, computeHash, equalIgnoreHash, POD_TEMPLATE_HASH_LABEL, templateWithHash } from './pod-template';
import { claimObjects, isPodTerminal } from './replicaset-controller';

const PODS = resolveResourceName('pods')!;
const REPLICASETS = resolveResourceName('replicasets')!;
const DEPLOYMENTS = resolveResourceName('deployments')!;

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';

// Condition reasons, as deploymentutil spells them.
export const NEW_RS_CREATED = 'NewReplicaSetCreated';
export const FOUND_NEW_RS = 'FoundNewReplicaSet';
export const RS_UPDATED = 'ReplicaSetUpdated';
export const NEW_RS_AVAILABLE = 'NewReplicaSetAvailable';
export const TIMED_OUT = 'ProgressDeadlineExceeded';
export const PAUSED = 'DeploymentPaused';
export const RESUMED = 'DeploymentResumed';
export const MIN_AVAILABLE = 'MinimumReplicasAvailable';
export const MIN_UNAVAILABLE = 'MinimumReplicasUnavailable';

// Annotations a Deployment does not pass on to its ReplicaSets (deploymentutil.skipCopyAnnotation).
const SKIP_COPY = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  'deployment.kubernetes.io/revision-history',
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  'deprecated.deployment.rollback.to',
]);

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastUpdateTime: string;
  lastTransitionTime: string;
}

// ---------------------------------------------------------------------------
// deploymentutil, in small

function replicasOf(o: KubeObject | undefined): number {
  return o?.spec?.replicas ?? 0;
}

/** intstr.GetScaledValueFromIntOrPercent. */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean): number {
  if (v == null) return 0;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) return Number.parseInt(v, 10) || 0;
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** deploymentutil.ResolveFenceposts: maxSurge rounds up, maxUnavailable down; both 0 means maxUnavailable 1. */
export function resolveFenceposts(d: KubeObject): { maxSurge: number; maxUnavailable: number } {
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const desired = replicasOf(d);
  const maxSurge = scaledValue(ru.maxSurge ?? '25%', desired, true);
  let maxUnavailable = scaledValue(ru.maxUnavailable ?? '25%', desired, false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

function isRollingUpdate(d: KubeObject): boolean {
  return (d.spec?.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

export function maxUnavailable(d: KubeObject): number {
  if (!isRollingUpdate(d) || replicasOf(d) === 0) return 0;
  return Math.min(resolveFenceposts(d).maxUnavailable, replicasOf(d));
}

export function maxSurge(d: KubeObject): number {
  return isRollingUpdate(d) ? resolveFenceposts(d).maxSurge : 0;
}

export function revisionOf(o: KubeObject | undefined): number {
  const n = Number.parseInt(o?.metadata.annotations?.[REVISION_ANNOTATION] ?? '', 10);
  return Number.isFinite(n) ? n : 0;
}

function intAnnotation(o: KubeObject, name: string): number | undefined {
  const v = o.metadata.annotations?.[name];
  if (v === undefined) return undefined;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : undefined;
}

function byCreation(a: KubeObject, b: KubeObject): number {
  const d = Date.parse(a.metadata.creationTimestamp ?? '') - Date.parse(b.metadata.creationTimestamp ?? '');
  return d || (a.metadata.name! < b.metadata.name! ? -1 : a.metadata.name! > b.metadata.name! ? 1 : 0);
}

const sum = (rss: KubeObject[], f: (rs: KubeObject) => number) => rss.reduce((n, rs) => n + f(rs), 0);
const specReplicas = (rss: KubeObject[]) => sum(rss, (rs) => rs.spec?.replicas ?? 0);
const statusReplicas = (rss: KubeObject[]) => sum(rss, (rs) => rs.status?.replicas ?? 0);
// An RS's status may not yet show its own scale-down; never count more available pods than it is meant to have.
const availableReplicas = (rss: KubeObject[]) => sum(rss, (rs) => Math.min(rs.status?.availableReplicas ?? 0, rs.spec?.replicas ?? 0));
const readyReplicas = (rss: KubeObject[]) => sum(rss, (rs) => rs.status?.readyReplicas ?? 0);
const active = (rss: (KubeObject | undefined)[]) => rss.filter((rs): rs is KubeObject => !!rs && (rs.spec?.replicas ?? 0) > 0);

function getCondition(status: any, type: string): Condition | undefined {
  return (status?.conditions ?? []).find((c: Condition) => c.type === type);
}

function newCondition(type: string, status: Condition['status'], reason: string, message: string): Condition {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { type, status, reason, message, lastUpdateTime: now, lastTransitionTime: now };
}

/** deploymentutil.SetDeploymentCondition: same status and reason is no change; same status keeps lastTransitionTime. */
function setCondition(status: any, cond: Condition): void {
  const current = getCondition(status, cond.type);
  if (current && current.status === cond.status && current.reason === cond.reason) return;
  if (current && current.status === cond.status) cond.lastTransitionTime = current.lastTransitionTime;
  status.conditions = [...(status.conditions ?? []).filter((c: Condition) => c.type !== cond.type), cond];
}

function removeCondition(status: any, type: string): void {
  status.conditions = (status.conditions ?? []).filter((c: Condition) => c.type !== type);
}

function hasProgressDeadline(d: KubeObject): boolean {
  const pds = d.spec?.progressDeadlineSeconds;
  return pds != null && pds !== 2147483647;
}

/** deploymentutil.DeploymentComplete. */
function deploymentComplete(d: KubeObject, status: any): boolean {
  const n = replicasOf(d);
  return status.updatedReplicas === n && status.replicas === n && status.availableReplicas === n && status.observedGeneration >= (d.metadata.generation ?? 0);
}

/** deploymentutil.DeploymentProgressing: more updated, ready or available pods, or fewer old ones, than last recorded. */
function deploymentProgressing(d: KubeObject, status: any): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = status.replicas - status.updatedReplicas;
  return (
    status.updatedReplicas > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    status.readyReplicas > (old.readyReplicas ?? 0) ||
    status.availableReplicas > (old.availableReplicas ?? 0)
  );
}

function deploymentTimedOut(d: KubeObject, status: any, now: number): boolean {
  if (!hasProgressDeadline(d)) return false;
  const cond = getCondition(status, 'Progressing');
  if (!cond || cond.reason === NEW_RS_AVAILABLE) return false;
  if (cond.reason === TIMED_OUT) return true;
  return Date.parse(cond.lastUpdateTime) + d.spec.progressDeadlineSeconds * 1000 < now;
}

function statusEqual(a: any, b: any): boolean {
  const norm = (s: any) => JSON.stringify({
    observedGeneration: s?.observedGeneration ?? 0,
    replicas: s?.replicas ?? 0,
    updatedReplicas: s?.updatedReplicas ?? 0,
    readyReplicas: s?.readyReplicas ?? 0,
    availableReplicas: s?.availableReplicas ?? 0,
    unavailableReplicas: s?.unavailableReplicas ?? 0,
    collisionCount: s?.collisionCount ?? 0,
    conditions: (s?.conditions ?? []).map((c: Condition) => [c.type, c.status, c.reason, c.message, c.lastUpdateTime, c.lastTransitionTime]).sort(),
  });
  return norm(a) === norm(b);
}

// ---------------------------------------------------------------------------

/** Whether a ReplicaSet update changed only its status (same generation, labels, annotations, owners, deletion state). */
function onlyStatusMoved(old: KubeObject, rs: KubeObject): boolean {
  const a = old.metadata;
  const b = rs.metadata;
  return a.generation === b.generation && !!a.deletionTimestamp === !!b.deletionTimestamp &&
    JSON.stringify([a.labels, a.annotations, a.ownerReferences]) === JSON.stringify([b.labels, b.annotations, b.ownerReferences]);
}

/**
 * The Deployment controller (pkg/controller/deployment): one ReplicaSet per
 * pod template (named `<deployment>-<pod-template-hash>`), rolled from old
 * to new by the RollingUpdate or Recreate strategy, with revisions,
 * history cleanup, pausing, proportional scaling and progress conditions.
 *
 * Every write to a ReplicaSet carries the resourceVersion this sync read,
 * so a sync working from a stale cache loses with a conflict and is retried
 * instead of scaling twice. A sync that waits on the progress deadline asks
 * to be requeued when it would expire.
 */
export class DeploymentController implements Reconciler {
  readonly name = 'deployment';
  private dInformer!: Informer;
  private rsInformer!: Informer;
  private podInformer!: Informer;
  private readonly recorder: EventRecorder;

  constructor(private readonly ctx: ControllerContext) {
    this.recorder = new EventRecorder(ctx.client, 'deployment-controller');
  }

  setup(informers: SharedInformers, enqueue: (key: string, delayMs?: number) => void): void {
    this.dInformer = informers.for(DEPLOYMENTS);
    this.rsInformer = informers.for(REPLICASETS);
    this.podInformer = informers.for(PODS);
    this.dInformer.on({
      add: (d) => enqueue(objectKey(d)),
      update: (_o, d) => enqueue(objectKey(d)),
      delete: (d) => enqueue(objectKey(d)),
    });
    const ownerKey = (rs: KubeObject) => {
      const ref = controllerOf(rs);
      return ref?.kind === 'Deployment' ? `${rs.metadata.namespace}/${ref.name}` : undefined;
    };
    const enqueueSelecting = (rs: KubeObject) => {
      for (const d of this.dInformer.list()) {
        if (d.metadata.namespace !== rs.metadata.namespace) continue;
        if (matchesSelector(d, rs.metadata.labels)) enqueue(objectKey(d));
      }
    };
    const onRs = (rs: KubeObject) => {
      const key = ownerKey(rs);
      if (key) enqueue(key);
      else enqueueSelecting(rs);
    };
    this.rsInformer.on({
      add: onRs,
      update: (old, rs) => {
        const oldKey = ownerKey(old);
        const key = ownerKey(rs);
        if (oldKey && oldKey !== key) enqueue(oldKey);
        if (key && key === oldKey && onlyStatusMoved(old, rs)) return enqueue(key, STATUS_COALESCE_MS);
        onRs(rs);
      },
      delete: onRs,
    });
    // Recreate waits for old pods to be gone: their deletion is news to the Deployment.
    this.podInformer.on({
      delete: (pod) => {
        const ref = controllerOf(pod);
        if (ref?.kind !== 'ReplicaSet') return;
        const rs = this.rsInformer.get(`${pod.metadata.namespace}/${ref.name}`);
        if (rs) {
          const key = ownerKey(rs);
          if (key && this.dInformer.get(key)?.spec?.strategy?.type === 'Recreate') enqueue(key);
        }
      },
    });
  }

  async reconcile(key: string): Promise<Result | void> {
    const cached = this.dInformer.get(key);
    if (!cached) return;
    let d = structuredClone(cached);
    const selector = labelSelectorFromObject(d.spec?.selector);
    if (selector.requirements.length === 0 && !selector.matchesNothing) {
      // An empty selector would match every pod in the namespace; Kubernetes refuses to act.
      return;
    }
    const candidates = claimCandidates(this.rsInformer, d);
    const rsList = (await claimObjects(this.ctx.client, REPLICASETS, d, selector, candidates)).map((rs) => structuredClone(rs));

    if (d.metadata.deletionTimestamp) return this.syncStatusOnly(d, rsList);

    d = await this.checkPausedConditions(d);
    if (d.spec?.paused) return this.sync(d, rsList);
    if (await this.isScalingEvent(d, rsList)) return this.sync(d, rsList);
    return d.spec?.strategy?.type === 'Recreate' ? this.rolloutRecreate(d, rsList) : this.rolloutRolling(d, rsList);
  }

  // -------------------------------------------------------------------------
  // Revisions and the new ReplicaSet (sync.go)

  private split(d: KubeObject, rsList: KubeObject[]): { newRS?: KubeObject; oldRSs: KubeObject[] } {
    const sorted = [...rsList].sort(byCreation);
    // The Deployment may carry local changes under its stored version: its form is computed afresh.
    const wanted = comparableTemplate(d.spec?.template);
    const newRS = sorted.find((rs) => comparableTemplateOf(rs) === wanted);
    return { newRS, oldRSs: sorted.filter((rs) => rs !== newRS) };
  }

  /** getAllReplicaSetsAndSyncRevision: the new RS (created when asked and missing) and the old ones, revisions synced. */
  private async getAllReplicaSets(d: KubeObject, rsList: KubeObject[], create: boolean): Promise<{ newRS?: KubeObject; oldRSs: KubeObject[] }> {
    const { newRS, oldRSs } = this.split(d, rsList);
    return { newRS: await this.getNewReplicaSet(d, newRS, oldRSs, create), oldRSs };
  }

  private async getNewReplicaSet(d: KubeObject, existing: KubeObject | undefined, oldRSs: KubeObject[], create: boolean): Promise<KubeObject | undefined> {
    const maxOldRevision = Math.max(0, ...oldRSs.map(revisionOf));
    const newRevision = String(maxOldRevision + 1);

    if (existing) {
      const rs = structuredClone(existing);
      const annotationsChanged = this.setNewReplicaSetAnnotations(d, rs, newRevision, true);
      const minReadyChanged = (rs.spec.minReadySeconds ?? 0) !== (d.spec.minReadySeconds ?? 0);
      if (annotationsChanged || minReadyChanged) {
        rs.spec.minReadySeconds = d.spec.minReadySeconds ?? 0;
        return this.ctx.client.update(REPLICASETS, rs);
      }
      await this.setDeploymentRevision(d, rs.metadata.annotations?.[REVISION_ANNOTATION]);
      if (hasProgressDeadline(d) && !getCondition(d.status, 'Progressing')) {
        const status = structuredClone(d.status ?? {});
        setCondition(status, newCondition('Progressing', 'True', FOUND_NEW_RS, `Found new replica set "${rs.metadata.name}"`));
        await this.writeStatus(d, status);
      }
      return rs;
    }
    if (!create) return undefined;

    const collisionCount = d.status?.collisionCount;
    const hash = computeHash(d.spec.template, collisionCount);
    const template = templateWithHash(d.spec.template, hash);
    const rs: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        labels: { ...(d.spec.template?.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash },
        ownerReferences: [controllerRef(d)],
      },
      spec: {
        replicas: 0,
        minReadySeconds: d.spec.minReadySeconds ?? 0,
        selector: {
          ...structuredClone(d.spec.selector),
          matchLabels: { ...(d.spec.selector?.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash },
        },
        template,
      },
    };
    const allRSs = [...oldRSs, rs];
    rs.spec.replicas = this.newRSNewReplicas(d, allRSs, rs);
    this.setNewReplicaSetAnnotations(d, rs, newRevision, false);

    let created: KubeObject;
    try {
      created = await this.ctx.client.create(REPLICASETS, rs);
    } catch (err) {
      if (!ApiStatusError.isAlreadyExists(err)) throw err;
      // Ours already (a stale cache)? Then use it; otherwise a hash collision: bump collisionCount and retry.
      const current = await this.ctx.client.get(REPLICASETS, rs.metadata.namespace, rs.metadata.name!);
      if (controllerOf(current)?.uid === d.metadata.uid && equalIgnoreHash(current.spec?.template, d.spec.template)) return current;
      const status = structuredClone(d.status ?? {});
      status.collisionCount = (status.collisionCount ?? 0) + 1;
      await this.writeStatus(d, status);
      throw new Error(`found a hash collision for deployment "${d.metadata.name}" - bumping collisionCount to ${status.collisionCount}`);
    }
    if (created.spec.replicas > 0) {
      this.recorder.record(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${created.metadata.name} from 0 to ${created.spec.replicas}`);
    }
    await this.setDeploymentRevision(d, newRevision);
    if (hasProgressDeadline(d)) {
      const status = structuredClone(d.status ?? {});
      setCondition(status, newCondition('Progressing', 'True', NEW_RS_CREATED, `Created new replica set "${created.metadata.name}"`));
      await this.writeStatus(d, status);
    }
    return created;
  }

  /** deploymentutil.SetNewReplicaSetAnnotations; true when something changed. */
  private setNewReplicaSetAnnotations(d: KubeObject, rs: KubeObject, newRevision: string, exists: boolean): boolean {
    const annotations = { ...(rs.metadata.annotations ?? {}) };
    let changed = false;
    for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
      if (SKIP_COPY.has(k) || annotations[k] === v) continue;
      annotations[k] = v;
      changed = true;
    }
    const oldRevision = Number.parseInt(annotations[REVISION_ANNOTATION] ?? '', 10);
    if (!Number.isFinite(oldRevision) || oldRevision < Number(newRevision)) {
      annotations[REVISION_ANNOTATION] = newRevision;
      changed = true;
    }
    if (!exists || annotations[DESIRED_REPLICAS_ANNOTATION] === undefined) {
      annotations[DESIRED_REPLICAS_ANNOTATION] = String(replicasOf(d));
      annotations[MAX_REPLICAS_ANNOTATION] = String(replicasOf(d) + maxSurge(d));
      changed = true;
    }
    rs.metadata.annotations = annotations;
    return changed;
  }

  /** Records the new RS's revision on the Deployment (a metadata write: no new generation). */
  private async setDeploymentRevision(d: KubeObject, revision: string | undefined): Promise<void> {
    if (!revision || d.metadata.annotations?.[REVISION_ANNOTATION] === revision) return;
    const updated = await this.ctx.client.patch(DEPLOYMENTS, d.metadata.namespace, d.metadata.name!, {
      metadata: { resourceVersion: d.metadata.resourceVersion, annotations: { [REVISION_ANNOTATION]: revision } },
    }, 'merge');
    d.metadata = updated.metadata;
  }

  private async writeStatus(d: KubeObject, status: any): Promise<void> {
    const updated = await this.ctx.client.updateStatus(DEPLOYMENTS, { ...d, status });
    d.metadata = updated.metadata;
    d.status = updated.status;
  }

  // -------------------------------------------------------------------------
  // Scaling (sync.go)

  private async checkPausedConditions(d: KubeObject): Promise<KubeObject> {
    if (!hasProgressDeadline(d)) return d;
    const cond = getCondition(d.status, 'Progressing');
    if (cond?.reason === TIMED_OUT) return d;
    const paused = !!d.spec?.paused;
    let next: Condition | undefined;
    if (paused && cond?.reason !== PAUSED) next = newCondition('Progressing', 'Unknown', PAUSED, 'Deployment is paused');
    else if (!paused && cond?.reason === PAUSED) next = newCondition('Progressing', 'Unknown', RESUMED, 'Deployment is resumed');
    if (!next) return d;
    const status = structuredClone(d.status ?? {});
    setCondition(status, next);
    await this.writeStatus(d, status);
    return d;
  }

  /** A Deployment whose replicas differ from what its active RSes were sized for is being scaled, not rolled. */
  private async isScalingEvent(d: KubeObject, rsList: KubeObject[]): Promise<boolean> {
    const { newRS, oldRSs } = await this.getAllReplicaSets(d, rsList, false);
    for (const rs of active([newRS, ...oldRSs])) {
      const desired = intAnnotation(rs, DESIRED_REPLICAS_ANNOTATION);
      if (desired !== undefined && desired !== replicasOf(d)) return true;
    }
    return false;
  }

  /** sync: scale only (paused or a scaling event), then status. */
  private async sync(d: KubeObject, rsList: KubeObject[]): Promise<Result | void> {
    const { newRS, oldRSs } = await this.getAllReplicaSets(d, rsList, false);
    await this.scale(d, newRS, oldRSs);
    if (d.spec?.paused) await this.cleanupDeployment(d, oldRSs);
    return this.syncDeploymentStatus(d, [...oldRSs, ...(newRS ? [newRS] : [])], newRS);
  }

  private async syncStatusOnly(d: KubeObject, rsList: KubeObject[]): Promise<Result | void> {
    const { newRS, oldRSs } = await this.getAllReplicaSets(d, rsList, false);
    return this.syncDeploymentStatus(d, [...oldRSs, ...(newRS ? [newRS] : [])], newRS);
  }

  /** scale(): one active RS takes all replicas; otherwise a rolling Deployment shares the change proportionally. */
  private async scale(d: KubeObject, newRS: KubeObject | undefined, oldRSs: KubeObject[]): Promise<void> {
    const target = findActiveOrLatest(newRS, oldRSs);
    if (target) {
      if (replicasOf(target) !== replicasOf(d)) await this.scaleReplicaSet(target, replicasOf(d), d);
      return;
    }
    if (newRS && isSaturated(d, newRS)) {
      for (const old of active(oldRSs)) await this.scaleReplicaSet(old, 0, d);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const all = active([...oldRSs, newRS]);
    const allowed = replicasOf(d) > 0 ? replicasOf(d) + maxSurge(d) : 0;
    const toAdd = allowed - specReplicas(all);
    if (toAdd > 0) all.sort((a, b) => replicasOf(b) - replicasOf(a) || -byCreation(a, b)); // ReplicaSetsBySizeNewer
    else if (toAdd < 0) all.sort((a, b) => replicasOf(b) - replicasOf(a) || byCreation(a, b)); // ReplicaSetsBySizeOlder
    let added = 0;
    const sizes = new Map<KubeObject, number>();
    for (const rs of all) {
      if (toAdd === 0) {
        sizes.set(rs, replicasOf(rs));
        continue;
      }
      const p = proportion(rs, d, toAdd, added);
      sizes.set(rs, replicasOf(rs) + p);
      added += p;
    }
    for (let i = 0; i < all.length; i++) {
      const rs = all[i]!;
      let size = sizes.get(rs)!;
      // Leftovers go to the largest ReplicaSet.
      if (i === 0 && toAdd !== 0) size = Math.max(0, size + toAdd - added);
      await this.scaleReplicaSet(rs, size, d);
    }
  }

  /** Sets the RS's replicas and its desired/max-replicas annotations; returns the written RS. */
  private async scaleReplicaSet(rs: KubeObject, replicas: number, d: KubeObject): Promise<KubeObject> {
    const desired = String(replicasOf(d));
    const max = String(replicasOf(d) + maxSurge(d));
    const a = rs.metadata.annotations ?? {};
    const sizeChanged = replicasOf(rs) !== replicas;
    if (!sizeChanged && a[DESIRED_REPLICAS_ANNOTATION] === desired && a[MAX_REPLICAS_ANNOTATION] === max) return rs;
    const from = replicasOf(rs);
    // A merge patch, not an update carrying the cached resourceVersion: the
    // ReplicaSet controller rewrites status on every pod readiness change,
    // so an update from the cache conflicts (and is retried) most of the
    // time during a rollout. The uid keeps it from landing on a namesake.
    const updated = await this.ctx.client.patch(REPLICASETS, rs.metadata.namespace, rs.metadata.name!, {
      metadata: { uid: rs.metadata.uid, annotations: { [DESIRED_REPLICAS_ANNOTATION]: desired, [MAX_REPLICAS_ANNOTATION]: max } },
      spec: { replicas },
    }, 'merge');
    // Later steps of this sync see the write.
    Object.assign(rs, { metadata: updated.metadata, spec: updated.spec });
    if (sizeChanged) {
      const dir = replicas > from ? 'up' : 'down';
      this.recorder.record(d, 'Normal', 'ScalingReplicaSet', `Scaled ${dir} replica set ${rs.metadata.name} from ${from} to ${replicas}`);
    }
    return rs;
  }

  // -------------------------------------------------------------------------
  // Strategies (rolling.go, recreate.go)

  private async rolloutRolling(d: KubeObject, rsList: KubeObject[]): Promise<Result | void> {
    const { newRS, oldRSs } = await this.getAllReplicaSets(d, rsList, true);
    const all = [...oldRSs, newRS!];
    if (await this.reconcileNewReplicaSet(all, newRS!, d)) return this.syncRolloutStatus(all, newRS, d);
    if (await this.reconcileOldReplicaSets(all, active(oldRSs), newRS!, d)) return this.syncRolloutStatus(all, newRS, d);
    if (deploymentComplete(d, d.status ?? {})) await this.cleanupDeployment(d, oldRSs);
    return this.syncRolloutStatus(all, newRS, d);
  }

  private async reconcileNewReplicaSet(all: KubeObject[], newRS: KubeObject, d: KubeObject): Promise<boolean> {
    if (replicasOf(newRS) === replicasOf(d)) return false;
    if (replicasOf(newRS) > replicasOf(d)) {
      await this.scaleReplicaSet(newRS, replicasOf(d), d);
      return true;
    }
    const count = this.newRSNewReplicas(d, all, newRS);
    if (count === replicasOf(newRS)) return false;
    await this.scaleReplicaSet(newRS, count, d);
    return true;
  }

  /** deploymentutil.NewRSNewReplicas: how far the new RS may grow without exceeding replicas + maxSurge pods. */
  private newRSNewReplicas(d: KubeObject, all: KubeObject[], newRS: KubeObject): number {
    if (!isRollingUpdate(d)) return replicasOf(d);
    const current = specReplicas(all);
    const maxTotal = replicasOf(d) + maxSurge(d);
    if (current >= maxTotal) return replicasOf(newRS);
    const up = Math.min(maxTotal - current, replicasOf(d) - replicasOf(newRS));
    return replicasOf(newRS) + Math.max(0, up);
  }

  private async reconcileOldReplicaSets(all: KubeObject[], oldRSs: KubeObject[], newRS: KubeObject, d: KubeObject): Promise<boolean> {
    if (specReplicas(oldRSs) === 0) return false;
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const newRSUnavailable = replicasOf(newRS) - Math.min(newRS.status?.availableReplicas ?? 0, replicasOf(newRS));
    const maxScaledDown = specReplicas(all) - minAvailable - newRSUnavailable;
    if (maxScaledDown <= 0) return false;

    // First old pods that are not available anyway: removing them costs no availability.
    let cleaned = 0;
    for (const rs of [...oldRSs].sort(byCreation)) {
      if (cleaned >= maxScaledDown) break;
      const unhealthy = replicasOf(rs) - Math.min(rs.status?.availableReplicas ?? 0, replicasOf(rs));
      if (replicasOf(rs) === 0 || unhealthy <= 0) continue;
      const n = Math.min(maxScaledDown - cleaned, unhealthy);
      await this.scaleReplicaSet(rs, replicasOf(rs) - n, d);
      cleaned += n;
    }

    // Then available old pods, as long as minAvailable stays available.
    let scaledDown = 0;
    const available = availableReplicas([...oldRSs, newRS]);
    if (available > minAvailable) {
      const total = available - minAvailable;
      for (const rs of [...oldRSs].sort(byCreation)) {
        if (scaledDown >= total) break;
        if (replicasOf(rs) === 0) continue;
        const n = Math.min(replicasOf(rs), total - scaledDown);
        await this.scaleReplicaSet(rs, replicasOf(rs) - n, d);
        scaledDown += n;
      }
    }
    return cleaned + scaledDown > 0;
  }

  private async rolloutRecreate(d: KubeObject, rsList: KubeObject[]): Promise<Result | void> {
    let { newRS, oldRSs } = await this.getAllReplicaSets(d, rsList, false);
    const all = () => [...oldRSs, ...(newRS ? [newRS] : [])];
    let scaledDown = false;
    for (const rs of active(oldRSs)) {
      await this.scaleReplicaSet(rs, 0, d);
      scaledDown = true;
    }
    if (scaledDown) return this.syncRolloutStatus(all(), newRS, d);
    if (this.oldPodsRunning(oldRSs)) return this.syncRolloutStatus(all(), newRS, d);
    if (!newRS) ({ newRS, oldRSs } = await this.getAllReplicaSets(d, rsList, true));
    if (replicasOf(newRS) !== replicasOf(d)) {
      await this.scaleReplicaSet(newRS!, replicasOf(d), d);
      return this.syncRolloutStatus(all(), newRS, d);
    }
    if (deploymentComplete(d, d.status ?? {})) await this.cleanupDeployment(d, oldRSs);
    return this.syncRolloutStatus(all(), newRS, d);
  }

  /** Whether any pod of an old RS still exists and is not terminal (Recreate waits for them to be gone). */
  private oldPodsRunning(oldRSs: KubeObject[]): boolean {
    if (statusReplicas(oldRSs) > 0) return true;
    return oldRSs.some((rs) => controlledBy(this.podInformer, rs).some((p) => !isPodTerminal(p)));
  }

  /** Deletes the oldest zero-replica RSes beyond revisionHistoryLimit. */
  private async cleanupDeployment(d: KubeObject, oldRSs: KubeObject[]): Promise<void> {
    const limit = d.spec?.revisionHistoryLimit;
    if (limit == null) return;
    const cleanable = oldRSs
      .filter((rs) => replicasOf(rs) === 0 && (rs.status?.replicas ?? 0) === 0 && (rs.status?.observedGeneration ?? 0) >= (rs.metadata.generation ?? 0) && !rs.metadata.deletionTimestamp)
      .sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    const diff = cleanable.length - limit;
    for (const rs of cleanable.slice(0, Math.max(0, diff))) {
      try {
        await this.ctx.client.delete(REPLICASETS, rs.metadata.namespace, rs.metadata.name!, { preconditions: { uid: rs.metadata.uid } });
      } catch (err) {
        if (!ApiStatusError.isNotFound(err)) throw err;
      }
    }
  }

  // -------------------------------------------------------------------------
  // Status and progress (progress.go)

  private calculateStatus(all: KubeObject[], newRS: KubeObject | undefined, d: KubeObject): any {
    const available = availableReplicas(all);
    const status: any = {
      ...structuredClone(d.status ?? {}),
      observedGeneration: d.metadata.generation,
      replicas: statusReplicas(all),
      updatedReplicas: newRS ? newRS.status?.replicas ?? 0 : 0,
      readyReplicas: readyReplicas(all),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, specReplicas(all) - available),
    };
    if (available >= replicasOf(d) - maxUnavailable(d)) {
      setCondition(status, newCondition('Available', 'True', MIN_AVAILABLE, 'Deployment has minimum availability.'));
    } else {
      setCondition(status, newCondition('Available', 'False', MIN_UNAVAILABLE, 'Deployment does not have minimum availability.'));
    }
    return status;
  }

  private async syncDeploymentStatus(d: KubeObject, all: KubeObject[], newRS: KubeObject | undefined): Promise<void> {
    const status = this.calculateStatus(all, newRS, d);
    if (!statusEqual(status, d.status)) await this.writeStatus(d, status);
  }

  private async syncRolloutStatus(all: KubeObject[], newRS: KubeObject | undefined, d: KubeObject): Promise<Result | void> {
    const now = Date.now();
    const status = this.calculateStatus(all, newRS, d);
    if (!hasProgressDeadline(d)) removeCondition(status, 'Progressing');
    const current = getCondition(status, 'Progressing');
    const complete = status.replicas === status.updatedReplicas && current?.reason === NEW_RS_AVAILABLE;
    if (hasProgressDeadline(d) && !complete && newRS) {
      const name = newRS.metadata.name;
      if (deploymentComplete(d, status)) {
        setCondition(status, newCondition('Progressing', 'True', NEW_RS_AVAILABLE, `ReplicaSet "${name}" has successfully progressed.`));
      } else if (deploymentProgressing(d, status)) {
        const cond = newCondition('Progressing', 'True', RS_UPDATED, `ReplicaSet "${name}" is progressing.`);
        // Progress refreshes lastUpdateTime (the deadline counts from it) even when the reason stays.
        if (current?.status === 'True') cond.lastTransitionTime = current.lastTransitionTime;
        removeCondition(status, 'Progressing');
        setCondition(status, cond);
      } else if (deploymentTimedOut(d, status, now)) {
        setCondition(status, newCondition('Progressing', 'False', TIMED_OUT, `ReplicaSet "${name}" has timed out progressing.`));
      }
    }
    if (!statusEqual(status, d.status)) {
      await this.writeStatus(d, status);
      if (getCondition(status, 'Progressing')?.reason === TIMED_OUT && getCondition(d.status, 'Progressing')?.reason !== TIMED_OUT) {
        this.recorder.record(d, 'Warning', TIMED_OUT, `Deployment "${d.metadata.name}" has timed out progressing.`);
      }
    }
    return this.requeueStuck(d, status, now);
  }

  /** requeueStuckDeployment: look again when the progress deadline would pass. */
  private requeueStuck(d: KubeObject, status: any, now: number): Result | void {
    const cond = getCondition(status, 'Progressing');
    if (!hasProgressDeadline(d) || !cond || cond.reason === TIMED_OUT || cond.reason === PAUSED) return;
    if (deploymentComplete(d, status)) return;
    const after = Date.parse(cond.lastUpdateTime) + d.spec.progressDeadlineSeconds * 1000 - now;
    return { requeueAfterMs: Math.max(10, after + 50) };
  }
}

function matchesSelector(d: KubeObject, labels: Record<string, string> | undefined): boolean {
  const sel = labelSelectorFromObject(d.spec?.selector);
  return sel.requirements.length > 0 && matchesLabels(sel, labels);
}

/** deploymentutil.FindActiveOrLatest: the only active RS, or the latest when none is active; none when several are. */
function findActiveOrLatest(newRS: KubeObject | undefined, oldRSs: KubeObject[]): KubeObject | undefined {
  if (!newRS && oldRSs.length === 0) return undefined;
  const newestFirst = [...oldRSs].sort((a, b) => -byCreation(a, b));
  const all = active([...newestFirst, newRS]);
  if (all.length === 0) return newRS ?? newestFirst[0];
  return all.length === 1 ? all[0] : undefined;
}

function isSaturated(d: KubeObject, rs: KubeObject): boolean {
  return (
    replicasOf(rs) === replicasOf(d) &&
    intAnnotation(rs, DESIRED_REPLICAS_ANNOTATION) === replicasOf(d) &&
    (rs.status?.availableReplicas ?? 0) === replicasOf(d)
  );
}

/** deploymentutil.GetProportion: this RS's share of `toAdd`, by its size relative to the size it was scaled for. */
function proportion(rs: KubeObject, d: KubeObject, toAdd: number, added: number): number {
  if (replicasOf(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  let fraction: number;
  if (replicasOf(d) === 0) fraction = -replicasOf(rs);
  else {
    const deploymentReplicas = replicasOf(d) + maxSurge(d);
    const annotated = intAnnotation(rs, MAX_REPLICAS_ANNOTATION) ?? d.status?.replicas ?? 0;
    fraction = annotated ? Math.round((replicasOf(rs) * deploymentReplicas) / annotated) - replicasOf(rs) : 0;
  }
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

export const deploymentControllerFactory: ControllerFactory = {
  name: 'deployment',
  create: (ctx) => new DeploymentController(ctx),
  workers: 4,
};
