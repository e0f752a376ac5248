import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { HostAddresses } from '../../src/agent/proxy/host-addresses';
import { ServiceProxy } from '../../src/agent/proxy/service-proxy';
import { resolveResourceName } from '../../src/api/registry';
import { LocalClient } from '../../src/apiserver/local-client';
import { Informer } from '../../src/client/informer';
import { eventually, startTestServer, tempDir } from '../helpers';

/**
 * ClusterIPs held on the host (root on Linux only): the interface, its
 * addresses, the one-owner-per-host lock, cleanup on stop, on process exit
 * and after a crash, and the proxy serving a ClusterIP from the host.
 *
 * Each test uses an interface and lock file of its own (not mk-svc0), and
 * a service CIDR (10.99.0.0/16) no real mk server uses, so it can run
 * beside one.
 */

const root = process.platform === 'linux' && process.getuid?.() === 0;
if (!root) process.stderr.write('skipping ClusterIP tests: they need root on Linux\n');
const describeRoot = root ? describe : describe.skip;
const ROOT_DIR = path.resolve(__dirname, '..', '..');

function link(name: string): { exists: boolean; addresses: string[] } {
  try {
    const out = JSON.parse(execFileSync('ip', ['-j', '-4', 'address', 'show', 'dev', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    return { exists: true, addresses: out.flatMap((l: any) => (l.addr_info ?? []).map((a: any) => `${a.local}/${a.prefixlen}`)).sort() };
  } catch {
    return { exists: false, addresses: [] };
  }
}

function uniqueName(): string {
  return `mkt${randomBytes(4).toString('hex')}`;
}

describeRoot('ClusterIPs on the host', () => {
  const created: string[] = [];
  let dir: string;

  beforeEach(() => {
    dir = tempDir('mk-cip-');
  });

  afterEach(() => {
    for (const name of created.splice(0)) {
      try {
        execFileSync('ip', ['link', 'del', name], { stdio: 'ignore' });
      } catch {
        // removed by the test, as it should be
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function addresses(): { host: HostAddresses; name: string; lockFile: string } {
    const name = uniqueName();
    created.push(name);
    const lockFile = path.join(dir, 'proxy.lock');
    return { host: new HostAddresses({ interfaceName: name, lockFile }), name, lockFile };
  }

  it('holds exactly the addresses asked for, and removes everything on release', async () => {
    const { host, name, lockFile } = addresses();
    expect(await host.acquire()).toBe(true);
    expect(link(name)).toEqual({ exists: true, addresses: [] });
    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid).toBe(process.pid);

    await host.sync(['10.99.0.1', '10.99.0.10', '10.99.3.4']);
    expect(link(name).addresses).toEqual(['10.99.0.1/32', '10.99.0.10/32', '10.99.3.4/32']);
    await host.sync(['10.99.0.10', '10.99.7.7']);
    expect(link(name).addresses).toEqual(['10.99.0.10/32', '10.99.7.7/32']);
    expect([...host.addresses()].sort()).toEqual(['10.99.0.10', '10.99.7.7']);

    await host.release();
    expect(link(name).exists).toBe(false);
    expect(fs.existsSync(lockFile)).toBe(false);
  });

  it('lets one owner at a time hold a host', async () => {
    const { host, name, lockFile } = addresses();
    expect(await host.acquire()).toBe(true);
    await host.sync(['10.99.0.1']);
    const second = new HostAddresses({ interfaceName: name, lockFile });
    expect(await second.acquire()).toBe(false);
    // The refused one changed nothing.
    expect(link(name).addresses).toEqual(['10.99.0.1/32']);
    await host.release();
    expect(await second.acquire()).toBe(true);
    await second.release();
  });

  it('removes what a crashed owner left, and cleans up when its process exits without stopping', async () => {
    const { name, lockFile } = addresses();
    // A child process takes the host, adds an address, and exits (cleanly, or killed) without releasing.
    const script = (exit: 'exit' | 'hang') => `
      const { HostAddresses } = require(${JSON.stringify(path.join(ROOT_DIR, 'dist', 'agent', 'proxy', 'host-addresses.js'))});
      const h = new HostAddresses({ interfaceName: ${JSON.stringify(name)}, lockFile: ${JSON.stringify(lockFile)} });
      h.acquire().then(() => h.sync(['10.99.9.9'])).then(() => { console.log('ready'); ${exit === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'} });`;
    const runChild = async (exit: 'exit' | 'hang') => {
      const child = spawn(process.execPath, ['-e', script(exit)], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (code) => (exit === 'exit' ? resolve() : reject(new Error(`child exited with ${code}`))));
      });
      return child;
    };

    const clean = await runChild('exit');
    await new Promise((r) => (clean.exitCode === null ? clean.once('exit', r) : r(undefined)));
    expect(link(name).exists).toBe(false);
    expect(fs.existsSync(lockFile)).toBe(false);

    const crashed = await runChild('hang');
    expect(link(name).addresses).toEqual(['10.99.9.9/32']);
    // While it lives, it owns the host.
    expect(await new HostAddresses({ interfaceName: name, lockFile }).acquire()).toBe(false);
    crashed.kill('SIGKILL');
    await new Promise((r) => crashed.once('exit', r));
    expect(link(name).addresses).toEqual(['10.99.9.9/32']);

    const next = new HostAddresses({ interfaceName: name, lockFile });
    expect(await next.acquire()).toBe(true);
    expect(link(name)).toEqual({ exists: true, addresses: [] });
    await next.release();
  });

  it('serves a Service on its ClusterIP from the host', async () => {
    const { host, name } = addresses();
    const ts = await startTestServer({ disableControllers: ['all'], serviceCidr: '10.99.0.0/16' });
    const backend = net.createServer((c) => c.resume().end('from the backend\n'));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.21', () => r()));
    const client = new LocalClient(ts.server.resources);
    const services = new Informer(client, resolveResourceName('services')!);
    const endpoints = new Informer(client, resolveResourceName('endpoints')!);
    let proxy: ServiceProxy | undefined;
    try {
      expect(await host.acquire()).toBe(true);
      proxy = new ServiceProxy({ services, endpoints, nodeIP: '127.0.0.1', addresses: host, extraAddresses: ['10.99.0.10'] });
      await proxy.start();
      const svc = (await ts.api('POST', '/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } })).body;
      const ip: string = svc.spec.clusterIP;
      expect(ip).toMatch(/^10\.99\./);
      const port = (backend.address() as net.AddressInfo).port;
      await ts.api('POST', '/api/v1/namespaces/default/endpoints', {
        apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '127.0.0.21' }], ports: [{ port }] }],
      });
      await eventually(() => expect(link(name).addresses).toEqual(expect.arrayContaining([`${ip}/32`, '10.99.0.10/32'])));
      const answer = await eventually(
        () =>
          new Promise<string>((resolve, reject) => {
            const s = net.connect({ host: ip, port: 80 });
            let text = '';
            s.on('data', (d) => (text += d));
            s.on('end', () => resolve(text));
            s.on('error', reject);
          }),
      );
      expect(answer).toBe('from the backend\n');

      // The kubernetes Service (the range's first address) reaches the API server.
      const health = await eventually(
        () =>
          new Promise<string>((resolve, reject) => {
            https.get({ host: '10.99.0.1', port: 443, path: '/healthz', ca: ts.server.caPem, checkServerIdentity: () => undefined }, (res) => {
              let text = '';
              res.on('data', (d) => (text += d));
              res.on('end', () => resolve(`${res.statusCode} ${text}`));
            }).on('error', reject);
          }),
      );
      expect(health).toBe('200 ok');

      // The Service goes: so does its address (the kubernetes Service's and the extra one stay).
      await ts.api('DELETE', '/api/v1/namespaces/default/services/web');
      await eventually(() => expect(link(name).addresses).toEqual(['10.99.0.1/32', '10.99.0.10/32']));
    } finally {
      await proxy?.stop();
      services.stop();
      endpoints.stop();
      await host.release();
      await new Promise((r) => backend.close(r));
      await ts.destroy();
    }
    expect(link(name).exists).toBe(false);
  });
});
