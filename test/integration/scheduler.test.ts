import { LocalClient } from '../../src/apiserver/local-client';
import { quantityMilliValue } from '../../src/api/quantity';
import { Scheduler } from '../../src/scheduler/scheduler';
import { eventually, podManifest, startTestServer, type TestServer } from '../helpers';

/**
 * The scheduler inside a real `mk server`, driven only through the API:
 * nodes are registered the way an agent would (status with capacity,
 * allocatable and a Ready condition), pods are created over HTTPS, and every
 * outcome is read back from the API: spec.nodeName, the PodScheduled
 * condition and the Events the scheduler wrote.
 */

const PODS = '/api/v1/namespaces/default/pods';

interface NodeOptions {
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
}

function nodeManifest(name: string, opts: NodeOptions = {}): any {
  const resources = { cpu: opts.cpu ?? '4', memory: opts.memory ?? '8Gi', pods: opts.pods ?? '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...opts.labels } },
    spec: opts.taints ? { taints: opts.taints } : {},
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'mk agent is posting ready status' }],
    },
  };
}

async function createNode(ts: TestServer, name: string, opts: NodeOptions = {}): Promise<void> {
  const res = await ts.api('POST', '/api/v1/nodes', nodeManifest(name, opts));
  if (res.status !== 201) throw new Error(`creating node ${name} answered ${res.status}: ${res.text}`);
}

/** A pod whose one container requests `cpu` (and a little memory), with optional spec fields. */
function pod(name: string, cpu = '100m', spec: Record<string, any> = {}, labels?: Record<string, string>): any {
  const p = podManifest(name, { spec, metadata: labels ? { labels } : undefined });
  p.spec.containers[0].resources = { requests: { cpu, memory: '64Mi' } };
  return p;
}

async function createPod(ts: TestServer, manifest: any): Promise<any> {
  const res = await ts.api('POST', PODS, manifest);
  if (res.status !== 201) throw new Error(`creating pod ${manifest.metadata.name} answered ${res.status}: ${res.text}`);
  return res.body;
}

async function getPod(ts: TestServer, name: string): Promise<any> {
  const res = await ts.api('GET', `${PODS}/${name}`);
  if (res.status !== 200) throw new Error(`getting pod ${name} answered ${res.status}: ${res.text}`);
  return res.body;
}

async function listPods(ts: TestServer): Promise<any[]> {
  const res = await ts.api('GET', PODS);
  if (res.status !== 200) throw new Error(`listing pods answered ${res.status}: ${res.text}`);
  return res.body.items;
}

function podScheduled(p: any): any {
  return p.status?.conditions?.find((c: any) => c.type === 'PodScheduled');
}

/** Waits for the pod to be bound and returns its node. */
async function boundNode(ts: TestServer, name: string, timeoutMs = 10_000): Promise<string> {
  return eventually(async () => {
    const p = await getPod(ts, name);
    if (!p.spec.nodeName) throw new Error(`pod ${name} is not bound; PodScheduled: ${JSON.stringify(podScheduled(p))}`);
    return p.spec.nodeName as string;
  }, timeoutMs);
}

/** Waits until the scheduler has given up on the pod for now, and returns the condition's message. */
async function unschedulable(ts: TestServer, name: string, timeoutMs = 10_000): Promise<string> {
  return eventually(async () => {
    const p = await getPod(ts, name);
    expect(p.spec.nodeName).toBeUndefined();
    expect(p.status.phase).toBe('Pending');
    const c = podScheduled(p);
    expect(c).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    return c.message as string;
  }, timeoutMs);
}

async function eventsFor(ts: TestServer, name: string): Promise<any[]> {
  const res = await ts.api('GET', `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`);
  if (res.status !== 200) throw new Error(`listing events answered ${res.status}: ${res.text}`);
  return res.body.items;
}

async function eventWith(ts: TestServer, name: string, reason: string, timeoutMs = 10_000): Promise<any> {
  return eventually(async () => {
    const found = (await eventsFor(ts, name)).find((e) => e.reason === reason);
    if (!found) throw new Error(`no ${reason} event for ${name}`);
    return found;
  }, timeoutMs);
}

/** Requested milli-CPU of a pod, its containers summed (the pods here have no init containers). */
function cpuOf(p: any): number {
  let sum = 0;
  for (const c of p.spec.containers) sum += c.resources?.requests?.cpu ? quantityMilliValue(c.resources.requests.cpu) : 0;
  return sum;
}

let ts: TestServer;
afterEach(async () => {
  await ts?.destroy();
});

describe('scheduler in mk server', () => {
  it('puts a pod on the only node with room, records Scheduled, and counts it against the next pod', async () => {
    ts = await startTestServer();
    await Promise.all([createNode(ts, 'node1', { cpu: '2' }), createNode(ts, 'node2', { cpu: '2' }), createNode(ts, 'node3', { cpu: '4' })]);
    await createPod(ts, pod('big', '3'));
    expect(await boundNode(ts, 'big')).toBe('node3');

    const p = await getPod(ts, 'big');
    expect(podScheduled(p)).toMatchObject({ type: 'PodScheduled', status: 'True' });
    const ev = await eventWith(ts, 'big', 'Scheduled');
    expect(ev).toMatchObject({
      type: 'Normal',
      message: 'Successfully assigned default/big to node3',
      involvedObject: { kind: 'Pod', name: 'big', namespace: 'default', uid: p.metadata.uid },
      source: { component: 'default-scheduler' },
    });

    // node3 has 1 cpu left now: a second 3-cpu pod fits nowhere.
    await createPod(ts, pod('big-2', '3'));
    expect(await unschedulable(ts, 'big-2')).toBe('0/3 nodes are available: 3 Insufficient cpu.');
    // A 1-cpu pod still fits on any node.
    await createPod(ts, pod('small', '1'));
    expect(['node1', 'node2', 'node3']).toContain(await boundNode(ts, 'small'));
  });

  it('spreads pods with equal requests over equal nodes (least allocated)', async () => {
    ts = await startTestServer();
    await Promise.all(['node1', 'node2', 'node3'].map((n) => createNode(ts, n, { cpu: '4' })));
    for (let i = 0; i < 6; i++) {
      await createPod(ts, pod(`w${i}`, '500m'));
      await boundNode(ts, `w${i}`);
    }
    const perNode = new Map<string, number>();
    for (const p of await listPods(ts)) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
    expect([...perNode.values()].sort()).toEqual([2, 2, 2]);
  });

  it('honours nodeSelector and required nodeAffinity (In, NotIn, Exists, DoesNotExist, Gt, Lt)', async () => {
    ts = await startTestServer();
    await Promise.all([
      createNode(ts, 'node1', { labels: { disktype: 'ssd', zone: 'a', gen: '3' } }),
      createNode(ts, 'node2', { labels: { disktype: 'hdd', zone: 'b', gen: '5' } }),
      createNode(ts, 'node3', { labels: { zone: 'c', gen: '7' } }),
    ]);
    const required = (...matchExpressions: any[]) => ({
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions }] } } },
    });
    await Promise.all([
      createPod(ts, pod('ssd', '100m', { nodeSelector: { disktype: 'ssd' } })),
      createPod(ts, pod('by-host', '100m', { nodeSelector: { 'kubernetes.io/hostname': 'node2' } })),
      createPod(ts, pod('zone-bc-no-disk', '100m', required(
        { key: 'zone', operator: 'In', values: ['b', 'c'] },
        { key: 'disktype', operator: 'DoesNotExist' },
      ))),
      createPod(ts, pod('has-disk-not-ssd', '100m', required(
        { key: 'disktype', operator: 'Exists' },
        { key: 'disktype', operator: 'NotIn', values: ['ssd'] },
      ))),
      createPod(ts, pod('newer-than-4-not-7', '100m', required(
        { key: 'gen', operator: 'Gt', values: ['4'] },
        { key: 'gen', operator: 'Lt', values: ['7'] },
      ))),
      createPod(ts, pod('nvme', '100m', { nodeSelector: { disktype: 'nvme' } })),
    ]);
    expect(await boundNode(ts, 'ssd')).toBe('node1');
    expect(await boundNode(ts, 'by-host')).toBe('node2');
    expect(await boundNode(ts, 'zone-bc-no-disk')).toBe('node3');
    expect(await boundNode(ts, 'has-disk-not-ssd')).toBe('node2');
    expect(await boundNode(ts, 'newer-than-4-not-7')).toBe('node2');
    const message = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.";
    expect(await unschedulable(ts, 'nvme')).toBe(message);
    expect((await eventWith(ts, 'nvme', 'FailedScheduling')).message).toBe(message);

    // Labelling a node is a change that can make room: the waiting pod is retried and placed.
    const patched = await ts.api('PATCH', '/api/v1/nodes/node3', { metadata: { labels: { disktype: 'nvme' } } }, {
      'Content-Type': 'application/merge-patch+json',
    });
    expect(patched.status).toBe(200);
    expect(await boundNode(ts, 'nvme')).toBe('node3');
  });

  it('keeps pods off NoSchedule and NoExecute nodes unless they tolerate the taint', async () => {
    ts = await startTestServer();
    await Promise.all([
      createNode(ts, 'gpu', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
      createNode(ts, 'draining', { taints: [{ key: 'maintenance', effect: 'NoExecute' }] }),
      createNode(ts, 'plain'),
    ]);
    const plain = Array.from({ length: 6 }, (_, i) => `plain-${i}`);
    await Promise.all(plain.map((n) => createPod(ts, pod(n))));
    for (const n of plain) expect(await boundNode(ts, n)).toBe('plain');

    const tolerateGpu = { key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' };
    await createPod(ts, pod('gpu-job', '100m', { tolerations: [tolerateGpu], nodeSelector: { 'kubernetes.io/hostname': 'gpu' } }));
    expect(await boundNode(ts, 'gpu-job')).toBe('gpu');
    await createPod(ts, pod('maint-job', '100m', {
      tolerations: [{ key: 'maintenance', operator: 'Exists' }],
      nodeSelector: { 'kubernetes.io/hostname': 'draining' },
    }));
    expect(await boundNode(ts, 'maint-job')).toBe('draining');

    // Pinned to the tainted node without a toleration: the taint is the reason there, the selector elsewhere.
    await createPod(ts, pod('gpu-intruder', '100m', { nodeSelector: { 'kubernetes.io/hostname': 'gpu' } }));
    // Reasons are sorted as strings, as kube-scheduler does.
    expect(await unschedulable(ts, 'gpu-intruder')).toBe(
      "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, " +
        '1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated taint {maintenance: }.',
    );

    // Removing the taint is a change that can make room: the pod is retried and placed.
    const res = await ts.api('PATCH', '/api/v1/nodes/gpu', { spec: { taints: [] } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(res.status).toBe(200);
    expect(await boundNode(ts, 'gpu-intruder')).toBe('gpu');
  });

  it('places replicas with required anti-affinity one per node, and leaves the extra one Pending', async () => {
    ts = await startTestServer();
    await Promise.all(['node1', 'node2', 'node3'].map((n) => createNode(ts, n)));
    const antiAffinity = {
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' },
          ],
        },
      },
    };
    const names = ['web-0', 'web-1', 'web-2', 'web-3'];
    await Promise.all(names.map((n) => createPod(ts, pod(n, '100m', antiAffinity, { app: 'web' }))));
    const settled = await eventually(async () => {
      const pods = await listPods(ts);
      const bound = pods.filter((p) => p.spec.nodeName);
      const waiting = pods.filter((p) => !p.spec.nodeName && podScheduled(p)?.reason === 'Unschedulable');
      if (bound.length + waiting.length < names.length) throw new Error(`${bound.length} bound, ${waiting.length} unschedulable`);
      return { bound, waiting };
    });
    expect(settled.bound).toHaveLength(3);
    expect(new Set(settled.bound.map((p: any) => p.spec.nodeName))).toEqual(new Set(['node1', 'node2', 'node3']));
    expect(settled.waiting).toHaveLength(1);
    expect(podScheduled(settled.waiting[0]).message).toBe("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.");

    // A pod without anti-affinity of its own but matching theirs is kept away by the existing pods' terms.
    await createPod(ts, pod('web-plain', '100m', {}, { app: 'web' }));
    expect(await unschedulable(ts, 'web-plain')).toBe("0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules.");
    // Another app is not affected.
    await createPod(ts, pod('db', '100m', {}, { app: 'db' }));
    await boundNode(ts, 'db');

    // A fourth node is a change that can make room: the waiting replica goes there.
    await createNode(ts, 'node4');
    expect(await boundNode(ts, settled.waiting[0].metadata.name)).toBe('node4');
  });

  it('leaves a pod that fits nowhere Pending with the reason, and places it once a fitting node appears', async () => {
    ts = await startTestServer();
    await Promise.all(['node1', 'node2', 'node3'].map((n) => createNode(ts, n, { cpu: '1' })));
    await createPod(ts, pod('hungry', '2'));
    const message = '0/3 nodes are available: 3 Insufficient cpu.';
    expect(await unschedulable(ts, 'hungry')).toBe(message);
    const failed = await eventWith(ts, 'hungry', 'FailedScheduling');
    expect(failed).toMatchObject({ type: 'Warning', message, source: { component: 'default-scheduler' } });

    // Nothing retries it while nothing that could make room changes (no polling): a pod that
    // fits elsewhere comes and is placed, and `hungry` is still Pending with one failure recorded.
    await createPod(ts, pod('bystander', '100m'));
    await boundNode(ts, 'bystander');
    expect((await getPod(ts, 'hungry')).spec.nodeName).toBeUndefined();
    expect((await eventsFor(ts, 'hungry')).filter((e) => e.reason === 'FailedScheduling')).toHaveLength(1);

    await createNode(ts, 'node4', { cpu: '4' });
    expect(await boundNode(ts, 'hungry')).toBe('node4');
    expect(podScheduled(await getPod(ts, 'hungry'))).toMatchObject({ status: 'True' });
    expect((await eventWith(ts, 'hungry', 'Scheduled')).message).toBe('Successfully assigned default/hungry to node4');
  });

  it('says there are no nodes when the cluster has none, and places the pod on the first one', async () => {
    ts = await startTestServer();
    await createPod(ts, pod('early'));
    expect(await unschedulable(ts, 'early')).toBe('no nodes available to schedule pods');
    expect((await eventWith(ts, 'early', 'FailedScheduling')).message).toBe('no nodes available to schedule pods');
    await createNode(ts, 'node1');
    expect(await boundNode(ts, 'early')).toBe('node1');
  });

  it('retries a waiting pod when a bound pod is deleted or finishes', async () => {
    ts = await startTestServer();
    await createNode(ts, 'node1', { cpu: '2' });
    await createPod(ts, pod('first', '2'));
    await boundNode(ts, 'first');
    await createPod(ts, pod('second', '2'));
    expect(await unschedulable(ts, 'second')).toBe('0/1 nodes are available: 1 Insufficient cpu.');
    await createPod(ts, pod('third', '2'));
    await unschedulable(ts, 'third');

    // `first` finishes (the agent would write this): its capacity is free again for one of them.
    const done = await ts.api('PATCH', `${PODS}/first/status`, { status: { phase: 'Succeeded' } }, {
      'Content-Type': 'application/merge-patch+json',
    });
    expect(done.status).toBe(200);
    const next = await eventually(async () => {
      const bound = (await listPods(ts)).filter((p) => p.spec.nodeName && p.metadata.name !== 'first');
      if (bound.length === 0) throw new Error('neither waiting pod was placed');
      return bound;
    });
    expect(next).toHaveLength(1);

    // Deleting the pod that took the slot lets the last one in.
    const del = await ts.api('DELETE', `${PODS}/${next[0].metadata.name}?gracePeriodSeconds=0`);
    expect(del.status).toBe(200);
    const last = next[0].metadata.name === 'second' ? 'third' : 'second';
    expect(await boundNode(ts, last)).toBe('node1');
  });

  it('leaves pods for another schedulerName alone', async () => {
    ts = await startTestServer();
    await createNode(ts, 'node1');
    await createPod(ts, pod('theirs', '100m', { schedulerName: 'my-scheduler' }));
    await createPod(ts, pod('ours', '100m', { schedulerName: 'default-scheduler' }));
    await createPod(ts, pod('ours-by-default', '100m'));
    // Both of ours are placed: the scheduler has been through its queue past `theirs`.
    expect(await boundNode(ts, 'ours')).toBe('node1');
    expect(await boundNode(ts, 'ours-by-default')).toBe('node1');
    const theirs = await getPod(ts, 'theirs');
    expect(theirs.spec.nodeName).toBeUndefined();
    expect(podScheduled(theirs)).toBeUndefined();
    expect(await eventsFor(ts, 'theirs')).toEqual([]);
  });

  it('binds nothing with disableScheduler, so another scheduler can bind through pods/binding', async () => {
    ts = await startTestServer({ disableScheduler: true });
    expect(ts.server.scheduler).toBeUndefined();
    await createNode(ts, 'node1');
    await createPod(ts, pod('manual'));
    // The API server is done with the pod once the create returns; nothing else is running to bind it.
    const p = await getPod(ts, 'manual');
    expect(p.spec.nodeName).toBeUndefined();
    expect(p.status.phase).toBe('Pending');
    expect(podScheduled(p)).toBeUndefined();

    const bind = await ts.api('POST', `${PODS}/manual/binding`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'manual' },
      target: { apiVersion: 'v1', kind: 'Node', name: 'node1' },
    });
    expect(bind.status).toBe(201);
    const bound = await getPod(ts, 'manual');
    expect(bound.spec.nodeName).toBe('node1');
    expect(podScheduled(bound)).toMatchObject({ status: 'True' });
    expect(await eventsFor(ts, 'manual')).toEqual([]);
  });

  describe('priority', () => {
    async function priorityClasses(): Promise<void> {
      for (const [name, value] of [['low', 10], ['high', 1000]] as const) {
        const res = await ts.api('POST', '/apis/scheduling.k8s.io/v1/priorityclasses', {
          apiVersion: 'scheduling.k8s.io/v1',
          kind: 'PriorityClass',
          metadata: { name },
          value,
        });
        expect(res.status).toBe(201);
      }
    }

    it('places pods already waiting when the scheduler starts in priority order, not creation order', async () => {
      ts = await startTestServer({ disableScheduler: true });
      await priorityClasses();
      await createNode(ts, 'node1', { cpu: '1' });
      // Room for one of them; the low-priority ones were created first.
      await createPod(ts, pod('low-a', '1', { priorityClassName: 'low' }));
      await createPod(ts, pod('low-b', '1', { priorityClassName: 'low' }));
      const high = await createPod(ts, pod('high', '1', { priorityClassName: 'high' }));
      expect(high.spec.priority).toBe(1000);

      const scheduler = new Scheduler(new LocalClient(ts.server.resources));
      await scheduler.start();
      try {
        expect(await boundNode(ts, 'high')).toBe('node1');
        expect(await unschedulable(ts, 'low-a')).toBe('0/1 nodes are available: 1 Insufficient cpu.');
        expect(await unschedulable(ts, 'low-b')).toBe('0/1 nodes are available: 1 Insufficient cpu.');
      } finally {
        await scheduler.stop();
      }
    });

    // BUG: the queue flushes each backed-off pod on its own timer, at failedAt + backoff. Both pods
    // failed moments before node2 appeared, so node2's arrival puts both in backoff, and `low`,
    // which failed a few ms earlier, comes out (and is placed) alone before `high` is eligible.
    // kube-scheduler flushes its backoff queue once a second, so both come out together and the
    // heap orders them. Flip to `it` once fixed.
    it('gives the one free slot of a new node to the higher-priority pod of those waiting', async () => {
      ts = await startTestServer();
      await priorityClasses();
      await createNode(ts, 'node1', { cpu: '1' });
      await createPod(ts, pod('filler', '1'));
      await boundNode(ts, 'filler');
      // Neither fits now; the low-priority pod is created (and fails) first.
      await createPod(ts, pod('low', '1', { priorityClassName: 'low' }));
      expect(await unschedulable(ts, 'low')).toBe('0/1 nodes are available: 1 Insufficient cpu.');
      await createPod(ts, pod('high', '1', { priorityClassName: 'high' }));
      await unschedulable(ts, 'high');

      await createNode(ts, 'node2', { cpu: '1' });
      const placed = await eventually(async () => {
        const bound = (await listPods(ts)).filter((p) => p.spec.nodeName && p.metadata.name !== 'filler');
        if (bound.length === 0) throw new Error('neither waiting pod was placed');
        return bound.map((p) => `${p.metadata.name} on ${p.spec.nodeName}`);
      });
      expect(placed).toEqual(['high on node2']);
      expect(await unschedulable(ts, 'low')).toBe('0/2 nodes are available: 2 Insufficient cpu.');
    });
  });

  it('never over-commits when 100 pods race for room for 50', async () => {
    ts = await startTestServer();
    const nodes = ['node1', 'node2', 'node3', 'node4', 'node5'];
    await Promise.all(nodes.map((n) => createNode(ts, n, { cpu: '10', memory: '64Gi' })));
    const names = Array.from({ length: 100 }, (_, i) => `race-${i}`);
    await Promise.all(names.map((n) => createPod(ts, pod(n, '1'))));

    // Settled: every pod is either bound or marked Unschedulable.
    const settled = await eventually(async () => {
      const pods = await listPods(ts);
      const bound = pods.filter((p) => p.spec.nodeName);
      const waiting = pods.filter((p) => !p.spec.nodeName && podScheduled(p)?.reason === 'Unschedulable');
      if (bound.length + waiting.length < names.length) throw new Error(`${bound.length} bound, ${waiting.length} unschedulable`);
      return { pods, bound, waiting };
    }, 30_000, 100);
    expect(settled.bound).toHaveLength(50);
    expect(settled.waiting).toHaveLength(50);
    for (const p of settled.waiting) expect(podScheduled(p).message).toBe('0/5 nodes are available: 5 Insufficient cpu.');

    const perNode = new Map<string, number>();
    for (const p of settled.bound) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + cpuOf(p));
    expect([...perNode.keys()].sort()).toEqual(nodes);
    for (const [, milli] of perNode) expect(milli).toBeLessThanOrEqual(10_000);

    // Still 50 once everything the scheduler wrote has come back through the watch.
    const events = await ts.api('GET', '/api/v1/namespaces/default/events');
    expect(events.body.items.filter((e: any) => e.reason === 'Scheduled')).toHaveLength(50);
    expect((await listPods(ts)).filter((p) => p.spec.nodeName)).toHaveLength(50);
  }, 60_000);
});
