import * as net from 'node:net';
import { ServiceProxy } from '../../src/agent/proxy/service-proxy';
import { resolveResourceName } from '../../src/api/registry';
import { LocalClient } from '../../src/apiserver/local-client';
import { Informer } from '../../src/client/informer';
import { eventually, startTestServer, type TestServer } from '../helpers';

/**
 * The service proxy's NodePort listeners (what works without root) against
 * a real API server: Services and Endpoints written through the API, TCP
 * backends on loopback addresses (127.0.0.11, .12, ...: all loopback on
 * Linux), and clients connecting to 127.0.0.1:<nodePort>.
 *
 * The Services have no selector, so their Endpoints are this test's to
 * write (an endpoints controller leaves such Endpoints alone).
 */

const SERVICES = resolveResourceName('services')!;
const ENDPOINTS = resolveResourceName('endpoints')!;
const NS = 'default';

let ts: TestServer;
let proxy: ServiceProxy;
let services: Informer;
let endpoints: Informer;
let backendPort: number;
const backends: net.Server[] = [];
const backendIPs = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];
/** An address nothing listens on: dials to it are refused. */
const DEAD_IP = '127.0.0.14';

/** A backend that greets with its own address, then echoes what it is sent until the client ends. */
function backend(ip: string, port: number): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.write(`${ip}\n`);
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => s.end(Buffer.concat(chunks)));
    s.on('error', () => undefined);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve(server));
  });
}

interface Exchange {
  greeting: string;
  echo: string;
}

/** One connection: sends `payload`, half-closes, reads everything back. Rejects on a reset. */
function exchange(port: number, payload = 'ping', host = '127.0.0.1'): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true }, () => s.end(payload));
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const nl = text.indexOf('\n');
      resolve({ greeting: text.slice(0, nl), echo: text.slice(nl + 1) });
      s.destroy();
    });
    s.on('error', reject);
  });
}

let seq = 0;

async function createService(spec: Record<string, any>): Promise<any> {
  const name = `svc-${++seq}`;
  const r = await ts.api('POST', `/api/v1/namespaces/${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type: 'NodePort', ports: [{ port: 80 }], ...spec } });
  expect(r.status).toBe(201);
  return r.body;
}

async function setEndpoints(name: string, ips: string[], port = backendPort): Promise<void> {
  const body = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name }, subsets: ips.length ? [{ addresses: ips.map((ip) => ({ ip })), ports: [{ port, protocol: 'TCP' }] }] : [] };
  const existing = await ts.api('GET', `/api/v1/namespaces/${NS}/endpoints/${name}`);
  const r = existing.status === 200
    ? await ts.api('PUT', `/api/v1/namespaces/${NS}/endpoints/${name}`, { ...body, metadata: { ...body.metadata, resourceVersion: existing.body.metadata.resourceVersion } })
    : await ts.api('POST', `/api/v1/namespaces/${NS}/endpoints`, body);
  expect([200, 201]).toContain(r.status);
}

/** Waits until the proxy's balancer for the service has exactly these endpoints. */
async function proxied(name: string, ips: string[]): Promise<void> {
  await eventually(() => {
    const b = proxy.balancer(`${NS}/${name}:`);
    expect(b?.list().map((e) => e.ip).sort()).toEqual([...ips].sort());
  });
}

async function listening(port: number): Promise<void> {
  await eventually(() => expect([...proxy.listeners().keys()]).toContain(`127.0.0.1:${port}`));
}

beforeAll(async () => {
  ts = await startTestServer({ disableControllers: ['all'] });
  const first = await backend(backendIPs[0], 0);
  backendPort = (first.address() as net.AddressInfo).port;
  backends.push(first, ...(await Promise.all(backendIPs.slice(1).map((ip) => backend(ip, backendPort)))));
  const client = new LocalClient(ts.server.resources);
  services = new Informer(client, SERVICES);
  endpoints = new Informer(client, ENDPOINTS);
  proxy = new ServiceProxy({ services, endpoints, nodeIP: '127.0.0.1', retryMs: 200 });
  await proxy.start();
});

afterAll(async () => {
  await proxy?.stop();
  services?.stop();
  endpoints?.stop();
  await Promise.all(backends.map((b) => new Promise((r) => b.close(r))));
  await ts?.destroy();
});

describe('the service proxy on NodePorts', () => {
  it('balances connections round-robin over the ready endpoints, relaying both directions and half-closes', async () => {
    const svc = await createService({});
    const nodePort = svc.spec.ports[0].nodePort;
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    await setEndpoints(svc.metadata.name, backendIPs);
    await proxied(svc.metadata.name, backendIPs);
    await listening(nodePort);

    const seen = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const r = await exchange(nodePort, `hello ${i}`);
      expect(r.echo).toBe(`hello ${i}`);
      seen.set(r.greeting, (seen.get(r.greeting) ?? 0) + 1);
    }
    expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(backendIPs.map((ip) => [ip, 10])));

    // Many at once, with a payload larger than one socket buffer.
    const big = 'x'.repeat(1 << 20);
    const results = await Promise.all(Array.from({ length: 20 }, () => exchange(nodePort, big)));
    for (const r of results) expect(r.echo.length).toBe(big.length);
  });

  it('resets connections at once while a Service has no ready endpoints', async () => {
    const svc = await createService({});
    const nodePort = svc.spec.ports[0].nodePort;
    await listening(nodePort);
    const started = Date.now();
    await expect(exchange(nodePort)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(Date.now() - started).toBeLessThan(1000);

    // Endpoints appear: the same listener starts relaying.
    await setEndpoints(svc.metadata.name, [backendIPs[0]]);
    await proxied(svc.metadata.name, [backendIPs[0]]);
    expect((await exchange(nodePort)).greeting).toBe(backendIPs[0]);
  });

  it('retries a connection on the next endpoint when a dial fails', async () => {
    const svc = await createService({});
    const nodePort = svc.spec.ports[0].nodePort;
    await setEndpoints(svc.metadata.name, [DEAD_IP, backendIPs[1]]);
    await proxied(svc.metadata.name, [DEAD_IP, backendIPs[1]]);
    await listening(nodePort);
    for (let i = 0; i < 10; i++) expect((await exchange(nodePort)).greeting).toBe(backendIPs[1]);
  });

  it('sends no new connection to an endpoint that left the Endpoints', async () => {
    const svc = await createService({});
    const nodePort = svc.spec.ports[0].nodePort;
    await setEndpoints(svc.metadata.name, backendIPs);
    await proxied(svc.metadata.name, backendIPs);
    await listening(nodePort);
    await setEndpoints(svc.metadata.name, [backendIPs[0], backendIPs[2]]);
    await proxied(svc.metadata.name, [backendIPs[0], backendIPs[2]]);
    const greetings = new Set<string>();
    for (let i = 0; i < 12; i++) greetings.add((await exchange(nodePort)).greeting);
    expect([...greetings].sort()).toEqual([backendIPs[0], backendIPs[2]]);
  });

  it('keeps a client on one endpoint with sessionAffinity ClientIP', async () => {
    const svc = await createService({ sessionAffinity: 'ClientIP' });
    const nodePort = svc.spec.ports[0].nodePort;
    await setEndpoints(svc.metadata.name, backendIPs);
    await proxied(svc.metadata.name, backendIPs);
    await listening(nodePort);
    const greetings = new Set<string>();
    for (let i = 0; i < 12; i++) greetings.add((await exchange(nodePort)).greeting);
    expect(greetings.size).toBe(1);
  });

  it('moves the listener when the nodePort changes, and closes it when the Service goes', async () => {
    const svc = await createService({});
    const name = svc.metadata.name;
    const before = svc.spec.ports[0].nodePort;
    await setEndpoints(name, [backendIPs[0]]);
    await proxied(name, [backendIPs[0]]);
    await listening(before);

    // Another free port of the range: ask for one until the allocator agrees.
    let after = 0;
    for (let tries = 0; !after && tries < 50; tries++) {
      const candidate = 30000 + Math.floor(Math.random() * 2768);
      if (candidate === before) continue;
      const current = (await ts.api('GET', `/api/v1/namespaces/${NS}/services/${name}`)).body;
      current.spec.ports[0].nodePort = candidate;
      const r = await ts.api('PUT', `/api/v1/namespaces/${NS}/services/${name}`, current);
      if (r.status === 200) after = candidate;
    }
    expect(after).toBeGreaterThan(0);
    await listening(after);
    expect((await exchange(after)).greeting).toBe(backendIPs[0]);
    await eventually(() => expect([...proxy.listeners().keys()]).not.toContain(`127.0.0.1:${before}`));
    await expect(exchange(before)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    expect((await ts.api('DELETE', `/api/v1/namespaces/${NS}/services/${name}`)).status).toBe(200);
    await eventually(() => expect([...proxy.listeners().keys()]).not.toContain(`127.0.0.1:${after}`));
    await expect(exchange(after)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('proxies each port of a multi-port Service to the Endpoints port of the same name', async () => {
    const otherPort = await new Promise<number>((resolve) => {
      const s = net.createServer((c) => c.resume().end('other\n'));
      backends.push(s);
      s.listen(0, backendIPs[2], () => resolve((s.address() as net.AddressInfo).port));
    });
    const svc = await createService({ ports: [{ name: 'main', port: 80 }, { name: 'other', port: 81 }] });
    const name = svc.metadata.name;
    const r = await ts.api('POST', `/api/v1/namespaces/${NS}/endpoints`, {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name },
      subsets: [{ addresses: [{ ip: backendIPs[2] }], ports: [{ name: 'main', port: backendPort }, { name: 'other', port: otherPort }] }],
    });
    expect(r.status).toBe(201);
    const [main, other] = svc.spec.ports.map((p: any) => p.nodePort);
    await listening(main);
    await listening(other);
    await eventually(() => expect(proxy.balancer(`${NS}/${name}:other`)?.size).toBe(1));
    expect((await exchange(main)).greeting).toBe(backendIPs[2]);
    expect((await exchange(other)).greeting).toBe('other');
  });

  it('retries a listener whose port is taken until it is free', async () => {
    const svc = await createService({});
    const name = svc.metadata.name;
    const nodePort = svc.spec.ports[0].nodePort;
    await eventually(() => expect([...proxy.listeners().keys()]).toContain(`127.0.0.1:${nodePort}`));
    // Take the port from under the proxy by moving the Service away and back while a squatter holds it.
    const current = (await ts.api('GET', `/api/v1/namespaces/${NS}/services/${name}`)).body;
    current.spec.type = 'ClusterIP';
    delete current.spec.ports[0].nodePort;
    expect((await ts.api('PUT', `/api/v1/namespaces/${NS}/services/${name}`, current)).status).toBe(200);
    await eventually(() => expect([...proxy.listeners().keys()]).not.toContain(`127.0.0.1:${nodePort}`));
    const squatter = net.createServer((c) => c.resume().end('squatter\n'));
    await new Promise<void>((r) => squatter.listen(nodePort, '127.0.0.1', () => r()));
    const again = (await ts.api('GET', `/api/v1/namespaces/${NS}/services/${name}`)).body;
    again.spec.type = 'NodePort';
    again.spec.ports[0].nodePort = nodePort;
    expect((await ts.api('PUT', `/api/v1/namespaces/${NS}/services/${name}`, again)).status).toBe(200);
    await setEndpoints(name, [backendIPs[1]]);
    await proxied(name, [backendIPs[1]]);
    expect((await exchange(nodePort)).greeting).toBe('squatter');
    await new Promise((r) => squatter.close(r));
    await listening(nodePort);
    expect((await exchange(nodePort)).greeting).toBe(backendIPs[1]);
  });
});
