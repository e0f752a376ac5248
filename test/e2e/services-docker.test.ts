import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import { promisify } from 'node:util';
import { LABELS } from '../../src/agent/runtime/runtime';
import { eventually, startTestServer, tempDir, type TestServer } from '../helpers';
import { ensureTestImage, execCaptured, requireDocker } from './docker-env';

/**
 * Services end to end (issue 6): a real `mk server` whose embedded agent
 * runs pods on Docker with its service proxy and cluster DNS, a Deployment
 * of three busybox httpd pods that each answer with their hostname, and:
 *
 *   - a NodePort Service: 300 requests to 127.0.0.1:<nodePort> all succeed
 *     and reach all three pods; scaled to one pod, every request still
 *     succeeds while the other two go away;
 *   - from a pod: `web` resolved by the cluster DNS (search path) and
 *     fetched through its ClusterIP, the Services' environment variables,
 *     and a headless Service resolving to the pods' IPs.
 *
 * ClusterIPs and DNS need root on Linux: the suite says so if not. It uses
 * a service CIDR of its own (10.98.0.0/16: the kubernetes Service is
 * 10.98.0.1, the cluster DNS 10.98.0.10) held on an interface and lock file
 * of its own, so it runs beside a real `mk server` on the same host.
 *
 * The tests run in order, each from where the previous left the cluster.
 * The node name is unique per run; containers left by a failed run are
 * removed by its label at the end.
 */

const describeDocker = requireDocker();

const NODE = `e2e-${randomBytes(4).toString('hex')}`;
const NS = 'default';
const DEPLOYMENTS = `/apis/apps/v1/namespaces/${NS}/deployments`;
const SERVICES = `/api/v1/namespaces/${NS}/services`;
const PODS = `/api/v1/namespaces/${NS}/pods`;

const run = promisify(execFile);
const CIDR = '10.98.0.0/16';
const KUBERNETES_IP = '10.98.0.1';
const DNS_IP = '10.98.0.10';

jest.setTimeout(90_000);

async function dockerIds(): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-a', '-q', '--no-trunc', '--filter', `label=${LABELS.node}=${NODE}`]);
  return stdout.split('\n').filter(Boolean);
}

/** One GET on a new connection (as busybox httpd closes each anyway); resolves with status and body. */
function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

const isReady = (pod: any) => (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');

describeDocker('Services on real Docker: NodePort, ClusterIP, DNS', () => {
  let ts: TestServer;
  let image: string;
  let nodePort: number;
  let clusterIP: string;
  let lockDir: string;

  beforeAll(async () => {
    image = await ensureTestImage();
    lockDir = tempDir('mk-e2e-svc-');
    ts = await startTestServer({
      serviceCidr: CIDR,
      agent: { runtime: 'docker', nodeName: NODE, port: 0, proxy: { interfaceName: `mks${NODE.slice(4)}`, lockFile: path.join(lockDir, 'proxy.lock') } },
    });
  }, 120_000);

  afterAll(async () => {
    try {
      if (ts) {
        await ts.api('DELETE', `${DEPLOYMENTS}/web`);
        await ts.api('DELETE', `${PODS}/client?gracePeriodSeconds=0`);
        await eventually(async () => expect(await dockerIds()).toEqual([]), 60_000, 250);
      }
    } finally {
      await ts?.destroy();
      fs.rmSync(lockDir, { recursive: true, force: true });
      const ids = await dockerIds();
      if (ids.length) await run('docker', ['rm', '-f', '-v', ...ids]);
    }
  }, 90_000);

  const proxy = () => ts.server.agents!.proxy!;

  async function webPods(): Promise<any[]> {
    const r = await ts.api('GET', `${PODS}?labelSelector=app%3Dweb`);
    return r.body.items;
  }

  /** The ready addresses of a Service's Endpoints (as the endpoints controller writes them). */
  async function readyAddresses(name: string): Promise<string[]> {
    const r = await ts.api('GET', `/api/v1/namespaces/${NS}/endpoints/${name}`);
    if (r.status !== 200) return [];
    return (r.body.subsets ?? []).flatMap((s: any) => (s.addresses ?? []).map((a: any) => a.ip)).sort();
  }

  const exec = (pod: string, command: string[]) => execCaptured(ts, NS, pod, command);

  it('serves ClusterIPs and cluster DNS on this host', () => {
    const p = ts.server.agents?.proxy;
    expect(p).toBeDefined();
    // If this fails: not root (or no iproute2): `why` says.
    expect({ clusterIPs: p!.serviceProxy?.servesClusterIPs, dns: p!.clusterDNS, why: p!.limitation }).toEqual({ clusterIPs: true, dns: [DNS_IP], why: undefined });
  });

  it('balances 300 requests to the NodePort over all three pods', async () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [
              {
                name: 'httpd',
                image,
                imagePullPolicy: 'IfNotPresent',
                command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'],
                ports: [{ name: 'http', containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/index.html', port: 'http' }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    };
    expect((await ts.api('POST', DEPLOYMENTS, deployment)).status).toBe(201);
    const svc = await ts.api('POST', SERVICES, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    });
    expect(svc.status).toBe(201);
    nodePort = svc.body.spec.ports[0].nodePort;
    clusterIP = svc.body.spec.clusterIP;
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    expect(clusterIP.startsWith('10.98.')).toBe(true);

    const pods = await eventually(async () => {
      const list = await webPods();
      expect(list.filter(isReady)).toHaveLength(3);
      return list;
    }, 60_000, 250);
    const podIPs = pods.map((p) => p.status.podIP).sort();
    await eventually(async () => expect(await readyAddresses('web')).toEqual(podIPs), 10_000, 100);
    await eventually(() => expect(proxy().serviceProxy!.balancer(`${NS}/web:http`)?.list().map((e) => e.ip).sort()).toEqual(podIPs));

    const answers = new Map<string, number>();
    const failures: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < 300) {
          next++;
          try {
            const r = await get(nodePort);
            if (r.status !== 200) failures.push(`status ${r.status}`);
            answers.set(r.body, (answers.get(r.body) ?? 0) + 1);
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      }),
    );
    expect(failures).toEqual([]);
    expect([...answers.keys()].sort()).toEqual(pods.map((p) => p.metadata.name).sort());
    expect([...answers.values()].reduce((a, b) => a + b)).toBe(300);
  });

  it('gives pods the cluster DNS and the Services in their environment', async () => {
    const r = await ts.api('POST', PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'client' },
      spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'sh', image, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
    });
    expect(r.status).toBe(201);
    await eventually(async () => expect(isReady((await ts.api('GET', `${PODS}/client`)).body)).toBe(true), 60_000, 250);

    const resolv = await exec('client', ['cat', '/etc/resolv.conf']);
    const lines = resolv.stdout.split('\n');
    expect(lines.filter((l) => l.startsWith('nameserver'))).toEqual([`nameserver ${DNS_IP}`]);
    expect(lines.find((l) => l.startsWith('search'))).toMatch(/^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local\b/);
    expect(lines.filter((l) => l.startsWith('options'))).toEqual(['options ndots:5']);

    const env = await exec('client', ['env']);
    const vars = new Map(env.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(vars.get('WEB_SERVICE_HOST')).toBe(clusterIP);
    expect(vars.get('WEB_SERVICE_PORT')).toBe('80');
    expect(vars.get('WEB_SERVICE_PORT_HTTP')).toBe('80');
    expect(vars.get('WEB_PORT')).toBe(`tcp://${clusterIP}:80`);
    expect(vars.get('WEB_PORT_80_TCP_ADDR')).toBe(clusterIP);
    expect(vars.get('KUBERNETES_SERVICE_HOST')).toBe(KUBERNETES_IP);
    expect(vars.get('KUBERNETES_SERVICE_PORT')).toBe('443');
  });

  it('resolves `web` from a pod and fetches from it through the ClusterIP', async () => {
    const lookup = await exec('client', ['nslookup', 'web']);
    expect(lookup.stdout).toContain('web.default.svc.cluster.local');
    expect(lookup.stdout).toContain(`Address: ${clusterIP}`);
    const names = (await webPods()).map((p) => p.metadata.name);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const fetched = await exec('client', ['wget', '-q', '-O', '-', 'http://web/']);
      expect(fetched).toMatchObject({ code: 0 });
      seen.add(fetched.stdout.trim());
    }
    for (const name of seen) expect(names).toContain(name);
    // Round-robin: six connections reach more than one pod.
    expect(seen.size).toBeGreaterThan(1);
    // The full name, and the API server through the kubernetes Service.
    expect((await exec('client', ['wget', '-q', '-O', '-', 'http://web.default.svc.cluster.local/'])).code).toBe(0);
    // (busybox has no TLS client: a connection that the API server's TLS answers and closes is enough.)
    const api = await exec('client', ['sh', '-c', "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 kubernetes.default.svc.cluster.local 443"]);
    expect(api).toMatchObject({ code: 0, stderr: '' });
    // A name outside the cluster that nobody knows is not found (by the cluster zone or the host's resolver).
    expect((await exec('client', ['nslookup', 'nope.default.svc.cluster.local'])).code).not.toBe(0);
  });

  it('resolves a headless Service to the ready pods\' IPs', async () => {
    const r = await ts.api('POST', SERVICES, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web-pods' },
      spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'http', port: 8080, targetPort: 'http' }] },
    });
    expect(r.status).toBe(201);
    const podIPs = (await webPods()).map((p) => p.status.podIP).sort();
    await eventually(async () => expect(await readyAddresses('web-pods')).toEqual(podIPs), 10_000, 100);
    const lookup = await exec('client', ['nslookup', 'web-pods']);
    const addresses = [...lookup.stdout.matchAll(/^Address: (\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]).sort();
    expect(addresses).toEqual(podIPs);
  });

  it('keeps every request succeeding while the Deployment scales from three pods to one', async () => {
    const failures: string[] = [];
    const answers = new Map<string, number>();
    let stop = false;
    let sent = 0;
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stop) {
          sent++;
          try {
            const r = await get(nodePort);
            if (r.status !== 200) failures.push(`status ${r.status}`);
            answers.set(r.body, (answers.get(r.body) ?? 0) + 1);
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      }),
    );
    try {
      const scale = await ts.api('PATCH', `${DEPLOYMENTS}/web/scale`, { spec: { replicas: 1 } }, { 'Content-Type': 'application/merge-patch+json' });
      expect(scale.status).toBe(200);
      // Until only one pod is left, its containers and sandboxes gone from the engine.
      const survivor = await eventually(async () => {
        const pods = await webPods();
        expect(pods).toHaveLength(1);
        expect(isReady(pods[0])).toBe(true);
        expect(await readyAddresses('web')).toEqual([pods[0].status.podIP]);
        // Two containers (sandbox and httpd) for the web pod, two for the client.
        expect(await dockerIds()).toHaveLength(4);
        return pods[0];
      }, 60_000, 250);
      const before = sent;
      await eventually(() => expect(sent).toBeGreaterThan(before + 50), 30_000, 20);
      stop = true;
      await load;
      expect(failures).toEqual([]);
      expect(answers.get(survivor.metadata.name)).toBeGreaterThan(50);
    } finally {
      stop = true;
      await load;
    }
    // The headless Service follows too.
    const lookup = await exec('client', ['nslookup', 'web-pods']);
    expect([...lookup.stdout.matchAll(/^Address: (\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1])).toEqual(await readyAddresses('web-pods'));
  });

  it('refuses NodePort connections at once when no pod is ready', async () => {
    const scale = await ts.api('PATCH', `${DEPLOYMENTS}/web/scale`, { spec: { replicas: 0 } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(scale.status).toBe(200);
    await eventually(async () => expect(proxy().serviceProxy!.balancer(`${NS}/web:http`)?.size).toBe(0), 60_000, 100);
    const started = Date.now();
    await expect(get(nodePort)).rejects.toThrow(/ECONNRESET|socket hang up/);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
