import { LocalClient } from '../../src/apiserver/local-client';
import { CronJobController } from '../../src/controllers/cronjob-controller';
import { ControllerManager } from '../../src/controllers/manager';
import { eventually, startTestServer, type TestServer } from '../helpers';

/**
 * The CronJob controller with a clock this file controls, against a real
 * server whose own job controller runs the jobs on a fake node. The
 * server's cronjob controller is off; this file runs one with the injected
 * clock and pokes its queue after moving the clock.
 */

jest.setTimeout(60_000);

let ts: TestServer;
let manager: ControllerManager;
let controller: CronJobController;
let clock = 0;
const NS = 'default';
const CJ = `/apis/batch/v1/namespaces/${NS}/cronjobs`;
const JOBS = `/apis/batch/v1/namespaces/${NS}/jobs`;
const MIN = 60_000;

beforeAll(async () => {
  ts = await startTestServer({ disableControllers: ['cronjob'], agent: { runtime: 'fake', nodeName: `n-${Math.random().toString(36).slice(2, 8)}`, port: 0 } });
  manager = new ControllerManager(new LocalClient(ts.server.resources), [
    { name: 'cronjob', create: (ctx) => (controller = new CronJobController(ctx, { now: () => clock })) },
  ]);
  await manager.start();
});
afterAll(async () => {
  await manager?.stop();
  await ts?.destroy();
});

function cronJob(name: string, command: string[], spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name },
    spec: {
      schedule: '* * * * *',
      ...spec,
      jobTemplate: {
        metadata: { labels: { cron: name } },
        spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.36', command }] } } },
      },
    },
  };
}

/** Creates the CronJob; returns the first whole minute after its creation. */
async function create(obj: any): Promise<number> {
  // Before the creation time, so the reconcile the create triggers finds nothing due.
  clock = Date.now() - MIN;
  const res = await ts.api('POST', CJ, obj);
  expect(res.status).toBe(201);
  const first = Math.ceil((Date.parse(res.body.metadata.creationTimestamp) + 1) / MIN) * MIN;
  clock = first - 1000;
  return first;
}

/** Moves the clock and has the controller look at the CronJob now. */
function tick(name: string, at: number): void {
  clock = at;
  manager.controllers[0].queue.add(`${NS}/${name}`);
}

async function jobsOf(name: string): Promise<any[]> {
  const items: any[] = (await ts.api('GET', `${JOBS}?labelSelector=cron%3D${name}`)).body.items;
  return items.filter((j) => !j.metadata.deletionTimestamp).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}
const getCj = async (name: string) => (await ts.api('GET', `${CJ}/${name}`)).body;
const finished = (j: any, type: string) => j.status?.conditions?.some((c: any) => c.type === type && c.status === 'True');
const jobName = (name: string, at: number) => `${name}-${Math.floor(at / MIN)}`;

test('defaults and schedule validation', async () => {
  const res = await ts.api('POST', CJ, cronJob('defaults', ['true']));
  expect(res.body.spec).toMatchObject({ concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
  const bad = await ts.api('POST', CJ, cronJob('bad', ['true'], { schedule: '61 * * * *', timeZone: 'Mars/Olympus' }));
  expect(bad.status).toBe(422);
  expect(bad.body.message).toContain('spec.schedule: Invalid value: "61 * * * *": minute value 61 out of range [0, 59]');
  expect(bad.body.message).toContain('spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus');
  await ts.api('DELETE', `${CJ}/defaults`);
});

test('creates a job at each scheduled time and keeps successfulJobsHistoryLimit of them', async () => {
  const first = await create(cronJob('every', ['sh', '-c', 'exit 0'], { successfulJobsHistoryLimit: 2 }));
  // Before the first scheduled time: nothing, and a requeue for just after it.
  const early = await controller.reconcile(`${NS}/every`);
  expect(early).toEqual({ requeueAfterMs: 1000 + 100 });
  expect(await jobsOf('every')).toHaveLength(0);

  for (let i = 0; i < 4; i++) {
    const at = first + i * MIN;
    tick('every', at + 5000);
    const job = await eventually(async () => {
      const j = (await jobsOf('every')).find((x) => x.metadata.name === jobName('every', at));
      expect(j).toBeDefined();
      expect(finished(j, 'Complete')).toBe(true);
      return j;
    }, 15_000);
    expect(job.metadata.annotations['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe(new Date(at).toISOString().replace('.000Z', 'Z'));
    expect(job.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'CronJob', name: 'every', controller: true })]);
  }
  const last = first + 3 * MIN;
  await eventually(async () => {
    expect((await jobsOf('every')).map((j) => j.metadata.name)).toEqual([jobName('every', last - MIN), jobName('every', last)]);
    const cj = await getCj('every');
    expect(cj.status.lastScheduleTime).toBe(new Date(last).toISOString().replace('.000Z', 'Z'));
    expect(cj.status.lastSuccessfulTime).toBeDefined();
    expect(cj.status.active).toBeUndefined();
  }, 15_000);
});

test('Forbid skips a run while one is active; Replace replaces it', async () => {
  const first = await create(cronJob('busy', ['sleep', '3600'], { concurrencyPolicy: 'Forbid' }));
  tick('busy', first + 1000);
  const a = await eventually(async () => {
    const cj = await getCj('busy');
    expect(cj.status.active).toEqual([expect.objectContaining({ kind: 'Job', name: jobName('busy', first) })]);
    return cj.status.active[0];
  });
  tick('busy', first + MIN + 1000);
  // The reconcile for the skipped run leaves the active job alone.
  await controller.reconcile(`${NS}/busy`);
  expect((await jobsOf('busy')).map((j) => j.metadata.name)).toEqual([jobName('busy', first)]);
  expect((await getCj('busy')).status.active).toEqual([a]);

  await ts.api('PATCH', `${CJ}/busy`, { spec: { concurrencyPolicy: 'Replace' } }, { 'Content-Type': 'application/merge-patch+json' });
  const third = first + 2 * MIN;
  tick('busy', third + 1000);
  await eventually(async () => {
    expect((await jobsOf('busy')).map((j) => j.metadata.name)).toEqual([jobName('busy', third)]);
    const cj = await getCj('busy');
    expect(cj.status.active).toEqual([expect.objectContaining({ name: jobName('busy', third) })]);
  });
  await ts.api('DELETE', `${CJ}/busy`);
});

test('failedJobsHistoryLimit, suspend and startingDeadlineSeconds', async () => {
  const first = await create(cronJob('failing', ['sh', '-c', 'exit 1'], { failedJobsHistoryLimit: 1, startingDeadlineSeconds: 30 }));
  for (let i = 0; i < 2; i++) {
    const at = first + i * MIN;
    tick('failing', at + 1000);
    await eventually(async () => {
      const j = (await jobsOf('failing')).find((x) => x.metadata.name === jobName('failing', at));
      expect(finished(j, 'Failed')).toBe(true);
    }, 15_000);
  }
  await eventually(async () => expect((await jobsOf('failing')).map((j) => j.metadata.name)).toEqual([jobName('failing', first + MIN)]));

  // A run noticed later than startingDeadlineSeconds after its time is skipped.
  tick('failing', first + 2 * MIN + 45_000);
  await controller.reconcile(`${NS}/failing`);
  expect((await jobsOf('failing')).map((j) => j.metadata.name)).toEqual([jobName('failing', first + MIN)]);

  // Suspended: no runs.
  await ts.api('PATCH', `${CJ}/failing`, { spec: { suspend: true } }, { 'Content-Type': 'application/merge-patch+json' });
  await eventually(async () => expect((await getCj('failing')).spec.suspend).toBe(true));
  tick('failing', first + 3 * MIN + 1000);
  await controller.reconcile(`${NS}/failing`);
  expect((await jobsOf('failing')).map((j) => j.metadata.name)).toEqual([jobName('failing', first + MIN)]);
});

test('cronjob tables have kubectl columns', async () => {
  const res = await ts.api('GET', CJ, undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
  expect(res.body.columnDefinitions.map((c: any) => c.name).slice(0, 7)).toEqual(['Name', 'Schedule', 'Timezone', 'Suspend', 'Active', 'Last Schedule', 'Age']);
  const row = res.body.rows.find((r: any) => r.cells[0] === 'failing');
  expect(row.cells.slice(1, 5)).toEqual(['* * * * *', '<none>', 'True', 0]);
});
