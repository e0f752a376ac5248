import { spawn, type ChildProcess } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
// tls.ts loads reflect-metadata, which @peculiar/x509 needs first.
import { ensureTls } from '../src/apiserver/tls';
import { etcdHealthy, freeLoopbackPort, waitEtcdHealthy } from '../src/storage/embedded-etcd';
import * as x509 from '@peculiar/x509';
import { tempDir } from './helpers';

/**
 * A real etcd for tests: Debian's `etcd` binary (package etcd-server, which
 * .ci/run installs), one member on loopback, on free ports, in a temp data
 * dir. Tests that need it declare their suites with requireEtcd().
 */

const ETCD_BINARY = process.env.MK_TEST_ETCD ?? '/usr/bin/etcd';

type DescribeFn = (name: string, fn: () => void) => void;

export function etcdAvailable(): boolean {
  try {
    fs.accessSync(ETCD_BINARY, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The `describe` for suites that need etcd. Without the binary: under
 * CI=true a suite with one failing test saying so (the etcd tests must not
 * silently vanish in CI); elsewhere `describe.skip`, after saying why.
 */
export function requireEtcd(): DescribeFn {
  if (etcdAvailable()) return describe;
  const reason = `no etcd binary at ${ETCD_BINARY} (apt-get install etcd-server, or set MK_TEST_ETCD)`;
  if (process.env.CI === 'true') {
    return (name) =>
      describe(name, () => {
        it('needs etcd', () => {
          throw new Error(`CI=true and ${reason}`);
        });
      });
  }
  process.stderr.write(`skipping etcd tests: ${reason}\n`);
  return describe.skip as DescribeFn;
}

export interface EtcdTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface TestEtcd {
  /** The client URL, e.g. http://127.0.0.1:40123 (https:// with TLS). */
  endpoint: string;
  dataDir: string;
  /** With `tls`: the CA that signed etcd's certificate, and a client certificate etcd requires. */
  tls?: EtcdTlsFiles;
  /** Stops the member (SIGTERM, or SIGKILL with `kill`) and waits for it to exit; the data dir stays. */
  stop(opts?: { kill?: boolean }): Promise<void>;
  /** Starts the member again on the same ports and data dir, and waits until it is healthy. */
  start(): Promise<void>;
  /** Stops the member and removes its data dir. */
  destroy(): Promise<void>;
}

/**
 * A CA and server certificate for 127.0.0.1 (the API server's own
 * ensureTls), plus a client certificate the same CA signs.
 */
async function makeTls(dir: string): Promise<EtcdTlsFiles & { serverCert: string; serverKey: string }> {
  const { caPem } = await ensureTls(dir, ['127.0.0.1', 'localhost']);
  const tlsDir = path.join(dir, 'tls');
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const caKeyDer = Buffer.from(fs.readFileSync(path.join(tlsDir, 'ca.key'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const caKey = await webcrypto.subtle.importKey('pkcs8', caKeyDer, algorithm, true, ['sign']);
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = new x509.X509Certificate(caPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject: 'CN=mk-test-client',
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 24 * 3600_000),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  const keyDer = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const files = {
    caFile: path.join(tlsDir, 'ca.crt'),
    certFile: path.join(tlsDir, 'client.crt'),
    keyFile: path.join(tlsDir, 'client.key'),
    serverCert: path.join(tlsDir, 'server.crt'),
    serverKey: path.join(tlsDir, 'server.key'),
  };
  fs.writeFileSync(files.certFile, cert.toString('pem'));
  fs.writeFileSync(files.keyFile, `-----BEGIN PRIVATE KEY-----\n${keyDer.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`);
  return files;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

interface EtcdProcess {
  proc: ChildProcess;
  /** Resolves once the process has exited. */
  exited: Promise<void>;
  /** Resolves once it answers healthy at `endpoint`; rejects (and kills it) if it exits first or takes over 30 s. */
  ready: Promise<void>;
}

/** Runs the etcd binary with `args`, its output appended to `logFile`. */
function launchEtcd(args: string[], endpoint: string, logFile: string, tls?: EtcdTlsFiles): EtcdProcess {
  const log = fs.openSync(logFile, 'a');
  const proc = spawn(ETCD_BINARY, [...args, '--log-level', 'warn', '--logger', 'zap'], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  running.add(proc);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => {
    running.delete(proc);
    resolve();
  }));
  const clientTls = tls && { ca: fs.readFileSync(tls.caFile), cert: fs.readFileSync(tls.certFile), key: fs.readFileSync(tls.keyFile) };
  const ready = waitEtcdHealthy(proc, endpoint, { logFile, tls: clientTls }).catch((err) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return { proc, exited, ready };
}

/**
 * Starts a one-member etcd and resolves once its /health answers true. With
 * `tls`, clients speak https and must show a certificate signed by its CA.
 */
export async function startEtcd(opts: { tls?: boolean } = {}): Promise<TestEtcd> {
  const dataDir = tempDir('mk-etcd-');
  const tls = opts.tls ? await makeTls(dataDir) : undefined;
  const scheme = tls ? 'https' : 'http';
  let clientPort = await freeLoopbackPort();
  let peerPort = await freeLoopbackPort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const client = `${scheme}://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const etcd = launchEtcd([
      '--name', 'mk-test',
      '--data-dir', path.join(dataDir, 'member'),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `mk-test=${peer}`,
      ...(tls ? ['--cert-file', tls.serverCert, '--key-file', tls.serverKey, '--trusted-ca-file', tls.caFile, '--client-cert-auth'] : []),
    ], client, path.join(dataDir, 'etcd.log'), tls);
    child = etcd.proc;
    exited = etcd.exited;
    await etcd.ready;
  };

  // A port picked free can be taken before etcd binds it: try fresh ports a few times.
  for (let attempt = 0; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 2) throw err;
      await exited;
      fs.rmSync(path.join(dataDir, 'member'), { recursive: true, force: true });
      clientPort = await freeLoopbackPort();
      peerPort = await freeLoopbackPort();
    }
  }

  const stop = async (opts: { kill?: boolean } = {}): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill(opts.kill ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  return {
    endpoint: `${scheme}://127.0.0.1:${clientPort}`,
    dataDir,
    tls: tls && { caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile },
    stop,
    start: launch,
    destroy: async () => {
      await stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TcpProxy {
  /** The endpoint to give the client under test instead of etcd's. */
  endpoint: string;
  /**
   * Cuts the client off: 'refuse' closes every connection and refuses new
   * ones (a stopped etcd, seen from the client); 'blackhole' keeps accepting
   * but forwards nothing (a partition: calls hang until their deadline).
   */
  cut(mode?: 'refuse' | 'blackhole'): void;
  /** Forwards again (new connections only, as after a real partition heals). */
  restore(): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy in front of etcd, so a test can take one client's
 * connection away while etcd keeps serving others.
 */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  let mode: 'open' | 'refuse' | 'blackhole' = 'open';
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    if (mode === 'blackhole') {
      client.pause();
      return;
    }
    const upstream = net.connect(Number(port), hostname);
    track(upstream);
    // Not pipe(): a blackhole drops bytes silently on connections that stay open.
    client.on('data', (d) => mode === 'open' && upstream.write(d));
    upstream.on('data', (d) => mode === 'open' && client.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const dropAll = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut: (how = 'refuse') => {
      mode = how;
      if (how === 'refuse') dropAll();
    },
    restore: () => {
      mode = 'open';
      // Connections that lost bytes in a blackhole are broken for good, as after a real partition.
      dropAll();
    },
    close: async () => {
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface TestEtcdMember {
  name: string;
  /** The member's client URL. */
  endpoint: string;
  /** Whether the process is up (it may still be catching up with the others). */
  readonly running: boolean;
  /** Stops the member (SIGTERM, or SIGKILL with `kill`) and waits for it to exit; its data dir stays. */
  stop(opts?: { kill?: boolean }): Promise<void>;
  /** Starts it again on the same ports and data and waits until it answers healthy (it has a leader). */
  start(): Promise<void>;
  /** Whether the member answers /health with true: it is up and sees a leader. */
  healthy(): Promise<boolean>;
}

export interface TestEtcdCluster {
  members: TestEtcdMember[];
  /** Every member's client URL, comma-separated: the value of --datastore-endpoint. */
  endpoint: string;
  /** Stops every member and removes the data dirs. */
  destroy(): Promise<void>;
}

/**
 * A real etcd cluster of `size` members (3 by default) on loopback, on
 * free ports, each with its own data dir under one temp dir. Resolves once
 * every member answers healthy, which needs an elected leader.
 */
export async function startEtcdCluster(size = 3): Promise<TestEtcdCluster> {
  const root = tempDir('mk-etcd-cluster-');
  // A port picked free can be taken before etcd binds it: start the whole cluster again on fresh ports a few times.
  for (let attempt = 1; ; attempt++) {
    const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freeLoopbackPort(), peer: await freeLoopbackPort() })));
    const names = ports.map((_, i) => `mk-test-${i}`);
    const initialCluster = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(',');
    const clusterToken = `mk-test-${path.basename(root)}-${attempt}`;
    const members = ports.map((p, i) => clusterMember(root, names[i], p.client, p.peer, initialCluster, clusterToken));
    try {
      // All at once: a member is healthy only when a quorum has elected a leader.
      await Promise.all(members.map((m) => m.start()));
      return {
        members,
        endpoint: members.map((m) => m.endpoint).join(','),
        destroy: async () => {
          await Promise.all(members.map((m) => m.stop({ kill: true })));
          fs.rmSync(root, { recursive: true, force: true });
        },
      };
    } catch (err) {
      await Promise.all(members.map((m) => m.stop({ kill: true })));
      for (const n of names) fs.rmSync(path.join(root, n), { recursive: true, force: true });
      if (attempt >= 3 || !/address already in use/.test((err as Error).message)) {
        fs.rmSync(root, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

function clusterMember(root: string, name: string, clientPort: number, peerPort: number, initialCluster: string, clusterToken: string): TestEtcdMember {
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const isRunning = () => !!child && child.exitCode === null && child.signalCode === null;
  return {
    name,
    endpoint,
    get running() {
      return isRunning();
    },
    healthy: () => etcdHealthy(endpoint),
    stop: async (opts = {}) => {
      if (isRunning()) child!.kill(opts.kill ? 'SIGKILL' : 'SIGTERM');
      await exited;
    },
    start: async () => {
      if (isRunning()) return;
      const etcd = launchEtcd([
        '--name', name,
        '--data-dir', path.join(root, name),
        '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
        '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
        // Read on the first start only; a restarted member takes the membership from its data dir.
        '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', clusterToken,
      ], endpoint, path.join(root, `${name}.log`));
      child = etcd.proc;
      exited = etcd.exited;
      await etcd.ready;
    },
  };
}
