/**
 * Scheduler benchmark (issue 3): a real `mk server` child process, N nodes
 * (32 cpu / 128Gi / 110 pods, Ready) registered through the API, then M pods
 * with requests created over HTTPS at concurrency 32. Measured from the first
 * create sent to the last binding seen on a pod watch opened before the
 * creates; then every node is checked against what is bound to it.
 *
 *   npm run bench:scheduler                          # N=1000/M=10000, then N=5000/M=10000
 *   npm run bench:scheduler -- --nodes 1000 --pods 10000 [--concurrency 32] [--cpu-prof] [--engines sqlite,etcd]
 *
 * Each run is made once per datastore engine (both by default when an etcd
 * binary is there: a one-member etcd on loopback), and each engine's raw
 * baseline is measured in the same run: M inserts of the pod JSON straight
 * into better-sqlite3, or M puts straight into etcd through etcd3 at the
 * same concurrency.
 *
 * Targets: >= 1,000 pods/s at 1,000 nodes, >= 700 pods/s at 5,000 nodes
 * (kube-scheduler's own perf test: about 680 pods/s at 5,000 nodes / 10,000 pods).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { quantityMilliValue, quantityValue } from '../src/api/quantity';
import { enginesArg, rawBaseline, startDatastore, type BenchDatastore, type Engine } from './engines';
import { arg, client, mb, percentile, runConcurrent, startServerProcess, summarizeCpuProfile, watch } from './lib';

const NODE_CPU = '32';
const NODE_MEMORY = '128Gi';
const NODE_PODS = '110';
const POD_CPU = '100m';
const POD_MEMORY = '128Mi';
/** Pods for the create-only reference: a scheduler name nobody serves, so nothing but the API works on them. */
const REFERENCE_NS = 'bench-ref';
const UNSERVED_SCHEDULER = 'bench-nobody';

function nodeJson(i: number): string {
  const name = `node-${i}`;
  const resources = { cpu: NODE_CPU, memory: NODE_MEMORY, pods: NODE_PODS, 'ephemeral-storage': '100Gi' };
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'topology.kubernetes.io/zone': `zone-${i % 3}`,
      },
    },
    spec: {},
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'bench node' }],
      nodeInfo: { kubeletVersion: 'v1.33.0-mk', operatingSystem: 'linux', architecture: 'amd64' },
    },
  });
}

function podJson(name: string, namespace = 'default', schedulerName?: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: 'bench', tier: 'web' } },
    spec: {
      ...(schedulerName ? { schedulerName } : {}),
      containers: [{
        name: 'web',
        image: 'busybox:1.36',
        command: ['httpd', '-f', '-p', '8080'],
        ports: [{ containerPort: 8080, name: 'http' }],
        resources: { requests: { cpu: POD_CPU, memory: POD_MEMORY }, limits: { cpu: '200m', memory: '256Mi' } },
      }],
      restartPolicy: 'Always',
    },
  });
}

interface RunResult {
  engine: Engine;
  nodes: number;
  pods: number;
  bound: number;
  podsPerSecond: number;
  createsWhileScheduling: number;
  createOnly: number;
  p50: number;
  p99: number;
  peakRss: number;
  overCommitOk: boolean;
  /** The engine's raw writes/s (see rawBaseline). */
  raw: number;
}

/** Sums the requests on every node from a pod list and compares with the nodes' allocatable. */
function checkOverCommit(pods: any[], nodes: any[]): { ok: boolean; lines: string[]; maxPods: number; unbound: number } {
  const used = new Map<string, { cpu: number; memory: number; pods: number }>();
  let unbound = 0;
  for (const p of pods) {
    const nodeName = p.spec?.nodeName;
    if (!nodeName) {
      unbound++;
      continue;
    }
    const u = used.get(nodeName) ?? { cpu: 0, memory: 0, pods: 0 };
    for (const c of p.spec.containers) {
      const r = c.resources?.requests ?? {};
      u.cpu += r.cpu ? quantityMilliValue(r.cpu) : 0;
      u.memory += r.memory ? quantityValue(r.memory) : 0;
    }
    u.pods++;
    used.set(nodeName, u);
  }
  const lines: string[] = [];
  let maxPods = 0;
  const known = new Set<string>();
  for (const n of nodes) {
    known.add(n.metadata.name);
    const a = n.status.allocatable;
    const u = used.get(n.metadata.name) ?? { cpu: 0, memory: 0, pods: 0 };
    maxPods = Math.max(maxPods, u.pods);
    if (u.cpu > quantityMilliValue(a.cpu)) lines.push(`${n.metadata.name}: cpu ${u.cpu}m > ${a.cpu}`);
    if (u.memory > quantityValue(a.memory)) lines.push(`${n.metadata.name}: memory ${u.memory} > ${a.memory}`);
    if (u.pods > quantityValue(a.pods)) lines.push(`${n.metadata.name}: ${u.pods} pods > ${a.pods}`);
  }
  for (const name of used.keys()) if (!known.has(name)) lines.push(`pods bound to unknown node ${name}`);
  return { ok: lines.length === 0, lines, maxPods, unbound };
}

/** Restarts on the data dir `server` left and counts the bound pods the datastore gives back. */
async function boundAfterRestart(dataDir: string, ds: BenchDatastore): Promise<{ bound: number; total: number }> {
  const again = await startServerProcess(['--disable-scheduler', '--disable-agent', ...ds.serverArgs], [], dataDir);
  try {
    const list = await client(again)('GET', '/api/v1/namespaces/default/pods');
    const items: any[] = JSON.parse(list.body).items;
    return { bound: items.filter((p) => p.spec?.nodeName).length, total: items.length };
  } finally {
    await again.stop();
  }
}

async function runOnce(engine: Engine, nodes: number, pods: number, concurrency: number, cpuProf: boolean): Promise<RunResult> {
  const ds = await startDatastore(engine);
  try {
    return await runOn(ds, nodes, pods, concurrency, cpuProf);
  } finally {
    await ds.stop();
  }
}

async function runOn(ds: BenchDatastore, nodes: number, pods: number, concurrency: number, cpuProf: boolean): Promise<RunResult> {
  const engine = ds.engine;
  const profDir = cpuProf ? fs.mkdtempSync(path.join(os.tmpdir(), 'mk-bench-prof-')) : undefined;
  // No local agent: the nodes are the ones registered through the API. No kubelet renews their Leases either,
  // so the node lifecycle controller must not mark them unreachable (and taint them) during a long run.
  const server = await startServerProcess(
    ['--disable-agent', '--node-monitor-grace-period', '1h', ...ds.serverArgs], profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [],
  );
  const request = client(server, concurrency);
  let stream: Awaited<ReturnType<typeof watch>> | undefined;
  let schedulingWindowUs: [number, number] | undefined;
  let stopped = false;
  try {
    // Nodes, registered as agents would.
    const nodesStart = performance.now();
    await runConcurrent(nodes, concurrency, async (i) => {
      const r = await request('POST', '/api/v1/nodes', nodeJson(i));
      if (r.status !== 201) throw new Error(`creating node-${i} answered ${r.status}: ${r.body}`);
    });
    const nodesSeconds = (performance.now() - nodesStart) / 1000;
    const ns = await request('POST', '/api/v1/namespaces', JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: REFERENCE_NS } }));
    if (ns.status !== 201) throw new Error(`creating namespace answered ${ns.status}: ${ns.body}`);

    // The watch that sees bindings, opened before the first create.
    const sentAt = new Array<number>(pods).fill(0);
    const boundAt = new Array<number>(pods).fill(0);
    let bound = 0;
    let lastBound = 0;
    let allBound!: () => void;
    const everyPodBound = new Promise<void>((resolve) => (allBound = resolve));
    stream = await watch(server, '/api/v1/namespaces/default/pods?watch=true', (event) => {
      const p = event.object;
      if ((event.type !== 'ADDED' && event.type !== 'MODIFIED') || !p?.spec?.nodeName) return;
      const i = Number(p.metadata.name.slice('pod-'.length));
      if (boundAt[i]) return;
      boundAt[i] = lastBound = performance.now();
      if (++bound === pods) allBound();
    });

    const start = performance.now();
    const startMonoUs = Number(process.hrtime.bigint() / 1000n);
    const serverCpuAtStart = server.cpuSeconds();
    const clientCpuAtStart = process.cpuUsage();
    await runConcurrent(pods, concurrency, async (i) => {
      sentAt[i] = performance.now();
      const r = await request('POST', '/api/v1/namespaces/default/pods', podJson(`pod-${i}`));
      if (r.status !== 201) throw new Error(`creating pod-${i} answered ${r.status}: ${r.body}`);
    });
    const createSeconds = (performance.now() - start) / 1000;

    // Wait for the last binding; give up if progress stops for 30 s.
    let seen = -1;
    while (bound < pods && bound !== seen) {
      seen = bound;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([everyPodBound, new Promise((r) => (timer = setTimeout(r, 30_000)))]);
      clearTimeout(timer);
    }
    const seconds = ((bound ? lastBound : performance.now()) - start) / 1000;
    schedulingWindowUs = [startMonoUs, startMonoUs + seconds * 1e6];
    const serverCpu = server.cpuSeconds() - serverCpuAtStart;
    const clientUsage = process.cpuUsage(clientCpuAtStart);
    const clientCpu = (clientUsage.user + clientUsage.system) / 1e6;
    stream.close();
    const peakWhileScheduling = server.peakRss();

    const latencies: number[] = [];
    for (let i = 0; i < pods; i++) if (boundAt[i]) latencies.push(boundAt[i] - sentAt[i]);

    // What the API serves now, bindings included.
    const podList = JSON.parse((await request('GET', '/api/v1/namespaces/default/pods')).body).items;
    const nodeList = JSON.parse((await request('GET', '/api/v1/nodes')).body).items;
    const check = checkOverCommit(podList, nodeList);

    // Create-only reference on the same server: the scheduler has nothing to do with these pods.
    const refStart = performance.now();
    await runConcurrent(pods, concurrency, async (i) => {
      const r = await request('POST', `/api/v1/namespaces/${REFERENCE_NS}/pods`, podJson(`ref-${i}`, REFERENCE_NS, UNSERVED_SCHEDULER));
      if (r.status !== 201) throw new Error(`creating ref-${i} answered ${r.status}: ${r.body}`);
    });
    const createOnly = pods / ((performance.now() - refStart) / 1000);
    const peakOverall = server.peakRss();

    // Bindings persisted: a clean stop, then a fresh server on the same data dir.
    await server.stop({ keepData: true });
    stopped = true;
    const persisted = await boundAfterRestart(server.dataDir, ds);
    // The engine alone, with no server running beside it.
    const raw = await rawBaseline(ds, pods, concurrency, (i) => podJson(`raw-${i}`));

    const rate = bound / seconds;
    const passed = check.ok && bound === pods && check.unbound === 0 && podList.length === pods && persisted.bound === pods;
    const target = nodes >= 5000 ? 700 : nodes >= 1000 ? 1000 : undefined;
    console.log(`\nmk scheduler benchmark on ${engine}: ${nodes} nodes (${NODE_CPU} cpu / ${NODE_MEMORY} / ${NODE_PODS} pods), ${pods} pods (${POD_CPU} / ${POD_MEMORY}), concurrency ${concurrency}, ${os.cpus().length} cores`);
    console.log(`  nodes registered        ${nodes} in ${nodesSeconds.toFixed(1)} s (${(nodes / nodesSeconds).toFixed(0)} nodes/s)`);
    console.log(`  pods bound              ${bound}/${pods} in ${seconds.toFixed(2)} s, first create → last binding`);
    console.log(`  scheduling throughput   ${rate.toFixed(0)} pods/s`);
    console.log(`  creates meanwhile       ${(pods / createSeconds).toFixed(0)} creates/s (all ${pods} sent in ${createSeconds.toFixed(2)} s)`);
    console.log(`  create → bound latency  p50 ${percentile(latencies, 50).toFixed(0)} ms   p99 ${percentile(latencies, 99).toFixed(0)} ms   max ${percentile(latencies, 100).toFixed(0)} ms`);
    console.log(`  create-only reference   ${createOnly.toFixed(0)} creates/s (${pods} pods nobody schedules, same server, afterwards)`);
    console.log(`  bound/s ÷ create-only/s ${(rate / createOnly).toFixed(2)}`);
    console.log(`  raw baseline            ${raw.rate.toFixed(0)}/s: ${raw.what}`);
    console.log(`  bound/s ÷ raw/s         ${(rate / raw.rate).toFixed(3)}   (create-only ÷ raw ${(createOnly / raw.rate).toFixed(3)})`);
    console.log(`  CPU in that window      server ${serverCpu.toFixed(1)} s (${((100 * serverCpu) / seconds).toFixed(0)}% of one core), bench client ${clientCpu.toFixed(1)} s; load average ${os.loadavg()[0].toFixed(1)}`);
    console.log(`  server peak RSS         ${mb(peakWhileScheduling)} while scheduling, ${mb(peakOverall)} overall`);
    console.log(`  over-commit check       ${passed ? 'PASS' : 'FAIL'}: ${check.lines.length} node(s) over allocatable, busiest node ${check.maxPods} pods (≤ ${NODE_PODS}), ${podList.length - check.unbound}/${podList.length} pods bound in the API, ${persisted.bound}/${persisted.total} after a restart`);
    for (const line of check.lines.slice(0, 10)) console.log(`    ${line}`);
    if (target) console.log(`  target                  >= ${target} pods/s: ${rate >= target ? 'met' : 'NOT met'}`);
    return {
      engine, raw: raw.rate, nodes, pods, bound, podsPerSecond: rate, createsWhileScheduling: pods / createSeconds, createOnly,
      p50: percentile(latencies, 50), p99: percentile(latencies, 99), peakRss: peakWhileScheduling, overCommitOk: passed,
    };
  } finally {
    stream?.close();
    if (!stopped) await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
    if (profDir) printProfile(profDir, schedulingWindowUs);
  }
}

/** Where the server's CPU went from the first create to the last binding (the file is kept for DevTools). */
function printProfile(dir: string, windowUs: [number, number] | undefined): void {
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) {
    console.log('  (no CPU profile was written)');
    return;
  }
  const summary = summarizeCpuProfile(path.join(dir, file), {
    areas: [
      ['(idle)', /\(idle\)/],
      ['(garbage collector)', /\(garbage collector\)/],
      ['scheduler', /\/dist\/scheduler\//],
      ['client (informer, events)', /\/dist\/client\//],
      ['apiserver/local-client', /local-client\.js/],
      ['storage (sqlite, watch cache)', /\/dist\/storage\//],
      ['apiserver', /\/dist\/apiserver\//],
      ['api (validation, defaults, schemas)', /\/dist\/api\//],
      ['node: tls/net/http', /node:(tls|_tls|net|internal\/stream|_http|http|https|internal\/tls)/],
    ],
    focus: /\/dist\/(scheduler|client)\/|local-client\.js/,
    top: 20,
    windowUs,
  });
  console.log(`  server CPU profile, first create → last binding: ${summary.totalMs.toFixed(0)} ms sampled (${path.join(dir, file)})`);
  console.log('    inclusive by area (an area counts once per sample):');
  for (const { area, ms } of summary.inclusive) console.log(`      ${area.padEnd(36)} ${ms.toFixed(0).padStart(7)} ms  ${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)}%`);
  console.log('    scheduler-side functions by inclusive time:');
  for (const { name, ms } of summary.focusTop) console.log(`      ${ms.toFixed(0).padStart(7)} ms  ${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)}%  ${name}`);
  console.log('    top functions by self time:');
  for (const { name, ms } of summary.selfTop) console.log(`      ${ms.toFixed(0).padStart(7)} ms  ${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)}%  ${name}`);
}

async function main(): Promise<void> {
  const concurrency = arg('concurrency', 32);
  const cpuProf = process.argv.includes('--cpu-prof');
  const given = process.argv.includes('--nodes') || process.argv.includes('--pods');
  const runs: [number, number][] = given ? [[arg('nodes', 1000), arg('pods', 10_000)]] : [[1000, 10_000], [5000, 10_000]];
  const engines = enginesArg();
  const results: RunResult[] = [];
  for (const engine of engines) {
    for (const [nodes, pods] of runs) results.push(await runOnce(engine, nodes, pods, concurrency, cpuProf));
  }
  if (results.length > 1) {
    console.log('\nsummary');
    for (const r of results) {
      console.log(`  ${r.engine.padEnd(6)} N=${r.nodes} M=${r.pods}: ${r.podsPerSecond.toFixed(0)} pods/s, p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms, create-only ${r.createOnly.toFixed(0)}/s (ratio ${(r.podsPerSecond / r.createOnly).toFixed(2)}), raw ${r.raw.toFixed(0)}/s (ratio ${(r.podsPerSecond / r.raw).toFixed(3)}), peak RSS ${mb(r.peakRss)}, over-commit ${r.overCommitOk ? 'PASS' : 'FAIL'}`);
    }
    for (const e of results.filter((r) => r.engine === 'etcd')) {
      const s = results.find((r) => r.engine === 'sqlite' && r.nodes === e.nodes && r.pods === e.pods);
      if (s) console.log(`  etcd / sqlite N=${e.nodes} M=${e.pods}: pods/s ${(e.podsPerSecond / s.podsPerSecond).toFixed(3)}, raw ${(e.raw / s.raw).toFixed(3)}`);
    }
  }
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (results.some((r) => !r.overCommitOk)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
