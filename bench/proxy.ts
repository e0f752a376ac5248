/**
 * Service proxy benchmark (issue 6): HTTP requests through the agent's
 * NodePort proxy to one busybox httpd pod, against the same load sent
 * straight to the pod (its IP on the Docker bridge) in the same run, and to
 * its published hostPort (Docker's own userland proxy) for reference.
 *
 *   npm run bench:proxy
 *   npm run bench:proxy -- --requests 3000 --concurrency 16 --rounds 3
 *
 * busybox httpd closes every connection after one response, so every
 * request is a new TCP connection on every path: what is measured is the
 * proxy's accept + dial + relay per connection. Throughput is taken at
 * `--concurrency` requests in flight; latency without contention, one
 * request at a time. After a warm-up, each round measures every path back
 * to back (in reverse order every other round, so drift in the machine's
 * load falls on both sides); the ratios are per round, and their median is
 * reported with the range, as the load generator, the proxy and httpd share
 * the machine's cores.
 *
 * Targets: proxy throughput at least 0.7 of direct; added p50 latency under 1 ms.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as os from 'node:os';
import { promisify } from 'node:util';
import { LABELS } from '../src/agent/runtime/runtime';
import { ensureTestImage } from '../test/e2e/docker-env';
import { arg, client, percentile, runConcurrent, startServerProcess } from './lib';

const run = promisify(execFile);

interface Target {
  label: string;
  host: string;
  port: number;
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  /** Latency one request at a time. */
  seqP50: number;
  seqP99: number;
  errors: number;
}

function get(target: Target): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: target.host, port: target.port, path: '/index.html', agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
  });
}

async function measure(target: Target, requests: number, concurrency: number): Promise<Result> {
  let errors = 0;
  const task = () => get(target).catch(() => void errors++);
  const start = performance.now();
  const loaded = await runConcurrent(requests, concurrency, task);
  const seconds = (performance.now() - start) / 1000;
  const sequential = await runConcurrent(Math.min(500, requests), 1, task);
  return {
    rps: requests / seconds,
    p50: percentile(loaded, 50),
    p99: percentile(loaded, 99),
    seqP50: percentile(sequential, 50),
    seqP99: percentile(sequential, 99),
    errors,
  };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const f = (ms: number) => `${ms.toFixed(2)} ms`;

async function main(): Promise<void> {
  const requests = arg('requests', 3000);
  const concurrency = arg('concurrency', 16);
  const rounds = arg('rounds', 5);
  const id = randomBytes(3).toString('hex');
  const node = `bench-${id}`;
  const hostPort = 20000 + Math.floor(Math.random() * 5000);
  const image = await ensureTestImage();
  const server = await startServerProcess(['--agent-port', '0', '--node-name', node]);
  const request = client(server);
  try {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'proxy-bench', namespace: 'default', labels: { app: 'proxy-bench' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'httpd',
            image,
            imagePullPolicy: 'IfNotPresent',
            command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'],
            ports: [{ name: 'http', containerPort: 8080, hostPort, hostIP: '127.0.0.1' }],
            readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
          },
        ],
      },
    };
    const created = await request('POST', '/api/v1/namespaces/default/pods', JSON.stringify(pod));
    if (created.status !== 201) throw new Error(`creating the pod answered ${created.status}: ${created.body}`);
    const svc = await request(
      'POST',
      '/api/v1/namespaces/default/services',
      JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'proxy-bench' }, spec: { type: 'NodePort', selector: { app: 'proxy-bench' }, ports: [{ port: 80, targetPort: 'http' }] } }),
    );
    if (svc.status !== 201) throw new Error(`creating the Service answered ${svc.status}: ${svc.body}`);
    const nodePort: number = JSON.parse(svc.body).spec.ports[0].nodePort;
    let podIP = '';
    await until('the pod to be ready', async () => {
      const p = JSON.parse((await request('GET', '/api/v1/namespaces/default/pods/proxy-bench')).body);
      podIP = p.status?.podIP ?? '';
      return (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
    });
    const targets: Target[] = [
      { label: 'direct (pod IP)', host: podIP, port: 8080 },
      { label: 'mk NodePort proxy', host: '127.0.0.1', port: nodePort },
      { label: 'docker hostPort (docker-proxy)', host: '127.0.0.1', port: hostPort },
    ];
    await until('the NodePort to answer', async () => (await get(targets[1]), true));

    console.log(`mk service proxy benchmark: ${os.cpus().length} cores, ${requests} requests at concurrency ${concurrency}, then 500 one at a time; a new connection per request`);
    console.log(`  pod ${podIP}:8080, NodePort 127.0.0.1:${nodePort}, hostPort 127.0.0.1:${hostPort}`);
    for (const t of targets) await measure(t, Math.min(500, requests), concurrency); // warm-up

    const results = new Map<string, Result[]>(targets.map((t) => [t.label, []]));
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 ? targets : [...targets].reverse();
      for (const t of order) results.get(t.label)!.push(await measure(t, requests, concurrency));
    }
    const median = (label: string, key: keyof Result) => percentile(results.get(label)!.map((r) => r[key]), 50);
    console.log(`  ${''.padEnd(32)}${'req/s'.padStart(9)}${'p50'.padStart(11)}${'p99'.padStart(11)}   one at a time: p50 / p99   errors`);
    for (const t of targets) {
      const errors = results.get(t.label)!.reduce((n, r) => n + r.errors, 0);
      console.log(
        `  ${t.label.padEnd(32)}${median(t.label, 'rps').toFixed(0).padStart(9)}${f(median(t.label, 'p50')).padStart(11)}${f(median(t.label, 'p99')).padStart(11)}   ${f(median(t.label, 'seqP50'))} / ${f(median(t.label, 'seqP99'))}   ${errors}`,
      );
    }
    const [direct, proxy, docker] = targets.map((t) => results.get(t.label)!);
    const perRound = (a: Result[], key: 'rps' | 'seqP50', fn: (x: number, y: number) => number) => a.map((r, i) => fn(r[key], direct[i][key]));
    const ratios = perRound(proxy, 'rps', (x, y) => x / y);
    const added = perRound(proxy, 'seqP50', (x, y) => x - y);
    const dockerRatios = perRound(docker, 'rps', (x, y) => x / y);
    const range = (v: number[], fmt: (n: number) => string) => `(rounds: ${v.map(fmt).join(', ')})`;
    const ratio = percentile(ratios, 50);
    const addedP50 = percentile(added, 50);
    console.log(`  throughput proxy/direct, median of rounds (target >= 0.7)   ${ratio.toFixed(2)}   ${ratio >= 0.7 ? 'met' : 'NOT met'}   ${range(ratios, (n) => n.toFixed(2))}`);
    console.log(`  added p50 latency, median of rounds (target < 1 ms)          ${f(addedP50)}   ${addedP50 < 1 ? 'met' : 'NOT met'}   ${range(added, (n) => n.toFixed(2))}`);
    console.log(`  (docker-proxy/direct: ${percentile(dockerRatios, 50).toFixed(2)} ${range(dockerRatios, (n) => n.toFixed(2))})`);
  } finally {
    await request('DELETE', '/api/v1/namespaces/default/pods/proxy-bench?gracePeriodSeconds=0').catch(() => undefined);
    await server.stop();
    const { stdout } = await run('docker', ['ps', '-a', '-q', '--filter', `label=${LABELS.node}=${node}`]).catch(() => ({ stdout: '' }));
    const ids = stdout.split('\n').filter(Boolean);
    if (ids.length) await run('docker', ['rm', '-f', '-v', ...ids]).catch(() => undefined);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
