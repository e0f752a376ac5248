import { mkCommand, type MkResult } from '../cli-build';
import { eventually, startTestServer, type TestServer } from '../helpers';
import { create, kind, MERGE_PATCH, pathOf } from './fixtures';

/**
 * `mk expose` and `mk get svc,ep` through the real binary (bin/run.js over
 * dist/; run `npx tsc -p .` first) against a real server with a fake node.
 */

jest.setTimeout(90_000);

let ts: TestServer;

function mk(args: string[]): Promise<MkResult> {
  return mkCommand(ts.server.kubeconfigPath, args);
}

/** The cells of each non-empty line of a table, split on runs of spaces. */
function rows(text: string): string[][] {
  return text.split('\n').filter((l) => l.trim()).map((l) => l.trim().split(/\s+/));
}

const services = kind('services');
const deployments = kind('deployments');
const pods = kind('pods');

beforeAll(async () => {
  ts = await startTestServer({ agent: { runtime: 'fake', nodeName: `n-${Math.random().toString(36).slice(2, 8)}`, port: 0 } });
  await create(ts, deployments, 'default', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox:1.36', ports: [{ name: 'http', containerPort: 8080 }] }] } },
    },
  });
});
afterAll(async () => ts?.destroy());

test('mk expose deployment makes a service selecting its pods; mk get svc,ep shows it as kubectl does', async () => {
  const exposed = await mk(['expose', 'deployment', 'web', '--port=80', '--target-port=8080', '--type=NodePort']);
  expect(exposed).toEqual({ code: 0, stdout: 'service/web exposed\n', stderr: '' });
  const svc = (await ts.api('GET', pathOf(services, 'default', 'web'))).body;
  expect(svc.metadata.labels).toEqual({ app: 'web' });
  expect(svc.spec).toMatchObject({ type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
  const nodePort = svc.spec.ports[0].nodePort;

  const internal = await mk(['expose', 'deploy/web', '--port=80', '--target-port=http', '--name=web-internal']);
  expect(internal.stdout).toBe('service/web-internal exposed\n');

  // Four ready pods: kubectl shows three endpoints and "+ 1 more...".
  await ts.api('PATCH', `${pathOf(deployments, 'default', 'web')}/scale`, { spec: { replicas: 4 } }, MERGE_PATCH);
  const podIPs = await eventually(async () => {
    const ep = (await ts.api('GET', pathOf(kind('endpoints'), 'default', 'web'))).body;
    const ips = (ep.subsets?.[0]?.addresses ?? []).map((a: any) => a.ip);
    expect(ips).toHaveLength(4);
    return ips as string[];
  }, 20_000);

  const [getSvc, wide, getSvcEp, getEp] = await Promise.all([
    mk(['get', 'svc']),
    mk(['get', 'svc', 'web', '-o', 'wide']),
    mk(['get', 'svc,ep']),
    mk(['get', 'ep', 'web', 'web-internal']),
  ]);
  expect(getSvc.code).toBe(0);
  const table = rows(getSvc.stdout);
  expect(table[0]).toEqual(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
  expect(table.slice(1).map((r) => r.slice(0, 5))).toEqual([
    ['kubernetes', 'ClusterIP', '10.43.0.1', '<none>', '443/TCP'],
    ['web', 'NodePort', svc.spec.clusterIP, '<none>', `80:${nodePort}/TCP`],
    ['web-internal', 'ClusterIP', expect.stringMatching(/^10\.43\./), '<none>', '80/TCP'],
  ]);
  expect(rows(wide.stdout)).toEqual([
    ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR'],
    ['web', 'NodePort', svc.spec.clusterIP, '<none>', `80:${nodePort}/TCP`, expect.stringMatching(/^\d+s$/), 'app=web'],
  ]);

  const [svcBlock, epBlock] = getSvcEp.stdout.trim().split('\n\n');
  expect(rows(svcBlock!).map((r) => r[0])).toEqual(['NAME', 'service/kubernetes', 'service/web', 'service/web-internal']);
  expect(rows(epBlock!)[0]).toEqual(['NAME', 'ENDPOINTS', 'AGE']);
  expect(rows(epBlock!).map((r) => r[0])).toEqual(['NAME', 'endpoints/kubernetes', 'endpoints/web', 'endpoints/web-internal']);
  expect(rows(epBlock!)[1]![1]).toBe(`127.0.0.1:${ts.server.port}`);

  const epRows = getEp.stdout.split('\n').filter((l) => l.trim());
  expect(epRows[0]!.split(/\s+/)).toEqual(['NAME', 'ENDPOINTS', 'AGE']);
  const sorted = [...podIPs].sort();
  for (const line of epRows.slice(1)) {
    const m = /^(\S+)\s+(\S+) \+ 1 more\.\.\.\s+\d+s$/.exec(line);
    expect(m).not.toBeNull();
    const shown = m![2]!.split(',');
    expect(shown).toHaveLength(3);
    for (const e of shown) expect(sorted.map((ip) => `${ip}:8080`)).toContain(e);
  }
});

test('mk expose pod selects by the pod\'s labels; bad requests are refused as kubectl refuses them', async () => {
  const pod = await eventually(async () => {
    const list = (await ts.api('GET', `${pathOf(pods, 'default')}?labelSelector=app%3Dweb`)).body.items;
    expect(list.length).toBeGreaterThan(0);
    return list[0];
  });
  const one = await mk(['expose', 'pod', pod.metadata.name, '--port=8080', '--name=one-pod']);
  expect(one).toMatchObject({ code: 0, stdout: 'service/one-pod exposed\n' });
  expect((await ts.api('GET', pathOf(services, 'default', 'one-pod'))).body.spec.selector).toEqual(pod.metadata.labels);

  const yaml = await mk(['expose', 'deployment', 'web', '--port=81', '--name=preview', '--dry-run=client', '-o', 'yaml']);
  expect(yaml.code).toBe(0);
  expect(yaml.stdout).toContain('name: preview');
  expect((await ts.api('GET', pathOf(services, 'default', 'preview'))).status).toBe(404);

  const [cm, dup, missing] = await Promise.all([
    mk(['expose', 'configmap', 'x', '--port=80']),
    mk(['expose', 'deployment', 'web', '--port=80', '--name=web']),
    mk(['expose', 'deployment', 'nope', '--port=80']),
  ]);
  expect(cm).toEqual({ code: 1, stdout: '', stderr: 'error: cannot expose a ConfigMap\n' });
  expect(dup.code).toBe(1);
  expect(dup.stderr).toBe('Error from server (AlreadyExists): services "web" already exists\n');
  expect(missing.stderr).toBe('Error from server (NotFound): deployments.apps "nope" not found\n');
});
