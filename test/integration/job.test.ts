import { LocalClient } from '../../src/apiserver/local-client';
import { controllerFactories } from '../../src/controllers';
import { JobController } from '../../src/controllers/job-controller';
import { ControllerManager } from '../../src/controllers/manager';
import { eventually, startTestServer, type TestServer } from '../helpers';

/**
 * The Job controller against a real server with one fake node (a container
 * `sh -c "exit N"` exits with N, `sleep S` exits 0 after S s). The server's
 * own job controller is switched off and this file runs one with a 200 ms
 * failure backoff (Kubernetes: 10 s), so retries do not take minutes.
 */

jest.setTimeout(60_000);

let ts: TestServer;
let manager: ControllerManager;
const NS = 'default';
const JOBS = `/apis/batch/v1/namespaces/${NS}/jobs`;
const PODS = `/api/v1/namespaces/${NS}/pods`;

beforeAll(async () => {
  ts = await startTestServer({ disableControllers: ['job'], agent: { runtime: 'fake', nodeName: `n-${Math.random().toString(36).slice(2, 8)}`, port: 0 } });
  manager = new ControllerManager(new LocalClient(ts.server.resources), [{ name: 'job', create: (ctx) => new JobController(ctx, { backoffBaseMs: 200 }) }]);
  await manager.start();
});
afterAll(async () => {
  await manager?.stop();
  await ts?.destroy();
});

function job(name: string, command: string[], spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      ...spec,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.36', command }] } },
    },
  };
}

async function getJob(name: string): Promise<any> {
  return (await ts.api('GET', `${JOBS}/${name}`)).body;
}

async function podsOf(name: string): Promise<any[]> {
  return (await ts.api('GET', `${PODS}?labelSelector=batch.kubernetes.io%2Fjob-name%3D${name}`)).body.items;
}

const condition = (j: any, type: string) => j.status?.conditions?.find((c: any) => c.type === type && c.status === 'True');

test('the server runs the job, daemonset and cronjob controllers', () => {
  expect(controllerFactories.map((f) => f.name)).toEqual(expect.arrayContaining(['job', 'cronjob', 'daemonset']));
});

test('defaults and a generated selector', async () => {
  const res = await ts.api('POST', JOBS, job('defaults', ['sleep', '3600']));
  expect(res.status).toBe(201);
  const spec = res.body.spec;
  const uid = res.body.metadata.uid;
  expect(spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6, completionMode: 'NonIndexed', suspend: false });
  expect(spec.selector).toEqual({ matchLabels: { 'batch.kubernetes.io/controller-uid': uid } });
  expect(spec.template.metadata.labels).toEqual({
    'batch.kubernetes.io/controller-uid': uid, 'controller-uid': uid, 'batch.kubernetes.io/job-name': 'defaults', 'job-name': 'defaults',
  });
  const bad = await ts.api('POST', JOBS, { ...job('bad', ['true'], { parallelism: -1 }), spec: { ...job('bad', ['true']).spec, parallelism: -1, template: { spec: { containers: [{ name: 'm', image: 'x' }] } } } });
  expect(bad.status).toBe(422);
  expect(bad.body.message).toContain('spec.parallelism: Invalid value: -1: must be greater than or equal to 0');
  expect(bad.body.message).toContain('spec.template.spec.restartPolicy: Unsupported value: "Always"');
  await ts.api('DELETE', `${JOBS}/defaults`);
});

test('completions 3 with parallelism 2: at most 2 pods at a time, Complete after 3 successes', async () => {
  const created = (await ts.api('POST', JOBS, job('three', ['sleep', '1'], { completions: 3, parallelism: 2 }))).body;
  let maxActive = 0;
  const done = await eventually(async () => {
    const pods = await podsOf('three');
    const running = pods.filter((p) => !['Succeeded', 'Failed'].includes(p.status?.phase) && !p.metadata.deletionTimestamp);
    maxActive = Math.max(maxActive, running.length);
    const j = await getJob('three');
    expect(condition(j, 'Complete')).toBeDefined();
    return j;
  }, 30_000);
  expect(maxActive).toBeLessThanOrEqual(2);
  expect(done.status).toMatchObject({ succeeded: 3, failed: 0, active: 0 });
  expect(done.status.startTime).toBeDefined();
  expect(done.status.completionTime).toBeDefined();
  expect(condition(done, 'Complete').reason).toBe('CompletionsReached');
  const pods = await podsOf('three');
  expect(pods.filter((p) => p.status?.phase === 'Succeeded')).toHaveLength(3);
  for (const p of pods) {
    expect(p.metadata.name).toMatch(/^three-[a-z0-9]{5}$/);
    expect(p.metadata.labels).toMatchObject({ 'batch.kubernetes.io/job-name': 'three', 'batch.kubernetes.io/controller-uid': created.metadata.uid });
    expect(p.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', name: 'three', uid: created.metadata.uid, controller: true })]);
  }
});

test('failing pods are retried until backoffLimit, then the job fails with BackoffLimitExceeded', async () => {
  await ts.api('POST', JOBS, job('flaky', ['sh', '-c', 'exit 1'], { backoffLimit: 2 }));
  const failed = await eventually(async () => {
    const j = await getJob('flaky');
    expect(condition(j, 'Failed')).toBeDefined();
    return j;
  }, 30_000);
  expect(condition(failed, 'Failed')).toMatchObject({ reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
  expect(failed.status.failed).toBe(3);
  expect(failed.status.succeeded ?? 0).toBe(0);
  expect(failed.status.active).toBe(0);
  const pods = await podsOf('flaky');
  expect(pods.filter((p) => p.status?.phase === 'Failed')).toHaveLength(3);
  // No more pods are started for a failed job.
  expect(condition(await getJob('flaky'), 'Complete')).toBeUndefined();
});

test('activeDeadlineSeconds fails a job that runs too long and stops its pods', async () => {
  await ts.api('POST', JOBS, job('slow', ['sleep', '3600'], { activeDeadlineSeconds: 2, parallelism: 2, completions: 2 }));
  const j = await eventually(async () => {
    const x = await getJob('slow');
    expect(condition(x, 'Failed')).toBeDefined();
    return x;
  }, 15_000);
  expect(condition(j, 'Failed').reason).toBe('DeadlineExceeded');
  expect(Date.parse(condition(j, 'Failed').lastTransitionTime) - Date.parse(j.status.startTime)).toBeGreaterThanOrEqual(2000);
  expect(j.status.active).toBe(0);
  expect(j.status.failed).toBe(2);
  await eventually(async () => {
    const running = (await podsOf('slow')).filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running');
    expect(running).toHaveLength(0);
  }, 15_000);
});

test('ttlSecondsAfterFinished deletes the finished job', async () => {
  await ts.api('POST', JOBS, job('short-lived', ['sh', '-c', 'exit 0'], { ttlSecondsAfterFinished: 1 }));
  await eventually(async () => expect(condition(await getJob('short-lived'), 'Complete')).toBeDefined(), 15_000);
  await eventually(async () => expect((await ts.api('GET', `${JOBS}/short-lived`)).status).toBe(404), 15_000);
});

test('a suspended job runs no pods until resumed', async () => {
  await ts.api('POST', JOBS, job('later', ['sh', '-c', 'exit 0'], { suspend: true }));
  const suspended = await eventually(async () => {
    const j = await getJob('later');
    expect(condition(j, 'Suspended')).toMatchObject({ reason: 'JobSuspended' });
    return j;
  });
  expect(suspended.status.startTime).toBeUndefined();
  expect(await podsOf('later')).toHaveLength(0);
  await ts.api('PATCH', `${JOBS}/later`, { spec: { suspend: false } }, { 'Content-Type': 'application/merge-patch+json' });
  const done = await eventually(async () => {
    const j = await getJob('later');
    expect(condition(j, 'Complete')).toBeDefined();
    return j;
  }, 15_000);
  expect(done.status.conditions.find((c: any) => c.type === 'Suspended')).toMatchObject({ status: 'False', reason: 'JobResumed' });
  expect(done.status.succeeded).toBe(1);
});

test('job tables have kubectl columns', async () => {
  const res = await ts.api('GET', JOBS, undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
  expect(res.body.columnDefinitions.map((c: any) => c.name)).toEqual(['Name', 'Status', 'Completions', 'Duration', 'Age', 'Containers', 'Images', 'Selector']);
  const row = res.body.rows.find((r: any) => r.cells[0] === 'three');
  expect(row.cells.slice(1, 3)).toEqual(['Complete', '3/3']);
});
