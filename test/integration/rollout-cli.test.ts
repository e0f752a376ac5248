import { mkCommand, type MkResult } from '../cli-build';
import { eventually, startTestServer, type TestServer } from '../helpers';

/**
 * `mk scale`, `mk rollout ...` and `mk set image` through the real binary
 * (bin/run.js over dist/; run `npx tsc -p .` first) against a real server
 * with a fake node.
 */

jest.setTimeout(90_000);

let ts: TestServer;

function mk(args: string[]): Promise<MkResult> {
  return mkCommand(ts.server.kubeconfigPath, args);
}

const D_PATH = '/apis/apps/v1/namespaces/default/deployments';
const getD = async (name: string) => (await ts.api('GET', `${D_PATH}/${name}`)).body;

function deployment(name: string, replicas: number, extra: Record<string, any> = {}): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: 'busybox:1.36', command: ['sleep', '3600'] }] } },
      ...extra,
    },
  };
}

async function rolledOut(name: string, replicas: number): Promise<any> {
  return eventually(async () => {
    const d = await getD(name);
    expect(d.status?.observedGeneration).toBe(d.metadata.generation);
    expect(d.status).toMatchObject({ replicas, updatedReplicas: replicas, availableReplicas: replicas });
    return d;
  }, 20_000);
}

beforeAll(async () => {
  ts = await startTestServer({ agent: { runtime: 'fake', nodeName: `n-${Math.random().toString(36).slice(2, 8)}`, port: 0 } });
  await ts.api('POST', D_PATH, deployment('web', 2));
  await rolledOut('web', 2);
});
afterAll(async () => ts?.destroy());

test('mk scale, in both spellings, through the scale subresource', async () => {
  let r = await mk(['scale', 'deployment/web', '--replicas=3']);
  expect(r).toMatchObject({ code: 0, stdout: 'deployment.apps/web scaled\n' });
  await rolledOut('web', 3);
  r = await mk(['scale', 'deploy', 'web', '--replicas', '2']);
  expect(r).toMatchObject({ code: 0, stdout: 'deployment.apps/web scaled\n' });
  await rolledOut('web', 2);
  r = await mk(['scale', 'deployment/nope', '--replicas=1']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('Error from server (NotFound)');
});

test('mk set image, mk rollout status and history', async () => {
  let r = await mk(['set', 'image', 'deployment/web', 'web=busybox:1.37']);
  expect(r).toMatchObject({ code: 0, stdout: 'deployment.apps/web image updated\n' });
  expect((await getD('web')).spec.template.spec.containers[0]).toMatchObject({ image: 'busybox:1.37', command: ['sleep', '3600'] });
  r = await mk(['rollout', 'status', 'deployment/web', '--timeout=30s']);
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines[lines.length - 1]).toBe('deployment "web" successfully rolled out');
  for (const l of lines.slice(0, -1)) expect(l).toMatch(/^Waiting for deployment "web" rollout to finish: |^Waiting for deployment spec update to be observed\.\.\.$/);

  r = await mk(['set', 'image', 'deployment/web', 'nope=x:1']);
  expect(r).toMatchObject({ code: 1, stderr: 'error: unable to find container named "nope"\n' });

  r = await mk(['rollout', 'history', 'deployment/web']);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe('deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n');
  r = await mk(['rollout', 'history', 'deployment/web', '--revision=1']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('deployment.apps/web with revision #1\nPod Template:\n');
  expect(r.stdout).toMatch(/Image:\s+busybox:1\.36/);
});

test('mk rollout undo goes back to the previous revision, and --to-revision', async () => {
  await rolledOut('web', 2);
  let r = await mk(['rollout', 'undo', 'deployment/web']);
  expect(r).toMatchObject({ code: 0, stdout: 'deployment.apps/web rolled back\n' });
  let d = await rolledOut('web', 2);
  expect(d.spec.template.spec.containers[0].image).toBe('busybox:1.36');
  await eventually(async () => expect((await getD('web')).metadata.annotations['deployment.kubernetes.io/revision']).toBe('3'));
  r = await mk(['rollout', 'undo', 'deployment/web', '--to-revision=2']);
  expect(r).toMatchObject({ code: 0, stdout: 'deployment.apps/web rolled back\n' });
  d = await rolledOut('web', 2);
  expect(d.spec.template.spec.containers[0].image).toBe('busybox:1.37');
  r = await mk(['rollout', 'undo', 'deployment/web', '--to-revision=99']);
  expect(r).toMatchObject({ code: 1, stderr: 'error: unable to find specified revision 99 in history\n' });
});

test('mk rollout pause, resume and restart', async () => {
  await rolledOut('web', 2);
  let r = await mk(['rollout', 'pause', 'deployment/web']);
  expect(r).toMatchObject({ code: 0, stdout: 'deployment.apps/web paused\n' });
  expect((await getD('web')).spec.paused).toBe(true);
  r = await mk(['rollout', 'pause', 'deployment/web']);
  expect(r).toMatchObject({ code: 0, stdout: 'deployment.apps/web already paused\n' });
  r = await mk(['rollout', 'restart', 'deployment/web']);
  expect(r.code).toBe(1);
  r = await mk(['rollout', 'resume', 'deployment/web']);
  expect(r).toMatchObject({ code: 0, stdout: 'deployment.apps/web resumed\n' });
  expect((await getD('web')).spec.paused).toBeUndefined();
  r = await mk(['rollout', 'resume', 'deployment/web']);
  expect(r).toMatchObject({ code: 1, stderr: 'error: deployments.apps "web" is not paused\n' });

  const before = (await getD('web')).metadata.annotations['deployment.kubernetes.io/revision'];
  r = await mk(['rollout', 'restart', 'deployment/web']);
  expect(r).toMatchObject({ code: 0, stdout: 'deployment.apps/web restarted\n' });
  const d = await rolledOut('web', 2);
  expect(d.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  await eventually(async () =>
    expect(Number((await getD('web')).metadata.annotations['deployment.kubernetes.io/revision'])).toBe(Number(before) + 1),
  );
});

test('mk rollout status fails on a rollout that exceeds its progress deadline, and honours --timeout', async () => {
  await ts.api('POST', D_PATH, deployment('stuck', 1, { progressDeadlineSeconds: 2 }));
  await rolledOut('stuck', 1);
  let r = await mk(['set', 'image', 'deploy/stuck', 'web=registry.local/does-not-exist:1']);
  expect(r.code).toBe(0);
  r = await mk(['rollout', 'status', 'deployment/stuck', '--timeout=1ms']);
  expect(r.code).toBe(1);
  r = await mk(['rollout', 'status', 'deployment/stuck', '--timeout=30s']);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('error: deployment "stuck" exceeded its progress deadline\n');
});
