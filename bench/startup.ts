/**
 * Pod startup benchmark (issue 4): a real `mk server` child process with its
 * embedded agent on the Docker runtime, against raw `docker run -d` of the
 * same image and command in the same run.
 *
 *   npm run bench:startup                        # 1 pod, then 30 pods at once
 *   npm run bench:startup -- --pods 30 --rounds 3 [--cpu-prof]
 *
 * mk is timed from the create request to the pod's Running as seen on a pod
 * watch opened before the creates; raw Docker until `docker run -d` returns
 * (the container is running by then). Both get one warm-up run first, so the
 * figures are steady-state (the cold first pod is printed too).
 *
 * Then the RSS of a standalone `mk agent` on the Docker runtime, registered
 * with the same server and running the same number of pods.
 *
 * Targets: 1 pod within 1.3x raw + 200 ms; 30 pods within 1.5x raw; agent
 * RSS under 80 MB. Kubernetes' own SLO: p99 startup under 5 s.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { PAUSE_IMAGE, pauseBinary } from '../src/agent/runtime/docker';
import { LABELS } from '../src/agent/runtime/runtime';
import { ensureTestImage } from '../test/e2e/docker-env';
import { arg, client, mb, percentile, startServerProcess, summarizeCpuProfile, watch, type ServerProcess } from './lib';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..');
const COMMAND = ['sleep', '3600'];
const RAW_LABEL = 'io.mk.bench.raw';

type Request = ReturnType<typeof client>;

interface Timing {
  /** From the first request to the last pod/container running (ms). */
  totalMs: number;
  /** Each one's own time, request to running (ms). */
  each: number[];
}

function podJson(name: string, image: string, nodeName?: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'bench-startup' } },
    spec: {
      ...(nodeName ? { nodeName } : {}),
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'app', image, imagePullPolicy: 'IfNotPresent', command: COMMAND }],
    },
  });
}

/** Ids of the Docker containers (all states) carrying `label=value`. */
async function dockerIds(label: string, value: string): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-a', '-q', '--no-trunc', '--filter', `label=${label}=${value}`]);
  return stdout.split('\n').filter(Boolean);
}

async function dockerRemove(label: string, value: string): Promise<void> {
  const ids = await dockerIds(label, value);
  if (ids.length) await run('docker', ['rm', '-f', '-v', ...ids]);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ---- raw Docker --------------------------------------------------------------

async function rawRun(image: string, count: number, tag: string): Promise<Timing> {
  const start = performance.now();
  const each = await Promise.all(
    Array.from({ length: count }, async () => {
      const t0 = performance.now();
      await run('docker', ['run', '-d', '--label', `${RAW_LABEL}=${tag}`, image, ...COMMAND]);
      return performance.now() - t0;
    }),
  );
  return { totalMs: performance.now() - start, each };
}

/**
 * What one mk pod costs the engine, done by hand: a pause container on the
 * bridge network, then the container joined to its network and IPC
 * namespaces. Not the target's baseline; it shows how much of mk's time is
 * the engine's work for the pod model rather than mk's own.
 */
async function rawPairRun(image: string, count: number, tag: string): Promise<Timing> {
  const start = performance.now();
  const each = await Promise.all(
    Array.from({ length: count }, async () => {
      const t0 = performance.now();
      const label = ['--label', `${RAW_LABEL}=${tag}`];
      const sandbox = (await run('docker', ['run', '-d', ...label, '--ipc', 'shareable', PAUSE_IMAGE, '/pause'])).stdout.trim();
      await run('docker', ['run', '-d', ...label, '--network', `container:${sandbox}`, '--ipc', `container:${sandbox}`, image, ...COMMAND]);
      return performance.now() - t0;
    }),
  );
  return { totalMs: performance.now() - start, each };
}

// ---- mk ----------------------------------------------------------------------

/**
 * Creates `count` pods at once and times each to Running on a watch opened
 * before the first create. `nodeName` binds them directly (no scheduler).
 */
async function mkRun(server: ServerProcess, request: Request, image: string, names: string[], nodeName?: string): Promise<Timing> {
  const list = await request('GET', '/api/v1/namespaces/default/pods?limit=1');
  const rv = JSON.parse(list.body).metadata.resourceVersion;
  const sentAt = new Map<string, number>();
  const runningAt = new Map<string, number>();
  let allRunning!: () => void;
  const done = new Promise<void>((r) => (allRunning = r));
  const w = await watch(server, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${rv}`, (e) => {
    const pod = e.object;
    const name = pod?.metadata?.name;
    if (!sentAt.has(name) || runningAt.has(name) || pod.status?.phase !== 'Running') return;
    runningAt.set(name, performance.now());
    if (runningAt.size === names.length) allRunning();
  });
  try {
    const start = performance.now();
    await Promise.all(
      names.map(async (name) => {
        sentAt.set(name, performance.now());
        const r = await request('POST', '/api/v1/namespaces/default/pods', podJson(name, image, nodeName));
        if (r.status !== 201) throw new Error(`creating pod ${name} answered ${r.status}: ${r.body}`);
      }),
    );
    const timeout = setTimeout(() => allRunning(), 120_000);
    await done;
    clearTimeout(timeout);
    if (runningAt.size !== names.length) throw new Error(`only ${runningAt.size} of ${names.length} pods were Running after 120 s`);
    const end = Math.max(...runningAt.values());
    return { totalMs: end - start, each: names.map((n) => runningAt.get(n)! - sentAt.get(n)!) };
  } finally {
    w.close();
  }
}

/** Deletes the pods at once and waits until their containers are gone from the node. */
async function mkCleanup(request: Request, names: string[], nodeName: string): Promise<void> {
  await Promise.all(names.map((n) => request('DELETE', `/api/v1/namespaces/default/pods/${n}?gracePeriodSeconds=0`)));
  await until(`the containers of node ${nodeName} to be removed`, async () => (await dockerIds(LABELS.node, nodeName)).length === 0, 60_000);
}

// ---- the standalone agent's memory ------------------------------------------

function procStatus(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function startAgentProcess(server: ServerProcess, node: string, dataDir: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'run.js'), 'agent', '--runtime', 'docker', '--node', node, '--kubeconfig', path.join(server.dataDir, 'kubeconfig.yaml'), '--port', '0', '--data-dir', dataDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/registered with/.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`mk agent exited with ${code} before registering: ${err.trim()}`)));
  });
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

// ---- report ------------------------------------------------------------------

const ms = (v: number) => `${v.toFixed(0)} ms`;

function line(label: string, t: Timing): string {
  const per = t.each.length > 1 ? `   each: p50 ${ms(percentile(t.each, 50))}  p99 ${ms(percentile(t.each, 99))}` : '';
  return `  ${label.padEnd(34)}${ms(t.totalMs).padStart(9)}${per}`;
}

async function main(): Promise<void> {
  const count = arg('pods', 30);
  const rounds = arg('rounds', 1);
  const cpuProf = process.argv.includes('--cpu-prof');
  const id = randomBytes(3).toString('hex');
  const node = `bench-${id}`;
  const rawTag = `bench-${id}`;
  const profDir = cpuProf ? fs.mkdtempSync(path.join(os.tmpdir(), 'mk-bench-prof-')) : undefined;

  const image = await ensureTestImage();
  const server = await startServerProcess(['--agent-port', '0', '--node-name', node], profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []);
  const request = client(server);
  let agent: ChildProcess | undefined;
  const rssNode = `bench-rss-${id}`;
  const agentDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-bench-agent-'));
  let seq = 0;
  /** The last N-pod run, in the monotonic microseconds V8 stamps profile samples with. */
  let profileWindow: [number, number] | undefined;
  const names = (n: number) => Array.from({ length: n }, () => `startup-${++seq}`);
  try {
    console.log(`mk pod startup benchmark: ${os.cpus().length} cores, image ${image}, command "${COMMAND.join(' ')}", node ${node}`);

    // Warm-up: the pause image, the JIT, the engine's caches, for both sides.
    const coldNames = names(1);
    const cold = await mkRun(server, request, image, coldNames);
    await mkCleanup(request, coldNames, node);
    await rawRun(image, 1, rawTag);
    await dockerRemove(RAW_LABEL, rawTag);
    console.log(line('mk, first pod (cold server)', cold));

    const results: Array<{ raw1: Timing; mk1: Timing; rawN: Timing; mkN: Timing }> = [];
    // The pause image exists once the agent has run a pod (the warm-up did); the by-hand pairs need it.
    const pairs = !!pauseBinary();
    for (let round = 1; round <= rounds; round++) {
      const raw1 = await rawRun(image, 1, rawTag);
      await dockerRemove(RAW_LABEL, rawTag);
      const one = names(1);
      const mk1 = await mkRun(server, request, image, one);
      await mkCleanup(request, one, node);

      const rawN = await rawRun(image, count, rawTag);
      await dockerRemove(RAW_LABEL, rawTag);
      const many = names(count);
      const markStart = process.hrtime.bigint() / 1000n;
      const mkN = await mkRun(server, request, image, many);
      profileWindow = [Number(markStart), Number(process.hrtime.bigint() / 1000n)];
      await mkCleanup(request, many, node);
      results.push({ raw1, mk1, rawN, mkN });
      let pairN: Timing | undefined;
      if (pairs) {
        pairN = await rawPairRun(image, count, rawTag);
        await dockerRemove(RAW_LABEL, rawTag);
      }

      console.log(`round ${round}`);
      console.log(line('raw docker run -d, 1 container', raw1));
      console.log(line('mk, 1 pod create -> Running', mk1));
      console.log(`  ${'ratio (target <= 1.3x + 200 ms)'.padEnd(34)}${(mk1.totalMs / raw1.totalMs).toFixed(2).padStart(8)}x   ${mk1.totalMs <= 1.3 * raw1.totalMs + 200 ? 'met' : 'NOT met'}`);
      console.log(line(`raw docker run -d, ${count} in parallel`, rawN));
      console.log(line(`mk, ${count} pods create -> Running`, mkN));
      console.log(`  ${'ratio (target <= 1.5x)'.padEnd(34)}${(mkN.totalMs / rawN.totalMs).toFixed(2).padStart(8)}x   ${mkN.totalMs <= 1.5 * rawN.totalMs ? 'met' : 'NOT met'}`);
      console.log(`  ${'Kubernetes SLO: p99 < 5 s'.padEnd(34)}${ms(percentile(mkN.each, 99)).padStart(9)}   ${percentile(mkN.each, 99) < 5000 ? 'met' : 'NOT met'}`);
      if (pairN) {
        console.log(line(`(raw pause + container, ${count} pairs)`, pairN));
        console.log(`  ${'(mk / raw pairs)'.padEnd(34)}${(mkN.totalMs / pairN.totalMs).toFixed(2).padStart(8)}x`);
      }
    }
    if (rounds > 1) {
      const med = (f: (r: (typeof results)[number]) => number) => percentile(results.map(f), 50);
      console.log(`median of ${rounds} rounds: 1 pod ${ms(med((r) => r.mk1.totalMs))} vs raw ${ms(med((r) => r.raw1.totalMs))}; ${count} pods ${ms(med((r) => r.mkN.totalMs))} vs raw ${ms(med((r) => r.rawN.totalMs))}`);
    }
    console.log(`  ${'mk server peak RSS (embedded agent)'.padEnd(34)}${mb(server.peakRss()).padStart(9)}`);

    // A standalone agent, idle and then with the pods running on its node.
    agent = await startAgentProcess(server, rssNode, agentDir);
    await new Promise((r) => setTimeout(r, 3000));
    const idle = procStatus(agent.pid!);
    const pinned = names(count);
    await mkRun(server, request, image, pinned, rssNode);
    await new Promise((r) => setTimeout(r, 5000));
    const busy = procStatus(agent.pid!);
    console.log(`  ${'mk agent RSS, idle'.padEnd(34)}${mb(idle.rss).padStart(9)}   (VmHWM ${mb(idle.hwm)})`);
    console.log(`  ${`mk agent RSS, ${count} pods running`.padEnd(34)}${mb(busy.rss).padStart(9)}   (VmHWM ${mb(busy.hwm)})   target < 80 MB: ${busy.hwm < 80 * 1024 * 1024 ? 'met' : 'NOT met'}`);
    await mkCleanup(request, pinned, rssNode);
  } finally {
    if (agent) await stopChild(agent);
    await server.stop();
    await dockerRemove(LABELS.node, node).catch(() => undefined);
    await dockerRemove(LABELS.node, rssNode).catch(() => undefined);
    await dockerRemove(RAW_LABEL, rawTag).catch(() => undefined);
    fs.rmSync(agentDir, { recursive: true, force: true });
  }

  if (profDir) {
    const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (file) {
      const summary = summarizeCpuProfile(path.join(profDir, file), {
        areas: [
          ['docker (dockerode/modem)', /node_modules\/(dockerode|docker-modem)/],
          ['agent', /\/agent\//],
          ['apiserver', /\/apiserver\//],
          ['storage', /\/storage\//],
          ['scheduler', /\/scheduler\//],
          ['json', /JSON/],
        ],
        windowUs: profileWindow,
        top: 20,
      });
      console.log(`\nserver CPU during the last ${count}-pod run: ${summary.totalMs.toFixed(0)} ms sampled`);
      for (const a of summary.inclusive) console.log(`  ${a.area.padEnd(30)} ${a.ms.toFixed(0)} ms`);
      for (const f of summary.selfTop) console.log(`  ${f.ms.toFixed(1).padStart(8)} ms  ${f.name}`);
      console.log(`profile: ${path.join(profDir, file)}`);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
