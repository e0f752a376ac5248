import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { LocalClient } from '../../src/apiserver/local-client';
import { eventually, tempDir, startTestServer, type TestServer } from '../helpers';
import { compatKubectls, kubectlMinor, noKubectl } from '../kubectl-env';
import { API_ONLY, create, expectStatus, JSON_PATCH, kind, manifest, MERGE_PATCH, pathOf } from './fixtures';

/**
 * Server-side apply (`PATCH application/apply-patch+yaml`) and the
 * `metadata.managedFields` every write maintains, over HTTP against the real
 * server; then the real kubectl (`apply --server-side`) and `mk apply` when
 * they are there.
 */

const NS = 'ssa';
const APPLY = { 'Content-Type': 'application/apply-patch+yaml' };
const deployments = kind('deployments');
const pods = kind('pods');
const configmaps = kind('configmaps');

let ts: TestServer;

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
  await create(ts, kind('namespaces'), undefined, manifest(kind('namespaces'), NS));
});
afterAll(() => ts.destroy());

function deploymentConfig(name: string, spec: Record<string, any> = {}, labels: Record<string, string> = { app: name }): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image: 'nginx:1', ports: [{ containerPort: 80 }], env: [{ name: 'MODE', value: 'a' }] }] },
      },
      ...spec,
    },
  };
}

function applyTo(rt = deployments, name: string, query: string, body: unknown, sub?: string) {
  return ts.api('PATCH', `${pathOf(rt, NS, name, sub)}?${query}`, typeof body === 'string' ? body : JSON.stringify(body), APPLY);
}

function entries(obj: any): any[] {
  return obj.metadata.managedFields ?? [];
}

function entryOf(obj: any, manager: string, operation = 'Apply'): any {
  return entries(obj).find((e) => e.manager === manager && e.operation === operation);
}

describe('server-side apply', () => {
  test('applying to a missing object creates it (201) and records an Apply entry; the same apply again changes nothing', async () => {
    const res = await applyTo(deployments, 'created', 'fieldManager=alice', deploymentConfig('created'));
    expect(res.status).toBe(201);
    expect(res.body.spec.replicas).toBe(2);
    // Defaulted like any create.
    expect(res.body.spec.template.spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
    expect(entries(res.body)).toEqual([{
      manager: 'alice',
      operation: 'Apply',
      apiVersion: 'apps/v1',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': {
          'f:replicas': {},
          'f:selector': {},
          'f:template': {
            'f:metadata': { 'f:labels': { 'f:app': {} } },
            'f:spec': {
              'f:containers': {
                'k:{"name":"web"}': {
                  '.': {},
                  'f:env': { 'k:{"name":"MODE"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
                  'f:image': {},
                  'f:name': {},
                  'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
                },
              },
            },
          },
        },
      },
    }]);
    const stored = (await ts.api('GET', pathOf(deployments, NS, 'created'))).body;
    expect(stored).toEqual(res.body);

    const again = await applyTo(deployments, 'created', 'fieldManager=alice', deploymentConfig('created'));
    expect(again.status).toBe(200);
    expect(again.body.metadata.resourceVersion).toBe(res.body.metadata.resourceVersion);
  });

  test('a YAML body works the same', async () => {
    const yaml = YAML.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-yaml' }, data: { a: '1' } });
    const res = await applyTo(configmaps, 'from-yaml', 'fieldManager=alice', yaml);
    expect(res.status).toBe(201);
    expect(res.body.data).toEqual({ a: '1' });
    expect(entryOf(res.body, 'alice').fieldsV1).toEqual({ 'f:data': { 'f:a': {} } });
  });

  test('re-applying without a field removes it from the object, unless another manager also applied it', async () => {
    const name = 'prune';
    await applyTo(deployments, name, 'fieldManager=alice', deploymentConfig(name, {}, { app: name, tier: 'web', owner: 'alice' }));
    // bob applies the tier label with the same value: both own it now.
    const bob = await applyTo(deployments, name, 'fieldManager=bob', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, labels: { tier: 'web' } } });
    expect(bob.status).toBe(200);

    const next = deploymentConfig(name, {}, { app: name });
    delete next.spec.template.spec.containers[0].env;
    const res = await applyTo(deployments, name, 'fieldManager=alice', next);
    expect(res.status).toBe(200);
    expect(res.body.metadata.labels).toEqual({ app: name, tier: 'web' });
    expect(res.body.spec.template.spec.containers[0].env).toBeUndefined();
    expect(entryOf(res.body, 'alice').fieldsV1['f:metadata']).toEqual({ 'f:labels': { 'f:app': {} } });
    expect(entryOf(res.body, 'bob').fieldsV1).toEqual({ 'f:metadata': { 'f:labels': { 'f:tier': {} } } });
  });

  test('changing a field another manager owns is 409 with one FieldManagerConflict cause per field; force takes it', async () => {
    const name = 'contested';
    await applyTo(deployments, name, 'fieldManager=alice', deploymentConfig(name));
    const scale = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name }, spec: { replicas: 5 } };

    const res = await applyTo(deployments, name, 'fieldManager=bob', scale);
    expectStatus(res, 409, 'Conflict');
    expect(res.body.message).toBe('Apply failed with 1 conflict: conflict with "alice": .spec.replicas');
    expect(res.body.details.causes).toEqual([{ reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.replicas' }]);
    expect((await ts.api('GET', pathOf(deployments, NS, name))).body.spec.replicas).toBe(2);

    const forced = await applyTo(deployments, name, 'fieldManager=bob&force=true', scale);
    expect(forced.status).toBe(200);
    expect(forced.body.spec.replicas).toBe(5);
    expect(entryOf(forced.body, 'bob').fieldsV1).toEqual({ 'f:spec': { 'f:replicas': {} } });
    expect(entryOf(forced.body, 'alice').fieldsV1['f:spec']['f:replicas']).toBeUndefined();

    // alice applying her old value now conflicts with bob; dropping the field lets bob keep it.
    expect((await applyTo(deployments, name, 'fieldManager=alice', deploymentConfig(name))).status).toBe(409);
    const withoutReplicas = deploymentConfig(name);
    delete withoutReplicas.spec.replicas;
    const dropped = await applyTo(deployments, name, 'fieldManager=alice', withoutReplicas);
    expect(dropped.status).toBe(200);
    expect(dropped.body.spec.replicas).toBe(5);
  });

  test('fields set by an ordinary write belong to that writer: a conflict names it with its apiVersion', async () => {
    const name = 'updated';
    const created = await ts.api('POST', pathOf(deployments, NS), deploymentConfig(name), { 'User-Agent': 'kubectl-client-side-apply/v1.31.0 (linux/amd64) kubernetes/6911225' });
    expect(created.status).toBe(201);
    expect(entries(created.body).map((e) => [e.manager, e.operation])).toEqual([['kubectl-client-side-apply', 'Update']]);
    const res = await applyTo(deployments, name, 'fieldManager=other', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name }, spec: { replicas: 3 } });
    expectStatus(res, 409, 'Conflict');
    expect(res.body.message).toBe('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
  });

  test('dryRun=All: nothing is created or changed, the answer shows what would be', async () => {
    const dry = await applyTo(deployments, 'dry', 'fieldManager=alice&dryRun=All', deploymentConfig('dry'));
    expect(dry.status).toBe(201);
    expect(entryOf(dry.body, 'alice')).toBeDefined();
    expect((await ts.api('GET', pathOf(deployments, NS, 'dry'))).status).toBe(404);

    await applyTo(deployments, 'dry', 'fieldManager=alice', deploymentConfig('dry'));
    const before = (await ts.api('GET', pathOf(deployments, NS, 'dry'))).body;
    const res = await applyTo(deployments, 'dry', 'fieldManager=alice&dryRun=All', deploymentConfig('dry', { replicas: 7 }));
    expect(res.status).toBe(200);
    expect(res.body.spec.replicas).toBe(7);
    expect((await ts.api('GET', pathOf(deployments, NS, 'dry'))).body).toEqual(before);
  });

  test('in-process clients apply too, through the same storage', async () => {
    const client = new LocalClient(ts.server.resources);
    const config = (value: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'local', namespace: NS }, data: { a: value } });
    const obj = await client.patch(configmaps, NS, 'local', config('1'), 'apply', { fieldManager: 'controller' });
    expect(obj.data).toEqual({ a: '1' });
    expect(entryOf(obj, 'controller').fieldsV1).toEqual({ 'f:data': { 'f:a': {} } });
    await expect(client.patch(configmaps, NS, 'local', config('2'), 'apply', { fieldManager: 'other' })).rejects.toMatchObject({ code: 409, reason: 'Conflict' });
    const forced = await client.patch(configmaps, NS, 'local', config('2'), 'apply', { fieldManager: 'other', force: true });
    expect(forced.data).toEqual({ a: '2' });
  });

  test('bad apply requests are 4xx Status', async () => {
    const path = pathOf(deployments, NS, 'bad');
    const noManager = await ts.api('PATCH', path, JSON.stringify(deploymentConfig('bad')), APPLY);
    expectStatus(noManager, 422, 'Invalid');
    expect(noManager.body.message).toBe('PatchOptions "" is invalid: fieldManager: Required value: is required for apply patch');
    expectStatus(await ts.api('PATCH', `${path}?fieldManager=a&force=maybe`, JSON.stringify(deploymentConfig('bad')), APPLY), 400, 'BadRequest');
    const forceOnMerge = await ts.api('PATCH', `${pathOf(deployments, NS, 'created')}?force=true`, { spec: { paused: true } }, MERGE_PATCH);
    expectStatus(forceOnMerge, 422, 'Invalid');
    expect(forceOnMerge.body.message).toContain('force: Forbidden: may not be specified for non-apply patch');
    expectStatus(await ts.api('PATCH', `${path}?fieldManager=bad%07manager`, JSON.stringify(deploymentConfig('bad')), APPLY), 422, 'Invalid');

    const cases: Array<[unknown, string]> = [
      [{ ...deploymentConfig('bad'), apiVersion: 'apps/v1beta1' }, 'Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1'],
      [{ ...deploymentConfig('bad'), metadata: { name: 'bad', managedFields: [{ manager: 'x' }] } }, 'metadata.managedFields must be nil'],
      [deploymentConfig('other-name'), 'the name of the object (other-name) does not match the name on the URL (bad)'],
      [deploymentConfig('bad', { unknownField: 1 }), '.spec.unknownField: field not declared in schema'],
    ];
    for (const [body, message] of cases) {
      const res = await applyTo(deployments, 'bad', 'fieldManager=a', body);
      expectStatus(res, 400, 'BadRequest');
      expect(res.body.message).toBe(message);
    }
    expectStatus(await applyTo(deployments, 'bad', 'fieldManager=a', 'a: [unclosed'), 400, 'BadRequest');
    expect((await ts.api('GET', path)).status).toBe(404);
  });
});

describe('managedFields on every write', () => {
  test('create, update and patch record Update entries named by fieldManager or the User-Agent', async () => {
    const name = 'writes';
    const created = await ts.api('POST', `${pathOf(configmaps, NS)}?fieldManager=creator`, manifest(configmaps, name, undefined, NS));
    expect(entries(created.body)).toEqual([expect.objectContaining({
      manager: 'creator', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1',
      fieldsV1: { 'f:data': { '.': {}, 'f:app.properties': {} }, 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } },
    })]);

    const patched = await ts.api('PATCH', pathOf(configmaps, NS, name), { data: { extra: 'x' } }, { ...MERGE_PATCH, 'User-Agent': 'kubectl-patch/v1.31.0 (linux/amd64) kubernetes/6911225' });
    expect(entryOf(patched.body, 'kubectl-patch', 'Update').fieldsV1).toEqual({ 'f:data': { 'f:extra': {} } });

    const replaced = structuredClone(patched.body);
    replaced.data['app.properties'] = 'changed';
    const put = await ts.api('PUT', `${pathOf(configmaps, NS, name)}?fieldManager=replacer`, replaced);
    expect(put.status).toBe(200);
    expect(entryOf(put.body, 'replacer', 'Update').fieldsV1).toEqual({ 'f:data': { 'f:app.properties': {} } });
    // Taken from the creator, who keeps the rest.
    expect(entryOf(put.body, 'creator', 'Update').fieldsV1).toEqual({ 'f:data': {}, 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } });
  });

  test('status writes are recorded with subresource status; an apply through status only owns status', async () => {
    const name = 'status-writes';
    await create(ts, pods, NS, manifest(pods, name, undefined, NS));
    const live = (await ts.api('GET', pathOf(pods, NS, name))).body;
    const withStatus = { ...live, status: { ...live.status, phase: 'Running', podIP: '10.42.0.9' } };
    const put = await ts.api('PUT', `${pathOf(pods, NS, name, 'status')}?fieldManager=kubelet`, withStatus);
    expect(put.status).toBe(200);
    expect(entryOf(put.body, 'kubelet', 'Update')).toMatchObject({ subresource: 'status', fieldsV1: { 'f:status': { 'f:phase': {}, 'f:podIP': {} } } });

    const applied = await applyTo(pods, name, 'fieldManager=probe', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { ignored: 'yes' } },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    }, 'status');
    expect(applied.status).toBe(200);
    expect(applied.body.metadata.labels.ignored).toBeUndefined();
    expect(applied.body.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    expect(entryOf(applied.body, 'probe')).toMatchObject({
      operation: 'Apply', subresource: 'status',
      fieldsV1: { 'f:status': { 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {}, 'f:type': {} } } } },
    });
    // The same manager through the main resource is another entry, and never owns status.
    const main = await applyTo(pods, name, 'fieldManager=probe', { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { x: 'y' } }, status: { phase: 'Failed' } });
    expect(main.body.status.phase).toBe('Running');
    expect(entries(main.body).filter((e) => e.manager === 'probe').map((e) => e.subresource ?? '')).toEqual(['', 'status']);

    expectStatus(await applyTo(pods, 'no-such-pod', 'fieldManager=probe', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'no-such-pod' } }, 'status'), 404, 'NotFound');
  });

  test('the scale subresource records its writer with subresource scale', async () => {
    const name = 'scaled';
    await applyTo(deployments, name, 'fieldManager=alice', deploymentConfig(name));
    const res = await ts.api('PATCH', `${pathOf(deployments, NS, name, 'scale')}?fieldManager=autoscaler`, { spec: { replicas: 4 } }, MERGE_PATCH);
    expect(res.status).toBe(200);
    const obj = (await ts.api('GET', pathOf(deployments, NS, name))).body;
    expect(entryOf(obj, 'autoscaler', 'Update')).toMatchObject({ subresource: 'scale', fieldsV1: { 'f:spec': { 'f:replicas': {} } } });
    expect(entryOf(obj, 'alice').fieldsV1['f:spec']['f:replicas']).toBeUndefined();
    // Applying a Scale is not served: 415, not a failure of the server.
    const scaleApply = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name }, spec: { replicas: 1 } };
    expectStatus(await applyTo(deployments, name, 'fieldManager=x', scaleApply, 'scale'), 415, 'UnsupportedMediaType');
  });

  test('managedFields [{}] clears them; they never grow past the cap however many writers', async () => {
    const name = 'many-writers';
    await create(ts, configmaps, NS, manifest(configmaps, name, undefined, NS));
    for (let i = 0; i < 14; i++) {
      const res = await ts.api('PATCH', `${pathOf(configmaps, NS, name)}?fieldManager=writer-${i}`, { data: { [`k${i}`]: 'v' } }, MERGE_PATCH);
      expect(res.status).toBe(200);
    }
    const obj = (await ts.api('GET', pathOf(configmaps, NS, name))).body;
    expect(entries(obj).length).toBeLessThanOrEqual(10);
    expect(entries(obj).map((e) => e.manager)).toContain('writer-13');
    expect(entries(obj).map((e) => e.manager)).toContain('ancient-changes');

    const cleared = await ts.api('PATCH', pathOf(configmaps, NS, name), [{ op: 'replace', path: '/metadata/managedFields', value: [{}] }], JSON_PATCH);
    expect(cleared.status).toBe(200);
    expect(cleared.body.metadata.managedFields).toBeUndefined();
    expect(cleared.body.data).toEqual(obj.data);
  });

  test('an in-process watch that omits managedFields gets everything else of the object, however metadata is laid out', async () => {
    const client = new LocalClient(ts.server.resources);
    const received: any[] = [];
    const from = (await ts.api('GET', pathOf(configmaps, NS))).body.metadata.resourceVersion;
    const watch = client.watch(configmaps, NS, { resourceVersion: from, omitManagedFields: true }, (e) => received.push(e.object));
    try {
      // managedFields as the first, a middle and the last member of metadata, and none at all; a string
      // that looks like the member must stay.
      const bodies = [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { managedFields: [{ manager: 'm', operation: 'Update', apiVersion: 'v1', fieldsV1: { 'f:data': {} } }], name: 'omit-first' }, data: { a: '"managedFields":[1]' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'omit-middle', managedFields: [{ manager: 'm', operation: 'Update', apiVersion: 'v1', fieldsV1: { 'f:data': {} } }], labels: { managedFields: 'x' } }, data: { a: 'b' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'omit-last', annotations: { note: '"managedFields":[' } }, data: { a: 'b' } },
      ];
      for (const body of bodies) expect((await ts.api('POST', pathOf(configmaps, NS), body)).status).toBe(201);
      const cleared = await ts.api('PATCH', pathOf(configmaps, NS, 'omit-last'), [{ op: 'replace', path: '/metadata/managedFields', value: [{}] }], JSON_PATCH);
      expect(cleared.status).toBe(200);
      await eventually(() => expect(received).toHaveLength(4));
      for (const obj of received) {
        const stored = (await ts.api('GET', pathOf(configmaps, NS, obj.metadata.name))).body;
        const { managedFields: _omitted, ...metadata } = stored.metadata;
        if (obj.metadata.resourceVersion !== stored.metadata.resourceVersion) continue; // an earlier version of omit-last
        expect(obj).toEqual({ ...stored, metadata });
      }
      expect(received.map((o) => o.metadata.name)).toEqual(['omit-first', 'omit-middle', 'omit-last', 'omit-last']);
      expect(received[0].data.a).toBe('"managedFields":[1]');
      expect(received[2].metadata.annotations.note).toBe('"managedFields":[');
    } finally {
      watch.stop();
    }
  });
});

// ---------------------------------------------------------------------------
// The real kubectl (as the compatibility suite picks it; under CI=true a missing one fails) and mk apply
// ---------------------------------------------------------------------------

// The compatibility suite's binaries (test/kubectl-env.ts); `label` goes into object names.
const { binaries: compatBinaries, missing: kubectlMissing } = compatKubectls();
const kubectlBinaries: Array<[string, string]> = compatBinaries.map((b, i) => [String(i), b.file]);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

function manifestFile(dir: string, name: string, obj: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, YAML.stringify(obj));
  return file;
}

if (!kubectlBinaries.length) noKubectl('kubectl apply --server-side', kubectlMissing!);

describe.each(kubectlBinaries)('kubectl apply --server-side (kubectl %s)', (label, binary) => {
  jest.setTimeout(60_000);
  const kubeconfig = () => path.join(ts.dataDir, 'kubeconfig.yaml');
  let dir: string;
  const kubectl = (...args: string[]) =>
    run(binary, ['--kubeconfig', kubeconfig(), '--cache-dir', path.join(dir, 'cache'), '-n', NS, ...args], { KUBECONFIG: kubeconfig() });
  beforeAll(() => {
    dir = tempDir('mk-ssa-kubectl-');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('creates, re-applies and prunes a dropped field; conflicts are reported and --force-conflicts takes them', async () => {
    const name = `kc-ssa-${label}`;
    const v1 = manifestFile(dir, 'v1.yaml', deploymentConfig(name, {}, { app: name, tier: 'web' }));
    expect(await kubectl('apply', '--server-side', '-f', v1)).toMatchObject({ code: 0, stdout: `deployment.apps/${name} serverside-applied\n` });
    let obj = (await ts.api('GET', pathOf(deployments, NS, name))).body;
    expect(entryOf(obj, 'kubectl')).toBeDefined();
    expect(obj.metadata.labels).toEqual({ app: name, tier: 'web' });

    const v2 = manifestFile(dir, 'v2.yaml', deploymentConfig(name, {}, { app: name }));
    expect((await kubectl('apply', '--server-side', '-f', v2)).code).toBe(0);
    obj = (await ts.api('GET', pathOf(deployments, NS, name))).body;
    expect(obj.metadata.labels).toEqual({ app: name });

    expect((await kubectl('scale', `deployment/${name}`, '--replicas=4')).code).toBe(0);
    const conflict = await kubectl('apply', '--server-side', '-f', v2);
    expect(conflict.code).not.toBe(0);
    // kubectl scale names no field manager: it is the User-Agent's product, the binary's name (kubectl, kubectl.1.27).
    expect(conflict.stderr).toMatch(/Apply failed with 1 conflict: conflict with "kubectl[.\d]*" with subresource "scale" using apps\/v1: \.spec\.replicas/);
    expect(conflict.stderr).toContain('--force-conflicts');
    expect((await ts.api('GET', pathOf(deployments, NS, name))).body.spec.replicas).toBe(4);

    expect(await kubectl('apply', '--server-side', '--force-conflicts', '-f', v2)).toMatchObject({ code: 0, stdout: `deployment.apps/${name} serverside-applied\n` });
    obj = (await ts.api('GET', pathOf(deployments, NS, name))).body;
    expect(obj.spec.replicas).toBe(2);
    expect(entryOf(obj, 'kubectl').fieldsV1['f:spec']['f:replicas']).toEqual({});
  });

  test('get -o yaml hides managedFields unless --show-managed-fields', async () => {
    const name = `kc-ssa-${label}`;
    const hidden = await kubectl('get', 'deployment', name, '-o', 'yaml');
    expect(hidden.code).toBe(0);
    // Before 1.21 kubectl has no --show-managed-fields and always prints them.
    const old = kubectlMinor(binary) < 21;
    if (!old) expect(YAML.parse(hidden.stdout).metadata.managedFields).toBeUndefined();
    const shown = old ? hidden : await kubectl('get', 'deployment', name, '-o', 'yaml', '--show-managed-fields');
    expect(shown.code).toBe(0);
    const fields = YAML.parse(shown.stdout).metadata.managedFields;
    expect(fields.map((e: any) => [e.manager, e.operation])).toContainEqual(['kubectl', 'Apply']);
    expect(fields.find((e: any) => e.manager === 'kubectl').fieldsV1['f:spec']['f:template']['f:spec']['f:containers']).toHaveProperty(['k:{"name":"web"}', 'f:image']);
  });

  test('kubectl apply (client-side) then --server-side: no conflict on what the last-applied annotation holds', async () => {
    const name = `kc-upgrade-${label}`;
    const file = manifestFile(dir, 'upgrade.yaml', deploymentConfig(name));
    expect((await kubectl('apply', '-f', file)).code).toBe(0);
    let obj = (await ts.api('GET', pathOf(deployments, NS, name))).body;
    expect(entryOf(obj, 'kubectl-client-side-apply', 'Update')).toBeDefined();

    const changed = manifestFile(dir, 'upgrade2.yaml', deploymentConfig(name, { replicas: 3 }));
    expect((await kubectl('apply', '--server-side', '-f', changed)).code).toBe(0);
    obj = (await ts.api('GET', pathOf(deployments, NS, name))).body;
    expect(obj.spec.replicas).toBe(3);
    expect(JSON.parse(obj.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).spec.replicas).toBe(3);
  });
});

describe('mk apply (client-side) next to managedFields', () => {
  const BIN = path.resolve(__dirname, '..', '..', 'bin', 'run.js');
  const mk = (...args: string[]) => run(process.execPath, [BIN, ...args], { KUBECONFIG: path.join(ts.dataDir, 'kubeconfig.yaml'), NO_COLOR: '1' });
  jest.setTimeout(60_000);

  test('applies, re-applies a changed manifest, and get -o yaml hides managedFields unless asked', async () => {
    const dir = tempDir('mk-ssa-cli-');
    try {
      const name = 'mk-applied';
      const v1 = manifestFile(dir, 'v1.yaml', { ...manifest(configmaps, name, { app: name, tier: 'web' }, NS), metadata: { name, namespace: NS, labels: { app: name, tier: 'web' } } });
      expect(await mk('apply', '-f', v1)).toMatchObject({ code: 0, stdout: `configmap/${name} created\n` });
      const v2 = manifestFile(dir, 'v2.yaml', { ...manifest(configmaps, name, { app: name }, NS), metadata: { name, namespace: NS, labels: { app: name } } });
      expect(await mk('apply', '-f', v2)).toMatchObject({ code: 0, stdout: `configmap/${name} configured\n` });
      const obj = (await ts.api('GET', pathOf(configmaps, NS, name))).body;
      expect(obj.metadata.labels).toEqual({ app: name });
      expect(entries(obj).map((e) => [e.manager, e.operation])).toEqual([['mk', 'Update']]);

      const plain = await mk('get', 'configmap', name, '-n', NS, '-o', 'yaml');
      expect(plain.code).toBe(0);
      expect(YAML.parse(plain.stdout).metadata.managedFields).toBeUndefined();
      const shown = await mk('get', 'configmap', name, '-n', NS, '-o', 'json', '--show-managed-fields');
      expect(JSON.parse(shown.stdout).metadata.managedFields).toEqual(obj.metadata.managedFields);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
