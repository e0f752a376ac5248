/**
 * API write benchmark (issue 2): N pod creates at concurrency C over HTTP
 * against a real `mk server` child process, against the raw baseline of the
 * same number of inserts of the same JSON straight into better-sqlite3
 * (WAL, synchronous=NORMAL, autocommit) in the same run.
 *
 *   npm run bench:api -- --pods 10000 --concurrency 32
 *
 * Target: >= 2,000 creates/s and p99 < 50 ms at concurrency 32 on 2 cores.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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

function rawSqliteBaseline(total: number): number {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-bench-raw-'));
  const db = new Database(path.join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)');
  const start = performance.now();
  for (let i = 0; i < total; i++) insert.run(`/registry/pods/default/bench-${i}`, podJson(i));
  const seconds = (performance.now() - start) / 1000;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return total / seconds;
}

async function main(): Promise<void> {
  const total = arg('pods', 10_000);
  const concurrency = arg('concurrency', 32);
  // The control plane alone: no scheduler binding the pods and no local agent starting them.
  const server = await startServerProcess(['--disable-scheduler', '--disable-agent']);
  try {
    const request = client(server, concurrency);
    // Warm up the JIT and connections so the figures are steady-state.
    await runConcurrent(500, concurrency, async (i) => {
      const r = await request('POST', '/api/v1/namespaces/default/pods', podJson(total + i));
      if (r.status !== 201) throw new Error(`warm-up create answered ${r.status}: ${r.body}`);
    });
    const bodyBytes = Buffer.byteLength(podJson(0));
    const start = performance.now();
    const latencies = await runConcurrent(total, concurrency, async (i) => {
      const r = await request('POST', '/api/v1/namespaces/default/pods', podJson(i));
      if (r.status !== 201) throw new Error(`create answered ${r.status}: ${r.body}`);
    });
    const seconds = (performance.now() - start) / 1000;
    const rate = total / seconds;
    const listStart = performance.now();
    const list = await request('GET', '/api/v1/namespaces/default/pods');
    const listMs = performance.now() - listStart;
    const count = JSON.parse(list.body).items.length;
    const raw = rawSqliteBaseline(total);

    console.log(`mk API create benchmark: ${total} pods (${bodyBytes}-byte JSON), concurrency ${concurrency}, ${os.cpus().length} cores`);
    console.log(`  mk server over HTTP      ${rate.toFixed(0)} creates/s   p50 ${percentile(latencies, 50).toFixed(1)} ms   p99 ${percentile(latencies, 99).toFixed(1)} ms`);
    console.log(`  raw better-sqlite3       ${raw.toFixed(0)} inserts/s (same JSON, WAL, synchronous=NORMAL)`);
    console.log(`  ratio mk / raw           ${(rate / raw).toFixed(3)}`);
    console.log(`  list of ${count} pods      ${listMs.toFixed(0)} ms`);
    console.log(`  server peak RSS          ${mb(server.peakRss())}`);
    console.log(`  target                   >= 2000 creates/s and p99 < 50 ms: ${rate >= 2000 && percentile(latencies, 99) < 50 ? 'met' : 'NOT met'}`);
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
