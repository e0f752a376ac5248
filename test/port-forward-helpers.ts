import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { eventually } from './helpers';

/**
 * Running `mk port-forward` and `kubectl port-forward` as child processes,
 * and talking to the local ports they open. Shared by the integration test
 * (a scripted pod) and the Docker e2e test (a real one).
 */

export interface Forwarder {
  child: ChildProcess;
  /** Local port of each remote port, from the `Forwarding from 127.0.0.1:L -> R` lines. */
  local: Map<number, number>;
  stdout(): string;
  stderr(): string;
  /** Settles with the exit code (null when killed by a signal) once the process is gone. */
  exited: Promise<number | null>;
  /** SIGINT, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `file args` and waits until it prints a 127.0.0.1 `Forwarding
 * from` line for each of `remotes` (in any order); fails with its output if
 * it exits first or takes longer than `timeoutMs`.
 */
export async function startForwarder(file: string, args: string[], remotes: number[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Forwarder> {
  const child = spawn(file, args, { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const local = new Map<number, number>();
  const forwarder: Forwarder = {
    child,
    local,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: async () => {
      if (!gone) child.kill('SIGINT');
      return exited;
    },
  };
  try {
    await eventually(() => {
      for (const m of out.matchAll(/^Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)$/gm)) local.set(Number(m[2]), Number(m[1]));
      if (gone) return;
      for (const r of remotes) if (!local.has(r)) throw new Error(`no "Forwarding from" line for ${r} yet:\n${out}${err}`);
    }, timeoutMs, 50);
    if (remotes.some((r) => !local.has(r))) throw new Error(`${path.basename(file)} exited before forwarding:\n${out}${err}`);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return forwarder;
}

/** GET http://127.0.0.1:PORT/PATH on a connection of its own; resolves with status and body. */
export function httpGet(port: number, urlPath: string, timeoutMs = 15_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET :${port}${urlPath} timed out`)));
    req.on('error', reject);
  });
}

/**
 * Connects to 127.0.0.1:PORT, sends `data` (if any), and resolves with
 * everything received until the other side closes the connection.
 */
export function tcpExchange(port: number, data?: Buffer, timeoutMs = 15_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => socket.destroy(new Error(`no close from :${port} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => {
      if (data) socket.write(data);
    });
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * The kubectl on PATH (undefined when there is none), and the pinned
 * releases beside it (`kubectl.1.27` ...), oldest first, as the Google
 * Cloud SDK's dispatcher keeps them.
 */
export function kubectlBinaries(): { kubectl?: string; pinned: string[] } {
  const which = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  if (which.status !== 0) return { pinned: [] };
  const kubectl = which.stdout.trim();
  const dir = path.dirname(fs.realpathSync(kubectl));
  const minor = (f: string) => Number(/^kubectl\.1\.(\d+)$/.exec(f)?.[1]);
  const pinned = fs
    .readdirSync(dir)
    .filter((f) => Number.isFinite(minor(f)))
    .sort((a, b) => minor(a) - minor(b))
    .map((f) => path.join(dir, f));
  return { kubectl, pinned };
}

/**
 * Sends `payload` to 127.0.0.1:PORT, reads until as many bytes came back,
 * then half-closes and waits for the connection to close; resolves with what
 * came back.
 */
export function tcpEcho(port: number, payload: Buffer, timeoutMs = 60_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const timer = setTimeout(() => socket.destroy(new Error(`echo through :${port}: ${received} of ${payload.length} bytes back within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (c) => {
      chunks.push(c);
      received += c.length;
      if (received >= payload.length) socket.end();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
