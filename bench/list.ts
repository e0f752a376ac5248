/**
 * List benchmark (issue 7): `kubectl get pods -A` and `mk get pods -A` with
 * 10,000 pods in the store, against `curl` of the raw JSON list in the same
 * run; and the list endpoint itself timed from a client in this process,
 * request to last byte, for the JSON list and for the Table kubectl asks for.
 *
 *   npm run bench:list
 *   npm run bench:list -- --pods 10000 --nodes 100 --rounds 5 [--cpu-prof DIR]
 *
 * The pods are what `mk apply` makes of a small manifest (labels, the
 * last-applied annotation, one container with ports, env and resources),
 * spread over four namespaces; with `--nodes N` (default 100) the scheduler
 * binds them to N fake nodes and a fake agent reports them Running, so they
 * carry the status, managedFields and columns of a live cluster (`--nodes 0`
 * leaves them Pending). Each round runs every path once, in reverse order
 * every other round so drift in the machine's load falls on all of them;
 * medians and minimums are reported, with the load average around the runs.
 * Server CPU per call is what the server process spent during the call (all
 * of it, so also its controllers' and the agent's heartbeats' share): on a
 * busy machine it compares runs better than wall time.
 *
 * Target: the list endpoint answers 10,000 pods in under 300 ms.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { arg, client, mb, runConcurrent, startFakeAgent, startServerProcess, type ServerProcess } from './lib';

const ROOT = path.join(__dirname, '..');
const NAMESPACES = ['default', 'team-a', 'team-b', 'team-c'];
/** The Accept header kubectl get sends: a Table, else plain JSON. */
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

/** A pod as `mk apply` creates it from a manifest: the manifest plus its last-applied annotation. */
function podJson(i: number): string {
  const namespace = NAMESPACES[i % NAMESPACES.length]!;
  const manifest = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `web-${i}`, namespace, labels: { app: `web-${i % 50}`, tier: i % 3 === 0 ? 'backend' : 'frontend' } },
    spec: {
      containers: [{
        name: 'web',
        image: 'busybox:1.36',
        command: ['httpd', '-f', '-p', '8080'],
        ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }],
        env: [{ name: 'MODE', value: 'production' }, { name: 'SHARD', value: String(i % 16) }],
        resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
      }],
    },
  };
  const annotated = structuredClone(manifest) as any;
  annotated.metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify(manifest)}\n` };
  return JSON.stringify(annotated);
}

interface Timed {
  ms: number;
  bytes: number;
}

/**
 * GET `urlPath` over `agent` (keep-alive, so no TLS handshake is timed), from
 * request to last byte. The body is kept only with `keep`: collecting tens of
 * megabytes would be timed as the endpoint's.
 */
function timedGet(server: ServerProcess, agent: https.Agent, urlPath: string, accept?: string, keep = false): Promise<Timed & { body: Buffer }> {
  const u = new URL(server.url);
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = https.request(
      { agent, host: u.hostname, port: u.port, path: urlPath, headers: { Authorization: `Bearer ${server.token}`, ...(accept ? { Accept: accept } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (keep || res.statusCode !== 200) chunks.push(c);
        });
        res.on('end', () => {
          const ms = performance.now() - start;
          const body = Buffer.concat(chunks);
          if (res.statusCode !== 200) reject(new Error(`GET ${urlPath} answered ${res.statusCode}: ${body.toString().slice(0, 300)}`));
          else resolve({ ms, bytes, body });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Runs a command to completion, timed from spawn to exit; stdout is counted, stderr kept for errors. */
function timedCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed & { lines: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let lines = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - start;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${stderr.slice(0, 500)}`));
      else resolve({ ms, bytes, lines });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function loadavg(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

async function main(): Promise<void> {
  const total = arg('pods', 10_000);
  const nodes = arg('nodes', 100);
  const rounds = arg('rounds', 5);
  // --cpu-prof DIR writes a V8 CPU profile of the server there at exit.
  const profDir = process.argv.includes('--cpu-prof') ? process.argv[process.argv.indexOf('--cpu-prof') + 1] : undefined;
  const profArgs = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', 'server.cpuprofile'] : [];

  const server = await startServerProcess(['--disable-agent'], profArgs);
  const agent = nodes > 0 ? await startFakeAgent(server, nodes) : undefined;
  const kubeconfig = path.join(server.dataDir, 'kubeconfig.yaml');
  const caFile = path.join(server.dataDir, 'tls', 'ca.crt');
  const kubectlCache = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-bench-kubectl-cache-'));
  try {
    const request = client(server, 32);
    for (const ns of NAMESPACES.filter((n) => n !== 'default')) {
      const r = await request('POST', '/api/v1/namespaces', JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }));
      if (r.status !== 201) throw new Error(`namespace create answered ${r.status}: ${r.body}`);
    }
    const createStart = performance.now();
    await runConcurrent(total, 32, async (i) => {
      const ns = NAMESPACES[i % NAMESPACES.length];
      const r = await request('POST', `/api/v1/namespaces/${ns}/pods?fieldManager=mk`, podJson(i));
      if (r.status !== 201) throw new Error(`pod create answered ${r.status}: ${r.body}`);
    });
    const createSeconds = (performance.now() - createStart) / 1000;
    let readySeconds: number | undefined;
    if (agent) {
      const deadline = Date.now() + 300_000;
      for (;;) {
        const r = await request('GET', '/api/v1/pods?fieldSelector=status.phase!%3DRunning&limit=1');
        if (JSON.parse(r.body).items.length === 0) break;
        if (Date.now() > deadline) throw new Error('pods not all Running within 300 s');
        await new Promise((res) => setTimeout(res, 500));
      }
      readySeconds = (performance.now() - createStart) / 1000;
    }

    const agentHttps = new https.Agent({ keepAlive: true, maxSockets: 1, ca: server.caPem });
    const check = await timedGet(server, agentHttps, '/api/v1/pods', undefined, true);
    const list = JSON.parse(check.body.toString());
    if (list.items.length !== total || !list.metadata?.resourceVersion) throw new Error(`list has ${list.items.length} items, want ${total}`);
    const podBytes = Math.round(check.bytes / total);

    const env = { ...process.env, KUBECONFIG: kubeconfig };
    type Path = { label: string; run: () => Promise<Timed & { lines?: number }>; wantLines?: number };
    const paths: Path[] = [
      { label: 'list endpoint, JSON', run: () => timedGet(server, agentHttps, '/api/v1/pods') },
      { label: 'list endpoint, Table', run: () => timedGet(server, agentHttps, '/api/v1/pods', TABLE_ACCEPT) },
      {
        label: 'curl (raw JSON list)',
        run: () => timedCommand('curl', ['-sS', '--fail', '--cacert', caFile, '-H', `Authorization: Bearer ${server.token}`, `${server.url}/api/v1/pods`, '-o', '/dev/null']),
      },
      { label: 'kubectl get pods -A', run: () => timedCommand('kubectl', ['--cache-dir', kubectlCache, 'get', 'pods', '-A'], env), wantLines: total + 1 },
      // What kubectl costs before any pod is printed (its dispatcher, /version, discovery from its cache).
      { label: 'kubectl get (empty ns)', run: () => timedCommand('kubectl', ['--cache-dir', kubectlCache, 'get', 'pods', '-n', 'empty'], env) },
      { label: 'mk get pods -A', run: () => timedCommand(process.execPath, [path.join(ROOT, 'bin', 'run.js'), 'get', 'pods', '-A'], env), wantLines: total + 1 },
      // What mk and node cost before any pod is printed: the same command on an empty namespace.
      { label: 'mk get (empty ns)', run: () => timedCommand(process.execPath, [path.join(ROOT, 'bin', 'run.js'), 'get', 'pods', '-n', 'empty'], env) },
    ];

    // Warm-up: JIT on both sides, kubectl's discovery cache, the OS page cache for the binaries.
    for (const p of paths) await p.run();

    const times = new Map<string, number[]>(paths.map((p) => [p.label, []]));
    const cpu = new Map<string, number>(paths.map((p) => [p.label, 0]));
    const loads: string[] = [loadavg()];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? [...paths].reverse() : paths;
      for (const p of order) {
        const cpu0 = server.cpuSeconds();
        const t = await p.run();
        cpu.set(p.label, cpu.get(p.label)! + server.cpuSeconds() - cpu0);
        if (p.wantLines !== undefined && t.lines !== p.wantLines) throw new Error(`${p.label} printed ${t.lines} lines, want ${p.wantLines}`);
        times.get(p.label)!.push(t.ms);
      }
      loads.push(loadavg());
    }

    const curl = median(times.get('curl (raw JSON list)')!);
    console.log(`mk list benchmark: ${total} pods (${podBytes} bytes each in the list) in ${NAMESPACES.length} namespaces, ${nodes > 0 ? `Running on ${nodes} fake nodes` : 'Pending'}, ${rounds} rounds, ${os.cpus().length} cores`);
    console.log(`  created in ${createSeconds.toFixed(1)} s${readySeconds !== undefined ? `, all Running after ${readySeconds.toFixed(1)} s` : ''}; JSON list ${mb(check.bytes)}`);
    console.log(`  ${'path'.padEnd(24)} ${'median'.padStart(9)} ${'min'.padStart(9)}   ${'vs curl'.padStart(7)}   server CPU per call`);
    for (const p of paths) {
      const ts = times.get(p.label)!;
      const m = median(ts);
      const cpuPer = `${((cpu.get(p.label)! * 1000) / rounds).toFixed(0)} ms`;
      console.log(`  ${p.label.padEnd(24)} ${`${m.toFixed(0)} ms`.padStart(9)} ${`${Math.min(...ts).toFixed(0)} ms`.padStart(9)}   ${(m / curl).toFixed(2).padStart(7)}   ${cpuPer}`);
    }
    console.log(`  load average (1/5/15 min) before and after each round: ${loads.join(' | ')}`);
    console.log(`  server peak RSS          ${mb(server.peakRss())}`);
    const json = median(times.get('list endpoint, JSON')!);
    const table = median(times.get('list endpoint, Table')!);
    console.log(`  target                   list endpoint < 300 ms for ${total} pods: JSON ${json.toFixed(0)} ms, Table ${table.toFixed(0)} ms: ${json < 300 && table < 300 ? 'met' : 'NOT met'}`);
    agentHttps.destroy();
  } finally {
    await agent?.stop();
    await server.stop();
    fs.rmSync(kubectlCache, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
