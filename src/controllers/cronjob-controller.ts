import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError } from '../client/api-client';
import { EventRecorder } from '../client/events';
import type { Informer } from '../client/informer';
import { controlledBy, controllerOf, controllerOwnerKey, controllerRef, objectKey, type ControllerContext, type Reconciler, type Result } from './controller';
import { parseSchedule, type CronSchedule } from './cron';
import type { ControllerFactory } from './manager';

const CRONJOBS = resolveResourceName('cronjobs')!;
const JOBS = resolveResourceName('jobs')!;

export const SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';

export interface CronJobControllerOptions {
  /** The clock (ms since the epoch); injectable so a test can step through schedules. */
  now?: () => number;
}

type Obj = Record<string, any>;

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const condition = (job: KubeObject, type: string) => (job.status?.conditions ?? []).some((c: Obj) => c.type === type && c.status === 'True');
const finishedType = (job: KubeObject) => (condition(job, 'Complete') ? 'Complete' : condition(job, 'Failed') ? 'Failed' : undefined);
/** Kubernetes' extra delay after a scheduled time, so the clock has surely passed it. */
const NEXT_SCHEDULE_DELTA_MS = 100;

/**
 * The CronJob controller (cronjob_controllerv2, simplified): at each
 * scheduled time creates a Job named `<cronjob>-<minutes since the epoch>`
 * from `jobTemplate`, honouring `concurrencyPolicy` (Allow, Forbid: skip
 * while one runs, Replace: delete the running ones first),
 * `startingDeadlineSeconds` (a run later than this after its time is
 * skipped) and `suspend`; keeps `status.active`, `lastScheduleTime`,
 * `lastSuccessfulTime`; deletes finished jobs beyond the history limits.
 * Only the most recent missed time runs, as in Kubernetes. Each reconcile
 * asks to be requeued just after the next scheduled time.
 */
export class CronJobController implements Reconciler {
  readonly name = 'cronjob';
  private cronJobs!: Informer;
  private jobs!: Informer;
  private readonly events: EventRecorder;
  private readonly now: () => number;
  private readonly schedules = new Map<string, CronSchedule>();

  constructor(private readonly ctx: ControllerContext, opts: CronJobControllerOptions = {}) {
    this.events = new EventRecorder(ctx.client, 'cronjob-controller');
    this.now = opts.now ?? Date.now;
  }

  setup(informers: ControllerContext['informers'], enqueue: (key: string) => void): void {
    this.cronJobs = informers.for(CRONJOBS);
    this.jobs = informers.for(JOBS);
    this.cronJobs.on({ add: (c) => enqueue(objectKey(c)), update: (_o, c) => enqueue(objectKey(c)) });
    const byOwner = (job: KubeObject) => {
      const key = controllerOwnerKey(job, 'CronJob');
      if (key) enqueue(key);
    };
    this.jobs.on({ add: byOwner, update: (_o, j) => byOwner(j), delete: byOwner });
  }

  async reconcile(key: string): Promise<Result | void> {
    const cj = this.cronJobs.get(key);
    if (!cj) return;
    const now = this.now();
    const spec = cj.spec ?? {};
    const owned = controlledBy(this.jobs, cj);
    const byUid = new Map(owned.map((j) => [j.metadata.uid, j]));
    const prev = cj.status ?? {};
    const status: Obj = { ...prev };

    // status.active: jobs still running, including owned ones it does not list yet.
    const active: Obj[] = [];
    for (const ref of prev.active ?? []) {
      const job = byUid.get(ref.uid);
      if (job && !finishedType(job) && !job.metadata.deletionTimestamp) active.push(ref);
    }
    for (const job of owned) {
      if (!finishedType(job) && !job.metadata.deletionTimestamp && !active.some((r) => r.uid === job.metadata.uid)) active.push(jobRef(job));
    }
    for (const job of owned) {
      if (finishedType(job) !== 'Complete' || !job.status?.completionTime) continue;
      if (!status.lastSuccessfulTime || Date.parse(job.status.completionTime) > Date.parse(status.lastSuccessfulTime)) {
        status.lastSuccessfulTime = job.status.completionTime;
      }
    }
    await this.cleanupHistory(owned, spec);

    let result: Result | void = undefined;
    if (!cj.metadata.deletionTimestamp && !spec.suspend) result = await this.schedule(cj, active, status, now);
    status.active = active.length ? active : undefined;
    if (!status.active) delete status.active;
    if (JSON.stringify(status) !== JSON.stringify(prev)) await this.ctx.client.updateStatus(CRONJOBS, { ...cj, status });
    return result;
  }

  /** Starts the run due now, if any, and says when to look again. */
  private async schedule(cj: KubeObject, active: Obj[], status: Obj, now: number): Promise<Result | void> {
    const spec = cj.spec;
    let sched: CronSchedule;
    try {
      sched = this.scheduleOf(spec.schedule, spec.timeZone);
    } catch (err) {
      this.events.record(cj, 'Warning', 'UnparseableSchedule', `unparseable schedule: ${JSON.stringify(spec.schedule)} : ${(err as Error).message}`);
      return;
    }
    const requeue = (): Result | void => {
      const next = sched.next(new Date(now));
      return next ? { requeueAfterMs: next.getTime() - now + NEXT_SCHEDULE_DELTA_MS } : undefined;
    };

    // The most recent scheduled time in (earliest, now] not yet run.
    let earliest = Date.parse(status.lastScheduleTime ?? cj.metadata.creationTimestamp);
    if (spec.startingDeadlineSeconds != null) earliest = Math.max(earliest, now - spec.startingDeadlineSeconds * 1000);
    const due = sched.mostRecent(new Date(earliest), new Date(now))?.getTime();
    if (due === undefined) return requeue();
    if (spec.startingDeadlineSeconds != null && due < now - spec.startingDeadlineSeconds * 1000) {
      this.events.record(cj, 'Warning', 'MissSchedule', `Missed scheduled time to start a job: ${rfc3339(due)}`);
      return requeue();
    }
    if (spec.concurrencyPolicy === 'Forbid' && active.length > 0) return requeue();
    if (spec.concurrencyPolicy === 'Replace') {
      for (const ref of active.splice(0)) {
        await this.deleteJob(cj.metadata.namespace!, ref.name, ref.uid);
        this.events.record(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${ref.name}`);
      }
    }

    const template = spec.jobTemplate ?? {};
    const job: KubeObject = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: `${cj.metadata.name}-${Math.floor(due / 60_000)}`,
        namespace: cj.metadata.namespace,
        labels: { ...(template.metadata?.labels ?? {}) },
        annotations: { ...(template.metadata?.annotations ?? {}), [SCHEDULED_TIMESTAMP_ANNOTATION]: rfc3339(due) },
        ownerReferences: [controllerRef(cj)],
      },
      spec: structuredClone(template.spec ?? {}),
    };
    let created: KubeObject;
    try {
      created = await this.ctx.client.create(JOBS, job);
      this.events.record(cj, 'Normal', 'SuccessfulCreate', `Created job ${created.metadata.name}`);
    } catch (err) {
      // Created by an earlier reconcile whose status write was lost.
      if (!(err instanceof ApiStatusError && err.status.code === 409)) throw err;
      created = await this.ctx.client.get(JOBS, cj.metadata.namespace, job.metadata.name!);
    }
    if (controllerOf(created)?.uid === cj.metadata.uid && !finishedType(created) && !active.some((r) => r.uid === created.metadata.uid)) {
      active.push(jobRef(created));
    }
    status.lastScheduleTime = rfc3339(due);
    return requeue();
  }

  private scheduleOf(text: string, timeZone?: string): CronSchedule {
    const cacheKey = `${timeZone ?? ''} ${text}`;
    let s = this.schedules.get(cacheKey);
    if (!s) {
      s = parseSchedule(text, timeZone);
      this.schedules.set(cacheKey, s);
    }
    return s;
  }

  /** Deletes the oldest finished jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit. */
  private async cleanupHistory(owned: KubeObject[], spec: Obj): Promise<void> {
    const limits: Record<string, number | undefined> = { Complete: spec.successfulJobsHistoryLimit, Failed: spec.failedJobsHistoryLimit };
    for (const [type, limit] of Object.entries(limits)) {
      if (limit == null) continue;
      const finished = owned
        .filter((j) => finishedType(j) === type && !j.metadata.deletionTimestamp)
        .sort((a, b) => startOf(a) - startOf(b));
      for (const j of finished.slice(0, Math.max(0, finished.length - limit))) {
        await this.deleteJob(j.metadata.namespace!, j.metadata.name!, j.metadata.uid!);
      }
    }
  }

  private async deleteJob(namespace: string, name: string, uid: string): Promise<void> {
    try {
      await this.ctx.client.delete(JOBS, namespace, name, { propagationPolicy: 'Background', preconditions: { uid } });
    } catch (err) {
      if (!(err instanceof ApiStatusError && (err.status.code === 404 || err.status.code === 409))) throw err;
    }
  }
}

function startOf(job: KubeObject): number {
  return Date.parse(job.metadata.annotations?.[SCHEDULED_TIMESTAMP_ANNOTATION] ?? job.status?.startTime ?? job.metadata.creationTimestamp ?? '') || 0;
}

function jobRef(job: KubeObject): Obj {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    name: job.metadata.name,
    namespace: job.metadata.namespace,
    uid: job.metadata.uid,
    resourceVersion: job.metadata.resourceVersion,
  };
}

export const cronJobControllerFactory: ControllerFactory = {
  name: 'cronjob',
  create: (ctx) => new CronJobController(ctx),
};
