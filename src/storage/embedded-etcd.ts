import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { processAlive } from '../pid';

/**
 * `mk server --cluster-init`: an etcd process mk starts, watches and stops
 * itself (as k3s's --cluster-init runs an embedded etcd), for users who
 * have the etcd binary and want the distributed engine without running
 * etcd by hand. One member on loopback, data in `<data-dir>/etcd`; a
 * restart finds its data there. The API server reaches it like any etcd,
 * through --datastore-endpoint's client.
 *
 * The process runs in its own process group, so a Ctrl-C meant for mk
 * does not stop etcd before mk has closed its store; mk stops it last.
 * Its pid is kept in `<data-dir>/etcd.pid`: after mk was killed without a
 * chance to stop it, the next start stops the orphan first (etcd locks its
 * data dir, so two cannot share it anyway).
 */

export interface EmbeddedEtcdOptions {
  /** mk's data dir: etcd keeps its data in `etcd/` under it, its log in `etcd.log`. */
  dataDir: string;
  /** Loopback ports; 0 picks a free one at each start. Defaults 2379 and 2380, etcd's own. */
  clientPort?: number;
  peerPort?: number;
  /** The etcd executable (default: `etcd` on PATH, else /usr/bin/etcd). */
  binary?: string;
  /** How long etcd may take to answer /health after it was started (default 30 s). */
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface EmbeddedEtcd {
  /** The client URL, e.g. `http://127.0.0.1:2379`: what --datastore-endpoint would say. */
  endpoint: string;
  /** The running etcd's process id (it changes when etcd had to be restarted). */
  readonly pid: number | undefined;
  /** Stops etcd (SIGTERM; SIGKILL after 10 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** No etcd binary to run: the message says where mk looked and how to get one. */
export class EtcdNotFoundError extends Error {
  constructor(looked: string) {
    super(
      `--cluster-init runs etcd, but there is no etcd binary ${looked} ` +
      '(Debian/Ubuntu: apt-get install etcd-server; elsewhere etcd v3.4 or later from https://github.com/etcd-io/etcd/releases)',
    );
    this.name = 'EtcdNotFoundError';
  }
}

const DEFAULT_CLIENT_PORT = 2379;
const DEFAULT_PEER_PORT = 2380;
const STOP_GRACE_MS = 10_000;
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

/** The etcd executable: the one given, else `etcd` on PATH, else Debian's /usr/bin/etcd. */
export function findEtcdBinary(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const executable = (p: string) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (explicit) {
    if (executable(explicit)) return explicit;
    throw new EtcdNotFoundError(`at ${explicit}`);
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'etcd');
    if (executable(candidate)) return candidate;
  }
  if (executable('/usr/bin/etcd')) return '/usr/bin/etcd';
  throw new EtcdNotFoundError('on PATH or at /usr/bin/etcd');
}

/** A loopback port nothing listens on now. */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The client certificate and CA for an etcd that serves https and requires client certificates. */
export interface EtcdClientTls {
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
}

/** etcd's own health check: a member with a quorum behind it answers `{"health":"true"}`. */
export function etcdHealthy(endpoint: string, opts: { timeoutMs?: number; tls?: EtcdClientTls } = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
      res.on('error', () => resolve(false));
    };
    const url = `${endpoint}/health`;
    const timeout = opts.timeoutMs ?? 1000;
    const req = opts.tls ? https.get(url, { timeout, ...opts.tls }, onResponse) : http.get(url, { timeout }, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/**
 * Resolves once the etcd `proc` answers healthy at `endpoint`; rejects,
 * with the end of its log, if it exits first or is not healthy within
 * `timeoutMs` (default 30 s).
 */
export async function waitEtcdHealthy(
  proc: ChildProcess, endpoint: string, opts: { logFile: string; timeoutMs?: number; tls?: EtcdClientTls },
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  while (!(await etcdHealthy(endpoint, { tls: opts.tls }))) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`etcd exited with ${proc.signalCode ?? `code ${proc.exitCode}`} while starting; the end of ${opts.logFile}:\n${logTail(opts.logFile)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`etcd did not become healthy at ${endpoint} within ${timeoutMs / 1000} s; the end of ${opts.logFile}:\n${logTail(opts.logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Stops an etcd a killed mk left running on this data dir (only that one: its command line names the dir). */
async function stopOrphan(pidFile: string, etcdDir: string, log: (line: string) => void): Promise<void> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return;
  let cmdline = '';
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  const args = cmdline.split('\0');
  if (!args.some((a) => path.basename(a) === 'etcd') || !args.includes(etcdDir)) return;
  log(`mk server: stopping etcd (pid ${pid}) left running on ${etcdDir} by an earlier mk server`);
  process.kill(pid, 'SIGTERM');
  if (!(await waitGone(pid, STOP_GRACE_MS))) {
    process.kill(pid, 'SIGKILL');
    await waitGone(pid, STOP_GRACE_MS);
  }
}

function logTail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts etcd and resolves once it is healthy. If it exits on its own
 * later, it is started again on the same ports and data, with a backoff
 * (1 s doubling to 30 s); the API server answers 503 meanwhile and recovers
 * by itself, as with any etcd that goes away.
 */
export async function startEmbeddedEtcd(opts: EmbeddedEtcdOptions): Promise<EmbeddedEtcd> {
  const log = opts.log ?? (() => undefined);
  const binary = findEtcdBinary(opts.binary);
  const etcdDir = path.join(opts.dataDir, 'etcd');
  const logFile = path.join(opts.dataDir, 'etcd.log');
  const pidFile = path.join(opts.dataDir, 'etcd.pid');
  fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  await stopOrphan(pidFile, etcdDir, log);

  const wantClient = opts.clientPort ?? DEFAULT_CLIENT_PORT;
  const wantPeer = opts.peerPort ?? DEFAULT_PEER_PORT;
  let clientPort = wantClient || (await freeLoopbackPort());
  let peerPort = wantPeer || (await freeLoopbackPort());
  const endpointOf = () => `http://127.0.0.1:${clientPort}`;

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopping = false;
  /** Set once etcd first answered: from then on an exit is a crash to recover from, not a failed start. */
  let supervising = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let restartDelayMs = RESTART_MIN_MS;

  const launch = (): ChildProcess => {
    const client = endpointOf();
    const peer = `http://127.0.0.1:${peerPort}`;
    const out = fs.openSync(logFile, 'a', 0o600);
    const proc = spawn(binary, [
      '--name', 'mk',
      '--data-dir', etcdDir,
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      // Read on the first start only; later starts take the membership from the data dir.
      '--initial-cluster', `mk=${peer}`, '--initial-cluster-state', 'new',
      '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn',
    ], { stdio: ['ignore', out, out], detached: true });
    fs.closeSync(out);
    child = proc;
    if (proc.pid) fs.writeFileSync(pidFile, `${proc.pid}\n`, { mode: 0o600 });
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.once('exit', (code, signal) => {
      if (child !== proc || stopping || !supervising) return;
      child = undefined;
      log(`mk server: etcd exited (${signal ?? `code ${code}`}); starting it again in ${restartDelayMs / 1000} s (log: ${logFile})`);
      restartTimer = setTimeout(() => void restart(), restartDelayMs);
      restartDelayMs = Math.min(restartDelayMs * 2, RESTART_MAX_MS);
    });
    return proc;
  };

  const waitHealthy = (proc: ChildProcess) => waitEtcdHealthy(proc, endpointOf(), { logFile, timeoutMs: opts.startTimeoutMs });

  const restart = async (): Promise<void> => {
    restartTimer = undefined;
    if (stopping) return;
    const proc = launch();
    try {
      await waitHealthy(proc);
      restartDelayMs = RESTART_MIN_MS;
      log(`mk server: etcd is back (pid ${proc.pid})`);
    } catch (err) {
      // A restart that exits is retried by the exit handler; one that hangs unhealthy is left to settle.
      log(`mk server: ${(err as Error).message.split('\n')[0]}`);
    }
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  // A port picked free can be taken before etcd binds it: with port 0, try fresh ports a few times.
  for (let attempt = 1; ; attempt++) {
    const proc = launch();
    try {
      await waitHealthy(proc);
      break;
    } catch (err) {
      await kill();
      const raced = (wantClient === 0 || wantPeer === 0) && /address already in use/.test(logTail(logFile));
      if (!raced || attempt >= 3) throw err;
      if (wantClient === 0) clientPort = await freeLoopbackPort();
      if (wantPeer === 0) peerPort = await freeLoopbackPort();
    }
  }
  supervising = true;
  log(`mk server: etcd (pid ${child?.pid}) serving on ${endpointOf()}, data in ${etcdDir}, log in ${logFile}`);

  return {
    endpoint: endpointOf(),
    get pid() {
      return child?.pid;
    },
    stop: async () => {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      await kill();
      fs.rmSync(pidFile, { force: true });
    },
  };
}
