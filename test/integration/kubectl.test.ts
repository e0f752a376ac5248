import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import type { FakeRuntime } from '../../src/agent/runtime/fake';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers';
import { compatKubectls, noKubectl } from '../kubectl-env';
import { kind, pathOf } from './fixtures';

/**
 * The kubectl compatibility suite: the real kubectl binary against a real
 * mk server (scheduler, controllers and a node agent on the fake runtime,
 * so pods run), with the kubeconfig `mk server` writes and no workaround
 * flags (no --validate=false). Every verb is checked through the API, not
 * only by its exit code.
 *
 * Binaries (test/kubectl-env.ts): the `kubectl` on PATH (on these machines
 * the Google Cloud SDK dispatcher, which runs the release matching the
 * server's minor, 1.31) and the oldest and newest pinned releases beside it
 * (`kubectl.1.27`, `kubectl.1.33`); or exactly those MK_KUBECTL names.
 * Debian's kubernetes-client, kubectl 1.20, is what a bare CI machine gets
 * (.ci/run): where a release prints or validates differently, the test says
 * which does what. Under CI=true a missing kubectl fails the suite.
 *
 * What needs a process in a container (exec with stdin or a terminal, cp,
 * port-forward) is in test/e2e/kubectl-docker.test.ts; SPDY exec's
 * protocol versions in spdy-exec.test.ts.
 *
 * Not covered: `kubectl top` (mk serves no metrics API, so kubectl says
 * "Metrics API not available"). mk does not serve `attach`: the test checks
 * that kubectl says so.
 */

jest.setTimeout(120_000);

const PODS = kind('pods');
const DEPLOYMENTS = kind('deployments');
const REPLICASETS = kind('replicasets');
const SERVICES = kind('services');
const CONFIGMAPS = kind('configmaps');
const SECRETS = kind('secrets');
const NAMESPACES = kind('namespaces');

const { binaries, missing } = compatKubectls();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let ts: TestServer;
let cacheRoot: string;
let fakeRuntime: FakeRuntime;

if (!binaries.length) {
  noKubectl('the kubectl compatibility suite', missing!);
} else {
  beforeAll(async () => {
    ts = await startTestServer({ agent: { runtime: 'fake', nodeName: 'kubectl-node', port: 0 } });
    cacheRoot = tempDir('mk-kubectl-cache-');
    // The fake container runtime of the embedded agent, to give a container a log (as a process would print one).
    fakeRuntime = (ts.server.agents!.agents[0] as unknown as { runtime: FakeRuntime }).runtime;
    await eventually(async () => {
      const nodes = await ts.api('GET', '/api/v1/nodes');
      expect(nodes.body.items.some((n: any) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))).toBe(true);
    }, 20_000);
  });
  afterAll(async () => {
    await ts?.destroy();
    if (cacheRoot) fs.rmSync(cacheRoot, { recursive: true, force: true });
  });

  describe.each(binaries.map((b, i) => ({ ...b, index: i })))('$label', ({ file, index }) => {
    const ns = `kc${index}-${path.basename(file).replace(/[^0-9a-z]+/gi, '-').replace(/-+$/, '').toLowerCase()}`;
    let cacheDir: string;
    /** The client's minor version, for what older releases print differently. */
    let minor: number;

    /**
     * Starts kubectl with mk's kubeconfig, a cache of its own, and an optional
     * environment; `output()` is what it printed so far, `done` its result,
     * `stop()` interrupts it (for -w and -f).
     */
    const start = (args: string[], env: Record<string, string> = {}): { output: () => Run; done: Promise<Run>; stop: () => Promise<Run> } => {
      const child = spawn(file, [`--cache-dir=${cacheDir}`, ...args], {
        env: { ...process.env, KUBECONFIG: ts.server.kubeconfigPath, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      const done = new Promise<Run>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      const stop = () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
        return done;
      };
      return { output: () => ({ code: child.exitCode, stdout, stderr }), done, stop };
    };
    const kubectl = (args: string[], opts: { env?: Record<string, string> } = {}): Promise<Run> => start(args, opts.env).done;
    /** kubectl in the suite's namespace, failing the test unless it exits 0. */
    const ok = async (...args: string[]): Promise<string> => {
      const r = await kubectl(['-n', ns, ...args]);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}\n${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const get = async (rt: typeof PODS, name: string, namespace = ns): Promise<any> => {
      const res = await ts.api('GET', pathOf(rt, namespace, name));
      return res.status === 200 ? res.body : undefined;
    };
    const writeManifest = (name: string, object: unknown): string => {
      const f = path.join(cacheDir, name);
      fs.writeFileSync(f, JSON.stringify(object, null, 2));
      return f;
    };
    const deployment = (name: string, extra: { labels?: Record<string, string>; image?: string; replicas?: number; container?: Record<string, unknown> } = {}) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: ns, labels: { app: name, ...extra.labels } },
      spec: {
        replicas: extra.replicas ?? 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'web', image: extra.image ?? 'nginx:1', ...extra.container }] },
        },
      },
    });
    const waitRolledOut = (name: string) => ok('rollout', 'status', `deployment/${name}`, '--timeout=60s');

    beforeAll(async () => {
      cacheDir = fs.mkdtempSync(path.join(cacheRoot, 'c-'));
      // parseInt: vendor builds say "27+".
      minor = parseInt(JSON.parse((await kubectl(['version', '--client', '-o', 'json'])).stdout).clientVersion.minor, 10);
      const created = await ts.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      expect(created.status).toBe(201);
    });

    test('version, api-versions, api-resources, cluster-info', async () => {
      const version = JSON.parse(await ok('version', '-o', 'json'));
      expect(version.serverVersion).toMatchObject({ major: '1', minor: '31' });
      expect(version.serverVersion.gitVersion).toMatch(/^v1\.31\.\d+\+mk/);

      const versions = (await ok('api-versions')).trim().split('\n');
      expect(versions).toEqual(expect.arrayContaining(['v1', 'apps/v1', 'batch/v1', 'authorization.k8s.io/v1', 'coordination.k8s.io/v1']));

      const resources = await ok('api-resources', '--no-headers');
      expect(resources).toMatch(/^pods\s+po\s+v1\s+true\s+Pod$/m);
      expect(resources).toMatch(/^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
      expect(resources).toMatch(/^selfsubjectaccessreviews\s+authorization\.k8s\.io\/v1\s+false\s+SelfSubjectAccessReview$/m);
      expect((await ok('api-resources', '--verbs=list', '-o', 'name')).split('\n')).not.toContain('selfsubjectaccessreviews.authorization.k8s.io');
      const all = ['cronjobs.batch', 'daemonsets.apps', 'deployments.apps', 'jobs.batch', 'pods', 'replicasets.apps', 'services'];
      if (minor >= 25) {
        expect((await ok('api-resources', '--categories=all', '-o', 'name')).trim().split('\n').sort()).toEqual(all.sort());
      } else {
        // No --categories before 1.25: `get all` expands the category from discovery, one list per kind (its -v=6 log shows them).
        const { stderr } = await kubectl(['get', 'all', '-A', '-v=6']);
        const listed = [...stderr.matchAll(/ GET https:\/\/[^/]+\/(?:api\/v1|apis\/(\w+)\/v1)\/(\w+)\?limit=500 200 OK/g)].map((m) => (m[1] ? `${m[2]}.${m[1]}` : m[2]));
        expect(listed.sort()).toEqual(all.sort());
      }

      // eslint-disable-next-line no-control-regex
      expect((await ok('cluster-info')).replace(/\u001b\[[0-9;]*m/g, '')).toContain(`Kubernetes control plane is running at ${ts.url}`);
    });

    test('explain reads the schemas the server validates with', async () => {
      const containers = await ok('explain', 'pod.spec.containers');
      expect(containers).toMatch(/^KIND:\s+Pod$/m);
      if (minor < 27) {
        // Before 1.27 explain reads /openapi/v2 and names every object type "Object".
        expect(containers).toMatch(/^RESOURCE: containers <\[\]Object>$/m);
        expect(containers).toMatch(/^ {3}image\t<string>$/m);
        expect(containers).toMatch(/^ {3}name\t<string> -required-$/m);
        expect(containers).toMatch(/^ {3}ports\t<\[\]Object>$/m);
        const strategy = await ok('explain', 'deployment.spec.strategy');
        expect(strategy).toMatch(/^VERSION:\s+apps\/v1$/m);
        expect(strategy).toMatch(/^ {3}rollingUpdate\t<Object>$/m);
        expect(strategy).toMatch(/^ {3}type\t<string>$/m);
        expect(await kubectl(['explain', 'pod.spec.nope'])).toMatchObject({ code: 1, stderr: 'error: field "nope" does not exist\n' });
        return;
      }
      expect(containers).toMatch(/^FIELD: containers <\[\]Container>$/m);
      expect(containers).toMatch(/^ {2}image\t<string>$/m);
      expect(containers).toMatch(/^ {2}name\t<string> -required-$/m);
      expect(containers).toMatch(/^ {2}ports\t<\[\]ContainerPort>$/m);

      const strategy = await ok('explain', 'deployment.spec.strategy');
      expect(strategy).toMatch(/^GROUP:\s+apps$/m);
      expect(strategy).toMatch(/^ {2}rollingUpdate\t<RollingUpdateDeployment>$/m);
      expect(strategy).toMatch(/^ {2}type\t<string>$/m);

      const missing = await kubectl(['explain', 'pod.spec.nope']);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('"nope"');
    });

    test('apply: create, configure, prune a removed field, unchanged; unknown fields fail on the server', async () => {
      const manifest = deployment('applied', { labels: { extra: 'yes' }, container: { env: [{ name: 'A', value: '1' }, { name: 'GONE', value: 'x' }] } });
      const f = writeManifest('applied.json', manifest);
      expect(await ok('apply', '-f', f)).toBe('deployment.apps/applied created\n');
      const created = await get(DEPLOYMENTS, 'applied');
      expect(created.metadata.labels).toEqual({ app: 'applied', extra: 'yes' });
      expect(created.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('"GONE"');

      delete (manifest.metadata.labels as Record<string, string>).extra;
      (manifest.spec.template.spec.containers[0] as any).env = [{ name: 'A', value: '2' }];
      manifest.spec.replicas = 2;
      writeManifest('applied.json', manifest);
      expect(await ok('apply', '-f', f)).toBe('deployment.apps/applied configured\n');
      const configured = await get(DEPLOYMENTS, 'applied');
      expect(configured.metadata.labels).toEqual({ app: 'applied' });
      expect(configured.spec.replicas).toBe(2);
      expect(configured.spec.template.spec.containers[0].env).toEqual([{ name: 'A', value: '2' }]);
      expect(configured.metadata.generation).toBe(2);

      expect(await ok('apply', '-f', f)).toBe('deployment.apps/applied unchanged\n');
      // (The deployment controller keeps writing status meanwhile: the spec is what must not move.)
      const unchanged = await get(DEPLOYMENTS, 'applied');
      expect(unchanged.metadata.generation).toBe(2);
      expect(unchanged.spec).toEqual(configured.spec);
      expect(unchanged.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toBe(configured.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);

      const bad = deployment('bad-field', { container: { bogus: true } });
      const badFile = writeManifest('bad.json', bad);
      if (minor < 25) {
        // Before 1.25 kubectl validates against /openapi/v2 itself; without that, the server drops the field and warns.
        const refusedHere = await kubectl(['apply', '-f', badFile]);
        expect(refusedHere.code).toBe(1);
        expect(refusedHere.stderr).toContain('error validating data: ValidationError(Deployment.spec.template.spec.containers[0]): unknown field "bogus" in io.k8s.api.core.v1.Container');
        expect(await get(DEPLOYMENTS, 'bad-field')).toBeUndefined();
        const unvalidated = await kubectl(['create', '--validate=false', '-f', badFile]);
        expect(unvalidated).toMatchObject({ code: 0, stdout: 'deployment.apps/bad-field created\n' });
        expect(unvalidated.stderr).toContain('Warning: unknown field "spec.template.spec.containers[0].bogus"');
        expect((await get(DEPLOYMENTS, 'bad-field')).spec.template.spec.containers[0].bogus).toBeUndefined();
        await ok('delete', 'deployment', 'bad-field');
        return;
      }
      // kubectl finds `fieldValidation` on the kind's PATCH in /openapi and leaves unknown fields to the server.
      const refused = await kubectl(['apply', '-f', badFile]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].bogus"');
      expect(await get(DEPLOYMENTS, 'bad-field')).toBeUndefined();
      const created2 = await kubectl(['create', '-f', badFile]);
      expect(created2.code).toBe(1);
      expect(created2.stderr).toContain('strict decoding error: unknown field "spec.template.spec.containers[0].bogus"');
      // --validate=warn: created without the field, with the server's warning.
      const warned = await kubectl(['create', '--validate=warn', '-f', badFile]);
      expect(warned).toMatchObject({ code: 0, stdout: 'deployment.apps/bad-field created\n' });
      expect(warned.stderr).toContain('Warning: unknown field "spec.template.spec.containers[0].bogus"');
      expect((await get(DEPLOYMENTS, 'bad-field')).spec.template.spec.containers[0].bogus).toBeUndefined();
      await ok('delete', 'deployment', 'bad-field');
    });

    test('create namespace, deployment, configmap, secret generic', async () => {
      const other = `${ns}-made`;
      expect(await ok('create', 'namespace', other)).toBe(`namespace/${other} created\n`);
      expect((await get(NAMESPACES, other, undefined)).status.phase).toBe('Active');

      expect(await ok('create', 'deployment', 'made', '--image=nginx:1', '--replicas=2', '--port=80')).toBe('deployment.apps/made created\n');
      const made = await get(DEPLOYMENTS, 'made');
      expect(made.spec.replicas).toBe(2);
      expect(made.spec.selector).toEqual({ matchLabels: { app: 'made' } });
      expect(made.spec.template.spec.containers).toEqual([expect.objectContaining({ name: 'nginx', image: 'nginx:1', ports: [{ containerPort: 80, protocol: 'TCP' }] })]);

      expect(await ok('create', 'configmap', 'settings', '--from-literal=color=blue', '--from-literal=size=10')).toBe('configmap/settings created\n');
      expect((await get(CONFIGMAPS, 'settings')).data).toEqual({ color: 'blue', size: '10' });

      expect(await ok('create', 'secret', 'generic', 'creds', '--from-literal=password=s3cret')).toBe('secret/creds created\n');
      const secret = await get(SECRETS, 'creds');
      expect(secret.type).toBe('Opaque');
      expect(Buffer.from(secret.data.password, 'base64').toString()).toBe('s3cret');

      await ok('delete', 'namespace', other, '--wait=false');
    });

    test('run, wait --for=condition=Ready, logs [-f] [--previous] [--tail], exec, attach, describe', async () => {
      expect(await ok('run', 'solo', '--image=busybox:1.36', '--labels=tier=solo', '--', 'sleep', '3600')).toBe('pod/solo created\n');
      expect(await ok('wait', '--for=condition=Ready', 'pod/solo', '--timeout=60s')).toBe('pod/solo condition met\n');
      const pod = await get(PODS, 'solo');
      expect(pod.spec.containers[0]).toMatchObject({ name: 'solo', image: 'busybox:1.36', args: ['sleep', '3600'] });
      expect(pod.metadata.labels).toEqual({ tier: 'solo' });
      expect(pod.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Ready', status: 'True' })]));

      const containerId = String(pod.status.containerStatuses[0].containerID).replace(/^[a-z]+:\/\//, '');
      fakeRuntime.appendLog(containerId, 'hello from solo');
      fakeRuntime.appendLog(containerId, 'second line');
      expect(await ok('logs', 'solo')).toBe('hello from solo\nsecond line\n');
      expect(await ok('logs', 'solo', '--tail=1')).toBe('second line\n');

      // Exec: WebSocket (v5.channel.k8s.io) from 1.30, SPDY (v4.channel.k8s.io) before; either way the exit code comes back.
      expect(await ok('exec', 'solo', '--', 'echo', 'hi', 'there')).toBe('hi there\n');
      expect(await kubectl(['-n', ns, 'exec', 'solo', '--', 'sh', '-c', 'exit 3'])).toMatchObject({ code: 3, stderr: 'command terminated with exit code 3\n' });
      const noContainer = await kubectl(['-n', ns, 'exec', 'solo', '-c', 'nope', '--', 'true']);
      expect(noContainer.code).toBe(1);
      expect(noContainer.stderr).toContain('container nope is not valid for pod solo');

      // mk serves no pods/attach, and says so.
      const attached = await kubectl(['-n', ns, 'attach', 'solo']);
      expect(attached.code).toBe(1);
      expect(attached.stderr).toContain('mk does not serve pods/attach');

      // -f follows until the container ends; its log is then the --previous one.
      const following = start(['-n', ns, 'logs', '-f', 'solo']);
      await eventually(() => expect(following.output().stdout).toBe('hello from solo\nsecond line\n'), 30_000);
      fakeRuntime.appendLog(containerId, 'followed');
      await eventually(() => expect(following.output().stdout).toBe('hello from solo\nsecond line\nfollowed\n'), 30_000);
      fakeRuntime.exitContainer(containerId, 2);
      expect(await following.done).toMatchObject({ code: 0, stdout: 'hello from solo\nsecond line\nfollowed\n' });
      const restarted = await eventually(async () => {
        const status = (await get(PODS, 'solo')).status.containerStatuses[0];
        expect(status).toMatchObject({ restartCount: 1, state: { running: expect.anything() }, lastState: { terminated: { exitCode: 2 } } });
        return status;
      }, 30_000);
      fakeRuntime.appendLog(String(restarted.containerID).replace(/^[a-z]+:\/\//, ''), 'after the restart');
      expect(await ok('logs', 'solo')).toBe('after the restart\n');
      expect(await ok('logs', 'solo', '--previous')).toBe('hello from solo\nsecond line\nfollowed\n');
      expect(await ok('logs', 'solo', '--previous', '--tail=1')).toBe('followed\n');

      const described = await ok('describe', 'pod', 'solo');
      expect(described).toMatch(/^Name:\s+solo$/m);
      expect(described).toMatch(new RegExp(`^Namespace:\\s+${ns}$`, 'm'));
      expect(described).toMatch(/^Node:\s+kubectl-node\//m);
      expect(described).toMatch(/^Status:\s+Running$/m);
      expect(described).toMatch(/^ {4}Last State:\s+Terminated$/m);
      expect(described).toMatch(/^ {6}Exit Code:\s+2$/m);
      expect(described).toMatch(/^ {4}Restart Count:\s+1$/m);
      expect(described).toMatch(/^Events:/m);
      expect(described).toMatch(/Scheduled\s+.*Successfully assigned .*\/solo to kubectl-node/);
    });

    test('get: output formats, -A, -l, --field-selector, --sort-by, -w', async () => {
      await ok('run', 'alpha', '--image=busybox:1.36', '--labels=group=sorted,rank=2', '--', 'sleep', '3600');
      await ok('run', 'beta', '--image=busybox:1.36', '--labels=group=sorted,rank=1', '--', 'sleep', '3600');
      await ok('wait', '--for=condition=Ready', 'pod/alpha', 'pod/beta', '--timeout=60s');
      const alpha = await get(PODS, 'alpha');

      const wide = await ok('get', 'pod', 'alpha', '-o', 'wide');
      const [header, row] = wide.trim().split('\n');
      expect(header.split(/\s{2,}/)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
      expect(row.split(/\s{2,}/)).toEqual(['alpha', '1/1', 'Running', '0', expect.stringMatching(/^\d+s$/), alpha.status.podIP, 'kubectl-node', '<none>', '<none>']);

      // kubectl leaves managedFields out unless --show-managed-fields (from 1.21; older releases print them).
      const { managedFields: _mf, ...alphaMeta } = alpha.metadata;
      const printed = minor >= 21 ? { ...alpha, metadata: alphaMeta } : alpha;
      expect(YAML.parse(await ok('get', 'pod', 'alpha', '-o', 'yaml'))).toEqual(printed);
      expect(JSON.parse(await ok('get', 'pod', 'alpha', '-o', 'json'))).toEqual(printed);
      const list = JSON.parse(await ok('get', 'pods', '-l', 'group=sorted', '-o', 'json'));
      expect(list.kind).toBe('List');
      expect(list.items.map((p: any) => p.metadata.name).sort()).toEqual(['alpha', 'beta']);

      expect(await ok('get', 'pod', 'alpha', '-o', 'jsonpath={.spec.nodeName} {.metadata.labels.rank}')).toBe('kubectl-node 2');
      expect(await ok('get', 'pods', '-l', 'group=sorted', '-o', 'custom-columns=NAME:.metadata.name,RANK:.metadata.labels.rank', '--sort-by=.metadata.labels.rank'))
        .toBe('NAME    RANK\nbeta    1\nalpha   2\n');
      expect(await ok('get', 'pods', '-l', 'group=sorted', '-o', 'name', '--sort-by=.metadata.name')).toBe('pod/alpha\npod/beta\n');
      expect(await ok('get', 'pods', '-l', 'group=sorted,rank=1', '-o', 'name')).toBe('pod/beta\n');
      expect(await ok('get', 'pods', '--field-selector', 'metadata.name=alpha,status.phase=Running', '-o', 'name')).toBe('pod/alpha\n');
      expect(await ok('get', 'pods', '--field-selector', 'spec.nodeName=elsewhere', '-o', 'name')).toBe('');

      const all = await ok('get', 'pods', '-A', '--no-headers');
      expect(all).toMatch(new RegExp(`^${ns}\\s+alpha\\s+1/1\\s+Running`, 'm'));
      const none = await kubectl(['-n', ns, 'get', 'pods', '-l', 'group=nothing']);
      expect(none).toMatchObject({ code: 0, stdout: '', stderr: `No resources found in ${ns} namespace.\n` });
      const missing = await kubectl(['-n', ns, 'get', 'pod', 'nope']);
      expect(missing).toMatchObject({ code: 1, stderr: 'Error from server (NotFound): pods "nope" not found\n' });

      // -w: the table, then a row per change (server-side Table rows over the watch).
      const watching = start(['-n', ns, 'get', 'pods', '-l', 'group=sorted', '--sort-by=.metadata.name', '-w']);
      try {
        await eventually(() => expect(watching.output().stdout).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\nalpha\s+1\/1\s+Running\s+0\s+\d+s\nbeta\s+1\/1\s+Running\s+0\s+\d+s\n$/), 30_000);
        const labelled = await ts.api('PATCH', pathOf(PODS, ns, 'beta'), { metadata: { labels: { rank: '3' } } }, { 'Content-Type': 'application/merge-patch+json' });
        expect(labelled.status).toBe(200);
        await eventually(() => expect(watching.output().stdout).toMatch(/\nbeta\s+1\/1\s+Running\s+0\s+\d+s\nbeta\s+1\/1\s+Running\s+0\s+\d+s\n$/), 30_000);
        expect((await ts.api('DELETE', `${pathOf(PODS, ns, 'alpha')}?gracePeriodSeconds=0`)).status).toBe(200);
        await eventually(() => expect(watching.output().stdout).toMatch(/\nalpha\s+1\/1\s+(Running|Terminating)\s+0\s+\d+s\n$/), 30_000);
        expect(watching.output().code).toBeNull();
      } finally {
        await watching.stop();
      }
    });

    test('label, annotate, edit with EDITOR', async () => {
      await ok('create', 'configmap', 'edited', '--from-literal=mode=old');
      expect(await ok('label', 'configmap', 'edited', 'tier=back')).toBe('configmap/edited labeled\n');
      // kubectl 1.27 says "annotate" here.
      expect(await ok('annotate', 'configmap', 'edited', 'note=hello')).toMatch(/^configmap\/edited annotated?\n$/);
      let cm = await get(CONFIGMAPS, 'edited');
      expect(cm.metadata.labels).toEqual({ tier: 'back' });
      expect(cm.metadata.annotations).toEqual({ note: 'hello' });
      expect(await ok('label', 'configmap', 'edited', 'tier=front', '--overwrite')).toBe('configmap/edited labeled\n');
      // Before 1.23 kubectl says "labeled" for a removal too.
      expect(await ok('label', 'configmap', 'edited', 'tier-')).toBe(`configmap/edited ${minor >= 23 ? 'unlabeled' : 'labeled'}\n`);
      expect((await get(CONFIGMAPS, 'edited')).metadata.labels).toBeUndefined();

      // kubectl edit writes the object to a file and runs $EDITOR on it: a sed script stands in for a person.
      const editor = path.join(cacheDir, 'editor.sh');
      fs.writeFileSync(editor, '#!/bin/sh\nexec sed -i -e "s/mode: old/mode: new/" "$1"\n', { mode: 0o755 });
      const edited = await kubectl(['-n', ns, 'edit', 'configmap', 'edited'], { env: { EDITOR: editor, KUBE_EDITOR: editor } });
      expect(edited).toMatchObject({ code: 0, stdout: 'configmap/edited edited\n' });
      cm = await get(CONFIGMAPS, 'edited');
      expect(cm.data).toEqual({ mode: 'new' });
      const unchanged = await kubectl(['-n', ns, 'edit', 'configmap', 'edited'], { env: { EDITOR: 'true', KUBE_EDITOR: 'true' } });
      expect(unchanged).toMatchObject({ code: 0, stderr: 'Edit cancelled, no changes made.\n' });
    });

    test('scale, set image, rollout status|history|undo|restart', async () => {
      await ok('create', 'deployment', 'roll', '--image=nginx:1');
      await waitRolledOut('roll');
      expect(await ok('scale', 'deployment', 'roll', '--replicas=3')).toBe('deployment.apps/roll scaled\n');
      await waitRolledOut('roll');
      expect((await get(DEPLOYMENTS, 'roll')).status).toMatchObject({ replicas: 3, readyReplicas: 3, updatedReplicas: 3 });

      expect(await ok('set', 'image', 'deployment/roll', 'nginx=nginx:2')).toBe('deployment.apps/roll image updated\n');
      expect(await waitRolledOut('roll')).toContain('deployment "roll" successfully rolled out');
      expect((await get(DEPLOYMENTS, 'roll')).spec.template.spec.containers[0].image).toBe('nginx:2');

      const history = await ok('rollout', 'history', 'deployment/roll');
      expect(history).toMatch(/^REVISION\s+CHANGE-CAUSE$/m);
      expect(history).toMatch(/^1\s+<none>$/m);
      expect(history).toMatch(/^2\s+<none>$/m);
      expect(await ok('rollout', 'history', 'deployment/roll', '--revision=1')).toContain('Image:\tnginx:1');

      expect(await ok('rollout', 'undo', 'deployment/roll')).toBe('deployment.apps/roll rolled back\n');
      await waitRolledOut('roll');
      const undone = await get(DEPLOYMENTS, 'roll');
      expect(undone.spec.template.spec.containers[0].image).toBe('nginx:1');
      expect(undone.metadata.annotations['deployment.kubernetes.io/revision']).toBe('3');

      expect(await ok('rollout', 'restart', 'deployment/roll')).toBe('deployment.apps/roll restarted\n');
      await waitRolledOut('roll');
      const restarted = await get(DEPLOYMENTS, 'roll');
      expect(restarted.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']).toMatch(/^\d{4}-\d\d-\d\dT/);
      const pods = (await ts.api('GET', `${pathOf(PODS, ns)}?labelSelector=app%3Droll`)).body.items.filter((p: any) => !p.metadata.deletionTimestamp);
      await eventually(async () => {
        const live = (await ts.api('GET', `${pathOf(PODS, ns)}?labelSelector=app%3Droll`)).body.items.filter((p: any) => !p.metadata.deletionTimestamp);
        expect(live).toHaveLength(3);
        for (const p of live) expect(p.metadata.annotations?.['kubectl.kubernetes.io/restartedAt']).toBe(restarted.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']);
      }, 30_000);
      expect(pods.length).toBeGreaterThan(0);
    });

    test('expose a deployment as a service', async () => {
      await ok('create', 'deployment', 'exposed', '--image=nginx:1', '--port=8080');
      expect(await ok('expose', 'deployment', 'exposed', '--port=80', '--target-port=8080')).toBe('service/exposed exposed\n');
      const svc = await get(SERVICES, 'exposed');
      expect(svc.spec.selector).toEqual({ app: 'exposed' });
      expect(svc.spec.ports).toEqual([{ port: 80, targetPort: 8080, protocol: 'TCP' }]);
      expect(svc.spec.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(await ok('get', 'svc', 'exposed', '-o', 'jsonpath={.spec.type}')).toBe('ClusterIP');
    });

    test('diff: server-side dry run, exit 1 when the cluster differs, nothing written', async () => {
      const manifest = deployment('diffed');
      const f = writeManifest('diffed.json', manifest);
      await ok('apply', '-f', f);
      await waitRolledOut('diffed');
      const before = await get(DEPLOYMENTS, 'diffed');
      expect(await kubectl(['diff', '-f', f])).toMatchObject({ code: 0, stdout: '' });

      manifest.spec.template.spec.containers[0].image = 'nginx:9';
      writeManifest('diffed.json', manifest);
      const diff = await kubectl(['diff', '-f', f]);
      expect(diff.code).toBe(1);
      expect(diff.stdout).toMatch(/^-\s+- image: nginx:1$/m);
      expect(diff.stdout).toMatch(/^\+\s+- image: nginx:9$/m);
      expect(diff.stdout).toMatch(/^-\s+generation: 1$/m);
      const after = await get(DEPLOYMENTS, 'diffed');
      expect(after.metadata.generation).toBe(1);
      expect(after.spec).toEqual(before.spec);

      const fresh = writeManifest('fresh.json', deployment('not-yet'));
      const created = await kubectl(['diff', '-f', fresh]);
      expect(created.code).toBe(1);
      expect(created.stdout).toMatch(/^\+\s+name: not-yet$/m);
      expect(await get(DEPLOYMENTS, 'not-yet')).toBeUndefined();
    });

    test('delete: --wait, --cascade=orphan|foreground, wait --for=delete', async () => {
      await ok('create', 'configmap', 'doomed', '--from-literal=a=b');
      expect(await ok('delete', 'configmap', 'doomed', '--wait')).toBe('configmap "doomed" deleted\n');
      expect(await get(CONFIGMAPS, 'doomed')).toBeUndefined();

      await ok('create', 'deployment', 'orphaner', '--image=nginx:1');
      await waitRolledOut('orphaner');
      const [rs] = (await ts.api('GET', `${pathOf(REPLICASETS, ns)}?labelSelector=app%3Dorphaner`)).body.items;
      expect(await ok('delete', 'deployment', 'orphaner', '--cascade=orphan')).toBe('deployment.apps "orphaner" deleted\n');
      expect(await get(DEPLOYMENTS, 'orphaner')).toBeUndefined();
      await eventually(async () => {
        const kept = await get(REPLICASETS, rs.metadata.name);
        expect(kept.metadata.ownerReferences ?? []).toEqual([]);
      }, 30_000);
      // The ReplicaSet orphaned in turn: its pods stay, owned by nothing.
      const livePods = async (app: string) =>
        (await ts.api('GET', `${pathOf(PODS, ns)}?labelSelector=app%3D${app}`)).body.items.filter((p: any) => !p.metadata.deletionTimestamp);
      const orphans = (await livePods('orphaner')).map((p: any) => p.metadata.name).sort();
      expect(orphans).toHaveLength(1);
      expect(await ok('delete', 'rs', rs.metadata.name, '--cascade=orphan')).toBe(`replicaset.apps "${rs.metadata.name}" deleted\n`);
      expect(await get(REPLICASETS, rs.metadata.name)).toBeUndefined();
      await eventually(async () => {
        const kept = await livePods('orphaner');
        expect(kept.map((p: any) => p.metadata.name).sort()).toEqual(orphans);
        for (const p of kept) expect(p.metadata.ownerReferences ?? []).toEqual([]);
      }, 30_000);
      expect(await ok('delete', 'pods', '-l', 'app=orphaner')).toBe(`pod "${orphans[0]}" deleted\n`);
      expect(await livePods('orphaner')).toEqual([]);

      // Foreground: the deployment stays (foregroundDeletion) until its dependents are gone; a finalizer on its
      // ReplicaSet holds that moment long enough to look at.
      await ok('create', 'deployment', 'foreground', '--image=nginx:1');
      await waitRolledOut('foreground');
      const [frs] = (await ts.api('GET', `${pathOf(REPLICASETS, ns)}?labelSelector=app%3Dforeground`)).body.items;
      // With the resourceVersion read: the garbage collector edits the same list (409 and a retry when it did meanwhile).
      const setFinalizers = (finalizers: string[], resourceVersion: string) =>
        ts.api('PATCH', pathOf(REPLICASETS, ns, frs.metadata.name), { metadata: { finalizers, resourceVersion } }, { 'Content-Type': 'application/merge-patch+json' });
      await eventually(async () => {
        const current = await get(REPLICASETS, frs.metadata.name);
        expect((await setFinalizers(['example.com/hold'], current.metadata.resourceVersion)).status).toBe(200);
      });
      const deleting = start(['-n', ns, 'delete', 'deployment', 'foreground', '--cascade=foreground']);
      await eventually(async () => {
        const d = await get(DEPLOYMENTS, 'foreground');
        expect(d.metadata.deletionTimestamp).toBeDefined();
        expect(d.metadata.finalizers).toContain('foregroundDeletion');
        expect((await get(REPLICASETS, frs.metadata.name)).metadata.deletionTimestamp).toBeDefined();
        // The ReplicaSet's own dependents go before it.
        expect(await livePods('foreground')).toEqual([]);
      }, 30_000);
      expect(deleting.output().code).toBeNull();
      await eventually(async () => {
        const held = await get(REPLICASETS, frs.metadata.name);
        const released = await setFinalizers((held.metadata.finalizers ?? []).filter((f: string) => f !== 'example.com/hold'), held.metadata.resourceVersion);
        expect(released.status).toBe(200);
      });
      // --wait (the default) returned only once the deployment was gone, after its dependents.
      expect(await deleting.done).toMatchObject({ code: 0, stdout: 'deployment.apps "foreground" deleted\n' });
      expect(await get(DEPLOYMENTS, 'foreground')).toBeUndefined();
      expect(await get(REPLICASETS, frs.metadata.name)).toBeUndefined();

      // A finalizer holds the object while kubectl wait starts watching (its -v=6 log shows the watch).
      const held = await ts.api('POST', pathOf(CONFIGMAPS, ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held', finalizers: ['example.com/hold'] } });
      expect(held.status).toBe(201);
      expect(await ok('delete', 'configmap', 'held', '--wait=false')).toBe('configmap "held" deleted\n');
      expect((await get(CONFIGMAPS, 'held')).metadata.deletionTimestamp).toBeDefined();
      const waiting = start(['-n', ns, 'wait', '--for=delete', 'configmap/held', '--timeout=60s', '-v=6']);
      await eventually(() => expect(waiting.output().stderr).toMatch(/\/configmaps\?[^\s"]*watch=true[^\s"]*"? (status=")?200 OK/), 30_000);
      expect(waiting.output().code).toBeNull();
      const released = await ts.api('PATCH', pathOf(CONFIGMAPS, ns, 'held'), { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
      expect(released.status).toBe(200);
      const waited = await waiting.done;
      expect({ code: waited.code, stdout: waited.stdout }).toEqual({ code: 0, stdout: 'configmap/held condition met\n' });
      expect(await get(CONFIGMAPS, 'held')).toBeUndefined();
    });

    test('auth can-i answers yes for the cluster token', async () => {
      expect(await kubectl(['auth', 'can-i', 'create', 'pods'])).toMatchObject({ code: 0, stdout: 'yes\n' });
      expect(await kubectl(['auth', 'can-i', 'delete', 'deployments.apps', '-n', 'kube-system'])).toMatchObject({ code: 0, stdout: 'yes\n' });
      const list = await kubectl(['auth', 'can-i', '--list', '-n', ns]);
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(/^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$/m);
    });
  });
}
