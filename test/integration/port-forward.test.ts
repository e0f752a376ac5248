import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { WebSocket, type RawData } from 'ws';
import { dialTcp } from '../../src/agent/runtime/tcp';
import { AgentServer } from '../../src/agent/server';
import { notFound } from '../../src/apiserver/errors';
import { parseListenAddresses, PortForwarder, type Listening } from '../../src/client/port-forward';
import { eventually, podManifest, startTestServer, type TestServer } from '../helpers';
import { kubectlMinor } from '../kubectl-env';
import { httpGet, kubectlBinaries, startForwarder, tcpEcho, tcpExchange } from '../port-forward-helpers';
import { API_ONLY, create, createNodeAt, expectStatus, kind, MERGE_PATCH, pathOf } from './fixtures';

/**
 * pods/portforward end to end without Docker: a real API server, a real
 * AgentServer whose runtime reaches "the pod's network namespace" as
 * loopback servers (an HTTP server for port 8080, an echo server for 7000;
 * any other port is refused), and the clients: raw WebSockets, mk's
 * PortForwarder, the mk binary (dist/ must be current: `npx tsc -p .`),
 * and real kubectl over SPDY when one is on PATH.
 */

jest.setTimeout(90_000);

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'run.js');
const PODS = kind('pods');

let ts: TestServer;
let agent: AgentServer;
let kubeconfig: string;
let httpServer: http.Server;
let echoServer: net.Server;
/** Pod port -> the loopback port that stands for it. */
const podPorts = new Map<number, number>();
let refusedPort: number;
/** The pods the agent has a sandbox for, by namespace/name: their uid. */
const sandboxes = new Map<string, string>();

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

async function runningPod(name: string, extra: Record<string, any> = {}): Promise<any> {
  const pod = await create(ts, PODS, 'default', podManifest(name, {
    metadata: { labels: { app: name } },
    spec: {
      nodeName: 'node-1',
      containers: [{
        name: 'main',
        image: 'busybox:1.36',
        ports: [
          { name: 'http', containerPort: 8080 },
          { name: 'echo', containerPort: 7000 },
          { name: 'dns', containerPort: 5353, protocol: 'UDP' },
        ],
      }],
    },
    ...extra,
  }));
  const res = await ts.api('PATCH', pathOf(PODS, 'default', name, 'status'), { status: { phase: 'Running' } }, MERGE_PATCH);
  expect(res.status).toBe(200);
  sandboxes.set(`default/${name}`, pod.metadata.uid);
  return res.body;
}

beforeAll(async () => {
  ts = await startTestServer(API_ONLY);
  kubeconfig = path.join(ts.dataDir, 'kubeconfig.yaml');

  httpServer = http.createServer((req, res) => res.end(`pod says ${req.method} ${req.url}\n`));
  echoServer = net.createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
  podPorts.set(8080, await listen(httpServer));
  podPorts.set(7000, await listen(echoServer));
  const closed = net.createServer();
  refusedPort = await listen(closed);
  await new Promise((r) => closed.close(r));

  const notUsed = async (): Promise<never> => {
    throw new Error('not used by port forwarding');
  };
  agent = new AgentServer({
    token: ts.token,
    runtime: {
      logs: notUsed,
      exec: notUsed,
      portForward: async (sandboxId, port) => {
        expect(sandboxId).toMatch(/^sandbox-/);
        return dialTcp('127.0.0.1', podPorts.get(port) ?? refusedPort);
      },
    },
    resolveContainer: notUsed,
    resolveSandbox: async (namespace, pod) => {
      const uid = sandboxes.get(`${namespace}/${pod}`);
      if (!uid) throw notFound({ group: '', plural: 'pods', kind: 'Pod' }, pod);
      return { id: `sandbox-${pod}`, uid };
    },
  });
  const agentPort = await agent.listen(0, '127.0.0.1');
  await createNodeAt(ts, 'node-1', agentPort);

  await runningPod('web');
  await create(ts, PODS, 'default', podManifest('pending'));
});

afterAll(async () => {
  await agent?.close();
  await ts?.destroy();
  httpServer?.closeAllConnections();
  await new Promise((r) => httpServer?.close(r));
  await new Promise((r) => echoServer?.close(r));
});

// ---------------------------------------------------------------------------
// The WebSocket protocol
// ---------------------------------------------------------------------------

interface RawSession {
  ws: WebSocket;
  /** Every message received, in order. */
  messages: Buffer[];
  closed: Promise<number>;
}

function openRaw(query: string, protocols: string[] = ['v4.channel.k8s.io'], pod = 'web', server: TestServer = ts): Promise<RawSession> {
  const url = `${server.url.replace(/^https/, 'wss')}${pathOf(PODS, 'default', pod, 'portforward')}?${query}`;
  const ws = new WebSocket(url, protocols, { headers: { Authorization: `Bearer ${server.token}` }, ca: server.server.caPem });
  const messages: Buffer[] = [];
  ws.on('message', (data: RawData) => messages.push(Buffer.from(data as Buffer)));
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(body), { status: res.statusCode, body: JSON.parse(body) })));
    });
    ws.once('error', reject);
  });
}

/** The bytes received on one channel, port prefix included. */
function channel(messages: Buffer[], ch: number): Buffer {
  return Buffer.concat(messages.filter((m) => m[0] === ch).map((m) => m.subarray(1)));
}

test('discovery lists pods/portforward', async () => {
  const res = await ts.api('GET', '/api/v1');
  const entry = res.body.resources.find((r: any) => r.name === 'pods/portforward');
  expect(entry).toMatchObject({ kind: 'PodPortForwardOptions', namespaced: true, verbs: ['create', 'get'] });
});

describe('the WebSocket protocol (v4.channel.k8s.io)', () => {
  test('each port gets a data and an error channel, each opened with the port in little-endian', async () => {
    const s = await openRaw('ports=8080,7000');
    expect(s.ws.protocol).toBe('v4.channel.k8s.io');
    await eventually(() => expect(s.messages.length).toBeGreaterThanOrEqual(4));
    expect(s.messages.slice(0, 4).map((m) => [...m])).toEqual([
      [0, 0x90, 0x1f],
      [1, 0x90, 0x1f],
      [2, 0x58, 0x1b],
      [3, 0x58, 0x1b],
    ]);

    // Port 7000 (channel 2) echoes; port 8080 (channel 0) answers HTTP.
    s.ws.send(Buffer.concat([Buffer.from([2]), Buffer.from('ping over the second port')]));
    s.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('GET /raw HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n')]));
    await eventually(() => {
      expect(channel(s.messages, 2).subarray(2).toString()).toBe('ping over the second port');
      expect(channel(s.messages, 0).subarray(2).toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\npod says GET \/raw\n$/);
    });
    // The HTTP connection is over, the echo one is not: the WebSocket stays open until the client closes it.
    expect(s.ws.readyState).toBe(WebSocket.OPEN);
    s.ws.close(1000);
    expect(await s.closed).toBe(1000);
    expect(channel(s.messages, 1).subarray(2).length + channel(s.messages, 3).subarray(2).length).toBe(0);
  });

  test('a port nothing listens on: the kubelet\'s message on its error channel, then a normal close', async () => {
    const pod = (await ts.api('GET', pathOf(PODS, 'default', 'web'))).body;
    const s = await openRaw('ports=9999');
    expect(await s.closed).toBe(1000);
    expect([...channel(s.messages, 0)]).toEqual([0x0f, 0x27]);
    expect(channel(s.messages, 1).subarray(2).toString()).toBe(
      `error forwarding port 9999 to pod web_default, uid ${pod.metadata.uid}: dial tcp 127.0.0.1:${refusedPort}: connect: connection refused`,
    );
  });

  test('base64 channels, and no subprotocol at all (binary)', async () => {
    const b64 = await openRaw('ports=7000', ['v4.base64.channel.k8s.io']);
    expect(b64.ws.protocol).toBe('v4.base64.channel.k8s.io');
    b64.ws.send(`0${Buffer.from('b64 data').toString('base64')}`);
    await eventually(() => {
      const data = Buffer.concat(b64.messages.filter((m) => m[0] === 0x30).map((m) => Buffer.from(m.subarray(1).toString(), 'base64')));
      expect(data.subarray(2).toString()).toBe('b64 data');
    });
    b64.ws.close();

    const none = await openRaw('ports=7000', []);
    expect(none.ws.protocol).toBe('');
    none.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('plain')]));
    await eventually(() => expect(channel(none.messages, 0).subarray(2).toString()).toBe('plain'));
    none.ws.close();
  });

  test.each([
    ['', 400, 'BadRequest', 'query parameter "ports" is required'],
    ['ports=0', 400, 'BadRequest', 'port "0" must be > 0'],
    ['ports=80,http', 400, 'BadRequest', 'unable to parse "80,http" as a port'],
  ])('?%s is refused before the upgrade: %i', async (query, code, reason, message) => {
    const err: any = await openRaw(query).then(() => undefined, (e) => e);
    expect(err.status).toBe(code);
    expect(err.body).toMatchObject({ kind: 'Status', code, reason, message: expect.stringContaining(message) });
  });

  test('unknown pods, unscheduled pods and foreign subprotocols are refused with a Status', async () => {
    const missing: any = await openRaw('ports=80', undefined, 'nope').then(() => undefined, (e) => e);
    expect(missing.body).toMatchObject({ code: 404, reason: 'NotFound', message: 'pods "nope" not found' });
    const pending: any = await openRaw('ports=80', undefined, 'pending').then(() => undefined, (e) => e);
    expect(pending.body).toMatchObject({ code: 400, message: 'pod pending does not have a host assigned' });
    const foreign: any = await openRaw('ports=80', ['v5.channel.k8s.io']).then(() => undefined, (e) => e);
    expect(foreign.body).toMatchObject({ code: 400, message: expect.stringContaining('requested protocol(s) are not supported: [v5.channel.k8s.io]') });
  });

  test('without an upgrade the subresource answers 400, after checking the pod', async () => {
    expectStatus(await ts.api('GET', `${pathOf(PODS, 'default', 'web', 'portforward')}?ports=80`), 400, 'BadRequest');
    expectStatus(await ts.api('POST', pathOf(PODS, 'default', 'nope', 'portforward')), 404, 'NotFound');
  });
});

describe('an agent on the fake runtime', () => {
  let fake: TestServer;
  beforeAll(async () => {
    fake = await startTestServer({ ...API_ONLY, disableScheduler: false, agent: { runtime: 'fake', nodeName: 'pf-fake', port: 0 } });
  });
  afterAll(() => fake?.destroy());

  test('says on the error channel that fake pods have no network to reach', async () => {
    expect((await fake.api('POST', pathOf(PODS, 'default'), podManifest('fake-web'))).status).toBe(201);
    const pod = await eventually(async () => {
      const r = await fake.api('GET', pathOf(PODS, 'default', 'fake-web'));
      expect(r.body.status?.phase).toBe('Running');
      return r.body;
    }, 20_000);
    const s = await openRaw('ports=80', undefined, 'fake-web', fake);
    expect(await s.closed).toBe(1000);
    expect(channel(s.messages, 1).subarray(2).toString()).toBe(
      `error forwarding port 80 to pod fake-web_default, uid ${pod.metadata.uid}: the fake runtime has no pod network: nothing listens on port 80 (run the agent with --runtime docker to forward to real containers)`,
    );
  });
});

// ---------------------------------------------------------------------------
// mk's client
// ---------------------------------------------------------------------------

describe('PortForwarder', () => {
  let forwarder: PortForwarder;
  let listening: Listening[];
  const errors: string[] = [];

  beforeAll(async () => {
    forwarder = new PortForwarder({ server: ts.url, token: ts.token, caData: ts.server.caPem }, { namespace: 'default', pod: 'web' }, parseListenAddresses(['127.0.0.1']), {
      onError: (_p, message) => errors.push(message),
    });
    ({ listening } = await forwarder.listen([{ local: 0, remote: 8080 }, { local: 0, remote: 7000 }, { local: 0, remote: 9999 }]));
  });
  afterAll(() => forwarder.close());

  const localOf = (remote: number) => listening.find((l) => l.remote === remote)!.local;

  test('forwards concurrent connections, each over its own WebSocket', async () => {
    expect(listening.map((l) => l.address)).toEqual([`127.0.0.1:${localOf(8080)}`, `127.0.0.1:${localOf(7000)}`, `127.0.0.1:${localOf(9999)}`]);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => httpGet(localOf(8080), `/c${i}`)));
    expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => ({ status: 200, body: `pod says GET /c${i}\n` })));
  });

  test('carries megabytes intact both ways; a local half-close then ends the connection', async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const echoed = await tcpEcho(localOf(7000), payload);
    expect(echoed.length).toBe(payload.length);
    expect(echoed.equals(payload)).toBe(true);
  });

  test('a refused port closes the local connection and reports the error; the forwarder goes on', async () => {
    const got = await tcpExchange(localOf(9999), Buffer.from('hello?'));
    expect(got.length).toBe(0);
    await eventually(() => expect(errors).toEqual([expect.stringContaining('error forwarding port 9999 to pod web_default')]));
    expect((await httpGet(localOf(8080), '/still')).body).toBe('pod says GET /still\n');
  });
});

// ---------------------------------------------------------------------------
// The mk binary
// ---------------------------------------------------------------------------

const mkForward = (args: string[], remotes: number[]) => startForwarder(process.execPath, [BIN, 'port-forward', ...args], remotes, { KUBECONFIG: kubeconfig });

function mk(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return startForwarder(process.execPath, [BIN, ...args], [], { KUBECONFIG: kubeconfig }).then(async (f) => ({ code: await f.exited, stdout: f.stdout(), stderr: f.stderr() }));
}

describe('mk port-forward', () => {
  test('pod/NAME with a free local port: prints like kubectl, serves concurrent connections, survives a refused port, stops on SIGINT', async () => {
    const f = await mkForward(['pod/web', ':8080', '0:9999', '--address', '127.0.0.1'], [8080, 9999]);
    try {
      const web = f.local.get(8080)!;
      expect(f.stdout()).toBe(`Forwarding from 127.0.0.1:${web} -> 8080\nForwarding from 127.0.0.1:${f.local.get(9999)} -> 9999\n`);
      const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => httpGet(web, `/mk${i}`)));
      expect(replies.map((r) => r.body)).toEqual(Array.from({ length: 8 }, (_, i) => `pod says GET /mk${i}\n`));

      // Nothing listens on 9999 in the pod: the connection closes, the error is printed, forwarding goes on.
      expect((await tcpExchange(f.local.get(9999)!, Buffer.from('x'))).length).toBe(0);
      await eventually(() => expect(f.stderr()).toMatch(/^error: an error occurred forwarding \d+ -> 9999: error forwarding port 9999 to pod web_default, uid [\w-]+: dial tcp 127\.0\.0\.1:\d+: connect: connection refused\n$/));
      expect((await httpGet(web, '/after')).body).toBe('pod says GET /after\n');
      expect(f.stdout().match(/^Handling connection for \d+$/gm)).toHaveLength(10);
    } finally {
      expect(await f.stop()).toBe(0);
    }
  });

  test('a local port in use is reported and the others are forwarded', async () => {
    const busy = podPorts.get(7000)!;
    const f = await mkForward(['web', `${busy}:7000`, '0:8080', '--address', '127.0.0.1'], [8080]);
    try {
      expect(f.stderr()).toMatch(new RegExp(`^Unable to listen on port ${busy}: Listeners failed to create with the following errors: \\[unable to create listener: Error listen tcp4 127\\.0\\.0\\.1:${busy}: .*EADDRINUSE.*\\]\\n$`));
      expect((await httpGet(f.local.get(8080)!, '/free')).body).toBe('pod says GET /free\n');
    } finally {
      await f.stop();
    }
  });

  test('localhost (the default) listens on every loopback that can be bound', async () => {
    const f = await mkForward(['web', '0:8080'], [8080]);
    try {
      const lines = f.stdout().trim().split('\n');
      expect(lines[0]).toBe(`Forwarding from 127.0.0.1:${f.local.get(8080)} -> 8080`);
      // ::1 joins when the machine has IPv6 loopback, on the same port.
      for (const extra of lines.slice(1)) expect(extra).toBe(`Forwarding from [::1]:${f.local.get(8080)} -> 8080`);
      expect((await httpGet(f.local.get(8080)!, '/lo')).status).toBe(200);
    } finally {
      await f.stop();
    }
  });

  test('svc/NAME maps a service port (by name) to its target port, named in the pod', async () => {
    await create(ts, kind('services'), 'default', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'raw', port: 81, targetPort: 7000 }] },
    });
    // The service port 80 is forwarded to the pod's "http" port, 8080; 81 to 7000.
    const f = await mkForward(['svc/web', '0:http', ':81', '--address', '127.0.0.1'], [8080, 7000]);
    try {
      expect((await httpGet(f.local.get(8080)!, '/via-service')).body).toBe('pod says GET /via-service\n');
      expect((await tcpEcho(f.local.get(7000)!, Buffer.from('through 81'))).toString()).toBe('through 81');
    } finally {
      await f.stop();
    }
  });

  test('deployment/NAME picks its running pod; named pod ports resolve', async () => {
    await create(ts, kind('deployments'), 'default', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } } },
    });
    const f = await mkForward(['deployment/web', ':echo', '--address', '127.0.0.1'], [7000]);
    try {
      expect((await tcpEcho(f.local.get(7000)!, Buffer.from('via deployment'))).toString()).toBe('via deployment');
    } finally {
      await f.stop();
    }
  });

  test('errors read like kubectl', async () => {
    await create(ts, kind('deployments'), 'default', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'podless' },
      spec: { selector: { matchLabels: { app: 'podless' } }, template: { metadata: { labels: { app: 'podless' } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } } },
    });
    const cases: Array<[string[], string]> = [
      [['deployment/podless', '80', '--pod-running-timeout', '1s'], 'error: timed out waiting for the condition\n'],
      [['pod/pending', '8080'], 'error: unable to forward port because pod is not running. Current status=Pending\n'],
      [['pod/nope', '8080'], 'Error from server (NotFound): pods "nope" not found\n'],
      [['web'], 'error: TYPE/NAME and list of ports are required for port-forward\n'],
      [['web', '8080:0'], 'error: remote port must be > 0\n'],
      [['web', ':nope'], "error: Pod 'web' does not have a named port 'nope'\n"],
      [['web', ':dns'], 'error: UDP protocol is not supported for dns\n'],
      [['--address', 'example.com', 'web', ':8080'], 'error: example.com is not a valid IP\n'],
      [['svc/nope', '80'], 'Error from server (NotFound): services "nope" not found\n'],
      [['--address', '127.0.0.1', 'web', `${podPorts.get(8080)}:8080`], `error: unable to listen on any of the requested ports: [{${podPorts.get(8080)} 8080}]\n`],
    ];
    const results = await Promise.all(cases.map(([args]) => mk(['port-forward', ...args])));
    expect(results).toEqual(cases.map(([, stderr]) => ({ code: 1, stdout: '', stderr })));
  });

  test('exits with "lost connection to pod" when the pod stops', async () => {
    await runningPod('short-lived');
    const f = await mkForward(['pod/short-lived', ':8080', '--address', '127.0.0.1'], [8080]);
    expect((await httpGet(f.local.get(8080)!, '/before')).status).toBe(200);
    const res = await ts.api('PATCH', pathOf(PODS, 'default', 'short-lived', 'status'), { status: { phase: 'Succeeded' } }, MERGE_PATCH);
    expect(res.status).toBe(200);
    expect(await f.exited).toBe(1);
    expect(f.stderr()).toBe('error: lost connection to pod\n');
  });
});

// ---------------------------------------------------------------------------
// Real kubectl (skipped when none is on PATH): SPDY/3.1, tunnelled in a WebSocket or upgraded to
// ---------------------------------------------------------------------------

const { kubectl, pinned } = kubectlBinaries();
const withKubectl = kubectl ? describe : describe.skip;

withKubectl('kubectl port-forward', () => {
  const kubectlForward = (bin: string, args: string[], remotes: number[], env: Record<string, string> = {}) =>
    startForwarder(bin, ['--kubeconfig', kubeconfig, 'port-forward', ...args], remotes, env);

  async function exercise(f: Awaited<ReturnType<typeof kubectlForward>>): Promise<void> {
    const web = f.local.get(8080)!;
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => httpGet(web, `/k${i}`)));
    expect(replies.map((r) => r.body)).toEqual(Array.from({ length: 8 }, (_, i) => `pod says GET /k${i}\n`));
    const payload = randomBytes(2 * 1024 * 1024);
    expect((await tcpEcho(f.local.get(7000)!, payload)).equals(payload)).toBe(true);
  }

  test('the release the dispatcher picks (1.31: SPDY tunnelled over WebSocket)', async () => {
    const f = await kubectlForward(kubectl!, ['pod/web', ':8080', ':7000', '--address', '127.0.0.1'], [8080, 7000]);
    try {
      await exercise(f);
    } finally {
      await f.stop();
    }
  });

  test('SPDY over an HTTP upgrade (kubectl with websockets off, the fallback)', async () => {
    const f = await kubectlForward(kubectl!, ['svc/web', ':http', ':81', '--address', '127.0.0.1'], [8080, 7000], { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' });
    try {
      await exercise(f);
    } finally {
      await f.stop();
    }
  });

  const oldest = pinned[0];
  (oldest ? test : test.skip)(`the oldest pinned release (${oldest ? path.basename(oldest) : 'none'}), which speaks only SPDY upgrades`, async () => {
    const f = await kubectlForward(oldest!, ['pod/web', ':8080', ':7000', '--address', '127.0.0.1'], [8080, 7000]);
    try {
      await exercise(f);
    } finally {
      await f.stop();
    }
  });

  test('a refused port: the error as kubectl prints it, then kubectl gives up the connection (as it does against Kubernetes)', async () => {
    const f = await kubectlForward(kubectl!, ['pod/web', ':9999', '--address', '127.0.0.1'], [9999]);
    expect((await tcpExchange(f.local.get(9999)!, Buffer.from('x'))).length).toBe(0);
    if (kubectlMinor(kubectl!) < 27) {
      // Older releases print the error and go on forwarding (1.23-1.26 then exit 0).
      await eventually(() => expect(f.stderr()).toContain('error forwarding port 9999 to pod web_default'));
      expect(f.stderr()).toContain('connect: connection refused');
      await f.stop();
      return;
    }
    expect(await f.exited).toBe(1);
    expect(f.stderr()).toContain('an error occurred forwarding');
    expect(f.stderr()).toContain('error forwarding port 9999 to pod web_default');
    expect(f.stderr()).toContain('connect: connection refused');
    expect(f.stderr()).toContain('error: lost connection to pod');
  });
});
