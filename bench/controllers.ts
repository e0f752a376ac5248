/**
 * Controllers benchmark (issue 5): with 100 fake nodes, create 100
 * Deployments of 50 replicas (5,000 pods) and time until every one is
 * available; then roll all of them to a new image and time until every
 * rollout is complete.
 *
 *   npm run bench:controllers -- --deployments 100 --replicas 50 --nodes 100 [--progress] [--cpu-prof DIR]
 *
 * The server (API server, scheduler, controllers) runs as one child process;
 * the 100 fake nodes as another (`mk agent --runtime fake --nodes 100`), so
 * every pod goes through the real path: ReplicaSet controller creates it, the
 * scheduler binds it, an agent reports it Running and Ready over HTTPS.
 * Targets: all available within 15 s; the rollout of all within 30 s.
 */
import * as os from 'node:os';
import { arg, client, mb, runConcurrent, startFakeAgent, startServerProcess, watch, type AgentProcess } from './lib';

interface DeploymentState {
  generation: number;
  observedGeneration: number;
  replicas: number;
  updated: number;
  available: number;
  total: number;
}

function complete(d: DeploymentState, want: number): boolean {
  return d.observedGeneration >= d.generation && d.updated === want && d.available === want && d.total === want;
}

async function main(): Promise<void> {
  const deployments = arg('deployments', 100);
  const replicas = arg('replicas', 50);
  const nodes = arg('nodes', 100);
  // --cpu-prof DIR writes a V8 CPU profile of the server (and of the agent process) there at exit.
  const profDir = process.argv.includes('--cpu-prof') ? process.argv[process.argv.indexOf('--cpu-prof') + 1] : undefined;
  const profArgs = (name: string) => (profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `${name}.cpuprofile`] : []);
  const server = await startServerProcess(['--disable-agent'], profArgs('server'));
  let agent: AgentProcess | undefined;
  try {
    agent = await startFakeAgent(server, nodes, profArgs('agent'));
    const request = client(server, 32);

    const state = new Map<string, DeploymentState>();
    let waiter: (() => void) | undefined;
    const stream = await watch(server, '/apis/apps/v1/namespaces/default/deployments?watch=true', (e) => {
      if (e.type === 'BOOKMARK' || e.type === 'ERROR') return;
      const d = e.object;
      state.set(d.metadata.name, {
        generation: d.metadata.generation ?? 0,
        observedGeneration: d.status?.observedGeneration ?? 0,
        replicas: d.spec?.replicas ?? 0,
        updated: d.status?.updatedReplicas ?? 0,
        available: d.status?.availableReplicas ?? 0,
        total: d.status?.replicas ?? 0,
      });
      waiter?.();
    });
    const until = (done: () => boolean, timeoutMs: number): Promise<boolean> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        const check = () => {
          if (done()) {
            clearTimeout(timer);
            waiter = undefined;
            resolve(true);
          }
        };
        waiter = check;
        check();
      });
    const allComplete = () => state.size === deployments && [...state.values()].every((d) => complete(d, replicas));

    const manifest = (i: number, image: string) => JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `web-${i}`, namespace: 'default' },
      spec: {
        replicas,
        selector: { matchLabels: { app: `web-${i}` } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
        template: {
          metadata: { labels: { app: `web-${i}` } },
          spec: { containers: [{ name: 'web', image, resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
        },
      },
    });

    // --progress: a line a second (seconds, pods available, pods updated, server CPU so far), to see where time goes.
    const progress = process.argv.includes('--progress')
      ? setInterval(() => {
          let available = 0;
          let updated = 0;
          for (const d of state.values()) {
            available += d.available;
            updated += d.updated;
          }
          console.log(`  ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s  available ${available}  updated ${updated}  server CPU ${server.cpuSeconds().toFixed(1)} s`);
        }, 1000)
      : undefined;
    const cpu0 = server.cpuSeconds();
    const agentCpu0 = agent.cpuSeconds();
    const t0 = performance.now();
    await runConcurrent(deployments, 16, async (i) => {
      const r = await request('POST', '/apis/apps/v1/namespaces/default/deployments', manifest(i, 'busybox:1.36'));
      if (r.status !== 201) throw new Error(`create answered ${r.status}: ${r.body}`);
    });
    const createdOk = await until(allComplete, 120_000);
    const available = (performance.now() - t0) / 1000;
    const cpu1 = server.cpuSeconds();
    const agentCpu1 = agent.cpuSeconds();

    const t1 = performance.now();
    await runConcurrent(deployments, 16, async (i) => {
      const r = await request('PUT', `/apis/apps/v1/namespaces/default/deployments/web-${i}`, manifest(i, 'busybox:1.37'));
      if (r.status !== 200) throw new Error(`update answered ${r.status}: ${r.body}`);
    });
    const rolledOk = await until(allComplete, 180_000);
    const rollout = (performance.now() - t1) / 1000;
    const cpu2 = server.cpuSeconds();
    const agentCpu2 = agent.cpuSeconds();
    clearInterval(progress);
    stream.close();

    // Rollouts are complete when the old ReplicaSets are at 0; their pods may still be terminating.
    const total = deployments * replicas;
    const listPods = async () => JSON.parse((await request('GET', '/api/v1/namespaces/default/pods')).body).items;
    let pods = await listPods();
    const leftAtRollout = pods.length - total;
    while (pods.length > total && performance.now() - t1 < 240_000) pods = await listPods();
    const oldGone = (performance.now() - t1) / 1000;
    // Events are written in the background, behind the work they describe (see EventRecorder).
    const eventCount = async () => JSON.parse((await request('GET', '/api/v1/namespaces/default/events')).body).items.length;
    const eventsAtEnd = await eventCount();
    // Then until no new event has appeared for a second: when the trailing events were all written.
    let events = eventsAtEnd;
    let eventsDone = performance.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const n = await eventCount();
      if (n === events) break;
      events = n;
      eventsDone = performance.now();
    }
    const running = pods.filter((p: any) => p.status?.phase === 'Running').length;
    console.log(`mk controllers benchmark: ${deployments} Deployments x ${replicas} replicas = ${total} pods on ${nodes} fake nodes, ${os.cpus().length} cores`);
    console.log(`  all available          ${createdOk ? `${available.toFixed(1)} s` : 'NOT reached within 120 s'}   (${(total / available).toFixed(0)} pods/s)   target <= 15 s: ${createdOk && available <= 15 ? 'met' : 'NOT met'}`);
    console.log(`  rollout to new image   ${rolledOk ? `${rollout.toFixed(1)} s` : 'NOT complete within 180 s'}   (${(total / rollout).toFixed(0)} pods replaced/s)   target <= 30 s: ${rolledOk && rollout <= 30 ? 'met' : 'NOT met'}`);
    console.log(`  old pods terminating   ${leftAtRollout} when the rollouts completed; all gone at ${oldGone.toFixed(1)} s`);
    console.log(`  pods at the end        ${pods.length} (${running} Running; want ${total})`);
    console.log(`  events written         ${eventsAtEnd} when the old pods were gone; all ${events} by ${((eventsDone - t1) / 1000).toFixed(1)} s`);
    console.log(`  server peak RSS        ${mb(server.peakRss())}`);
    // CPU time is what the server spent whatever else ran on the machine: it compares runs on a busy box.
    console.log(`  server CPU             ${(cpu1 - cpu0).toFixed(1)} s to available, ${(cpu2 - cpu1).toFixed(1)} s for the rollout (${((cpu1 - cpu0) * 1000 / total).toFixed(2)} / ${((cpu2 - cpu1) * 1000 / total).toFixed(2)} ms per pod)`);
    console.log(`  agent CPU              ${(agentCpu1 - agentCpu0).toFixed(1)} s to available, ${(agentCpu2 - agentCpu1).toFixed(1)} s for the rollout`);
  } finally {
    await agent?.stop();
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
