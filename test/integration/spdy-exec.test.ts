import { AgentServer } from '../../src/agent/server';
import { badRequest, notFound } from '../../src/apiserver/errors';
import { podManifest, startTestServer, type TestServer } from '../helpers';
import { notUsed, ScriptedRuntime } from '../scripted-runtime';
import { spdyUpgrade, type ClientStream, type RefusedUpgrade, type SpdyConnection } from '../spdy-client';
import { API_ONLY, create, createNodeAt, kind, pathOf } from './fixtures';

/**
 * pods/exec over SPDY/3.1, the way kubectl before 1.30 runs it: a real API
 * server, a real AgentServer on port 0 that a Node points at, and a
 * scripted runtime behind it (what a command prints, reads and exits
 * with). The client is a SPDY client of the test's own, to reach every
 * protocol version (v4 ... v1) and the resize stream; the kubectl
 * compatibility suite runs real kubectl 1.27 and 1.20 through the same path.
 */

jest.setTimeout(30_000);

const PODS = kind('pods');

let ts: TestServer;
let agent: AgentServer;
let runtime: ScriptedRuntime;

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
  runtime = new ScriptedRuntime();
  agent = new AgentServer({
    runtime,
    token: ts.token,
    resolveContainer: async (namespace, pod, container) => {
      if (namespace !== 'default' || pod !== 'web') throw notFound({ group: '', plural: 'pods', kind: 'Pod' }, pod);
      if (container !== 'main') throw badRequest(`container "${container}" in pod "${pod}" is not available`);
      return 'c-web';
    },
    resolveSandbox: notUsed,
  });
  const agentPort = await agent.listen(0, '127.0.0.1');
  await createNodeAt(ts, 'node-1', agentPort);
  await create(ts, PODS, 'default', podManifest('web', { spec: { nodeName: 'node-1' } }));
});

afterAll(async () => {
  await agent?.close();
  await ts?.destroy();
});

const execPath = (command: string[], flags: string[], pod = 'web') =>
  `${pathOf(PODS, 'default', pod, 'exec')}?${[...command.map((c) => `command=${encodeURIComponent(c)}`), ...flags.map((f) => `${f}=true`)].join('&')}`;

async function connect(command: string[], flags: string[], protocols: string[]): Promise<SpdyConnection> {
  const conn = await spdyUpgrade(ts, execPath(command, flags), protocols);
  if ('status' in conn) throw new Error(`upgrade refused: ${conn.status} ${conn.body}`);
  return conn;
}

/** Opens the streams kubectl opens, error first, each once the previous one is answered (as spdystream's CreateStream waits). */
async function open(conn: SpdyConnection, types: string[]): Promise<Record<string, ClientStream>> {
  const out: Record<string, ClientStream> = {};
  for (const type of types) {
    out[type] = await conn.openStream({ streamType: type });
    await out[type]!.replied;
  }
  return out;
}

const text = (s: ClientStream | undefined) => s!.received().toString('utf8');

test('v4: stdout, stderr, and the exit code as a Status on the error stream; then every stream ends and the session goes away', async () => {
  const conn = await connect(['sh', '-c', 'echo out; echo err >&2; exit 3'], ['stdout', 'stderr'], ['v4.channel.k8s.io', 'v3.channel.k8s.io']);
  expect(conn.protocol).toBe('v4.channel.k8s.io');
  const s = await open(conn, ['error', 'stdout', 'stderr']);
  expect(await Promise.all([s.error!.closed, s.stdout!.closed, s.stderr!.closed])).toEqual(['fin', 'fin', 'fin']);
  expect(text(s.stdout)).toBe('out\n');
  expect(text(s.stderr)).toBe('err\n');
  expect(JSON.parse(text(s.error))).toEqual({
    metadata: {},
    status: 'Failure',
    message: 'command terminated with non-zero exit code: error executing command [sh -c echo out; echo err >&2; exit 3], exit code 3',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
  await conn.goneAway;
  await conn.socketClosed;
});

test('v4: stdin reaches the command and its end (FIN) ends it; success is a Status too', async () => {
  const conn = await connect(['cat'], ['stdin', 'stdout', 'stderr'], ['v4.channel.k8s.io']);
  const s = await open(conn, ['error', 'stdin', 'stdout', 'stderr']);
  s.stdin!.write('hello ');
  s.stdin!.write('over spdy\n');
  s.stdin!.end();
  await s.error!.closed;
  expect(text(s.stdout)).toBe('hello over spdy\n');
  expect(JSON.parse(text(s.error))).toEqual({ metadata: {}, status: 'Success' });
  expect(runtime.execs.at(-1)).toEqual({ containerId: 'c-web', command: ['cat'], opts: { stdin: true, stdout: true, stderr: true, tty: false } });
  await conn.socketClosed;
});

test('stdin sent before the last stream opens is kept for the command', async () => {
  const conn = await connect(['cat'], ['stdin', 'stdout'], ['v4.channel.k8s.io']);
  const s = await open(conn, ['error', 'stdin']);
  s.stdin!.write('early bytes\n');
  s.stdin!.end();
  Object.assign(s, await open(conn, ['stdout']));
  await s.error!.closed;
  expect(text(s.stdout)).toBe('early bytes\n');
  expect(JSON.parse(text(s.error))).toEqual({ metadata: {}, status: 'Success' });
});

test('v3: a tty has no stderr stream, and the resize stream carries the terminal size', async () => {
  // kubectl asks for stderr with a tty too; a terminal has one output stream, so it opens none.
  const conn = await connect(['stty', 'size'], ['stdin', 'stdout', 'stderr', 'tty'], ['v3.channel.k8s.io', 'v2.channel.k8s.io']);
  expect(conn.protocol).toBe('v3.channel.k8s.io');
  const s = await open(conn, ['error', 'stdin', 'stdout', 'resize']);
  // Split mid-object, as a stream may deliver it.
  s.resize!.write('{"Width":132,');
  s.resize!.write('"Height":43}\n');
  await s.stdout!.closed;
  expect(text(s.stdout)).toBe('43 132\r\n');
  await s.error!.closed;
  // v3 reports only failures, as text.
  expect(text(s.error)).toBe('');
  expect(runtime.execs.at(-1)!.opts).toEqual({ stdin: true, stdout: true, stderr: false, tty: true });
});

test('v2: a failure is its message as text; a command that cannot start is an internal error', async () => {
  let conn = await connect(['sh', '-c', 'exit 7'], ['stdout', 'stderr'], ['v2.channel.k8s.io']);
  let s = await open(conn, ['error', 'stdout', 'stderr']);
  await s.error!.closed;
  expect(text(s.error)).toBe('command terminated with non-zero exit code: error executing command [sh -c exit 7], exit code 7');

  conn = await connect(['nope'], ['stdout'], ['v2.channel.k8s.io']);
  s = await open(conn, ['error', 'stdout']);
  await s.error!.closed;
  expect(text(s.error)).toBe('Internal error occurred: error executing command in container: OCI runtime exec failed: exec: "nope": executable file not found in $PATH');
});

test('v1 (a client that names no protocol): the server closes its side of stdin at once and resets the error stream at the end', async () => {
  const conn = await connect(['cat'], ['stdin', 'stdout'], []);
  expect(conn.protocol).toBeUndefined();
  const s = await open(conn, ['error', 'stdin', 'stdout']);
  // Before the client has sent anything: the 1.0 kubelet's Close() on stdin.
  expect(await s.stdin!.closed).toBe('fin');
  s.stdin!.write('still read\n');
  s.stdin!.end();
  expect(await s.error!.closed).toBe('reset');
  expect(text(s.stdout)).toBe('still read\n');
  expect(text(s.error)).toBe('');

  const failed = await connect(['sh', '-c', 'echo one; exit 2'], ['stdout'], ['channel.k8s.io']);
  expect(failed.protocol).toBe('channel.k8s.io');
  const f = await open(failed, ['error', 'stdout']);
  expect(await f.error!.closed).toBe('reset');
  expect(text(f.error)).toBe('command terminated with non-zero exit code: error executing command [sh -c echo one; exit 2], exit code 2');
  expect(text(f.stdout)).toBe('one\n');
});

test('an agent that refuses the exec: its Status message on the error stream, then the session ends', async () => {
  // The API server knows the pod; the agent does not (its container is gone), and answers the upgrade with a 404.
  await create(ts, PODS, 'default', podManifest('ghost', { spec: { nodeName: 'node-1' } }));
  const conn = await spdyUpgrade(ts, execPath(['cat'], ['stdout'], 'ghost'), ['v4.channel.k8s.io']);
  if ('status' in conn) throw new Error(`upgrade refused: ${conn.status} ${conn.body}`);
  const s = await open(conn, ['error', 'stdout']);
  expect(await s.error!.closed).toBe('fin');
  expect(JSON.parse(text(s.error))).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500, message: 'Internal error occurred: pods "ghost" not found' });
  await conn.socketClosed;
});

test('refusals come before the upgrade, as Status bodies', async () => {
  const refused = (r: SpdyConnection | RefusedUpgrade) => {
    if (!('status' in r)) throw new Error('upgraded');
    return { status: r.status, body: JSON.parse(r.body) };
  };
  expect(refused(await spdyUpgrade(ts, execPath(['cat'], ['stdout']), ['v9.channel.k8s.io', 'v1.bogus']))).toMatchObject({
    status: 403,
    body: { reason: 'Forbidden', message: expect.stringContaining('unable to upgrade: unable to negotiate protocol: client supports [v9.channel.k8s.io v1.bogus], server accepts [v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io channel.k8s.io]') },
  });
  expect(refused(await spdyUpgrade(ts, execPath(['cat'], ['stdout'], 'nobody'), ['v4.channel.k8s.io']))).toMatchObject({
    status: 404,
    body: { reason: 'NotFound', message: 'pods "nobody" not found' },
  });
  expect(refused(await spdyUpgrade(ts, `${execPath(['cat'], ['stdout'])}&container=sidecar`, ['v4.channel.k8s.io']))).toMatchObject({
    status: 400,
    body: { message: 'container sidecar is not valid for pod web' },
  });
  expect(refused(await spdyUpgrade(ts, execPath(['cat'], ['tty']), ['v4.channel.k8s.io']))).toMatchObject({
    status: 400,
    body: { message: 'you must specify at least 1 of stdin, stdout, stderr' },
  });
  expect(refused(await spdyUpgrade(ts, `${pathOf(PODS, 'default', 'web', 'attach')}?stdout=true`, ['v4.channel.k8s.io']))).toMatchObject({
    status: 404,
    body: { reason: 'NotFound', message: expect.stringContaining('mk does not serve pods/attach') },
  });
});
