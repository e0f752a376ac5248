import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ProbeManager, runAction, type ActionTarget } from '../../src/agent/probes';
import { FakeRuntime } from '../../src/agent/runtime/fake';
import type { KubeObject } from '../../src/api/types';
import { manualClock } from '../manual-clock';

const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'uid-1' }, spec: { containers: [] } };

describe('runAction', () => {
  let server: http.Server;
  let port: number;
  const seen: http.IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.headers);
      res.statusCode = req.url === '/healthz' ? 200 : req.url === '/moved' ? 302 : 503;
      res.end('body');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const target = (container: any = {}): ActionTarget => ({ pod, container, containerId: 'c1', podIP: '127.0.0.1' });
  const runtime = new FakeRuntime();

  it('httpGet: 2xx and 3xx pass, others fail with the status code; named ports and headers work', async () => {
    const container = { ports: [{ name: 'http', containerPort: port }] };
    const ok = await runAction({ httpGet: { path: '/healthz', port: 'http', httpHeaders: [{ name: 'X-Probe', value: 'yes' }] } }, target(container), { runtime, timeoutMs: 1000 });
    expect(ok).toEqual({ ok: true, message: '' });
    expect(seen[seen.length - 1]).toMatchObject({ 'user-agent': 'kube-probe/1.31', 'x-probe': 'yes' });
    expect((await runAction({ httpGet: { path: '/moved', port } }, target(), { runtime, timeoutMs: 1000 })).ok).toBe(true);
    expect(await runAction({ httpGet: { path: '/bad', port } }, target(), { runtime, timeoutMs: 1000 })).toEqual({ ok: false, message: 'HTTP probe failed with statuscode: 503' });
  });

  it('httpGet and tcpSocket report refused connections as Kubernetes does', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await runAction({ tcpSocket: { port: dead } }, target(), { runtime, timeoutMs: 1000 })).toEqual({ ok: false, message: `dial tcp 127.0.0.1:${dead}: connect: connection refused` });
    expect((await runAction({ tcpSocket: { port } }, target(), { runtime, timeoutMs: 1000 })).ok).toBe(true);
    const r = await runAction({ httpGet: { path: '/', port: dead } }, target(), { runtime, timeoutMs: 1000 });
    expect(r.message).toBe(`Get "http://127.0.0.1:${dead}/": dial tcp 127.0.0.1:${dead}: connect: connection refused`);
  });

  it('simulates network probes without a host when asked, never dialing', async () => {
    expect(await runAction({ httpGet: { path: '/', port: 1 } }, { ...target(), podIP: '10.244.0.9' }, { runtime, timeoutMs: 1000, simulateNetwork: true })).toEqual({ ok: true, message: '' });
    expect(await runAction({ tcpSocket: { port: 1 } }, { ...target(), podIP: '10.244.0.9' }, { runtime, timeoutMs: 1000, simulateNetwork: true })).toEqual({ ok: true, message: '' });
  });
});

describe('ProbeManager', () => {
  async function setup(probes: Record<string, any>, exec: (cmd: string[]) => number) {
    // Each probe (an exec, read through streams) finishes before the next timer.
    const settle = async () => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };
    const clock = manualClock({ settle });
    const runtime = new FakeRuntime({ node: 'n', execHandler: (_id, cmd) => ({ exitCode: exec(cmd), stdout: 'out' }) });
    const sb = await runtime.runSandbox({ podUid: 'uid-1', name: 'p', namespace: 'default', hostname: 'p', labels: {}, portMappings: [] });
    const id = await runtime.createContainer(sb.id, { name: 'main', image: 'i', env: [], mounts: [], resources: {}, securityContext: {}, labels: {} });
    await runtime.startContainer(id);
    const spec = { name: 'main', ...probes };
    const p: KubeObject = { ...pod, spec: { containers: [spec] } };
    const changes: string[] = [];
    const unhealthy: string[] = [];
    const manager = new ProbeManager({ runtime, clock, events: { unhealthy: (_p, _c, m) => unhealthy.push(m) }, onChange: (uid) => changes.push(uid) });
    manager.update(p, [{ name: 'main', id, startedAt: 0 }], '10.0.0.1');
    return { clock, manager, spec, id, changes, unhealthy };
  }

  it('readiness: not ready until successThreshold successes, unready after failureThreshold failures', async () => {
    let code = 0;
    const { clock, manager, spec, id, changes, unhealthy } = await setup(
      { readinessProbe: { exec: { command: ['check'] }, initialDelaySeconds: 5, periodSeconds: 10, successThreshold: 2, failureThreshold: 2 } },
      () => code,
    );
    expect(manager.ready('uid-1', spec, id)).toBe(false);
    await clock.advance(5_000);
    expect(manager.ready('uid-1', spec, id)).toBe(false);
    await clock.advance(10_000);
    expect(manager.ready('uid-1', spec, id)).toBe(true);
    expect(changes).toEqual(['uid-1']);
    code = 1;
    await clock.advance(10_000);
    expect(manager.ready('uid-1', spec, id)).toBe(true);
    await clock.advance(10_000);
    expect(manager.ready('uid-1', spec, id)).toBe(false);
    expect(unhealthy).toEqual(['Readiness probe failed: out', 'Readiness probe failed: out']);
    manager.stop();
  });

  it('startup gates liveness; a failed liveness probe asks for a restart', async () => {
    let started = false;
    let alive = true;
    const { clock, manager, spec, id } = await setup(
      {
        startupProbe: { exec: { command: ['started'] }, periodSeconds: 1, failureThreshold: 30 },
        livenessProbe: { exec: { command: ['alive'] }, periodSeconds: 1, failureThreshold: 1 },
      },
      (cmd) => (cmd[0] === 'started' ? (started ? 0 : 1) : alive ? 0 : 1),
    );
    alive = false;
    await clock.advance(3_000);
    // Liveness does not run before startup succeeds.
    expect(manager.started('uid-1', spec, id)).toBe(false);
    expect(manager.failed('uid-1', 'main', id)).toBeUndefined();
    started = true;
    await clock.advance(1_000);
    expect(manager.started('uid-1', spec, id)).toBe(true);
    await clock.advance(1_000);
    expect(manager.failed('uid-1', 'main', id)).toBe('liveness');
    manager.removePod('uid-1');
    expect(manager.failed('uid-1', 'main', id)).toBeUndefined();
  });
});
