import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent, type AgentOptions } from '../../src/agent/agent';
import { AgentServer } from '../../src/agent/server';
import { FakeRuntime, type FakeRuntimeOptions } from '../../src/agent/runtime/fake';
import { LABELS, type ContainerConfig, type SandboxConfig } from '../../src/agent/runtime/runtime';
import { LocalClient } from '../../src/apiserver/local-client';
import { ApiClient } from '../../src/client/api-client';
import { eventually, openWatch, startTestServer, tempDir, type TestServer } from '../helpers';

/**
 * The agent (kubelet core) against a real `mk server` with its scheduler,
 * running pods on the fake runtime. Everything is observed the way a user
 * would: the Node, Lease, Pod status and Events through the API, plus what
 * the runtime was asked to run.
 */

const PODS = '/api/v1/namespaces/default/pods';

/** The fake runtime, remembering every container config it was given. */
class RecordingRuntime extends FakeRuntime {
  readonly configs: ContainerConfig[] = [];
  readonly sandboxConfigs: SandboxConfig[] = [];

  async runSandbox(config: SandboxConfig) {
    this.sandboxConfigs.push(config);
    return super.runSandbox(config);
  }

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    this.configs.push(config);
    return super.createContainer(sandboxId, config);
  }
}

let ts: TestServer;
const running: Agent[] = [];
let nodeCounter = 0;

beforeAll(async () => {
  ts = await startTestServer();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop()));
});

afterAll(async () => {
  await ts.destroy();
});

interface Started {
  agent: Agent;
  runtime: RecordingRuntime;
  node: string;
  dataDir: string;
}

/**
 * Resolves once the agent has relisted the runtime `times` more times: "a
 * while later" measured in the agent's own work, not in wall-clock sleeps.
 */
async function afterRelists(runtime: FakeRuntime, times: number): Promise<void> {
  const original = runtime.listPods;
  let count = 0;
  runtime.listPods = function (this: FakeRuntime) {
    count++;
    return original.call(this);
  };
  try {
    await eventually(() => expect(count).toBeGreaterThanOrEqual(times), 10_000, 20);
  } finally {
    runtime.listPods = original;
  }
}

/**
 * The in-process client, remembering the name of every pod it was asked to
 * delete, with its watch events arriving `watchLagMs` behind the answers to
 * writes, as they can over HTTP on a busy server.
 */
class RecordingClient extends LocalClient {
  readonly deleted: string[] = [];

  constructor(private readonly watchLagMs = 0) {
    super(ts.server.resources);
  }

  async delete(...args: Parameters<LocalClient['delete']>) {
    this.deleted.push(args[2]);
    return super.delete(...args);
  }

  watch(...[rt, namespace, opts, onEvent]: Parameters<LocalClient['watch']>) {
    return super.watch(rt, namespace, opts, (e) => setTimeout(() => onEvent(e), this.watchLagMs));
  }
}

async function startAgent(
  opts: Partial<AgentOptions> = {}, runtimeOpts: FakeRuntimeOptions = {}, runtime?: RecordingRuntime,
  client: LocalClient = new LocalClient(ts.server.resources),
): Promise<Started> {
  const node = opts.nodeName ?? `agent-node-${++nodeCounter}`;
  runtime ??= new RecordingRuntime({ node, ...runtimeOpts });
  const dataDir = opts.dataDir ?? tempDir('mk-agent-');
  const agent = new Agent(client, runtime, {
    nodeName: node,
    dataDir,
    capacity: { cpu: 4, memory: '8Gi', pods: 110 },
    syncIntervalMs: 100,
    heartbeatIntervalMs: 200,
    backoff: { initialMs: 200, maxMs: 800 },
    imagePullBackoff: { initialMs: 300, maxMs: 1200 },
    ...opts,
  });
  await agent.start();
  running.push(agent);
  return { agent, runtime, node, dataDir };
}

async function stopAgent(agent: Agent): Promise<void> {
  running.splice(running.indexOf(agent), 1);
  await agent.stop();
}

/** A pod pinned (through the scheduler) to one node. */
function pod(name: string, node: string, spec: Record<string, any> = {}, containers?: any[]): any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name } },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': node },
      containers: containers ?? [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'] }],
      ...spec,
    },
  };
}

async function create(urlPath: string, body: any): Promise<any> {
  const res = await ts.api('POST', urlPath, body);
  if (res.status !== 201) throw new Error(`POST ${urlPath} answered ${res.status}: ${res.text}`);
  return res.body;
}

async function getPod(name: string): Promise<any> {
  const res = await ts.api('GET', `${PODS}/${name}`);
  if (res.status !== 200) throw new Error(`GET pod ${name} answered ${res.status}: ${res.text}`);
  return res.body;
}

async function events(name: string): Promise<any[]> {
  const res = await ts.api('GET', `/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=${name}`);
  return res.body.items;
}

function condition(p: any, type: string): any {
  return p.status?.conditions?.find((c: any) => c.type === type);
}

/** Waits until the pod satisfies `check` (which throws or returns false until it does). */
async function waitPod(name: string, check: (p: any) => boolean | void, timeoutMs = 10_000): Promise<any> {
  return eventually(async () => {
    const p = await getPod(name);
    if (check(p) === false) throw new Error(`pod ${name} not there yet: ${JSON.stringify(p.status)}`);
    return p;
  }, timeoutMs);
}

async function waitRunningReady(name: string): Promise<any> {
  return waitPod(name, (p) => p.status.phase === 'Running' && condition(p, 'Ready')?.status === 'True');
}

async function runtimeContainers(runtime: FakeRuntime, uid: string) {
  return (await runtime.listPods()).find((p) => p.podUid === uid)?.containers ?? [];
}

describe('node registration and heartbeat', () => {
  it('registers its Node with capacity, labels, conditions and nodeInfo, and renews its Lease', async () => {
    const node = `agent-http-${++nodeCounter}`;
    const client = new ApiClient({ server: ts.url, token: ts.token, caData: ts.server.caPem });
    const runtime = new FakeRuntime({ node });
    const agent = new Agent(client, runtime, { nodeName: node, dataDir: tempDir('mk-agent-'), heartbeatIntervalMs: 100, daemonPort: 10250, labels: { tier: 'edge' } });
    await agent.start();
    try {
      const n = (await ts.api('GET', `/api/v1/nodes/${node}`)).body;
      expect(n.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': node, 'kubernetes.io/os': 'linux', tier: 'edge' });
      expect(n.metadata.labels['kubernetes.io/arch']).toBeTruthy();
      expect(Number(n.status.capacity.cpu)).toBeGreaterThan(0);
      expect(n.status.capacity.memory).toMatch(/^\d+Ki$/);
      expect(n.status.capacity.pods).toBe('110');
      expect(n.status.allocatable).toEqual(n.status.capacity);
      const ready = n.status.conditions.find((c: any) => c.type === 'Ready');
      expect(ready).toMatchObject({ status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' });
      for (const t of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) {
        expect(n.status.conditions.find((c: any) => c.type === t)?.status).toBe('False');
      }
      expect(n.status.addresses).toEqual([
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: node },
      ]);
      expect(n.status.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: 10250 } });
      expect(n.status.nodeInfo).toMatchObject({ kubeletVersion: 'v1.31.0-mk', containerRuntimeVersion: 'fake://0.1.0', operatingSystem: 'linux' });

      const lease = await eventually(async () => {
        const res = await ts.api('GET', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node}`);
        expect(res.status).toBe(200);
        return res.body;
      });
      expect(lease.spec).toMatchObject({ holderIdentity: node, leaseDurationSeconds: 40 });
      expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(lease.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Node', name: node, uid: n.metadata.uid })]);
      await eventually(async () => {
        const again = (await ts.api('GET', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node}`)).body;
        expect(again.spec.renewTime).not.toBe(lease.spec.renewTime);
      });

      // A pod through the HTTP client too: watch with a field selector, JSON-patched status.
      await create(PODS, pod('over-http', node));
      const p = await waitRunningReady('over-http');
      expect(p.status.podIP).toMatch(/^10\./);
    } finally {
      await agent.stop();
      client.close();
    }
  });

  it('registers again over an existing Node, keeping labels others set', async () => {
    const { agent, node } = await startAgent();
    await ts.api('PATCH', `/api/v1/nodes/${node}`, { metadata: { labels: { added: 'by-user' } } }, { 'Content-Type': 'application/merge-patch+json' });
    await stopAgent(agent);
    await startAgent({ nodeName: node, labels: { role: 'worker' } });
    const n = (await ts.api('GET', `/api/v1/nodes/${node}`)).body;
    expect(n.metadata.labels).toMatchObject({ added: 'by-user', role: 'worker', 'kubernetes.io/hostname': node });
  });
});

describe('running pods', () => {
  it('runs a scheduled pod: Running and Ready, with podIP, container statuses and events', async () => {
    const { node, runtime } = await startAgent();
    const created = await create(PODS, pod('web', node));
    const p = await waitRunningReady('web');
    expect(p.spec.nodeName).toBe(node);
    expect(p.status.hostIP).toBe('127.0.0.1');
    expect(p.status.hostIPs).toEqual([{ ip: '127.0.0.1' }]);
    expect(p.status.podIP).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(p.status.podIPs).toEqual([{ ip: p.status.podIP }]);
    expect(p.status.startTime).toMatch(/Z$/);
    expect(p.status.qosClass).toBe(created.status.qosClass);
    const types = p.status.conditions.map((c: any) => `${c.type}=${c.status}`);
    expect(types).toEqual(expect.arrayContaining(['PodReadyToStartContainers=True', 'Initialized=True', 'Ready=True', 'ContainersReady=True', 'PodScheduled=True']));
    const [cs] = p.status.containerStatuses;
    const [rc] = await runtimeContainers(runtime, p.metadata.uid);
    expect(cs).toMatchObject({
      name: 'main',
      ready: true,
      started: true,
      restartCount: 0,
      image: 'busybox:1.36',
      containerID: `fake://${rc.id}`,
      imageID: `fake://${rc.imageId}`,
      lastState: {},
    });
    expect(cs.state.running.startedAt).toMatch(/Z$/);

    const evs = await eventually(async () => {
      const list = await events('web');
      expect(list.map((e) => e.reason)).toEqual(expect.arrayContaining(['Scheduled', 'Pulled', 'Created', 'Started']));
      return list;
    });
    const started = evs.find((e) => e.reason === 'Started');
    expect(started).toMatchObject({
      message: 'Started container main',
      source: { component: 'kubelet', host: node },
      involvedObject: expect.objectContaining({ kind: 'Pod', name: 'web', fieldPath: 'spec.containers{main}' }),
    });
    expect(evs.find((e) => e.reason === 'Pulled').message).toMatch(/^(Successfully pulled image "busybox:1\.36" in .+|Container image "busybox:1\.36" already present on machine)$/);
  });

  it('writes status only when it changes', async () => {
    const { node, runtime } = await startAgent();
    await create(PODS, pod('quiet', node));
    const p = await waitRunningReady('quiet');
    const rv = p.metadata.resourceVersion;
    // Many relists and heartbeats later, nothing was written.
    await afterRelists(runtime, 8);
    expect((await getPod('quiet')).metadata.resourceVersion).toBe(rv);
  });

  it('runs init containers first, in order, and reports them', async () => {
    const { node, runtime } = await startAgent({}, { sleepScale: 0.4 });
    await create(
      PODS,
      pod('with-init', node, {
        initContainers: [
          { name: 'init-a', image: 'busybox:1.36', command: ['sleep', '1'] },
          { name: 'init-b', image: 'busybox:1.36', command: ['true'] },
        ],
      }),
    );
    const initializing = await waitPod('with-init', (p) => !!p.status.initContainerStatuses?.[0]?.state?.running);
    expect(initializing.status.phase).toBe('Pending');
    expect(condition(initializing, 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [init-a init-b]' });
    expect(initializing.status.initContainerStatuses[1].state.waiting.reason).toBe('PodInitializing');
    expect(initializing.status.containerStatuses[0].state.waiting.reason).toBe('PodInitializing');

    const p = await waitRunningReady('with-init');
    expect(condition(p, 'Initialized').status).toBe('True');
    expect(p.status.initContainerStatuses.map((s: any) => [s.name, s.state.terminated?.reason, s.ready])).toEqual([
      ['init-a', 'Completed', true],
      ['init-b', 'Completed', true],
    ]);
    const containers = await runtimeContainers(runtime, p.metadata.uid);
    const at = (name: string) => containers.find((c) => c.name === name)!;
    expect(at('init-a').finishedAt!.getTime()).toBeLessThanOrEqual(at('init-b').createdAt.getTime());
    expect(at('init-b').finishedAt!.getTime()).toBeLessThanOrEqual(at('main').createdAt.getTime());
    expect(at('init-a').labels[LABELS.containerType]).toBe('init');
  });

  it('fails the pod when an init container fails under restartPolicy Never', async () => {
    const { node } = await startAgent();
    await create(PODS, pod('init-fails', node, { restartPolicy: 'Never', initContainers: [{ name: 'setup', image: 'busybox:1.36', command: ['false'] }] }));
    const p = await waitPod('init-fails', (x) => x.status.phase === 'Failed');
    expect(p.status.initContainerStatuses[0].state.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(p.status.containerStatuses[0].state.waiting.reason).toBe('PodInitializing');
  });
  it("gives the sandbox the pod's hostname, DNS, host aliases and host ports", async () => {
    const { node, runtime } = await startAgent();
    await create(
      PODS,
      pod(
        'sandboxed',
        node,
        {
          hostname: 'box',
          dnsPolicy: 'None',
          dnsConfig: { nameservers: ['1.2.3.4'], searches: ['svc.local'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] },
          hostAliases: [{ ip: '10.1.2.3', hostnames: ['db', 'db.local'] }],
        },
        [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'], ports: [{ containerPort: 80, hostPort: 18080 }, { containerPort: 53, protocol: 'UDP' }] }],
      ),
    );
    const p = await waitRunningReady('sandboxed');
    const config = runtime.sandboxConfigs.find((c) => c.podUid === p.metadata.uid)!;
    expect(config).toMatchObject({
      name: 'sandboxed',
      namespace: 'default',
      hostname: 'box',
      dns: { nameservers: ['1.2.3.4'], searches: ['svc.local'], options: ['ndots:2', 'edns0'] },
      hostAliases: [{ ip: '10.1.2.3', hostnames: ['db', 'db.local'] }],
      portMappings: [{ containerPort: 80, hostPort: 18080, protocol: 'TCP' }],
    });
    expect(config.labels).toMatchObject({ [LABELS.podUid]: p.metadata.uid, [LABELS.node]: node, [LABELS.role]: 'sandbox' });
  });

  it('recreates a sandbox that died, and restarts the containers in it', async () => {
    const { node, runtime } = await startAgent();
    await create(PODS, pod('phoenix', node));
    const before = await waitRunningReady('phoenix');
    const [sandbox] = (await runtime.listPods()).find((x) => x.podUid === before.metadata.uid)!.sandboxes;
    await runtime.removeSandbox(sandbox.id);
    const after = await waitPod('phoenix', (p) => p.status.containerStatuses[0].restartCount === 1 && condition(p, 'Ready')?.status === 'True');
    const rp = (await runtime.listPods()).find((x) => x.podUid === before.metadata.uid)!;
    expect(rp.sandboxes).toHaveLength(1);
    expect(rp.sandboxes[0].id).not.toBe(sandbox.id);
    expect(after.status.podIP).toBe(rp.sandboxes[0].ip);
    expect(rp.containers.filter((c) => c.state === 'running')).toHaveLength(1);
    expect((await events('phoenix')).map((e) => e.reason)).toContain('SandboxChanged');
  });
});

describe('restarts', () => {
  it('backs a crashing container off: CrashLoopBackOff, rising restartCount, lastState', async () => {
    const { node } = await startAgent();
    await create(PODS, pod('crash', node, {}, [{ name: 'main', image: 'busybox:1.36', command: ['sh', '-c', 'exit 1'] }]));
    const p = await waitPod('crash', (x) => {
      const cs = x.status.containerStatuses?.[0];
      return cs?.state?.waiting?.reason === 'CrashLoopBackOff' && cs.restartCount >= 2;
    });
    const cs = p.status.containerStatuses[0];
    expect(p.status.phase).toBe('Running');
    expect(cs.state.waiting.message).toMatch(new RegExp(`^back-off \\d+ms restarting failed container=main pod=crash_default\\(${p.metadata.uid}\\)$`));
    expect(cs.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error', containerID: expect.stringMatching(/^fake:\/\//) });
    expect(cs.lastState.terminated.startedAt).toBeTruthy();
    expect(cs.lastState.terminated.finishedAt).toBeTruthy();
    expect(cs.ready).toBe(false);
    expect(condition(p, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [main]' });
    await waitPod('crash', (x) => x.status.containerStatuses[0].restartCount >= 4);
    const backOff = (await events('crash')).find((e) => e.reason === 'BackOff');
    expect(backOff).toMatchObject({ type: 'Warning', message: `Back-off restarting failed container main in pod crash_default(${p.metadata.uid})` });
  });

  it('restartPolicy Never: exit 0 is Succeeded, exit 1 is Failed', async () => {
    const { node, runtime } = await startAgent();
    await create(PODS, pod('done-ok', node, { restartPolicy: 'Never' }, [{ name: 'main', image: 'busybox:1.36', command: ['true'] }]));
    await create(PODS, pod('done-bad', node, { restartPolicy: 'Never' }, [{ name: 'main', image: 'busybox:1.36', command: ['sh', '-c', 'exit 3'] }]));
    const ok = await waitPod('done-ok', (p) => p.status.phase === 'Succeeded');
    expect(ok.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(condition(ok, 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
    const bad = await waitPod('done-bad', (p) => p.status.phase === 'Failed');
    expect(bad.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(bad.status.containerStatuses[0].restartCount).toBe(0);
    // Nothing restarts, and the exited containers stay (for logs).
    await afterRelists(runtime, 4);
    expect(await runtimeContainers(runtime, bad.metadata.uid)).toHaveLength(1);
    expect((await getPod('done-bad')).status.containerStatuses[0].restartCount).toBe(0);
  });

  it('restartPolicy OnFailure: restarts failures, completes on success', async () => {
    const { node } = await startAgent();
    await create(PODS, pod('onfail-bad', node, { restartPolicy: 'OnFailure' }, [{ name: 'main', image: 'busybox:1.36', command: ['sh', '-c', 'exit 2'] }]));
    await create(PODS, pod('onfail-ok', node, { restartPolicy: 'OnFailure' }, [{ name: 'main', image: 'busybox:1.36', command: ['true'] }]));
    const bad = await waitPod('onfail-bad', (p) => p.status.containerStatuses?.[0]?.restartCount >= 2);
    expect(bad.status.phase).toBe('Running');
    const ok = await waitPod('onfail-ok', (p) => p.status.phase === 'Succeeded');
    expect(ok.status.containerStatuses[0].restartCount).toBe(0);
  });

  it('recreates a container whose spec changed (image edit)', async () => {
    const { node, runtime } = await startAgent();
    await create(PODS, pod('edited', node));
    const before = await waitRunningReady('edited');
    const res = await ts.api('PATCH', `${PODS}/edited`, [{ op: 'replace', path: '/spec/containers/0/image', value: 'busybox:1.37' }], { 'Content-Type': 'application/json-patch+json' });
    expect(res.status).toBe(200);
    const after = await waitPod('edited', (p) => p.status.containerStatuses[0].image === 'busybox:1.37' && !!p.status.containerStatuses[0].state.running);
    expect(after.status.containerStatuses[0].restartCount).toBe(1);
    expect(after.status.containerStatuses[0].containerID).not.toBe(before.status.containerStatuses[0].containerID);
    const killing = (await events('edited')).find((e) => e.reason === 'Killing');
    expect(killing?.message).toBe('Container main definition changed, will be restarted');
    const live = (await runtimeContainers(runtime, after.metadata.uid)).filter((c) => c.state === 'running');
    expect(live).toHaveLength(1);
  });

  it('shows ErrImagePull, then ImagePullBackOff', async () => {
    const { node } = await startAgent();
    const watch = await openWatch(ts, `${PODS}?watch=true&fieldSelector=metadata.name=no-image`);
    try {
      await create(PODS, pod('no-image', node, {}, [{ name: 'main', image: 'example.com/does-not-exist:1' }]));
      const reasonOf = (e: any) => e.object.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      const seen = await watch.until((e) => reasonOf(e) === 'ImagePullBackOff');
      const first = seen.find((e) => reasonOf(e) === 'ErrImagePull');
      expect(first.object.status.containerStatuses[0].state.waiting.message).toMatch(/^Failed to pull image "example.com\/does-not-exist:1": /);
      const last = seen[seen.length - 1].object;
      expect(last.status.containerStatuses[0].state.waiting.message).toMatch(/^Back-off pulling image "example.com\/does-not-exist:1": ErrImagePull: Failed to pull image/);
      expect(last.status.phase).toBe('Pending');
      // The pull is retried after the backoff, failing again.
      await watch.until((e) => reasonOf(e) === 'ErrImagePull');
    } finally {
      watch.close();
    }
    const reasons = (await events('no-image')).map((e) => `${e.reason}:${e.message}`);
    expect(reasons).toEqual(expect.arrayContaining(['Failed:Error: ErrImagePull', `BackOff:Back-off pulling image "example.com/does-not-exist:1"`]));
  });

  it('stays at ErrImageNeverPull, without ImagePullBackOff, when the image is absent and the policy is Never', async () => {
    const { node } = await startAgent();
    await create(PODS, pod('never-pull', node, {}, [{ name: 'main', image: 'example.com/does-not-exist:1', imagePullPolicy: 'Never' }]));
    const waitingOf = async () => (await getPod('never-pull')).status?.containerStatuses?.[0]?.state?.waiting;
    await eventually(async () => expect((await waitingOf())?.reason).toBe('ErrImageNeverPull'));
    // The agent keeps looking (the image may be loaded later); the reason must not turn into a pull backoff.
    await eventually(async () => expect((await events('never-pull')).some((e) => e.reason === 'ErrImageNeverPull')).toBe(true));
    const reasons = (await events('never-pull')).map((e) => e.reason);
    expect(reasons).not.toContain('BackOff');
    expect((await waitingOf())?.message).toBe('Container image "example.com/does-not-exist:1" is not present with pull policy of Never');
  });
});

describe('probes', () => {
  it('readiness probe drives ready and the Ready condition', async () => {
    let ready = false;
    const { node } = await startAgent({}, { execHandler: (_id, cmd) => (cmd.includes('/tmp/ready') ? { exitCode: ready ? 0 : 1, stdout: ready ? '' : 'not ready yet' } : undefined) });
    await create(
      PODS,
      pod('probed', node, {}, [
        {
          name: 'main',
          image: 'busybox:1.36',
          command: ['sleep', '3600'],
          readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 },
        },
      ]),
    );
    const notReady = await waitPod('probed', (p) => p.status.phase === 'Running');
    expect(notReady.status.containerStatuses[0].ready).toBe(false);
    expect(condition(notReady, 'Ready')?.status).toBe('False');
    ready = true;
    const p = await waitPod('probed', (x) => condition(x, 'Ready')?.status === 'True');
    expect(p.status.containerStatuses[0].ready).toBe(true);
    expect(condition(p, 'ContainersReady').status).toBe('True');
    ready = false;
    await waitPod('probed', (x) => condition(x, 'Ready')?.status === 'False' && x.status.containerStatuses[0].ready === false);
    const unhealthy = (await events('probed')).find((e) => e.reason === 'Unhealthy');
    expect(unhealthy).toMatchObject({ type: 'Warning', message: 'Readiness probe failed: not ready yet' });
    expect(unhealthy.involvedObject.fieldPath).toBe('spec.containers{main}');
  });

  it('a failing liveness probe restarts the container', async () => {
    let alive = true;
    const { node } = await startAgent({}, { execHandler: (_id, cmd) => (cmd.includes('alive') ? { exitCode: alive ? 0 : 1, stdout: alive ? '' : 'dead' } : undefined) });
    await create(
      PODS,
      pod('lively', node, {}, [
        {
          name: 'main',
          image: 'busybox:1.36',
          command: ['sleep', '3600'],
          livenessProbe: { exec: { command: ['test', 'alive'] }, periodSeconds: 1, failureThreshold: 1 },
        },
      ]),
    );
    await waitRunningReady('lively');
    alive = false;
    const p = await waitPod('lively', (x) => x.status.containerStatuses[0].restartCount >= 1);
    alive = true;
    expect(p.status.containerStatuses[0].lastState.terminated).toMatchObject({ exitCode: 137 });
    const evs = await events('lively');
    expect(evs.find((e) => e.reason === 'Killing')?.message).toBe('Container main failed liveness probe, will be restarted');
    expect(evs.find((e) => e.reason === 'Unhealthy')?.message).toBe('Liveness probe failed: dead');
    await waitRunningReady('lively');
  });
});

describe('configuration', () => {
  it('resolves env from values, ConfigMaps, Secrets, the downward API and resources, with $(VAR) expansion', async () => {
    const { node, runtime } = await startAgent();
    await create('/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config' }, data: { LEVEL: 'debug', MODE: 'fast' } });
    await create('/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'odd-keys' }, data: { '1st': 'x', fine: 'y' } });
    await create('/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-secret' }, data: { password: Buffer.from('s3cret').toString('base64') } });
    await create(
      PODS,
      pod('env', node, {}, [
        {
          name: 'main',
          image: 'busybox:1.36',
          command: ['sh', '-c', 'echo $(GREETING) $$(HOME) $(UNDEFINED)'],
          args: ['$(POD_NAME)'],
          resources: { limits: { cpu: '500m', memory: '128Mi' } },
          envFrom: [{ configMapRef: { name: 'app-config' }, prefix: 'CFG_' }, { secretRef: { name: 'app-secret' } }, { configMapRef: { name: 'odd-keys' } }],
          env: [
            { name: 'NAME', value: 'world' },
            { name: 'GREETING', value: 'hello $(NAME)' },
            { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'LEVEL' } } },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'password' } } },
            { name: 'MAYBE', valueFrom: { configMapKeyRef: { name: 'nope', key: 'x', optional: true } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
            { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
            { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
            { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
          ],
          workingDir: '/work',
          securityContext: { runAsUser: 1000 },
        },
      ]),
    );
    const p = await waitRunningReady('env');
    const config = runtime.configs.find((c) => c.labels[LABELS.podUid] === p.metadata.uid)!;
    const env = Object.fromEntries(config.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      CFG_LEVEL: 'debug',
      CFG_MODE: 'fast',
      fine: 'y',
      password: 's3cret',
      NAME: 'world',
      GREETING: 'hello world',
      LEVEL: 'debug',
      PASSWORD: 's3cret',
      POD_NAME: 'env',
      POD_NAMESPACE: 'default',
      POD_UID: p.metadata.uid,
      APP: 'env',
      NODE: node,
      POD_IP: p.status.podIP,
      HOST_IP: '127.0.0.1',
      MEM_MI: '128',
      CPU: '1',
    });
    expect(env).not.toHaveProperty('MAYBE');
    expect(env).not.toHaveProperty('1st');
    expect(config.command).toEqual(['sh', '-c', 'echo hello world $(HOME) $(UNDEFINED)']);
    expect(config.args).toEqual(['env']);
    expect(config.workingDir).toBe('/work');
    expect(config.resources).toMatchObject({ cpuMilli: 500, memoryBytes: 128 * 1024 * 1024 });
    expect(config.securityContext.runAsUser).toBe(1000);
    const warning = await eventually(async () => {
      const e = (await events('env')).find((x) => x.reason === 'InvalidEnvironmentVariableNames');
      expect(e).toBeDefined();
      return e;
    });
    expect(warning.message).toBe('Keys [1st] from the EnvFrom configMap default/odd-keys were skipped since they are considered invalid environment variable names.');
  });

  it('a missing Secret key ref waits in CreateContainerConfigError', async () => {
    const { node } = await startAgent();
    await create(PODS, pod('env-missing', node, {}, [{ name: 'main', image: 'busybox:1.36', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'absent', key: 'k' } } }] }]));
    const p = await waitPod('env-missing', (x) => x.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError');
    expect(p.status.containerStatuses[0].state.waiting.message).toBe('secret "absent" not found');
    await create('/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'absent' }, stringData: { k: 'v' } });
    await waitRunningReady('env-missing');
  });

  it('writes configMap and secret volumes (items, modes), makes hostPath and emptyDir, and follows ConfigMap changes', async () => {
    const { node, runtime, dataDir } = await startAgent();
    const hostDir = path.join(tempDir('mk-hostpath-'), 'made', 'here');
    await create('/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'files' }, data: { 'app.conf': 'v1', other: 'o' } });
    await create('/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vol-secret' }, stringData: { token: 't0ken', ignored: 'x' } });
    await create(
      PODS,
      pod(
        'vols',
        node,
        {
          volumes: [
            { name: 'conf', configMap: { name: 'files', defaultMode: 0o600 } },
            { name: 'picked', configMap: { name: 'files', items: [{ key: 'app.conf', path: 'etc/app.conf', mode: 0o640 }] } },
            { name: 'scratch', emptyDir: {} },
            { name: 'creds', secret: { secretName: 'vol-secret', items: [{ key: 'token', path: 'token' }] } },
            { name: 'host', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } },
          ],
        },
        [
          {
            name: 'main',
            image: 'busybox:1.36',
            command: ['sleep', '3600'],
            volumeMounts: [
              { name: 'conf', mountPath: '/conf' },
              { name: 'picked', mountPath: '/picked' },
              { name: 'scratch', mountPath: '/scratch' },
              { name: 'creds', mountPath: '/creds' },
              { name: 'host', mountPath: '/host', readOnly: true },
              { name: 'conf', mountPath: '/one.conf', subPath: 'app.conf' },
            ],
          },
        ],
      ),
    );
    const p = await waitRunningReady('vols');
    const volDir = (name: string) => path.join(dataDir, 'pods', p.metadata.uid, 'volumes', name);
    expect(fs.readFileSync(path.join(volDir('conf'), 'app.conf'), 'utf8')).toBe('v1');
    expect(fs.statSync(path.join(volDir('conf'), 'app.conf')).mode & 0o777).toBe(0o600);
    expect(fs.readlinkSync(path.join(volDir('conf'), 'app.conf'))).toBe('..data/app.conf');
    expect(fs.readFileSync(path.join(volDir('picked'), 'etc/app.conf'), 'utf8')).toBe('v1');
    expect(fs.statSync(path.join(volDir('picked'), 'etc/app.conf')).mode & 0o777).toBe(0o640);
    expect(fs.existsSync(path.join(volDir('picked'), 'other'))).toBe(false);
    expect(fs.statSync(volDir('scratch')).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(volDir('creds'), 'token'), 'utf8')).toBe('t0ken');
    expect(fs.statSync(path.join(volDir('creds'), 'token')).mode & 0o777).toBe(0o644);
    expect(fs.existsSync(path.join(volDir('creds'), 'ignored'))).toBe(false);
    expect(fs.statSync(hostDir).isDirectory()).toBe(true);

    const config = runtime.configs.find((c) => c.labels[LABELS.podUid] === p.metadata.uid)!;
    expect(config.mounts).toEqual([
      { hostPath: volDir('conf'), containerPath: '/conf', readOnly: true },
      { hostPath: volDir('picked'), containerPath: '/picked', readOnly: true },
      { hostPath: volDir('scratch'), containerPath: '/scratch', readOnly: false },
      { hostPath: volDir('creds'), containerPath: '/creds', readOnly: true },
      { hostPath: hostDir, containerPath: '/host', readOnly: true },
      { hostPath: expect.stringMatching(new RegExp(`^${volDir('conf')}/\\.\\.[^/]+/app\\.conf$`)), containerPath: '/one.conf', readOnly: true },
    ]);

    await ts.api('PATCH', '/api/v1/namespaces/default/configmaps/files', { data: { 'app.conf': 'v2', other: null } }, { 'Content-Type': 'application/merge-patch+json' });
    await eventually(() => {
      expect(fs.readFileSync(path.join(volDir('conf'), 'app.conf'), 'utf8')).toBe('v2');
      expect(fs.readFileSync(path.join(volDir('picked'), 'etc/app.conf'), 'utf8')).toBe('v2');
      expect(fs.existsSync(path.join(volDir('conf'), 'other'))).toBe(false);
    });
    // The old generation is gone: one ..<timestamp> directory remains.
    expect(fs.readdirSync(volDir('conf')).filter((n) => n.startsWith('..') && n !== '..data')).toHaveLength(1);
  });

  it('a missing ConfigMap gives FailedMount and ContainerCreating until it appears', async () => {
    const { node } = await startAgent();
    await create(
      PODS,
      pod('no-cm', node, { volumes: [{ name: 'conf', configMap: { name: 'later' } }] }, [
        { name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'], volumeMounts: [{ name: 'conf', mountPath: '/conf' }] },
      ]),
    );
    const mount = await eventually(async () => {
      const e = (await events('no-cm')).find((x) => x.reason === 'FailedMount');
      expect(e).toBeDefined();
      return e;
    });
    expect(mount).toMatchObject({ type: 'Warning', message: 'MountVolume.SetUp failed for volume "conf" : configmap "later" not found' });
    const p = await waitPod('no-cm', (x) => x.status.containerStatuses?.[0]?.state?.waiting?.reason === 'ContainerCreating');
    expect(p.status.phase).toBe('Pending');
    await create('/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later' }, data: { a: 'b' } });
    await waitRunningReady('no-cm');
  });
});

describe('logs and exec', () => {
  it('resolves containers for the log/exec server, which the API server reaches through the Node', async () => {
    let runs = 0;
    // The first run crashes, the second keeps running: a previous instance and a current one.
    const { agent, node, runtime } = await startAgent({}, { exitRules: [{ match: () => runs++ === 0, exitCode: 1 }] });
    const server = new AgentServer({ runtime, token: ts.token, resolveContainer: (ns, name, c, previous) => agent.resolveContainer(ns, name, c, previous) });
    agent.setDaemonPort(await server.listen(0, '127.0.0.1'));
    try {
      await create(PODS, pod('talker', node));
      const p = await waitPod('talker', (x) => x.status.containerStatuses?.[0]?.restartCount === 1 && !!x.status.containerStatuses[0].state.running);
      await eventually(async () => expect((await ts.api('GET', `/api/v1/nodes/${node}`)).body.status.daemonEndpoints.kubeletEndpoint.Port).toBeGreaterThan(0));
      const instances = (await runtimeContainers(runtime, p.metadata.uid)).sort((a, b) => b.attempt - a.attempt);
      runtime.appendLog(instances[0].id, 'from the latest run');
      runtime.appendLog(instances[1].id, 'from the run before');

      expect(await agent.resolveContainer('default', 'talker', undefined, false)).toBe(instances[0].id);
      expect(await agent.resolveContainer('default', 'talker', 'main', true)).toBe(instances[1].id);
      await expect(agent.resolveContainer('default', 'nobody', 'main', false)).rejects.toMatchObject({ code: 404 });
      await expect(agent.resolveContainer('default', 'talker', 'other', false)).rejects.toThrow('container other is not valid for pod talker');

      const latest = await ts.api('GET', `${PODS}/talker/log`);
      expect(latest.text).toBe('from the latest run\n');
      const before = await ts.api('GET', `${PODS}/talker/log?previous=true`);
      expect(before.text).toBe('from the run before\n');
    } finally {
      await server.close();
    }
  });
});

describe('deletion and adoption', () => {
  it('graceful delete runs preStop, stops and removes the containers, then deletes the pod', async () => {
    const hooks: string[][] = [];
    const client = new RecordingClient(50);
    const { node, runtime, dataDir } = await startAgent({}, { execHandler: (_id, cmd) => (cmd[0] === 'drain' ? (hooks.push(cmd), { exitCode: 0 }) : undefined) }, undefined, client);
    await create(
      PODS,
      pod('doomed', node, { volumes: [{ name: 'scratch', emptyDir: {} }] }, [
        { name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'], lifecycle: { preStop: { exec: { command: ['drain', '--now'] } } } },
      ]),
    );
    const p = await waitRunningReady('doomed');
    expect(fs.existsSync(path.join(dataDir, 'pods', p.metadata.uid))).toBe(true);
    const del = await ts.api('DELETE', `${PODS}/doomed`);
    expect(del.status).toBe(200);
    await eventually(async () => expect((await ts.api('GET', `${PODS}/doomed`)).status).toBe(404));
    expect((await runtime.listPods()).find((x) => x.podUid === p.metadata.uid)).toBeUndefined();
    expect(fs.existsSync(path.join(dataDir, 'pods', p.metadata.uid))).toBe(false);
    expect(hooks).toEqual([['drain', '--now']]);
    const killing = (await events('doomed')).find((e) => e.reason === 'Killing');
    expect(killing).toMatchObject({ message: 'Stopping container main', involvedObject: expect.objectContaining({ fieldPath: 'spec.containers{main}' }) });
    // The pod object is deleted once, as the kubelet does: the syncs its own final status write wakes do not delete again.
    await afterRelists(runtime, 3);
    expect(client.deleted).toEqual(['doomed']);
  });

  it('a restarted agent adopts running containers without duplicates and removes what is not its any more', async () => {
    const first = await startAgent();
    const { node, runtime, dataDir } = first;
    await create(PODS, pod('kept', node));
    await create(PODS, pod('gone', node));
    const kept = await waitRunningReady('kept');
    const gone = await waitRunningReady('gone');
    const [original] = await runtimeContainers(runtime, kept.metadata.uid);
    await stopAgent(first.agent);

    // While the agent is down: one pod is force-deleted, and a stray duplicate of the other appears.
    await ts.api('DELETE', `${PODS}/gone?gracePeriodSeconds=0`);
    const sandbox = (await runtime.listPods()).find((x) => x.podUid === kept.metadata.uid)!.sandboxes[0];
    const dupId = await runtime.createContainer(sandbox.id, { ...runtime.configs.find((c) => c.labels[LABELS.podUid] === kept.metadata.uid)! });
    await runtime.startContainer(dupId);

    await startAgent({ nodeName: node, dataDir }, {}, runtime);
    await eventually(async () => {
      const containers = await runtimeContainers(runtime, kept.metadata.uid);
      expect(containers.filter((c) => c.state === 'running')).toHaveLength(1);
      expect((await runtime.listPods()).find((x) => x.podUid === gone.metadata.uid)).toBeUndefined();
    });
    const live = (await runtimeContainers(runtime, kept.metadata.uid)).filter((c) => c.state === 'running');
    // The newest instance of the same attempt wins; the pod keeps running without a restart.
    expect(live[0].id).toBe(dupId);
    const after = await waitRunningReady('kept');
    expect(after.status.containerStatuses[0].restartCount).toBe(0);
    expect(after.status.containerStatuses[0].containerID).toBe(`fake://${dupId}`);
    expect(original.id).not.toBe(dupId);
  });

  it('a restarted agent keeps a running pod as it is', async () => {
    const first = await startAgent();
    const { node, runtime, dataDir } = first;
    await create(PODS, pod('steady', node));
    const before = await waitRunningReady('steady');
    await stopAgent(first.agent);
    await startAgent({ nodeName: node, dataDir }, {}, runtime);
    // Several relists later: the same container, no restart, no status write.
    await afterRelists(runtime, 5);
    const after = await getPod('steady');
    expect(after.status.containerStatuses[0].containerID).toBe(before.status.containerStatuses[0].containerID);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(await runtimeContainers(runtime, before.metadata.uid)).toHaveLength(1);
  });
});
