import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { WebSocket } from 'ws';
import { AgentServer } from '../../src/agent/server';
import { badRequest, notFound } from '../../src/apiserver/errors';
import { ApiClient, ApiStatusError, type ApiClientOptions } from '../../src/client/api-client';
import { execInPod, type ExecTarget } from '../../src/client/exec';
import { eventually, httpsRequest, podManifest, startTestServer, type TestServer } from '../helpers';
import { kubectlMinor } from '../kubectl-env';
import { notUsed, ScriptedRuntime, type LogLine } from '../scripted-runtime';
import { API_ONLY, create, createNodeAt, expectStatus, kind, pathOf } from './fixtures';

/**
 * pods/log and pods/exec end to end: a real API server, a real AgentServer
 * on port 0 that a Node object points at, and a scripted ContainerRuntime
 * behind the agent (the process boundary: what a container prints and
 * exits with). Clients: raw HTTP and WebSocket, mk's exec client, the mk
 * binary (dist/ must be current: `npx tsc -p .`), and real kubectl when one
 * is on PATH.
 */

jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'run.js');
const PODS = kind('pods');

// ---------------------------------------------------------------------------
// The cluster: a server, a node whose status points at the agent, pods
// ---------------------------------------------------------------------------

let ts: TestServer;
let runtime: ScriptedRuntime;
let agent: AgentServer;
let agentPort: number;
let config: ApiClientOptions;
let kubeconfig: string;

/** The containers the agent knows: `ns/pod/container` (and `.../previous`) to a runtime id. */
const containers: Record<string, string> = {
  'default/web/main': 'c-web',
  'default/web/main/previous': 'c-web-0',
  'default/duo/a': 'c-duo-a',
  'default/duo/b': 'c-duo-b',
};

async function resolveContainer(namespace: string, pod: string, container: string | undefined, previous: boolean): Promise<string> {
  if (!Object.keys(containers).some((k) => k.startsWith(`${namespace}/${pod}/`))) {
    throw notFound({ group: '', plural: 'pods', kind: 'Pod' }, pod);
  }
  if (!container) throw badRequest(`a container name must be specified for pod ${pod}`);
  const id = containers[`${namespace}/${pod}/${container}${previous ? '/previous' : ''}`];
  if (id) return id;
  if (previous) throw badRequest(`previous terminated container "${container}" in pod "${pod}" not found`);
  throw badRequest(`container "${container}" in pod "${pod}" is not available`);
}

/** A one-container pod on node-1 with its own log, for tests that append to it. */
async function podWithLog(name: string, lines: string[]): Promise<string> {
  const id = `c-${name}`;
  containers[`default/${name}/main`] = id;
  runtime.setLogs(id, lines.map((text) => line(1, text)));
  await create(ts, PODS, 'default', podManifest(name, { spec: { nodeName: 'node-1' } }));
  return id;
}

const t0 = Date.now() - 3600_000;
const line = (minutesAgo: number, text: string): LogLine => ({ time: new Date(Date.now() - minutesAgo * 60_000), text });

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
  kubeconfig = path.join(ts.dataDir, 'kubeconfig.yaml');
  config = { server: ts.url, token: ts.token, caData: ts.server.caPem };
  runtime = new ScriptedRuntime();
  runtime.setLogs('c-web', [line(50, 'starting'), line(40, 'listening on :8080'), line(1, 'GET / 200')]);
  runtime.setLogs('c-web-0', [{ time: new Date(t0), text: 'panic: the previous run crashed' }]);
  runtime.setLogs('c-duo-a', [line(1, 'from a')]);
  runtime.setLogs('c-duo-b', [line(1, 'from b')]);
  agent = new AgentServer({ runtime, token: ts.token, resolveContainer, resolveSandbox: notUsed });
  agentPort = await agent.listen(0, '127.0.0.1');

  await createNodeAt(ts, 'node-1', agentPort);

  const bound = { spec: { nodeName: 'node-1' } };
  await create(ts, PODS, 'default', podManifest('web', bound));
  await create(ts, PODS, 'default', podManifest('ghost', bound));
  await create(ts, PODS, 'default', podManifest('pending'));
  await create(ts, PODS, 'default', podManifest('duo', {
    spec: {
      nodeName: 'node-1',
      initContainers: [{ name: 'setup', image: 'busybox:1.36', command: ['true'] }],
      containers: [
        { name: 'a', image: 'busybox:1.36', command: ['sleep', '3600'] },
        { name: 'b', image: 'busybox:1.36', command: ['sleep', '3600'] },
      ],
    },
  }));
});

afterAll(async () => {
  await agent?.close();
  await ts?.destroy();
});

const logPath = (pod: string, query = '') => `${pathOf(PODS, 'default', pod, 'log')}${query ? `?${query}` : ''}`;

// ---------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------

test('discovery lists pods/log and pods/exec with their verbs', async () => {
  const res = await ts.api('GET', '/api/v1');
  const byName = new Map<string, any>(res.body.resources.map((r: any) => [r.name, r]));
  expect(byName.get('pods/log')).toMatchObject({ kind: 'Pod', namespaced: true, verbs: ['get'] });
  expect(byName.get('pods/exec')).toMatchObject({ kind: 'PodExecOptions', namespaced: true, verbs: ['create', 'get'] });
});

// ---------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------

describe('pods/log', () => {
  test('returns the container log as text/plain', async () => {
    const res = await ts.api('GET', logPath('web'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.text).toBe('starting\nlistening on :8080\nGET / 200\n');
  });

  test('tailLines, sinceSeconds, timestamps and limitBytes reach the runtime', async () => {
    expect((await ts.api('GET', logPath('web', 'tailLines=2'))).text).toBe('listening on :8080\nGET / 200\n');
    expect((await ts.api('GET', logPath('web', 'tailLines=0'))).text).toBe('');
    expect((await ts.api('GET', logPath('web', 'sinceSeconds=600'))).text).toBe('GET / 200\n');
    expect((await ts.api('GET', logPath('web', 'limitBytes=5'))).text).toBe('start');
    const stamped = (await ts.api('GET', logPath('web', 'timestamps=true&tailLines=1'))).text;
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z GET \/ 200\n$/);
  });

  test('sinceTime becomes sinceSeconds', async () => {
    const since = new Date(Date.now() - 45 * 60_000).toISOString();
    expect((await ts.api('GET', logPath('web', `sinceTime=${encodeURIComponent(since)}`))).text).toBe('listening on :8080\nGET / 200\n');
  });

  test('previous=true reads the last terminated instance; none is a 400 from the agent, passed through', async () => {
    expect((await ts.api('GET', logPath('web', 'previous=true'))).text).toBe('panic: the previous run crashed\n');
    const none = await ts.api('GET', logPath('duo', 'container=a&previous=true'));
    expectStatus(none, 400, 'BadRequest');
    expect(none.body.message).toBe('previous terminated container "a" in pod "duo" not found');
  });

  test('a pod with several containers needs container=, as Kubernetes says', async () => {
    const res = await ts.api('GET', logPath('duo'));
    expectStatus(res, 400, 'BadRequest');
    expect(res.body.message).toBe('a container name must be specified for pod duo, choose one of: [setup a b]');
    expect((await ts.api('GET', logPath('duo', 'container=b'))).text).toBe('from b\n');
    const unknown = await ts.api('GET', logPath('web', 'container=nope'));
    expectStatus(unknown, 400, 'BadRequest');
    expect(unknown.body.message).toBe('container nope is not valid for pod web');
  });

  test('follow streams lines appended later, and ends the agent stream when the client goes away', async () => {
    const id = await podWithLog('chatty', ['one', 'two']);
    const res = await httpsRequest(ts.agent, 'GET', ts.url + logPath('chatty', 'follow=true&tailLines=1'), { Authorization: `Bearer ${ts.token}` });
    expect(res.statusCode).toBe(200);
    let got = '';
    res.on('data', (c: Buffer) => (got += c.toString()));
    await eventually(() => expect(got).toBe('two\n'));
    runtime.append(id, 'three');
    await eventually(() => expect(got).toBe('two\nthree\n'));
    expect(runtime.followers.get(id)!.size).toBe(1);
    res.destroy();
    await eventually(() => expect(runtime.followers.get(id)!.size).toBe(0));
  });

  test('ApiClient.logs streams the body and throws the Status of a failure', async () => {
    const client = new ApiClient(config);
    try {
      const body = await client.logs('default', 'duo', { container: 'a' });
      let text = '';
      for await (const c of body) text += c.toString();
      expect(text).toBe('from a\n');
      await expect(client.logs('default', 'nope')).rejects.toMatchObject({ code: 404, message: 'pods "nope" not found' });
    } finally {
      client.close();
    }
  });

  test('errors: missing pod 404, unbound pod 400, bad parameters 400/422, unknown pod on the agent passed through', async () => {
    const missing = await ts.api('GET', logPath('nope'));
    expectStatus(missing, 404, 'NotFound');
    expect(missing.body.message).toBe('pods "nope" not found');

    const unbound = await ts.api('GET', logPath('pending'));
    expectStatus(unbound, 400, 'BadRequest');
    expect(unbound.body.message).toBe('pod pending does not have a host assigned');

    expectStatus(await ts.api('GET', logPath('web', 'tailLines=abc')), 400, 'BadRequest');
    const negative = await ts.api('GET', logPath('web', 'tailLines=-1'));
    expectStatus(negative, 422, 'Invalid');
    expect(negative.body.message).toBe('PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0');
    expectStatus(await ts.api('GET', logPath('web', 'sinceSeconds=0')), 422, 'Invalid');
    expectStatus(await ts.api('GET', logPath('web', 'limitBytes=0')), 422, 'Invalid');

    // The API server knows the pod; the agent does not: its 404 comes through as is.
    const ghost = await ts.api('GET', logPath('ghost'));
    expectStatus(ghost, 404, 'NotFound');
    expect(ghost.body.message).toBe('pods "ghost" not found');

    expect((await ts.api('POST', logPath('web'), {})).status).toBe(405);
  });

  test('a node whose agent does not answer is a 500 naming the backend', async () => {
    await createNodeAt(ts, 'node-dead', await closedPort());
    await create(ts, PODS, 'default', podManifest('orphan', { spec: { nodeName: 'node-dead' } }));
    const res = await ts.api('GET', logPath('orphan'));
    expectStatus(res, 500, 'InternalError');
    expect(res.body.message).toMatch(/^error dialing backend: .*ECONNREFUSED/);
  });
});

// ---------------------------------------------------------------------------
// Exec
// ---------------------------------------------------------------------------

/** A writable that keeps what it is given. */
function sink(): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  }) as Writable & { text(): string };
  w.text = () => Buffer.concat(chunks).toString('utf8');
  return w;
}

async function run(target: Partial<ExecTarget> & { command: string[] }, stdin?: Readable, protocols?: string[]) {
  const stdout = sink();
  const stderr = sink();
  const exitCode = await execInPod(config, { namespace: 'default', pod: 'web', ...target }, { stdin, stdout, stderr }, { protocols });
  return { exitCode, stdout: stdout.text(), stderr: stderr.text() };
}

/** Every message of a raw WebSocket session with the API server, and how it closed. */
async function rawExec(query: string, protocols: string[], pod = 'web'): Promise<{ protocol: string; messages: Buffer[]; code: number }> {
  const ws = new WebSocket(`${ts.url.replace('https', 'wss')}${pathOf(PODS, 'default', pod, 'exec')}?${query}`, protocols, {
    headers: { Authorization: `Bearer ${ts.token}` },
    ca: ts.server.caPem,
  });
  const messages: Buffer[] = [];
  ws.on('message', (data) => messages.push(Buffer.from(data as Buffer)));
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('close', (code) => resolve({ protocol: ws.protocol, messages, code }));
  });
}

describe('pods/exec', () => {
  test('runs a command: stdout, exit code 0, v5 negotiated', async () => {
    expect(await run({ command: ['echo', 'hello', 'world'] })).toEqual({ exitCode: 0, stdout: 'hello world\n', stderr: '' });
    const last = runtime.execs[runtime.execs.length - 1]!;
    expect(last).toEqual({ containerId: 'c-web', command: ['echo', 'hello', 'world'], opts: { stdin: false, stdout: true, stderr: true, tty: false } });
  });

  test('keeps stdout and stderr apart and reports a non-zero exit code', async () => {
    expect(await run({ command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] })).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  test('the wire: v5 frames, the Status on channel 3, a normal close', async () => {
    const failed = await rawExec('command=sh&command=-c&command=exit%203&stdout=true&stderr=true', ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
    expect(failed.protocol).toBe('v5.channel.k8s.io');
    expect(failed.code).toBe(1000);
    // As the kubelet: first an empty stdout message, last the status.
    expect(failed.messages[0]).toEqual(Buffer.from([1]));
    const status = failed.messages[failed.messages.length - 1]!;
    expect(status[0]).toBe(3);
    expect(status.subarray(1).toString()).toBe(
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
    );

    const ok = await rawExec('command=echo&command=hi&stdout=true', ['v4.channel.k8s.io']);
    expect(ok.protocol).toBe('v4.channel.k8s.io');
    expect(ok.messages.map((m) => [m[0], m.subarray(1).toString()])).toEqual([
      [1, ''],
      [1, 'hi\n'],
      [3, '{"metadata":{},"status":"Success"}'],
    ]);

    // channel.k8s.io (v1): nothing on the error channel on success, the message as text on failure.
    const v1 = await rawExec('command=sh&command=-c&command=exit%202&stderr=true', ['channel.k8s.io']);
    expect(v1.protocol).toBe('channel.k8s.io');
    expect(v1.messages.map((m) => [m[0], m.subarray(1).toString()])).toEqual([
      [2, ''],
      [3, 'command terminated with non-zero exit code: error executing command [sh -c exit 2], exit code 2'],
    ]);
  });

  test('base64.channel.k8s.io: text frames, channel as a digit, payload base64', async () => {
    const res = await rawExec('command=echo&command=hi&stdout=true', ['v4.base64.channel.k8s.io']);
    expect(res.protocol).toBe('v4.base64.channel.k8s.io');
    expect(res.messages.map((m) => m.toString())).toEqual(['1', `1${Buffer.from('hi\n').toString('base64')}`, `3${Buffer.from('{"metadata":{},"status":"Success"}').toString('base64')}`]);
  });

  test('stdin round trip; v5 ends stdin with the CLOSE signal, so `cat` exits', async () => {
    const stdin = new PassThrough();
    const done = run({ command: ['cat'], stdin: true }, stdin);
    stdin.write('hello\n');
    stdin.end('bye\n');
    expect(await done).toEqual({ exitCode: 0, stdout: 'hello\nbye\n', stderr: '' });
  });

  test('v4 carries stdin and the exit status too', async () => {
    expect(await run({ command: ['sh', '-c', 'echo v4; exit 7'] }, undefined, ['v4.channel.k8s.io'])).toEqual({ exitCode: 7, stdout: 'v4\n', stderr: '' });
  });

  test('tty: one output stream, and resize messages reach the runtime', async () => {
    const stdout = sink();
    const stdin = new PassThrough();
    const exitCode = await execInPod(
      config,
      { namespace: 'default', pod: 'web', command: ['stty', 'size'], stdin: true, tty: true },
      { stdin, stdout, terminal: { size: () => ({ width: 132, height: 43 }), onResize: () => () => undefined } },
    );
    expect({ exitCode, out: stdout.text() }).toEqual({ exitCode: 0, out: '43 132\r\n' });
    expect(runtime.execs[runtime.execs.length - 1]!.opts).toEqual({ stdin: true, stdout: true, stderr: false, tty: true });
  });

  test('a large output arrives whole (flow control through agent and proxy)', async () => {
    const total = 8 * 1024 * 1024;
    const res = await run({ command: ['yes-bytes', String(total)] });
    expect(res.exitCode).toBe(0);
    expect(res.stdout.length).toBe(total);
  });

  test('a command the runtime cannot start is an InternalError status', async () => {
    const err = await run({ command: ['nosuchcmd'] }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiStatusError);
    expect(err.status).toMatchObject({ code: 500, reason: 'InternalError' });
    expect(err.message).toContain('executable file not found');
  });

  test('errors before the upgrade are Status answers: 404, 400s, 401', async () => {
    const fail = (target: Partial<ExecTarget> & { command: string[] }, cfg = config) =>
      execInPod(cfg, { namespace: 'default', pod: 'web', ...target }, { stdout: sink(), stderr: sink() }).then(
        () => Promise.reject(new Error('exec should have failed')),
        (e: ApiStatusError) => ({ code: e.code, reason: e.reason, message: e.message }),
      );
    expect(await fail({ pod: 'nope', command: ['echo'] })).toEqual({ code: 404, reason: 'NotFound', message: 'pods "nope" not found' });
    expect(await fail({ pod: 'pending', command: ['echo'] })).toEqual({ code: 400, reason: 'BadRequest', message: 'pod pending does not have a host assigned' });
    expect(await fail({ container: 'nope', command: ['echo'] })).toEqual({ code: 400, reason: 'BadRequest', message: 'container nope is not valid for pod web' });
    expect(await fail({ pod: 'duo', command: ['echo'] })).toEqual({
      code: 400,
      reason: 'BadRequest',
      message: 'a container name must be specified for pod duo, choose one of: [a b] or one of the init containers: [setup]',
    });
    expect(await fail({ command: [] })).toMatchObject({ code: 400, message: 'you must specify at least one command for the container' });
    expect(await fail({ pod: 'ghost', command: ['echo'] })).toEqual({ code: 404, reason: 'NotFound', message: 'pods "ghost" not found' });
    expect(await fail({ command: ['echo'] }, { ...config, token: undefined })).toEqual({ code: 401, reason: 'Unauthorized', message: 'Unauthorized' });
    expect(await fail({ command: ['echo'] }, { ...config, token: 'wrong' })).toMatchObject({ code: 401 });
  });

  test('an exec request that is not a WebSocket upgrade is a 400', async () => {
    const res = await ts.api('POST', `${pathOf(PODS, 'default', 'web', 'exec')}?command=echo&stdout=true`);
    expectStatus(res, 400, 'BadRequest');
    expect(res.body.message).toBe('Upgrade request required');
    expectStatus(await ts.api('POST', `${pathOf(PODS, 'default', 'nope', 'exec')}?command=echo&stdout=true`), 404, 'NotFound');
  });

  test('an upgrade to anything but pods/exec is refused with a Status', async () => {
    const ws = new WebSocket(`${ts.url.replace('https', 'wss')}/api/v1/namespaces/default/pods?watch=true`, {
      headers: { Authorization: `Bearer ${ts.token}` },
      ca: ts.server.caPem,
    });
    const code = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    expect(code).toBe(400);
  });
});

// ---------------------------------------------------------------------------
// The agent's own port
// ---------------------------------------------------------------------------

describe('agent server', () => {
  const agentUrl = (p: string) => `http://127.0.0.1:${agentPort}${p}`;

  function get(p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string }> {
    return new Promise((resolve, reject) => {
      http.get(agentUrl(p), { headers }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          let body: any;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode!, body, text });
        });
      }).on('error', reject);
    });
  }

  test('requires the cluster token on every request', async () => {
    expectStatus(await get('/containerLogs/default/web/main'), 401, 'Unauthorized');
    expectStatus(await get('/containerLogs/default/web/main', { Authorization: 'Bearer wrong' }), 401, 'Unauthorized');
    const ok = await get('/containerLogs/default/web/main?tailLines=1', { Authorization: `Bearer ${ts.token}` });
    expect(ok).toMatchObject({ status: 200, text: 'GET / 200\n' });

    const ws = new WebSocket(agentUrl('/exec/default/web/main?command=echo&stdout=1').replace('http', 'ws'), ['v5.channel.k8s.io']);
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    expect(status).toBe(401);
  });

  test('answers unknown paths with 404 and bad parameters with 400', async () => {
    const auth = { Authorization: `Bearer ${ts.token}` };
    expectStatus(await get('/pods', auth), 404, 'NotFound');
    expectStatus(await get('/containerLogs/default/web/main?tailLines=x', auth), 400, 'BadRequest');
    expectStatus(await get('/containerLogs/default/nope/main', auth), 404, 'NotFound');
  });

  test('refuses subprotocols it does not speak', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${agentPort}/exec/default/web/main?command=echo&stdout=1`, ['v3.channel.k8s.io'], {
      headers: { Authorization: `Bearer ${ts.token}` },
    });
    const res = await new Promise<{ code: number; text: string }>((resolve) =>
      ws.on('unexpected-response', (_req, r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c));
        r.on('end', () => resolve({ code: r.statusCode!, text }));
      }),
    );
    expect(res.code).toBe(400);
    expect(JSON.parse(res.text).message).toMatch(/^requested protocol\(s\) are not supported: \[v3.channel.k8s.io\]/);
  });
});

// ---------------------------------------------------------------------------
// The mk binary
// ---------------------------------------------------------------------------

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBinary(file: string, args: string[], stdin?: string, env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    const child = execFile(file, args, { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1', ...env } }, (error) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout: out, stderr: err });
    });
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (err += c));
    child.stdin!.end(stdin);
  });
}

const mk = (args: string[], stdin?: string) => runBinary(process.execPath, [BIN, ...args], stdin);

describe('mk logs / mk exec', () => {
  test('mk logs prints the log, with kubectl flags', async () => {
    expect(await mk(['logs', 'web'])).toEqual({ code: 0, stdout: 'starting\nlistening on :8080\nGET / 200\n', stderr: '' });
    expect(await mk(['logs', 'pod/web', '--tail', '1'])).toEqual({ code: 0, stdout: 'GET / 200\n', stderr: '' });
    expect(await mk(['logs', 'web', '--since', '10m'])).toMatchObject({ code: 0, stdout: 'GET / 200\n' });
    expect(await mk(['logs', 'web', '--previous'])).toMatchObject({ code: 0, stdout: 'panic: the previous run crashed\n' });
    expect(await mk(['logs', 'duo', '-c', 'b'])).toEqual({ code: 0, stdout: 'from b\n', stderr: '' });
  });

  test('mk logs picks the first container of several, as kubectl does, and says so', async () => {
    expect(await mk(['logs', 'duo'])).toEqual({ code: 0, stdout: 'from a\n', stderr: 'Defaulted container "a" out of: a, b, setup (init)\n' });
  });

  test('mk logs errors read like kubectl', async () => {
    expect(await mk(['logs', 'pending'])).toEqual({ code: 1, stdout: '', stderr: 'Error from server (BadRequest): pod pending does not have a host assigned\n' });
    expect(await mk(['logs', 'nope'])).toEqual({ code: 1, stdout: '', stderr: 'Error from server (NotFound): pods "nope" not found\n' });
    expect(await mk(['logs', 'web', '--previous', '-c', 'nope'])).toEqual({ code: 1, stdout: '', stderr: 'Error from server (BadRequest): container nope is not valid for pod web\n' });
  });

  test('mk logs -f keeps printing until interrupted', async () => {
    const id = await podWithLog('chatty-mk', ['first']);
    const child: ChildProcess = spawn(process.execPath, [BIN, 'logs', '-f', 'chatty-mk'], { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfig } });
    let out = '';
    child.stdout!.on('data', (c) => (out += c));
    try {
      await eventually(() => expect(out).toBe('first\n'), 20_000);
      await eventually(() => expect(runtime.followers.get(id)?.size).toBe(1));
      runtime.append(id, 'later line');
      await eventually(() => expect(out).toBe('first\nlater line\n'));
    } finally {
      child.kill('SIGINT');
    }
    await eventually(() => expect(runtime.followers.get(id)!.size).toBe(0));
  });

  test('mk exec runs the command; its exit code is mk\'s', async () => {
    expect(await mk(['exec', 'web', '--', 'echo', 'hi', 'there'])).toEqual({ code: 0, stdout: 'hi there\n', stderr: '' });
    expect(await mk(['exec', 'pod/web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'])).toEqual({
      code: 3,
      stdout: 'out\n',
      stderr: 'err\ncommand terminated with exit code 3\n',
    });
    expect(await mk(['exec', 'duo', '-c', 'b', '--', 'echo', 'b'])).toEqual({ code: 0, stdout: 'b\n', stderr: '' });
    expect(await mk(['exec', 'duo', '--', 'echo', 'a'])).toEqual({ code: 0, stdout: 'a\n', stderr: 'Defaulted container "a" out of: a, b, setup (init)\n' });
  });

  test('mk exec -i passes stdin and ends it; -t without a terminal falls back like kubectl', async () => {
    expect(await mk(['exec', '-i', 'web', '--', 'cat'], 'one\ntwo\n')).toEqual({ code: 0, stdout: 'one\ntwo\n', stderr: '' });
    expect(await mk(['exec', '-it', 'web', '--', 'cat'], 'piped\n')).toEqual({
      code: 0,
      stdout: 'piped\n',
      stderr: 'Unable to use a TTY - input is not a terminal or the right kind of file\n',
    });
  });

  test('mk exec errors read like kubectl', async () => {
    expect(await mk(['exec', 'pending', '--', 'echo'])).toEqual({ code: 1, stdout: '', stderr: 'Error from server (BadRequest): pod pending does not have a host assigned\n' });
    expect(await mk(['exec', 'web', '-c', 'nope', '--', 'echo'])).toEqual({ code: 1, stdout: '', stderr: 'Error from server (BadRequest): container nope is not valid for pod web\n' });
    expect(await mk(['exec', 'web', 'echo', 'hi'])).toMatchObject({ code: 1, stderr: 'error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead\n' });
    expect(await mk(['exec', 'web', '--'])).toMatchObject({ code: 1, stderr: 'error: you must specify at least one command for the container\n' });
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

withKubectl('real kubectl', () => {
  const kubectl = (args: string[], stdin?: string) => runBinary(kubectlPath!, ['--kubeconfig', kubeconfig, ...args], stdin);

  test('kubectl exec over WebSocket: output, exit code, stdin', async () => {
    expect(await kubectl(['exec', 'web', '--', 'echo', 'hi'])).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
    expect(await kubectl(['exec', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'])).toEqual({
      code: 3,
      stdout: 'out\n',
      stderr: 'err\ncommand terminated with exit code 3\n',
    });
    expect(await kubectl(['exec', '-i', 'web', '--', 'cat'], 'from kubectl\n')).toEqual({ code: 0, stdout: 'from kubectl\n', stderr: '' });
    expect(await kubectl(['exec', 'duo', '-c', 'b', '--', 'echo', 'b'])).toMatchObject({ code: 0, stdout: 'b\n' });
  });

  test('kubectl exec errors', async () => {
    const res = await kubectl(['exec', 'pending', '--', 'echo']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('pod pending does not have a host assigned');
  });

  test('kubectl logs', async () => {
    expect(await kubectl(['logs', 'web'])).toEqual({ code: 0, stdout: 'starting\nlistening on :8080\nGET / 200\n', stderr: '' });
    expect(await kubectl(['logs', 'web', '--tail=1'])).toEqual({ code: 0, stdout: 'GET / 200\n', stderr: '' });
    expect(await kubectl(['logs', 'web', '--previous'])).toEqual({ code: 0, stdout: 'panic: the previous run crashed\n', stderr: '' });
    if (kubectlMinor(kubectlPath!) >= 21) {
      expect(await kubectl(['logs', 'duo'])).toEqual({ code: 0, stdout: 'from a\n', stderr: 'Defaulted container "a" out of: a, b, setup (init)\n' });
    } else {
      // Before 1.21 kubectl picks no default container.
      expect(await kubectl(['logs', 'duo'])).toMatchObject({ code: 1, stderr: expect.stringContaining('a container name must be specified for pod duo') });
    }
  });

  test('kubectl logs -f follows', async () => {
    const id = await podWithLog('chatty-kubectl', ['first']);
    const child = spawn(kubectlPath!, ['--kubeconfig', kubeconfig, 'logs', '-f', 'chatty-kubectl'], { cwd: ROOT });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    try {
      await eventually(() => expect(out).toBe('first\n'), 20_000);
      await eventually(() => expect(runtime.followers.get(id)?.size).toBe(1));
      runtime.append(id, 'followed by kubectl');
      await eventually(() => expect(out).toBe('first\nfollowed by kubectl\n'));
    } finally {
      child.kill('SIGINT');
    }
    await eventually(() => expect(runtime.followers.get(id)!.size).toBe(0));
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}
