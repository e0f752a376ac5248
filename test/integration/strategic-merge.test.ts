import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startTestServer, type TestServer } from '../helpers';
import { kubectlMinor } from '../kubectl-env';
import { API_ONLY, create, expectStatus, kind, manifest, pathOf } from './fixtures';

/**
 * `application/strategic-merge-patch+json` over HTTP against the real
 * server, then the kubectl verbs that send strategic merge patches (when a
 * kubectl binary is on PATH).
 */

const SMP = { 'Content-Type': 'application/strategic-merge-patch+json' };
const NS = 'smp';
const deployments = kind('deployments');
const pods = kind('pods');
const configmaps = kind('configmaps');
const services = kind('services');

let ts: TestServer;

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
  await create(ts, kind('namespaces'), undefined, manifest(kind('namespaces'), NS));
});
afterAll(() => ts.destroy());

function twoContainerDeployment(name: string): any {
  const d = manifest(deployments, name, undefined, NS);
  d.spec.template.spec.containers = [
    { name: 'web', image: 'nginx:1', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
    { name: 'sidecar', image: 'busybox:1.36', command: ['sleep', '3600'] },
  ];
  return d;
}

describe('PATCH with application/strategic-merge-patch+json', () => {
  test("a container's image changes by name; the other container and fields stay", async () => {
    const created = await create(ts, deployments, NS, twoContainerDeployment('web'));
    const res = await ts.api('PATCH', pathOf(deployments, NS, 'web'), { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } } }, SMP);
    expect(res.status).toBe(200);
    const containers = res.body.spec.template.spec.containers;
    expect(containers.map((c: any) => [c.name, c.image])).toEqual([['web', 'nginx:2'], ['sidecar', 'busybox:1.36']]);
    // What the server defaulted in the untouched container and fields survives.
    expect(containers[0].env).toEqual([{ name: 'A', value: '1' }, { name: 'B', value: '2' }]);
    expect(containers[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
    expect(containers[1]).toEqual(created.spec.template.spec.containers[1]);
    expect(res.body.spec.replicas).toBe(2);
    expect(res.body.metadata.generation).toBe(created.metadata.generation + 1);
    // Stored, not just answered.
    expect((await ts.api('GET', pathOf(deployments, NS, 'web'))).body).toEqual(res.body);
  });

  test('directives: env item deleted, $setElementOrder reorders, $retainKeys switches the strategy', async () => {
    await create(ts, deployments, NS, twoContainerDeployment('directives'));
    const res = await ts.api('PATCH', pathOf(deployments, NS, 'directives'), {
      spec: {
        strategy: { $retainKeys: ['type'], type: 'Recreate' },
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'web' }],
            containers: [{ name: 'web', env: [{ name: 'A', $patch: 'delete' }, { name: 'C', value: '3' }] }],
          },
        },
      },
    }, SMP);
    expect(res.status).toBe(200);
    expect(res.body.spec.strategy).toEqual({ type: 'Recreate' });
    const containers = res.body.spec.template.spec.containers;
    expect(containers.map((c: any) => c.name)).toEqual(['sidecar', 'web']);
    expect(containers[1].env).toEqual([{ name: 'C', value: '3' }, { name: 'B', value: '2' }]);
  });

  test('labels and finalizers: null deletes a label, finalizers merge as a set and leave through $deleteFromPrimitiveList', async () => {
    await create(ts, configmaps, NS, { ...manifest(configmaps, 'meta', { a: '1', b: '2' }, NS) });
    const url = pathOf(configmaps, NS, 'meta');
    let res = await ts.api('PATCH', url, { metadata: { labels: { a: null, c: '3' }, finalizers: ['example.com/one'] } }, SMP);
    expect(res.status).toBe(200);
    expect(res.body.metadata.labels).toEqual({ b: '2', c: '3' });
    res = await ts.api('PATCH', url, { metadata: { finalizers: ['example.com/two', 'example.com/one'] } }, SMP);
    expect(res.body.metadata.finalizers).toEqual(['example.com/two', 'example.com/one']);
    res = await ts.api('PATCH', url, { metadata: { '$deleteFromPrimitiveList/finalizers': ['example.com/one', 'example.com/two'] } }, SMP);
    expect(res.status).toBe(200);
    // Kubernetes omits the emptied list (omitempty); an empty list is the same state.
    expect(res.body.metadata.finalizers ?? []).toEqual([]);
  });

  test('Service ports merge by port', async () => {
    await create(ts, services, NS, manifest(services, 'svc', undefined, NS));
    const res = await ts.api('PATCH', pathOf(services, NS, 'svc'), { spec: { ports: [{ name: 'https', port: 443, targetPort: 8443 }] } }, SMP);
    expect(res.status).toBe(200);
    expect(res.body.spec.ports.map((p: any) => [p.name, p.port])).toEqual([['https', 443], ['http', 80]]);
  });

  test('the status subresource takes a strategic merge patch of conditions by type', async () => {
    await create(ts, pods, NS, manifest(pods, 'conds', undefined, NS));
    const url = pathOf(pods, NS, 'conds', 'status');
    const first = await ts.api('PATCH', url, { status: { conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'False' }] } }, SMP);
    expect(first.status).toBe(200);
    const res = await ts.api('PATCH', url, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, SMP);
    expect(res.status).toBe(200);
    expect(res.body.status.conditions.map((c: any) => [c.type, c.status])).toEqual([['PodScheduled', 'True'], ['Ready', 'True']]);
  });

  test('the scale subresource takes a strategic merge patch', async () => {
    await create(ts, deployments, NS, twoContainerDeployment('scaled'));
    const res = await ts.api('PATCH', pathOf(deployments, NS, 'scaled', 'scale'), { spec: { replicas: 5 } }, SMP);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ kind: 'Scale', spec: { replicas: 5 } });
  });

  test('a patch that is not a JSON object is 400', async () => {
    for (const body of ['[1]', '"x"', '3', 'null']) {
      expectStatus(await ts.api('PATCH', pathOf(configmaps, NS, 'meta'), body, SMP), 400, 'BadRequest');
    }
  });

  test('a malformed patch is 400 and changes nothing', async () => {
    const url = pathOf(deployments, NS, 'web');
    const before = (await ts.api('GET', url)).body;
    const noKey = await ts.api('PATCH', url, { spec: { template: { spec: { containers: [{ image: 'x' }] } } } }, SMP);
    expectStatus(noKey, 400, 'BadRequest');
    expect(noKey.body.message).toContain('does not contain declared merge key: name');
    expectStatus(await ts.api('PATCH', url, { spec: { template: { spec: { containers: [{ $patch: 'merge' }] } } } }, SMP), 400, 'BadRequest');
    expectStatus(await ts.api('PATCH', url, { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: {} } } }, SMP), 400, 'BadRequest');
    expect((await ts.api('GET', url)).body).toEqual(before);
  });

  test('a patch that makes the object invalid is 422', async () => {
    const url = pathOf(deployments, NS, 'web');
    expectStatus(await ts.api('PATCH', url, { spec: { replicas: -1 } }, SMP), 422, 'Invalid');
    // null deletes a field inside a merged item: here the container's required image.
    const res = await ts.api('PATCH', url, { spec: { template: { spec: { containers: [{ name: 'web', image: null }] } } } }, SMP);
    expectStatus(res, 422, 'Invalid');
    expect(res.body.message).toContain('image');
  });

  test('dryRun=All answers the patched object without storing it', async () => {
    const url = pathOf(deployments, NS, 'web');
    const before = (await ts.api('GET', url)).body;
    const res = await ts.api('PATCH', `${url}?dryRun=All`, { spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'busybox:2' }] } } } }, SMP);
    expect(res.status).toBe(200);
    expect(res.body.spec.template.spec.containers[1].image).toBe('busybox:2');
    expect((await ts.api('GET', url)).body).toEqual(before);
  });
});

// ---------------------------------------------------------------------------
// Real kubectl (skipped when none is on PATH)
// ---------------------------------------------------------------------------

const kubectlPath = (() => {
  const which = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
})();
const withKubectl = kubectlPath ? describe : describe.skip;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

withKubectl('real kubectl', () => {
  const kubectl = (...args: string[]): Promise<Result> => new Promise((resolve) => {
    const kubeconfig = path.join(ts.dataDir, 'kubeconfig.yaml');
    execFile(kubectlPath!, ['--kubeconfig', kubeconfig, '-n', NS, ...args], { env: { ...process.env, KUBECONFIG: kubeconfig } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
  const get = async (rt = deployments, name = 'kc') => (await ts.api('GET', pathOf(rt, NS, name))).body;

  beforeAll(async () => {
    await create(ts, deployments, NS, twoContainerDeployment('kc'));
    await create(ts, pods, NS, manifest(pods, 'kc', undefined, NS));
  });

  test('kubectl label and annotate', async () => {
    expect(await kubectl('label', 'pod', 'kc', 'tier=front')).toMatchObject({ code: 0, stdout: 'pod/kc labeled\n' });
    expect(await kubectl('annotate', 'pod', 'kc', 'note=hello')).toMatchObject({ code: 0, stdout: 'pod/kc annotated\n' });
    // Before 1.23 kubectl says "labeled" for a removal too.
    expect(await kubectl('label', 'pod', 'kc', 'tier-')).toMatchObject({ code: 0, stdout: `pod/kc ${kubectlMinor(kubectlPath!) >= 23 ? 'unlabeled' : 'labeled'}\n` });
    const pod = await get(pods);
    expect(pod.metadata.labels.tier).toBeUndefined();
    expect(pod.metadata.annotations).toEqual({ note: 'hello' });
  });

  test('kubectl set image changes one container by name', async () => {
    expect(await kubectl('set', 'image', 'deployment/kc', 'web=nginx:2')).toMatchObject({ code: 0, stdout: 'deployment.apps/kc image updated\n' });
    const containers = (await get()).spec.template.spec.containers;
    expect(containers.map((c: any) => [c.name, c.image])).toEqual([['web', 'nginx:2'], ['sidecar', 'busybox:1.36']]);
  });

  test('kubectl patch sends a strategic merge patch by default', async () => {
    const res = await kubectl('patch', 'deployment', 'kc', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'sidecar', env: [{ name: 'X', value: 'y' }] }] } } } }));
    expect(res).toMatchObject({ code: 0, stdout: 'deployment.apps/kc patched\n' });
    const containers = (await get()).spec.template.spec.containers;
    expect(containers[1]).toMatchObject({ name: 'sidecar', image: 'busybox:1.36', env: [{ name: 'X', value: 'y' }] });
    expect(containers[0].image).toBe('nginx:2');

    const retain = await kubectl('patch', 'deployment', 'kc', '--type', 'strategic', '-p', JSON.stringify({ spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }));
    expect(retain).toMatchObject({ code: 0 });
    expect((await get()).spec.strategy).toEqual({ type: 'Recreate' });
  });

  test('kubectl apply creates, then a second apply without a field removes it', async () => {
    const file = path.join(ts.dataDir, 'applied.json');
    const applied = twoContainerDeployment('applied');
    applied.metadata.namespace = NS;
    applied.metadata.labels.extra = 'yes';
    applied.spec.template.spec.containers[0].env.push({ name: 'GONE', value: 'soon' });
    fs.writeFileSync(file, JSON.stringify(applied));
    // No --validate=false: kubectl reads the patch metadata and the server's
    // support for fieldValidation from /openapi (see kubectl.test.ts).
    const apply = () => kubectl('apply', '-f', file);
    expect(await apply()).toEqual({ code: 0, stdout: 'deployment.apps/applied created\n', stderr: '' });

    // Something else changes the live object: apply must keep its changes.
    // The env var only survives if apply's patch merges lists by key (a JSON
    // merge patch would replace the env list with the manifest's).
    const other = await ts.api('PATCH', pathOf(deployments, NS, 'applied'), {
      metadata: { labels: { owner: 'someone' } },
      spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'EXTRA', value: 'x' }] }] } } },
    }, SMP);
    expect(other.status).toBe(200);

    delete applied.metadata.labels.extra;
    applied.spec.template.spec.containers[0].env = applied.spec.template.spec.containers[0].env.filter((e: any) => e.name !== 'GONE');
    applied.spec.template.spec.containers[1].image = 'busybox:2';
    fs.writeFileSync(file, JSON.stringify(applied));
    expect(await apply()).toEqual({ code: 0, stdout: 'deployment.apps/applied configured\n', stderr: '' });

    const live = await get(deployments, 'applied');
    expect(live.metadata.labels).toEqual({ app: 'applied', owner: 'someone' });
    const [web, sidecar] = live.spec.template.spec.containers;
    // EXTRA went first when it was added (new items precede the server's), and keeps its place.
    expect(web.env).toEqual([{ name: 'EXTRA', value: 'x' }, { name: 'A', value: '1' }, { name: 'B', value: '2' }]);
    expect(sidecar.image).toBe('busybox:2');

    // Applying the same file again changes nothing. kubectl still says
    // "configured": the live env list has an item the manifest lacks, so its
    // patch carries a $setElementOrder, as it would against Kubernetes.
    expect(await apply()).toMatchObject({ code: 0, stderr: '' });
    expect((await get(deployments, 'applied')).spec).toEqual(live.spec);
  });
});
