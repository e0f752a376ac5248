import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { LABELS } from '../../src/agent/runtime/runtime';
import { mkCommand } from '../cli-build';
import { eventually, openWatch, startTestServer, type TestServer } from '../helpers';
import { ensureTestImage, requireDocker } from './docker-env';

/**
 * The workload controllers end to end: a real `mk server` whose embedded
 * agent runs pods on Docker, one Deployment taken through its life (up to 3
 * replicas, a container killed behind mk's back, a pod deleted, a rolling
 * update watched continuously, `mk rollout undo`, `mk scale`, a cascading
 * delete), checked through the API and, where it says more, `docker ps`.
 *
 * The tests run in order on the same Deployment, each starting from where
 * the previous one left it.
 *
 * The node name is unique per run, so every container labelled with it is
 * this file's; whatever a failed test leaves is removed by that label at the
 * end. The second image is a tag of the test image, unique per run too, and
 * removed at the end.
 *
 * `mk rollout undo`, `mk scale` and `mk delete` run the compiled binary:
 * run `npx tsc -p .` first (`npm test` does).
 */

const describeDocker = requireDocker();

const NODE = `e2e-${randomBytes(4).toString('hex')}`;
const NS = 'default';
const NAME = 'web';
const REPLICAS = 3;
const MAX_UNAVAILABLE = 1;
const MAX_SURGE = 1;
const PODS = `/api/v1/namespaces/${NS}/pods`;
const DEPLOYMENTS = `/apis/apps/v1/namespaces/${NS}/deployments`;
const SELECTOR = `labelSelector=${encodeURIComponent(`app=${NAME}`)}`;
const REVISION = 'deployment.kubernetes.io/revision';

const run = promisify(execFile);

jest.setTimeout(60_000);

/** Ids of the node's Docker containers that carry every label given; all states unless `running`. */
async function dockerIds(labels: Record<string, string> = {}, running = false): Promise<string[]> {
  const filters = Object.entries({ [LABELS.node]: NODE, ...labels }).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`]);
  if (running) filters.push('--filter', 'status=running');
  const { stdout } = await run('docker', ['ps', '-a', '-q', '--no-trunc', ...filters]);
  return stdout.split('\n').filter(Boolean);
}

/** The node's running app containers (sandboxes left out). */
const runningApps = () => dockerIds({ [LABELS.role]: 'container' }, true);

async function removeNodeContainers(): Promise<void> {
  const ids = await dockerIds();
  if (ids.length) await run('docker', ['rm', '-f', '-v', ...ids]);
}

const isReady = (pod: any) => (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
const imageOf = (pod: any) => pod.spec.containers[0].image;

describeDocker('workload controllers on real Docker', () => {
  let ts: TestServer;
  let image: string;
  /** The rolling update's target: a second tag of the test image, so nothing is pulled. */
  let image2: string;

  beforeAll(async () => {
    image = await ensureTestImage();
    image2 = `mk-test/busybox:rollout-${NODE}`;
    await run('docker', ['tag', image, image2]);
    ts = await startTestServer({ agent: { runtime: 'docker', nodeName: NODE, port: 0 } });
  }, 90_000);

  afterAll(async () => {
    try {
      if (ts) {
        await ts.api('DELETE', `${DEPLOYMENTS}/${NAME}?propagationPolicy=Background`).catch(() => undefined);
        // The agent removes the containers of deleted pods by itself; the label sweep below is only the safety net.
        await eventually(async () => expect(await dockerIds()).toEqual([]), 30_000, 250).catch(() => undefined);
      }
    } finally {
      await ts?.destroy();
      await removeNodeContainers();
      if (image2) await run('docker', ['rmi', image2]).catch(() => undefined);
    }
  }, 60_000);

  // ---- helpers ---------------------------------------------------------------

  /** httpd serving the pod's name; a TERM handler so that deletion does not wait out the grace period (PID 1 ignores TERM). */
  const HTTPD = 'mkdir -p /www; hostname > /www/index.html; trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait';

  function deploymentManifest(): any {
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: NAME },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: { app: NAME } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: MAX_UNAVAILABLE, maxSurge: MAX_SURGE } },
        template: {
          metadata: { labels: { app: NAME } },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: 'app',
                image,
                imagePullPolicy: 'IfNotPresent',
                command: ['sh', '-c', HTTPD],
                readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    };
  }

  async function getDeployment(): Promise<any> {
    const r = await ts.api('GET', `${DEPLOYMENTS}/${NAME}`);
    expect(r.status).toBe(200);
    return r.body;
  }

  /** The Deployment's pods that are not being deleted. */
  async function livePods(): Promise<any[]> {
    const r = await ts.api('GET', `${PODS}?${SELECTOR}`);
    expect(r.status).toBe(200);
    return r.body.items.filter((p: any) => !p.metadata.deletionTimestamp);
  }

  /**
   * Waits until the current generation is rolled out (kubectl rollout
   * status's test) with `replicas` Ready pods of `wantImage` backed by as
   * many running containers; returns the Deployment and its pods.
   */
  async function rolledOut(wantImage: string, replicas = REPLICAS, timeoutMs = 45_000): Promise<{ d: any; pods: any[] }> {
    return eventually(async () => {
      const d = await getDeployment();
      expect(d.status?.observedGeneration).toBe(d.metadata.generation);
      expect(d.status).toMatchObject({ replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas });
      const pods = await livePods();
      expect(pods).toHaveLength(replicas);
      expect(pods.map(imageOf)).toEqual(Array(replicas).fill(wantImage));
      expect(pods.every(isReady)).toBe(true);
      expect(await runningApps()).toHaveLength(replicas);
      return { d, pods };
    }, timeoutMs, 200);
  }

  /** The ids of the pod's app containers, from its status. */
  const containerIdsOf = (pod: any): string[] => (pod.status?.containerStatuses ?? []).map((s: any) => String(s.containerID).replace('docker://', ''));

  /** Runs the real `mk` binary against the test server. */
  const mk = (args: string[]) => mkCommand(path.join(ts.dataDir, 'kubeconfig.yaml'), args);

  /**
   * Follows the Deployment's pods from `initial` (the list the watch starts
   * after), recounting after every event the Ready pods and the pods that are
   * not being deleted; `stop()` ends it and returns the lowest Ready count and
   * the highest pod count seen.
   */
  function followPods(initial: any[], watch: Awaited<ReturnType<typeof openWatch>>) {
    const pods = new Map<string, any>(initial.map((p) => [p.metadata.name, p]));
    const live = () => [...pods.values()].filter((p) => !p.metadata.deletionTimestamp);
    let lowestReady = live().filter(isReady).length;
    let mostPods = live().length;
    let events = 0;
    let stopped = false;
    const following = (async () => {
      while (!stopped) {
        let e: any;
        try {
          e = await watch.next(200);
        } catch {
          continue;
        }
        if (e.type === 'ERROR') throw new Error(`watch error: ${JSON.stringify(e.object)}`);
        if (e.type === 'DELETED') pods.delete(e.object.metadata.name);
        else if (e.type === 'ADDED' || e.type === 'MODIFIED') pods.set(e.object.metadata.name, e.object);
        else continue;
        events++;
        lowestReady = Math.min(lowestReady, live().filter(isReady).length);
        mostPods = Math.max(mostPods, live().length);
      }
    })();
    return {
      async stop() {
        stopped = true;
        await following;
        watch.close();
        return { lowestReady, mostPods, events };
      },
    };
  }

  // ---- tests -----------------------------------------------------------------

  let revision1Pods: any[] = [];

  it('runs a Deployment of 3 replicas as 3 Ready pods in 3 running containers', async () => {
    const r = await ts.api('POST', DEPLOYMENTS, deploymentManifest());
    expect(r.status).toBe(201);
    const { d, pods } = await rolledOut(image);
    expect(d.metadata.annotations[REVISION]).toBe('1');
    const owners = new Set(pods.map((p) => p.metadata.ownerReferences?.[0]?.name));
    expect(owners.size).toBe(1);
    expect([...owners][0]).toBe(`${NAME}-${pods[0].metadata.labels['pod-template-hash']}`);
    // Docker runs exactly the containers the pods report.
    expect((await runningApps()).sort()).toEqual(pods.flatMap(containerIdsOf).sort());
    for (const p of pods) expect(p.spec.nodeName).toBe(NODE);
    revision1Pods = pods;
  });

  it('restarts a container killed behind its back, and replaces a pod deleted through the API', async () => {
    const [victim, doomed] = revision1Pods;
    const [killedId] = containerIdsOf(victim);
    await run('docker', ['kill', killedId]);
    const restarted = await eventually(async () => {
      const r = await ts.api('GET', `${PODS}/${victim.metadata.name}`);
      expect(r.status).toBe(200);
      const status = r.body.status.containerStatuses[0];
      expect(status.restartCount).toBeGreaterThanOrEqual(1);
      expect(status.state.running).toBeDefined();
      expect(status.ready).toBe(true);
      return r.body;
    }, 30_000, 200);
    // Restarted in place: the same pod (the ReplicaSet had nothing to do), a new container.
    expect(restarted.metadata.uid).toBe(victim.metadata.uid);
    const status = restarted.status.containerStatuses[0];
    expect(status.containerID).not.toBe(victim.status.containerStatuses[0].containerID);
    expect(status.lastState.terminated).toMatchObject({ exitCode: 137, containerID: `docker://${killedId}` });
    await rolledOut(image);

    expect((await ts.api('DELETE', `${PODS}/${doomed.metadata.name}`)).status).toBeLessThan(300);
    const { pods } = await rolledOut(image);
    const names = pods.map((p) => p.metadata.name);
    expect(names).not.toContain(doomed.metadata.name);
    expect(names).toContain(victim.metadata.name);
    const replacement = pods.find((p) => !revision1Pods.some((o) => o.metadata.name === p.metadata.name));
    expect(replacement).toBeDefined();
    expect(replacement.metadata.ownerReferences[0].uid).toBe(doomed.metadata.ownerReferences[0].uid);
    // The deleted pod's containers (its sandbox included) are gone from Docker.
    await eventually(async () => expect(await dockerIds({ [LABELS.podUid]: doomed.metadata.uid })).toEqual([]), 20_000, 200);
    revision1Pods = pods;
  });

  it(`rolls to a new image without ever dropping below ${REPLICAS - MAX_UNAVAILABLE} Ready pods, watched continuously`, async () => {
    const list = await ts.api('GET', `${PODS}?${SELECTOR}`);
    expect(list.status).toBe(200);
    const before = list.body.items as any[];
    expect(before.filter((p) => !p.metadata.deletionTimestamp && isReady(p))).toHaveLength(REPLICAS);
    const watch = await openWatch(ts, `${PODS}?watch=true&${SELECTOR}&resourceVersion=${list.body.metadata.resourceVersion}`);
    const follower = followPods(before, watch);
    let counts: { lowestReady: number; mostPods: number; events: number };
    let rolled: { d: any; pods: any[] };
    try {
      const patch = { spec: { template: { spec: { containers: [{ name: 'app', image: image2 }] } } } };
      const r = await ts.api('PATCH', `${DEPLOYMENTS}/${NAME}`, patch, { 'Content-Type': 'application/strategic-merge-patch+json' });
      expect(r.status).toBe(200);
      rolled = await rolledOut(image2);
    } finally {
      counts = await follower.stop();
    }
    // The watch saw the rollout (a watch that saw nothing would pass the bounds below): each of the
    // 3 pods replaced is at least created, made Ready and deleted.
    expect(counts.events).toBeGreaterThanOrEqual(3 * REPLICAS);
    expect(counts.lowestReady).toBeGreaterThanOrEqual(REPLICAS - MAX_UNAVAILABLE);
    expect(counts.mostPods).toBeLessThanOrEqual(REPLICAS + MAX_SURGE);

    const { d, pods } = rolled;
    expect(d.metadata.annotations[REVISION]).toBe('2');
    expect(pods.every((p) => !revision1Pods.some((o) => o.metadata.uid === p.metadata.uid))).toBe(true);
    // Docker runs the new pods' containers only: every container of the old pods is removed.
    await eventually(async () => {
      for (const old of revision1Pods) expect(await dockerIds({ [LABELS.podUid]: old.metadata.uid })).toEqual([]);
    }, 20_000, 200);
    const running = await runningApps();
    expect(running.sort()).toEqual(pods.flatMap(containerIdsOf).sort());
    const { stdout } = await run('docker', ['inspect', '-f', '{{.Config.Image}}', ...running]);
    expect(stdout.trim().split('\n')).toEqual(Array(REPLICAS).fill(image2));
  });

  it('`mk rollout undo` goes back to the previous image', async () => {
    const r = await mk(['rollout', 'undo', `deployment/${NAME}`]);
    expect(r).toMatchObject({ code: 0, stdout: `deployment.apps/${NAME} rolled back\n` });
    const { d, pods } = await rolledOut(image);
    expect(d.spec.template.spec.containers[0].image).toBe(image);
    expect(d.metadata.annotations[REVISION]).toBe('3');
    await eventually(async () => expect((await runningApps()).sort()).toEqual(pods.flatMap(containerIdsOf).sort()), 20_000, 200);
  });

  it('`mk scale` to 1 leaves one container; deleting the Deployment removes every container', async () => {
    const scaled = await mk(['scale', `deployment/${NAME}`, '--replicas=1']);
    expect(scaled).toMatchObject({ code: 0, stdout: `deployment.apps/${NAME} scaled\n` });
    const { pods } = await rolledOut(image, 1);
    await eventually(async () => expect(await runningApps()).toEqual(containerIdsOf(pods[0])), 20_000, 200);

    const deleted = await mk(['delete', `deployment/${NAME}`, '--cascade=background']);
    expect(deleted).toMatchObject({ code: 0, stdout: `deployment.apps "${NAME}" deleted\n` });
    // The garbage collector deletes the ReplicaSets, then their pods; the agent removes their containers.
    await eventually(async () => {
      expect((await ts.api('GET', `/apis/apps/v1/namespaces/${NS}/replicasets?${SELECTOR}`)).body.items).toEqual([]);
      expect((await ts.api('GET', `${PODS}?${SELECTOR}`)).body.items).toEqual([]);
      expect(await dockerIds()).toEqual([]);
    }, 30_000, 250);
  });
});
