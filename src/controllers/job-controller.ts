import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import { EventRecorder } from '../client/events';
import type { Informer } from '../client/informer';
import { controlledBy, controllerOf, controllerOwnerKey, controllerRef, objectKey, splitKey, type ControllerContext, type Reconciler, type Result } from './controller';
import type { ControllerFactory } from './manager';

const JOBS = resolveResourceName('jobs')!;
const PODS = resolveResourceName('pods')!;

export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';

export interface JobControllerOptions {
  /** The clock (ms since the epoch); injectable so tests need not wait. */
  now?: () => number;
  /** First delay before a failed pod is replaced; doubles per failure up to maxBackoffMs (Kubernetes: 10 s, 6 min). */
  backoffBaseMs?: number;
  maxBackoffMs?: number;
}

type Obj = Record<string, any>;

const isTrue = (job: KubeObject, type: string) => (job.status?.conditions ?? []).some((c: Obj) => c.type === type && c.status === 'True');
const isFinished = (job: KubeObject) => isTrue(job, 'Complete') || isTrue(job, 'Failed');
const isActive = (pod: KubeObject) => pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed' && !pod.metadata.deletionTimestamp;
const isReady = (pod: KubeObject) => (pod.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Container restarts of a pod: what backoffLimit counts for restartPolicy OnFailure. */
function restarts(pod: KubeObject): number {
  let n = 0;
  for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) n += s.restartCount ?? 0;
  return n;
}

/**
 * The Job controller (pkg/controller/job, simplified): runs pods from the
 * template until `completions` of them succeed, at most `parallelism` at a
 * time, and fails the job after more than `backoffLimit` pod failures
 * (BackoffLimitExceeded) or after `activeDeadlineSeconds` (DeadlineExceeded),
 * deleting its active pods. A finished job with `ttlSecondsAfterFinished` is
 * deleted (Background propagation) once the TTL passes, which Kubernetes
 * leaves to its separate TTL-after-finished controller.
 *
 * Counting: Kubernetes keeps finished pods from disappearing uncounted with
 * the `batch.kubernetes.io/job-tracking` finalizer and
 * `status.uncountedTerminatedPods`. mk never deletes a finished pod of a job
 * itself, so counting the finished pods present is exact while nobody else
 * deletes them; the counts in status never go down, so a finished pod deleted
 * by hand is never counted twice, only possibly missed (the job may then run
 * one pod more than needed). Orphan pods matching the selector are not
 * adopted.
 *
 * Expectations: a pod this controller created is counted as active until the
 * pod informer has seen it, so a reconcile racing its own creates never
 * over-creates.
 */
export class JobController implements Reconciler {
  readonly name = 'job';
  private jobs!: Informer;
  private pods!: Informer;
  private readonly events: EventRecorder;
  private readonly now: () => number;
  private readonly backoffBaseMs: number;
  private readonly maxBackoffMs: number;
  /** Per job key: names of pods created and not yet seen by the informer, with when they were created. */
  private readonly expected = new Map<string, Map<string, number>>();
  /** Per job key: the failure count last seen and when it rose, for the replacement backoff. */
  private readonly failures = new Map<string, { count: number; at: number }>();

  constructor(private readonly ctx: ControllerContext, opts: JobControllerOptions = {}) {
    this.events = new EventRecorder(ctx.client, 'job-controller');
    this.now = opts.now ?? Date.now;
    this.backoffBaseMs = opts.backoffBaseMs ?? 10_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 360_000;
  }

  private get client(): KubeClient {
    return this.ctx.client;
  }

  setup(informers: ControllerContext['informers'], enqueue: (key: string) => void): void {
    this.jobs = informers.for(JOBS);
    this.pods = informers.for(PODS);
    this.jobs.on({ add: (j) => enqueue(objectKey(j)), update: (_o, j) => enqueue(objectKey(j)), delete: (j) => enqueue(objectKey(j)) });
    const byOwner = (pod: KubeObject) => {
      const key = controllerOwnerKey(pod, 'Job');
      if (key) enqueue(key);
    };
    this.pods.on({ add: byOwner, update: (_o, p) => byOwner(p), delete: byOwner });
  }

  async reconcile(key: string): Promise<Result | void> {
    const job = this.jobs.get(key);
    if (!job) {
      this.expected.delete(key);
      this.failures.delete(key);
      return;
    }
    if (job.metadata.deletionTimestamp) return;
    const now = this.now();
    const spec = job.spec ?? {};
    const pods = this.ownedPods(job);
    if (isFinished(job)) return this.afterFinished(job, pods, now);

    const active = pods.filter(isActive);
    const pending = this.pendingCreates(key, pods, now);
    const prev = job.status ?? {};
    const succeeded = Math.max(prev.succeeded ?? 0, pods.filter((p) => p.status?.phase === 'Succeeded').length);
    const failed = Math.max(prev.failed ?? 0, pods.filter((p) => p.status?.phase === 'Failed').length);
    const status: Obj = { ...prev, succeeded, failed };
    const conditions: Obj[] = [...(prev.conditions ?? [])];
    let requeueAfterMs: number | undefined;

    if (spec.suspend) {
      await this.deletePods(active);
      setCondition(conditions, 'Suspended', 'True', 'JobSuspended', 'Job suspended', now);
      status.active = 0;
    } else {
      if (isTrue(job, 'Suspended')) setCondition(conditions, 'Suspended', 'False', 'JobResumed', 'Job resumed', now);
      status.startTime ??= rfc3339(now);
      const backoffLimit = spec.backoffLimit ?? 6;
      const onFailureRestarts = spec.template?.spec?.restartPolicy === 'OnFailure' ? active.reduce((n, p) => n + restarts(p), 0) : 0;
      const deadlineMs = spec.activeDeadlineSeconds != null ? Date.parse(status.startTime) + spec.activeDeadlineSeconds * 1000 : undefined;
      const completions: number | undefined = spec.completions ?? undefined;
      const complete = completions !== undefined ? succeeded >= completions : succeeded > 0 && active.length === 0 && pending === 0;

      let failure: [string, string] | undefined;
      if (failed > backoffLimit || (onFailureRestarts > 0 && onFailureRestarts >= backoffLimit)) {
        failure = ['BackoffLimitExceeded', 'Job has reached the specified backoff limit'];
      } else if (deadlineMs !== undefined && now >= deadlineMs && !complete) {
        failure = ['DeadlineExceeded', 'Job was active longer than specified deadline'];
      }

      if (failure) {
        await this.deletePods(active);
        setCondition(conditions, 'Failed', 'True', failure[0], failure[1], now);
        this.events.record(job, 'Warning', failure[0], failure[1]);
        status.active = 0;
        status.ready = 0;
        // Pods stopped because the job failed count as failed, as in Kubernetes.
        status.failed = failed + active.length;
      } else if (complete) {
        await this.deletePods(active);
        setCondition(conditions, 'Complete', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods', now);
        this.events.record(job, 'Normal', 'Completed', 'Job completed');
        status.completionTime = rfc3339(now);
        status.active = 0;
        status.ready = 0;
      } else {
        const parallelism = spec.parallelism ?? 1;
        const want = completions !== undefined ? Math.min(parallelism, completions - succeeded) : succeeded > 0 ? 0 : parallelism;
        const have = active.length + pending;
        let activeCount = have;
        if (have < want) {
          const wait = this.backoffRemaining(key, failed, now);
          if (wait > 0) requeueAfterMs = wait;
          else {
            await this.createPods(job, key, want - have);
            activeCount = want;
          }
        } else if (have > want) {
          // Too many (parallelism lowered): delete the not-ready, then the newest, first.
          const victims = [...active].sort((a, b) => Number(isReady(a)) - Number(isReady(b)) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)));
          await this.deletePods(victims.slice(0, have - want));
          activeCount = want;
        }
        status.active = activeCount;
        status.ready = active.filter(isReady).length;
        if (deadlineMs !== undefined) requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, Math.max(1, deadlineMs - now));
      }
    }
    if (conditions.length) status.conditions = conditions;
    status.observedGeneration = job.metadata.generation;
    await this.writeStatus(job, status);
    if (isFinishedStatus(status)) return this.ttlRequeue(job, status, now);
    return requeueAfterMs !== undefined && Number.isFinite(requeueAfterMs) ? { requeueAfterMs } : undefined;
  }

  private ownedPods(job: KubeObject): KubeObject[] {
    return controlledBy(this.pods, job);
  }

  /** Created pods the informer has not shown yet; forgets them once seen or after a minute. */
  private pendingCreates(key: string, pods: KubeObject[], now: number): number {
    const exp = this.expected.get(key);
    if (!exp) return 0;
    const seen = new Set(pods.map((p) => p.metadata.name));
    for (const [name, at] of exp) if (seen.has(name) || now - at > 60_000) exp.delete(name);
    return exp.size;
  }

  /** How long to wait before replacing failed pods: base * 2^(failures-1) from the last new failure. */
  private backoffRemaining(key: string, failed: number, now: number): number {
    if (failed === 0) return 0;
    let f = this.failures.get(key);
    if (!f || f.count !== failed) {
      f = { count: failed, at: now };
      this.failures.set(key, f);
    }
    const delay = Math.min(this.maxBackoffMs, this.backoffBaseMs * 2 ** (failed - 1));
    return f.at + delay - now;
  }

  private async createPods(job: KubeObject, key: string, n: number): Promise<void> {
    const template = job.spec.template ?? {};
    const name = job.metadata.name!;
    let exp = this.expected.get(key);
    if (!exp) this.expected.set(key, (exp = new Map()));
    const creates = Array.from({ length: n }, async () => {
      const pod: KubeObject = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          generateName: `${name}-`,
          namespace: job.metadata.namespace,
          labels: {
            ...(template.metadata?.labels ?? {}),
            [CONTROLLER_UID_LABEL]: job.metadata.uid!,
            'controller-uid': job.metadata.uid!,
            [JOB_NAME_LABEL]: name,
            'job-name': name,
          },
          annotations: template.metadata?.annotations,
          ownerReferences: [controllerRef(job)],
        },
        spec: structuredClone(template.spec),
      };
      if (!pod.metadata.annotations) delete pod.metadata.annotations;
      const created = await this.client.create(PODS, pod);
      exp!.set(created.metadata.name!, this.now());
      this.events.record(job, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
    });
    const results = await Promise.allSettled(creates);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  private async deletePods(pods: KubeObject[]): Promise<void> {
    await Promise.all(
      pods.map((p) =>
        this.client.delete(PODS, p.metadata.namespace, p.metadata.name!, { preconditions: { uid: p.metadata.uid } }).catch((err) => {
          if (!(err instanceof ApiStatusError && (err.status.code === 404 || err.status.code === 409))) throw err;
        }),
      ),
    );
  }

  private async writeStatus(job: KubeObject, status: Obj): Promise<void> {
    if (JSON.stringify(status) === JSON.stringify(job.status ?? {})) return;
    await this.client.updateStatus(JOBS, { ...job, status });
  }

  /** A finished job: make sure no pod of it still runs, and delete it once its TTL passed. */
  private async afterFinished(job: KubeObject, pods: KubeObject[], now: number): Promise<Result | void> {
    await this.deletePods(pods.filter(isActive));
    return this.ttlRequeue(job, job.status, now);
  }

  private async ttlRequeue(job: KubeObject, status: Obj, now: number): Promise<Result | void> {
    const ttl = job.spec?.ttlSecondsAfterFinished;
    if (ttl == null) return;
    const finishedAt = status.completionTime ?? status.conditions?.find((c: Obj) => c.type === 'Failed' && c.status === 'True')?.lastTransitionTime;
    const expireAt = (finishedAt ? Date.parse(finishedAt) : now) + ttl * 1000;
    if (now < expireAt) return { requeueAfterMs: expireAt - now };
    const { namespace, name } = splitKey(objectKey(job));
    try {
      await this.client.delete(JOBS, namespace, name, { propagationPolicy: 'Background', preconditions: { uid: job.metadata.uid } });
    } catch (err) {
      if (!(err instanceof ApiStatusError && (err.status.code === 404 || err.status.code === 409))) throw err;
    }
  }
}

function isFinishedStatus(status: Obj): boolean {
  return (status.conditions ?? []).some((c: Obj) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

/** Sets a condition, keeping lastTransitionTime when its status does not change. */
export function setCondition(conditions: Obj[], type: string, status: string, reason: string, message: string, now: number): void {
  const i = conditions.findIndex((c) => c.type === type);
  const time = rfc3339(now);
  if (i >= 0 && conditions[i].status === status) {
    conditions[i] = { ...conditions[i], reason, message };
    return;
  }
  const cond = { type, status, lastProbeTime: time, lastTransitionTime: time, reason, message };
  if (i >= 0) conditions[i] = cond;
  else conditions.push(cond);
}

export const jobControllerFactory: ControllerFactory = {
  name: 'job',
  create: (ctx) => new JobController(ctx),
};
