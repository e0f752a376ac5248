import { execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import YAML from 'yaml';
import { apiVersionOf, lookupKind, resourceTypes } from '../../src/api/registry';
import { eventually, podManifest, startTestServer, tempDir, type TestServer } from '../helpers';
import { create, kind, manifest, pathOf } from './fixtures';

/**
 * The real `mk` binary (bin/run.js over the compiled dist/) against a real
 * server started in this process: what a user types, what they see on
 * stdout and stderr, the exit code, and what the cluster holds afterwards
 * (checked through the API, not through mk itself).
 *
 * dist/ must be current: `npm test` compiles it first (pretest); when running
 * jest by hand, run `npx tsc -p .` before.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'run.js');

interface MkResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface MkProcess {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Settles when the process exits. */
  exited: Promise<MkResult>;
}

// Each mk process costs about half a second of CPU; on a loaded machine a batch of them takes a while.
jest.setTimeout(90_000);

let ts: TestServer;
let scratch: string;
let kubeconfig: string;

/**
 * Starts `mk ARGS` from the repository root with KUBECONFIG pointing at the
 * test server (an explicit --kubeconfig in ARGS wins, as for kubectl).
 * Colours are off: assertions read plain text.
 */
function startMk(args: string[], stdin?: string): MkProcess {
  let out = '';
  let err = '';
  let child!: ChildProcess;
  const exited = new Promise<MkResult>((resolve) => {
    child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfig, FORCE_COLOR: '0', NO_COLOR: '1' }, maxBuffer: 16 * 1024 * 1024 },
      (error) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout: out, stderr: err });
      },
    );
    child.stdout!.on('data', (chunk: Buffer | string) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer | string) => (err += chunk.toString()));
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
  return { child, stdout: () => out, exited };
}

/** Runs `mk ARGS` to completion. */
function mk(args: string[], stdin?: string): Promise<MkResult> {
  return startMk(args, stdin).exited;
}

/** The cells of each non-empty line of a table, split on runs of spaces. */
function rows(text: string): string[][] {
  return text.split('\n').filter((l) => l.trim()).map((l) => l.trim().split(/\s+/));
}

/** Writes `text` to a file in the scratch dir and returns its path. */
function writeFile(name: string, text: string): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, text);
  return file;
}

async function getPod(namespace: string, name: string): Promise<{ status: number; body: any }> {
  return ts.api('GET', pathOf(kind('pods'), namespace, name));
}

beforeAll(async () => {
  // No scheduler: manifests/ holds a Ready node that no agent runs, and a pod bound to it would
  // stay Terminating once deleted (with `mk delete` waiting for it). What mk prints, not where
  // pods land, is under test here.
  ts = await startTestServer({ disableScheduler: true, disableControllers: ['all'] });
  kubeconfig = path.join(ts.dataDir, 'kubeconfig.yaml');
  scratch = tempDir('mk-cli-');
});

afterAll(async () => {
  await ts?.destroy();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe('mk apply', () => {
  const podYaml = fs.readFileSync(path.join(ROOT, 'manifests', 'pod.yaml'), 'utf8');

  test('creates, leaves unchanged, then configures, pruning a removed label', async () => {
    const first = await mk(['apply', '-f', 'manifests/pod.yaml']);
    expect(first).toEqual({ code: 0, stdout: 'pod/web created\n', stderr: '' });
    const created = await getPod('default', 'web');
    expect(created.status).toBe(200);
    expect(created.body.metadata.labels).toEqual({ app: 'web' });
    expect(created.body.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('"name":"web"');

    const again = await mk(['apply', '-f', 'manifests/pod.yaml', '--kubeconfig', kubeconfig]);
    expect(again).toEqual({ code: 0, stdout: 'pod/web unchanged\n', stderr: '' });
    expect((await getPod('default', 'web')).body.metadata.resourceVersion).toBe(created.body.metadata.resourceVersion);

    const v1 = writeFile('pod-v1.yaml', podYaml.replace('    app: web\n', '    app: web\n    tier: frontend\n    version: v1\n'));
    expect(await mk(['apply', '-f', v1])).toEqual({ code: 0, stdout: 'pod/web configured\n', stderr: '' });
    expect((await getPod('default', 'web')).body.metadata.labels).toEqual({ app: 'web', tier: 'frontend', version: 'v1' });

    // A label someone else set is not the manifest's to remove.
    const patched = await ts.api('PATCH', pathOf(kind('pods'), 'default', 'web'), { metadata: { labels: { owner: 'ops' } } }, {
      'Content-Type': 'application/merge-patch+json',
    });
    expect(patched.status).toBe(200);

    // v2 changes `version` and drops `tier`, which the last apply set.
    const v2 = writeFile('pod-v2.yaml', podYaml.replace('    app: web\n', '    app: web\n    version: v2\n'));
    expect(await mk(['apply', '-f', v2])).toEqual({ code: 0, stdout: 'pod/web configured\n', stderr: '' });
    const after = (await getPod('default', 'web')).body;
    expect(after.metadata.labels).toEqual({ app: 'web', version: 'v2', owner: 'ops' });
    expect(after.metadata.uid).toBe(created.body.metadata.uid);
  });

  test('a directory applies every object in it, one per kind mk serves', async () => {
    const dir = path.join(ROOT, 'manifests');
    const expected: Array<{ line: string; path: string }> = [];
    const kinds = new Set<string>();
    for (const file of fs.readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()) {
      for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
        const obj = doc.toJS();
        if (!obj) continue;
        const rt = lookupKind(obj.apiVersion, obj.kind);
        if (!rt) throw new Error(`${file}: mk does not serve ${obj.apiVersion} ${obj.kind}`);
        kinds.add(`${apiVersionOf(rt)}/${rt.kind}`);
        const kindName = rt.group ? `${rt.kind.toLowerCase()}.${rt.group}` : rt.kind.toLowerCase();
        // pod/web is there already, with the labels of pod-v2.yaml: the gallery's version puts them back.
        const action = `${kindName}/${obj.metadata.name}` === 'pod/web' ? 'configured' : 'created';
        expected.push({ line: `${kindName}/${obj.metadata.name} ${action}`, path: pathOf(rt, rt.namespaced ? 'default' : undefined, obj.metadata.name) });
      }
    }
    // manifests/ is the gallery of every kind: a kind added to the registry needs an example there.
    expect([...kinds].sort()).toEqual(resourceTypes.map((rt) => `${apiVersionOf(rt)}/${rt.kind}`).sort());

    const res = await mk(['apply', '-f', 'manifests/']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.trim().split('\n')).toEqual(expected.map((e) => e.line));
    const statuses = await Promise.all(expected.map(async (e) => [e.path, (await ts.api('GET', e.path)).status]));
    expect(statuses).toEqual(expected.map((e) => [e.path, 200]));
    expect((await getPod('default', 'web')).body.metadata.labels).toEqual({ app: 'web', owner: 'ops' });
  });

  test('stdin with a multi-document YAML', async () => {
    const docs = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-stdin' }, data: { a: '1' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'stdin-svc' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } },
      podManifest('stdin-pod'),
    ];
    const text = docs.map((d) => YAML.stringify(d)).join('---\n');
    const res = await mk(['apply', '-f', '-'], text);
    expect(res).toEqual({ code: 0, stdout: 'configmap/from-stdin created\nservice/stdin-svc created\npod/stdin-pod created\n', stderr: '' });
    const [cm, svc, pod] = await Promise.all([
      ts.api('GET', pathOf(kind('configmaps'), 'default', 'from-stdin')),
      ts.api('GET', pathOf(kind('services'), 'default', 'stdin-svc')),
      getPod('default', 'stdin-pod'),
    ]);
    expect(cm.body.data).toEqual({ a: '1' });
    expect(svc.body.spec.ports[0].port).toBe(80);
    expect(pod.status).toBe(200);
  });
});

describe('mk get', () => {
  const POD_HEADER = ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'];

  beforeAll(async () => {
    await create(ts, kind('pods'), 'kube-system', podManifest('system-pod'));
  });

  test('tables, output formats, namespaces and selectors', async () => {
    const [pods, poSvc, yaml, json, name, wide, system, all, selected, none, deploy, ns] = await Promise.all([
      mk(['get', 'pods']),
      mk(['get', 'po,svc']),
      mk(['get', 'pod', 'web', '-o', 'yaml']),
      mk(['get', 'pods', '-o', 'json']),
      mk(['get', 'pod', 'web', '-o', 'name']),
      mk(['get', 'pods', '-o', 'wide']),
      mk(['get', 'pods', '-n', 'kube-system']),
      mk(['get', 'pods', '-A']),
      mk(['get', 'pods', '-l', 'app=web']),
      mk(['get', 'pods', '-l', 'app=nothing-has-this']),
      mk(['get', 'deploy']),
      mk(['get', 'ns']),
    ]);

    expect(pods.code).toBe(0);
    const table = rows(pods.stdout);
    expect(table[0]).toEqual(POD_HEADER);
    expect(table.slice(1).map((r) => r.slice(0, 4))).toEqual([
      ['stdin-pod', '0/1', 'Pending', '0'],
      ['web', '0/1', 'Pending', '0'],
    ]);
    expect(table[2][4]).toMatch(/^\d+s$/);

    // Several kinds: each table's names carry their kind, tables separated by a blank line.
    expect(poSvc.code).toBe(0);
    const [podBlock, svcBlock] = poSvc.stdout.trim().split('\n\n');
    expect(rows(podBlock).map((r) => r[0])).toEqual(['NAME', 'pod/stdin-pod', 'pod/web']);
    expect(rows(svcBlock)[0].slice(0, 2)).toEqual(['NAME', 'TYPE']);
    expect(rows(svcBlock).slice(1).map((r) => r[0])).toEqual(['service/kubernetes', 'service/stdin-svc', 'service/web']);

    expect(yaml.code).toBe(0);
    const obj = YAML.parse(yaml.stdout);
    expect(obj).toMatchObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' } });
    expect(obj.metadata.resourceVersion).toBe((await getPod('default', 'web')).body.metadata.resourceVersion);

    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout);
    expect(list.kind).toBe('List');
    expect(list.items.map((i: any) => [i.kind, i.metadata.name])).toEqual([['Pod', 'stdin-pod'], ['Pod', 'web']]);

    expect(name).toEqual({ code: 0, stdout: 'pod/web\n', stderr: '' });

    expect(wide.code).toBe(0);
    const wideRows = rows(wide.stdout);
    expect(wideRows[0].slice(0, 7)).toEqual([...POD_HEADER, 'IP', 'NODE']);
    expect(wideRows.find((r) => r[0] === 'web')!.slice(5, 7)).toEqual(['<none>', '<none>']);

    expect(system.code).toBe(0);
    expect(rows(system.stdout).map((r) => r[0])).toEqual(['NAME', 'system-pod']);

    expect(all.code).toBe(0);
    const allRows = rows(all.stdout);
    expect(allRows[0]).toEqual(['NAMESPACE', ...POD_HEADER]);
    expect(allRows.slice(1).map((r) => `${r[0]}/${r[1]}`)).toEqual(
      expect.arrayContaining(['default/web', 'default/stdin-pod', 'kube-system/system-pod']),
    );

    expect(rows(selected.stdout).map((r) => r[0])).toEqual(['NAME', 'web']);
    expect(none).toEqual({ code: 0, stdout: '', stderr: 'No resources found in default namespace.\n' });

    expect(deploy.code).toBe(0);
    expect(rows(deploy.stdout)).toEqual([
      ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'],
      ['web', '0/3', '0', '0', expect.stringMatching(/^\d+s$/)],
    ]);

    expect(ns.code).toBe(0);
    const nsRows = rows(ns.stdout);
    expect(nsRows[0]).toEqual(['NAME', 'STATUS', 'AGE']);
    const nsNames = nsRows.slice(1).map((r) => r[0]);
    expect(nsNames).toEqual(expect.arrayContaining(['default', 'demo', 'kube-node-lease', 'kube-public', 'kube-system']));
    expect(nsRows.slice(1).every((r) => r[1] === 'Active')).toBe(true);
  });

  test('-w prints a row for a pod created while it watches', async () => {
    const watch = startMk(['get', 'pods', '-w']);
    try {
      await eventually(() => expect(watch.stdout()).toMatch(/^web\s/m), 30_000);
      await create(ts, kind('pods'), 'default', podManifest('watched'));
      await eventually(() => expect(watch.stdout()).toMatch(/^watched\s+0\/1\s+Pending\s/m));
      watch.child.kill('SIGINT');
      const done = await watch.exited;
      expect(done.code).toBe(0);
      expect(done.stderr).toBe('');
    } finally {
      watch.child.kill('SIGKILL');
    }
  });
});

describe('mk describe', () => {
  test('shows the pod, and the events about it once there are some', async () => {
    const before = await mk(['describe', 'pod', 'web']);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/^Name:\s+web$/m);
    expect(before.stdout).toMatch(/^Namespace:\s+default$/m);
    expect(before.stdout).toMatch(/^Containers:\n {2}web:\n {4}Image:\s+busybox:latest$/m);
    expect(before.stdout).toMatch(/^Events:\s+<none>$/m);

    const pod = (await getPod('default', 'web')).body;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await create(ts, kind('events'), 'default', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'web.cli-test' },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'web', uid: pod.metadata.uid },
      reason: 'Scheduled',
      message: 'Successfully assigned default/web to node-cli',
      type: 'Normal',
      source: { component: 'default-scheduler' },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });

    const after = await mk(['describe', 'pod', 'web']);
    expect(after.code).toBe(0);
    const events = after.stdout.slice(after.stdout.indexOf('\nEvents:'));
    expect(rows(events)[1]).toEqual(['Type', 'Reason', 'Age', 'From', 'Message']);
    expect(events).toMatch(/^\s+Normal\s+Scheduled\s+\d+s\s+default-scheduler\s+Successfully assigned default\/web to node-cli$/m);
  });
});

describe('mk delete', () => {
  test('by name, by file and by label selector', async () => {
    const file = writeFile('doomed.yaml', YAML.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'doomed' }, data: { x: 'y' } }));
    await create(ts, kind('configmaps'), 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'doomed' } });
    await Promise.all(
      [['x-1', 'x'], ['x-2', 'x'], ['y-1', 'y']].map(([name, app]) => create(ts, kind('pods'), 'default', podManifest(name, { metadata: { labels: { app } } }))),
    );

    const [byName, byFile, bySelector] = await Promise.all([
      mk(['delete', 'pod', 'web']),
      mk(['delete', '-f', file]),
      mk(['delete', 'pods', '-l', 'app=x']),
    ]);
    expect(byName).toEqual({ code: 0, stdout: 'pod "web" deleted\n', stderr: '' });
    expect(byFile).toEqual({ code: 0, stdout: 'configmap "doomed" deleted\n', stderr: '' });
    expect(bySelector.code).toBe(0);
    expect(bySelector.stdout.split('\n').filter(Boolean).sort()).toEqual(['pod "x-1" deleted', 'pod "x-2" deleted']);

    expect((await getPod('default', 'web')).status).toBe(404);
    expect((await ts.api('GET', pathOf(kind('configmaps'), 'default', 'doomed'))).status).toBe(404);
    const left = await ts.api('GET', `${pathOf(kind('pods'), 'default')}?labelSelector=app+in+(x,y)`);
    expect(left.body.items.map((p: any) => p.metadata.name)).toEqual(['y-1']);
  });
});

describe('mk errors: one line on stderr, exit 1', () => {
  /** A port nothing listens on: bound, then released. */
  async function closedPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  test('not found, unknown kind, malformed manifest, invalid name, server not running', async () => {
    const malformed = writeFile('malformed.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: broken\n  labels: [\n');
    const badName = writeFile('bad-name.yaml', YAML.stringify(podManifest('Bad_Name')));
    const port = await closedPort();
    const deadConfig = writeFile(
      'dead-kubeconfig.yaml',
      fs.readFileSync(kubeconfig, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${port}`),
    );
    expect(fs.readFileSync(deadConfig, 'utf8')).toContain(`127.0.0.1:${port}`);

    const [notFound, unknownKind, parseError, invalid, refused] = await Promise.all([
      mk(['get', 'pod', 'nope']),
      mk(['get', 'foos']),
      mk(['apply', '-f', malformed]),
      mk(['apply', '-f', badName]),
      mk(['get', 'pods', '--kubeconfig', deadConfig]),
    ]);

    expect(notFound).toEqual({ code: 1, stdout: '', stderr: 'Error from server (NotFound): pods "nope" not found\n' });
    expect(unknownKind).toEqual({ code: 1, stdout: '', stderr: 'error: the server doesn\'t have a resource type "foos"\n' });

    expect(parseError.code).toBe(1);
    expect(parseError.stdout).toBe('');
    expect(parseError.stderr).toMatch(new RegExp(`^error: error parsing ${malformed.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: [^\n]+\n$`));

    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toBe('');
    expect(invalid.stderr).toMatch(/^The Pod "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": [^\n]+\n$/);
    expect((await getPod('default', 'Bad_Name')).status).toBe(404);

    expect(refused).toEqual({
      code: 1,
      stdout: '',
      stderr: `The connection to the server 127.0.0.1:${port} was refused - did you specify the right host or port?\n`,
    });

    // None of this hurt the server.
    expect((await ts.api('GET', '/readyz')).status).toBe(200);
    expect(await mk(['get', 'pod', 'stdin-pod', '-o', 'name'])).toEqual({ code: 0, stdout: 'pod/stdin-pod\n', stderr: '' });
  });
});
