import type { KubeObject } from '../../src/api/types';
import { SchedulerCache } from '../../src/scheduler/cache';
import type { NodeInfo } from '../../src/scheduler/framework';
import { podInfo } from '../../src/scheduler/pod-info';
import { nodeResourcesFitFilter } from '../../src/scheduler/plugins/node-resources-fit';
import { numFeasibleNodesToFind } from '../../src/scheduler/scheduler';

/**
 * The scheduler cache's contract: assumed pods take capacity the moment the
 * scheduler decides, a failed binding gives it back, and the watch's view of
 * a bound pod replaces the assumption without counting it twice, wherever
 * the pod turns out to be.
 */

const Mi = 1024 ** 2;

function node(name: string, cpu = '4', memory = '8Gi', pods = '110'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: {},
    status: { allocatable: { cpu, memory, pods }, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function pod(name: string, opts: { cpu?: string; memory?: string; nodeName?: string; phase?: string; rv?: string } = {}): KubeObject {
  const requests: Record<string, string> = {};
  if (opts.cpu) requests.cpu = opts.cpu;
  if (opts.memory) requests.memory = opts.memory;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: opts.rv ?? '1' },
    spec: {
      containers: [{ name: 'c', image: 'busybox', resources: { requests } }],
      ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
    },
    status: { phase: opts.phase ?? 'Pending' },
  };
}

/** What a node has handed out, in the units the filters compare. */
function used(info: NodeInfo | undefined) {
  if (!info) throw new Error('node not in the cache');
  return { milliCPU: info.requested.milliCPU, memory: info.requested.memory, pods: info.pods.size, podCount: info.requested.pods };
}

function fits(cache: SchedulerCache, nodeName: string, p: KubeObject): boolean {
  return nodeResourcesFitFilter.filter(podInfo(p), cache.nodes.get(nodeName)!, new Map()) === undefined;
}

describe('SchedulerCache', () => {
  let cache: SchedulerCache;

  beforeEach(() => {
    cache = new SchedulerCache();
    cache.addOrUpdateNode(node('n1', '2'));
    cache.addOrUpdateNode(node('n2', '2'));
  });

  it('takes capacity when a pod is assumed, before any binding is seen', () => {
    const a = podInfo(pod('a', { cpu: '1500m', memory: '256Mi' }));
    cache.assume(a, 'n1');
    expect(cache.isAssumed('default/a')).toBe(true);
    expect(used(cache.nodes.get('n1'))).toEqual({ milliCPU: 1500, memory: 256 * Mi, pods: 1, podCount: 1 });
    // The next pod already sees the slot as taken.
    expect(fits(cache, 'n1', pod('b', { cpu: '1' }))).toBe(false);
    expect(fits(cache, 'n2', pod('b', { cpu: '1' }))).toBe(true);
  });

  it('gives the capacity back when a failed binding forgets the assumption', () => {
    const a = podInfo(pod('a', { cpu: '1500m' }));
    cache.assume(a, 'n1');
    cache.forget(a);
    expect(cache.isAssumed('default/a')).toBe(false);
    expect(used(cache.nodes.get('n1'))).toEqual({ milliCPU: 0, memory: 0, pods: 0, podCount: 0 });
    expect(fits(cache, 'n1', pod('b', { cpu: '2' }))).toBe(true);
  });

  it('confirms an assumed pod when it is seen bound through the watch, counting it once', () => {
    const a = pod('a', { cpu: '1500m' });
    cache.assume(podInfo(a), 'n1');
    cache.addOrUpdatePod(pod('a', { cpu: '1500m', nodeName: 'n1', rv: '2' }));
    expect(cache.isAssumed('default/a')).toBe(false);
    expect(used(cache.nodes.get('n1'))).toEqual({ milliCPU: 1500, memory: 0, pods: 1, podCount: 1 });
    // Later updates of the bound pod (status, labels) replace it, still once.
    cache.addOrUpdatePod(pod('a', { cpu: '1500m', nodeName: 'n1', phase: 'Running', rv: '3' }));
    cache.addOrUpdatePod(pod('a', { cpu: '1500m', nodeName: 'n1', phase: 'Running', rv: '4' }));
    expect(used(cache.nodes.get('n1'))).toEqual({ milliCPU: 1500, memory: 0, pods: 1, podCount: 1 });
    // A confirmed pod is no longer the scheduler's to forget: a late binding error cannot free it.
    cache.forget(podInfo(a));
    expect(used(cache.nodes.get('n1')).milliCPU).toBe(1500);
  });

  it('follows the watch when a pod assumed on one node turns out bound to another', () => {
    const a = pod('a', { cpu: '1' });
    cache.assume(podInfo(a), 'n1');
    cache.addOrUpdatePod(pod('a', { cpu: '1', nodeName: 'n2', rv: '2' }));
    expect(used(cache.nodes.get('n1'))).toEqual({ milliCPU: 0, memory: 0, pods: 0, podCount: 0 });
    expect(used(cache.nodes.get('n2'))).toEqual({ milliCPU: 1000, memory: 0, pods: 1, podCount: 1 });
    expect(cache.isAssumed('default/a')).toBe(false);
  });

  it('moves a bound pod between nodes without leaving capacity behind', () => {
    cache.addOrUpdatePod(pod('a', { cpu: '1', nodeName: 'n1' }));
    cache.addOrUpdatePod(pod('a', { cpu: '1', nodeName: 'n2', rv: '2' }));
    expect(used(cache.nodes.get('n1')).milliCPU).toBe(0);
    expect(used(cache.nodes.get('n2')).milliCPU).toBe(1000);
    cache.addOrUpdatePod(pod('a', { cpu: '1', nodeName: 'n1', rv: '3' }));
    expect(used(cache.nodes.get('n1')).milliCPU).toBe(1000);
    expect(used(cache.nodes.get('n2')).milliCPU).toBe(0);
  });

  it('counts pods bound to a node it has not seen, once the node appears', () => {
    cache.addOrUpdatePod(pod('early-1', { cpu: '1', nodeName: 'n3' }));
    cache.addOrUpdatePod(pod('early-2', { cpu: '500m', nodeName: 'n3' }));
    cache.addOrUpdatePod(pod('early-2', { cpu: '500m', nodeName: 'n3', rv: '2' })); // an update while waiting
    cache.addOrUpdatePod(pod('gone', { cpu: '1', nodeName: 'n3' }));
    cache.removePod(pod('gone', { nodeName: 'n3' }));
    expect(cache.nodes.has('n3')).toBe(false);
    expect(cache.nodeList().map((n) => n.name)).toEqual(['n1', 'n2']);
    cache.addOrUpdateNode(node('n3', '2'));
    expect(used(cache.nodes.get('n3'))).toEqual({ milliCPU: 1500, memory: 0, pods: 2, podCount: 2 });
    expect(cache.nodeList().map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
    // Seen again after the node arrived: still counted once.
    cache.addOrUpdatePod(pod('early-1', { cpu: '1', nodeName: 'n3', rv: '3' }));
    expect(used(cache.nodes.get('n3')).milliCPU).toBe(1500);
  });

  it('keeps counting the pods of a node that is removed and comes back', () => {
    cache.addOrUpdatePod(pod('a', { cpu: '1', nodeName: 'n1' }));
    cache.removeNode('n1');
    expect(cache.nodes.has('n1')).toBe(false);
    expect(cache.nodeList().map((n) => n.name)).toEqual(['n2']);
    cache.addOrUpdateNode(node('n1', '2'));
    expect(used(cache.nodes.get('n1'))).toEqual({ milliCPU: 1000, memory: 0, pods: 1, podCount: 1 });
    cache.removePod(pod('a', { nodeName: 'n1' }));
    expect(used(cache.nodes.get('n1')).milliCPU).toBe(0);
  });

  it.each(['Succeeded', 'Failed'])('frees the capacity of a pod that reached %s', (phase) => {
    cache.addOrUpdatePod(pod('a', { cpu: '2', nodeName: 'n1', phase: 'Running' }));
    expect(fits(cache, 'n1', pod('b', { cpu: '1' }))).toBe(false);
    cache.addOrUpdatePod(pod('a', { cpu: '2', nodeName: 'n1', phase, rv: '2' }));
    expect(used(cache.nodes.get('n1'))).toEqual({ milliCPU: 0, memory: 0, pods: 0, podCount: 0 });
    expect(fits(cache, 'n1', pod('b', { cpu: '1' }))).toBe(true);
  });

  it('does not count a terminal pod it first sees already finished', () => {
    cache.addOrUpdatePod(pod('done', { cpu: '2', nodeName: 'n1', phase: 'Succeeded' }));
    expect(used(cache.nodes.get('n1')).milliCPU).toBe(0);
  });

  it('frees capacity when a bound pod is deleted, and ignores pods it never placed', () => {
    cache.addOrUpdatePod(pod('a', { cpu: '1', nodeName: 'n1' }));
    cache.removePod(pod('never-seen', { nodeName: 'n1' }));
    expect(used(cache.nodes.get('n1')).milliCPU).toBe(1000);
    cache.removePod(pod('a', { nodeName: 'n1' }));
    expect(used(cache.nodes.get('n1')).milliCPU).toBe(0);
  });

  it('treats an unbound pod seen through the watch as taking no capacity', () => {
    cache.addOrUpdatePod(pod('pending', { cpu: '1' }));
    expect(used(cache.nodes.get('n1')).milliCPU).toBe(0);
    expect(used(cache.nodes.get('n2')).milliCPU).toBe(0);
  });

  it('keeps a node\'s pods when the node is updated, and sees the new allocatable', () => {
    cache.addOrUpdatePod(pod('a', { cpu: '1500m', nodeName: 'n1' }));
    const before = cache.nodes.get('n1');
    expect(fits(cache, 'n1', pod('b', { cpu: '1' }))).toBe(false);
    cache.addOrUpdateNode(node('n1', '4'));
    expect(cache.nodes.get('n1')).toBe(before);
    expect(used(cache.nodes.get('n1')).milliCPU).toBe(1500);
    expect(cache.nodes.get('n1')!.allocatable.milliCPU).toBe(4000);
    expect(fits(cache, 'n1', pod('b', { cpu: '1' }))).toBe(true);
  });

  it('never over-commits a node when many pods are assumed back to back', () => {
    // What the scheduler loop does: filter against the cache, assume, next pod.
    cache.addOrUpdateNode(node('small', '1', '1Gi', '3'));
    const placed: string[] = [];
    for (let i = 0; i < 10; i++) {
      const p = pod(`p${i}`, { cpu: '300m', memory: '100Mi' });
      if (fits(cache, 'small', p)) {
        cache.assume(podInfo(p), 'small');
        placed.push(p.metadata.name!);
      }
    }
    expect(placed).toEqual(['p0', 'p1', 'p2']);
    expect(used(cache.nodes.get('small'))).toEqual({ milliCPU: 900, memory: 300 * Mi, pods: 3, podCount: 3 });
  });

  it('lists nodes in a stable order, refreshed when nodes come and go', () => {
    const first = cache.nodeList();
    expect(cache.nodeList()).toBe(first); // cached between changes
    cache.addOrUpdateNode(node('n1', '8')); // an update keeps the list
    expect(cache.nodeList()).toBe(first);
    cache.addOrUpdateNode(node('n3'));
    expect(cache.nodeList().map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
    cache.removeNode('n2');
    expect(cache.nodeList().map((n) => n.name)).toEqual(['n1', 'n3']);
    cache.removeNode('unknown');
    expect(cache.nodeList().map((n) => n.name)).toEqual(['n1', 'n3']);
  });
});

describe('numFeasibleNodesToFind', () => {
  // kube-scheduler (schedule_one.go): all nodes below 100; otherwise
  // percentage = 50 - nodes/125 in integer arithmetic, at least 5, and at least 100 nodes.
  it.each([
    [0, 0],
    [1, 1],
    [50, 50],
    [99, 99],
    [100, 100],
    [125, 100],
    [250, 120],
    [500, 230],
    [1000, 420],
    [2000, 680],
    [5000, 500],
    [6000, 300],
    [10000, 500],
    [15000, 750],
  ])('%i nodes → %i, as kube-scheduler', (nodes, expected) => {
    expect(numFeasibleNodesToFind(nodes)).toBe(expected);
  });

  // BUG: mk divides nodes/125 as a float; Go's int32 division truncates first.
  // 1100 nodes: Go 50 - 8 = 42% → 462; mk 50 - 8.8 = 41.2% → 453. Flip to `it.each` once fixed.
  it.each([
    [600, 276],
    [1100, 462],
    [2600, 780],
    [4999, 549],
  ])('%i nodes → %i, truncating nodes/125 as Go does', (nodes, expected) => {
    expect(numFeasibleNodesToFind(nodes)).toBe(expected);
  });

  it.each([
    [1000, 10, 100],
    [1000, 30, 300],
    [200, 10, 100], // never fewer than 100
    [80, 10, 80], // fewer than 100 nodes: all of them
    [1000, 100, 1000],
    [5000, 50, 2500],
  ])('%i nodes at percentageOfNodesToScore %i → %i', (nodes, pct, expected) => {
    expect(numFeasibleNodesToFind(nodes, pct)).toBe(expected);
  });
});
