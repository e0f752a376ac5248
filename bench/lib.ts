import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';

/** Shared pieces of the benchmarks: a real `mk server` child process and a small HTTP load client. */

export interface ServerProcess {
  url: string;
  token: string;
  /** The cluster CA the server's certificate is signed by. */
  caPem: string;
  dataDir: string;
  child: ChildProcess;
  /** Peak resident set size of the server so far, from /proc (bytes). */
  peakRss(): number;
  stop(): Promise<void>;
}

const ROOT = path.join(__dirname, '..');

/** Starts `mk server` (the compiled binary, as users run it) on a free port in a temp data dir. */
export async function startServerProcess(extraArgs: string[] = []): Promise<ServerProcess> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-bench-'));
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), 'server', '--data-dir', dataDir, '--port', '0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving the Kubernetes API at (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`mk server exited with ${code} before serving`)));
  });
  const token = fs.readFileSync(path.join(dataDir, 'token'), 'utf8').trim();
  const caPem = fs.readFileSync(path.join(dataDir, 'tls', 'ca.crt'), 'utf8');
  let peak = 0;
  const sample = () => {
    try {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
    } catch {
      // the process has exited; keep the last reading
    }
  };
  const sampler = setInterval(sample, 200);
  return {
    url,
    token,
    caPem,
    dataDir,
    child,
    peakRss: () => (sample(), peak),
    stop: async () => {
      clearInterval(sampler);
      sample();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Response {
  status: number;
  body: string;
}

/** A keep-alive HTTPS client with the cluster token and CA; `maxSockets` bounds concurrency. */
export function client(server: { url: string; token: string; caPem: string }, maxSockets = 64) {
  const { url: baseUrl, token } = server;
  const agent = new https.Agent({ keepAlive: true, maxSockets, ca: server.caPem });
  const u = new URL(baseUrl);
  return (method: string, urlPath: string, body?: string): Promise<Response> =>
    new Promise((resolve, reject) => {
      const req = https.request(
        {
          agent,
          host: u.hostname,
          port: u.port,
          method,
          path: urlPath,
          headers: {
            Authorization: `Bearer ${token}`,
            ...(body ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', reject);
      if (body) req.write(body);
      req.end();
    });
}

/** Runs `total` tasks with at most `concurrency` in flight; returns each task's latency (ms). */
export async function runConcurrent(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = new Array(total);
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const start = performance.now();
      await task(i);
      latencies[i] = performance.now() - start;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return latencies;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
