/**
 * API write benchmark (issues 2 and 8): N pod creates at concurrency C over
 * HTTP against a real `mk server` child process, once per datastore engine,
 * each against its raw baseline in the same run: the same number of inserts
 * of the same JSON straight into better-sqlite3 (WAL, synchronous=NORMAL,
 * autocommit), and the same puts straight into etcd through the etcd3
 * client at the same concurrency.
 *
 *   npm run bench:api -- --pods 10000 --concurrency 32 [--engines sqlite,etcd]
 *
 * Engines: both by default when an etcd binary is there (a one-member etcd
 * on loopback, temp dir, free ports), else SQLite.
 * Target (SQLite): >= 2,000 creates/s and p99 < 50 ms at concurrency 32 on 2 cores.
 */
import * as os from 'node:os';
import { enginesArg, rawBaseline, startDatastore, type Engine } from './engines';
import { arg, client, mb, percentile, runConcurrent, startServerProcess } from './lib';

function podJson(i: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `bench-${i}`, namespace: 'default', labels: { app: 'bench', tier: 'web', shard: String(i % 16) } },
    spec: {
      containers: [{
        name: 'web',
        image: 'busybox:1.36',
        command: ['httpd', '-f', '-p', '8080'],
        ports: [{ containerPort: 8080, name: 'http' }],
        resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
        env: [{ name: 'MODE', value: 'bench' }],
      }],
      restartPolicy: 'Always',
    },
  });
}

interface EngineResult {
  engine: Engine;
  rate: number;
  p50: number;
  p99: number;
  raw: { rate: number; what: string };
  listMs: number;
  count: number;
  serverRss: number;
  etcdRss: number;
}

async function runEngine(engine: Engine, total: number, concurrency: number): Promise<EngineResult> {
  const ds = await startDatastore(engine);
  try {
    // The control plane alone: no scheduler binding the pods and no local agent starting them.
    const server = await startServerProcess(['--disable-scheduler', '--disable-agent', ...ds.serverArgs]);
    let result: Omit<EngineResult, 'raw'>;
    try {
      const request = client(server, concurrency);
      // Warm up the JIT and connections so the figures are steady-state.
      await runConcurrent(500, concurrency, async (i) => {
        const r = await request('POST', '/api/v1/namespaces/default/pods', podJson(total + i));
        if (r.status !== 201) throw new Error(`warm-up create answered ${r.status}: ${r.body}`);
      });
      const start = performance.now();
      const latencies = await runConcurrent(total, concurrency, async (i) => {
        const r = await request('POST', '/api/v1/namespaces/default/pods', podJson(i));
        if (r.status !== 201) throw new Error(`create answered ${r.status}: ${r.body}`);
      });
      const seconds = (performance.now() - start) / 1000;
      const listStart = performance.now();
      const list = await request('GET', '/api/v1/namespaces/default/pods');
      const listMs = performance.now() - listStart;
      result = {
        engine,
        rate: total / seconds,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        listMs,
        count: JSON.parse(list.body).items.length,
        serverRss: server.peakRss(),
        etcdRss: ds.etcdPeakRss(),
      };
    } finally {
      await server.stop();
    }
    // The engine alone, after the server has gone, so the two do not share the CPU.
    const raw = await rawBaseline(ds, total, concurrency, podJson);
    return { ...result, raw };
  } finally {
    await ds.stop();
  }
}

async function main(): Promise<void> {
  const total = arg('pods', 10_000);
  const concurrency = arg('concurrency', 32);
  const engines = enginesArg();
  const bodyBytes = Buffer.byteLength(podJson(0));
  console.log(`mk API create benchmark: ${total} pods (${bodyBytes}-byte JSON), concurrency ${concurrency}, ${os.cpus().length} cores, engines ${engines.join(', ')}`);
  const results: EngineResult[] = [];
  for (const engine of engines) {
    const r = await runEngine(engine, total, concurrency);
    results.push(r);
    console.log(`\n${engine}`);
    console.log(`  mk server over HTTP      ${r.rate.toFixed(0)} creates/s   p50 ${r.p50.toFixed(1)} ms   p99 ${r.p99.toFixed(1)} ms`);
    console.log(`  raw baseline             ${r.raw.rate.toFixed(0)}/s: ${r.raw.what}`);
    console.log(`  ratio mk / raw           ${(r.rate / r.raw.rate).toFixed(3)}`);
    console.log(`  list of ${r.count} pods      ${r.listMs.toFixed(0)} ms`);
    console.log(`  peak RSS                 server ${mb(r.serverRss)}${engine === 'etcd' ? `, etcd ${mb(r.etcdRss)}` : ''}`);
    if (engine === 'sqlite') {
      console.log(`  target                   >= 2000 creates/s and p99 < 50 ms: ${r.rate >= 2000 && r.p99 < 50 ? 'met' : 'NOT met'}`);
    }
  }
  const sqlite = results.find((r) => r.engine === 'sqlite');
  const etcd = results.find((r) => r.engine === 'etcd');
  if (sqlite && etcd) {
    console.log('\netcd / sqlite');
    console.log(`  mk creates/s             ${(etcd.rate / sqlite.rate).toFixed(3)}   (p99 ${etcd.p99.toFixed(1)} vs ${sqlite.p99.toFixed(1)} ms)`);
    console.log(`  raw engine writes/s      ${(etcd.raw.rate / sqlite.raw.rate).toFixed(3)}`);
  }
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
