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
  /** CPU time (user + system, all threads) the server has used so far, from /proc (seconds). */
  cpuSeconds(): number;
  /** Stops the server (SIGTERM, a clean shutdown) and removes its data dir unless `keepData`. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

const ROOT = path.join(__dirname, '..');

/**
 * Starts `mk server` (the compiled binary, as users run it) on a free port in a temp data dir.
 * `nodeArgs` go to node itself, e.g. `['--cpu-prof', '--cpu-prof-dir', dir]` (written at exit).
 * Given a `dataDir` a previous server kept, starts on that state (a restart).
 */
export async function startServerProcess(
  extraArgs: string[] = [], nodeArgs: string[] = [], dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-bench-')),
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'bin', 'run.js'), 'server', '--data-dir', dataDir, '--port', '0', ...extraArgs], {
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
    cpuSeconds: () => cpuSecondsOf(child.pid!),
    stop: async (opts = {}) => {
      clearInterval(sampler);
      sample();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      if (!opts.keepData) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** User + system CPU a process has used, all its threads. */
function cpuSecondsOf(pid: number): number {
  // Fields 14 and 15 of /proc/PID/stat, after the parenthesised command name; clock ticks of 1/100 s on Linux.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface AgentProcess {
  child: ChildProcess;
  /** Stops the agent (SIGTERM) and removes its data dir. */
  stop(): Promise<void>;
  /** CPU time the agent has used so far, in seconds. */
  cpuSeconds(): number;
}

/**
 * Starts `mk agent --runtime fake --nodes N` against `server` (nodes NAME-0001...):
 * every pod bound to one of them is reported Running and Ready over HTTPS, as a
 * kubelet would, without containers. Resolves once the nodes are registered.
 */
export async function startFakeAgent(server: ServerProcess, nodes: number, nodeArgs: string[] = []): Promise<AgentProcess> {
  const agentDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-bench-agent-'));
  const child = spawn(process.execPath, [
    ...nodeArgs, path.join(ROOT, 'bin', 'run.js'), 'agent', '--runtime', 'fake', '--nodes', String(nodes), '--node', 'fake',
    '--kubeconfig', path.join(server.dataDir, 'kubeconfig.yaml'), '--data-dir', agentDir, '--port', '0',
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(agentDir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let out: string | undefined = '';
      // The listener stays to keep the pipe drained; the agent blocks on a full one.
      child.stdout!.on('data', (d: Buffer) => {
        if (out === undefined) return;
        out += d.toString();
        if (out.includes('node(s) registered')) {
          out = undefined;
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`mk agent exited with ${code}`)));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, stop, cpuSeconds: () => cpuSecondsOf(child.pid!) };
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

export interface WatchStream {
  close(): void;
  /** Resolves when the stream ends (closed by either side). */
  ended: Promise<void>;
}

/**
 * Opens a watch (`?watch=true`, one JSON event per line) on its own connection and
 * calls `onEvent` for every event as it arrives; resolves once the server answered.
 */
export function watch(
  server: { url: string; token: string; caPem: string }, urlPath: string, onEvent: (event: any) => void,
): Promise<WatchStream> {
  const u = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: u.hostname, port: u.port, path: urlPath, ca: server.caPem, agent: false, headers: { Authorization: `Bearer ${server.token}` } },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`watch ${urlPath} answered ${res.statusCode}`));
          res.resume();
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            if (line.trim()) onEvent(JSON.parse(line));
          }
        });
        const ended = new Promise<void>((done) => {
          res.on('end', done);
          res.on('close', done);
          res.on('error', () => done());
        });
        resolve({ close: () => req.destroy(), ended });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export interface ProfileSummary {
  /** Sampled time inside the window. */
  totalMs: number;
  /** Functions by self time, most first: `name (file:line)`. */
  selfTop: { name: string; ms: number }[];
  /** Time with at least one frame from each area on the stack (an area counts once per sample). */
  inclusive: { area: string; ms: number }[];
  /** Functions matching `focus`, by inclusive time (time with the function anywhere on the stack). */
  focusTop: { name: string; ms: number }[];
}

export interface ProfileOptions {
  /** Labels for frames whose `url functionName` matches the pattern (first match wins per frame). */
  areas: [string, RegExp][];
  /** Functions (by `url functionName`) to list by inclusive time. */
  focus?: RegExp;
  top?: number;
  /**
   * Only samples taken in this window, in microseconds of the monotonic clock
   * (`process.hrtime.bigint() / 1000n` in any process on the machine: V8 stamps
   * samples with the same CLOCK_MONOTONIC).
   */
  windowUs?: [number, number];
}

/**
 * Sums a V8 `.cpuprofile` (from `node --cpu-prof`): the hottest functions by
 * self time, inclusive time per area, and inclusive time of focus functions.
 */
export function summarizeCpuProfile(file: string, opts: ProfileOptions): ProfileSummary {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
    startTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const top = opts.top ?? 25;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const labels = new Map<number, string>();
  const areaOf = new Map<number, string | undefined>();
  const focused = new Set<number>();
  for (const n of prof.nodes) {
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(ROOT + '/', '')}:${f.lineNumber + 1}` : 'native';
    labels.set(n.id, `${f.functionName || '(anonymous)'} (${where})`);
    const text = `${f.url} ${f.functionName}`;
    areaOf.set(n.id, opts.areas.find(([, re]) => re.test(text))?.[0]);
    if (opts.focus?.test(text)) focused.add(n.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const focusTime = new Map<string, number>();
  let totalUs = 0;
  let t = prof.startTime;
  prof.samples.forEach((id, i) => {
    t += prof.timeDeltas[i] ?? 0;
    if (opts.windowUs && (t < opts.windowUs[0] || t > opts.windowUs[1])) return;
    const us = prof.timeDeltas[i + 1] ?? 0; // a sample stands for the time until the next one
    totalUs += us;
    const name = labels.get(id)!;
    self.set(name, (self.get(name) ?? 0) + us);
    const seenAreas = new Set<string>();
    const seenFns = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const area = areaOf.get(cur);
      if (area && !seenAreas.has(area)) {
        seenAreas.add(area);
        inclusive.set(area, (inclusive.get(area) ?? 0) + us);
      }
      if (focused.has(cur)) {
        const fn = labels.get(cur)!;
        if (!seenFns.has(fn)) {
          seenFns.add(fn);
          focusTime.set(fn, (focusTime.get(fn) ?? 0) + us);
        }
      }
    }
  });
  const ranked = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  return {
    totalMs: totalUs / 1000,
    selfTop: ranked(self, top).map(([name, us]) => ({ name, ms: us / 1000 })),
    inclusive: ranked(inclusive, Infinity).map(([area, us]) => ({ area, ms: us / 1000 })),
    focusTop: ranked(focusTime, top).map(([name, us]) => ({ name, ms: us / 1000 })),
  };
}
