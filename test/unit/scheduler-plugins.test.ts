import type { KubeObject } from '../../src/api/types';
import {
  defaultNormalizeScore,
  SKIP,
  type CycleState,
  type FilterPlugin,
  type FilterResult,
  type NodeInfo,
  type ScorePlugin,
} from '../../src/scheduler/framework';
import { addPod, nodeInfo, podInfo, removePod, setNode } from '../../src/scheduler/pod-info';
import { balancedAllocationScore } from '../../src/scheduler/plugins/balanced-allocation';
import { filterPlugins, scorePlugins } from '../../src/scheduler/plugins/index';
import { interPodAffinityFilter } from '../../src/scheduler/plugins/inter-pod-affinity';
import { leastAllocatedScore } from '../../src/scheduler/plugins/least-allocated';
import { nodeAffinityFilter, nodeAffinityScore } from '../../src/scheduler/plugins/node-affinity';
import { nodeNameFilter } from '../../src/scheduler/plugins/node-name';
import { nodePortsFilter } from '../../src/scheduler/plugins/node-ports';
import { nodeReadyFilter } from '../../src/scheduler/plugins/node-ready';
import { nodeResourcesFitFilter } from '../../src/scheduler/plugins/node-resources-fit';
import { nodeUnschedulableFilter } from '../../src/scheduler/plugins/node-unschedulable';
import { ownerSpreadScore } from '../../src/scheduler/plugins/owner-spread';
import { taintTolerationFilter, taintTolerationScore } from '../../src/scheduler/plugins/taint-toleration';

// ---------------------------------------------------------------------------
// Builders: small pods and nodes with only the fields a case is about.

const Mi = 1024 ** 2;
const Gi = 1024 ** 3;

type Resources = Record<string, string>;

function container(requests?: Resources, limits?: Resources, extra: Record<string, unknown> = {}) {
  const resources: Record<string, Resources> = {};
  if (requests) resources.requests = requests;
  if (limits) resources.limits = limits;
  return { name: 'c', image: 'busybox', resources, ...extra };
}

interface PodOptions {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  owner?: string;
  spec?: Record<string, any>;
}

function pod(opts: PodOptions = {}): KubeObject {
  const metadata: KubeObject['metadata'] = { name: opts.name ?? 'p', namespace: opts.namespace ?? 'default' };
  if (opts.labels) metadata.labels = opts.labels;
  if (opts.owner) {
    metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: opts.owner, controller: true }];
  }
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers: [container()], ...opts.spec } };
}

interface NodeOptions {
  cpu?: string;
  memory?: string;
  pods?: string;
  ephemeralStorage?: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
  unschedulable?: boolean;
  ready?: string | null;
}

function node(name: string, opts: NodeOptions = {}): KubeObject {
  const allocatable: Resources = { cpu: opts.cpu ?? '4', memory: opts.memory ?? '8Gi', pods: opts.pods ?? '110' };
  if (opts.ephemeralStorage) allocatable['ephemeral-storage'] = opts.ephemeralStorage;
  const spec: Record<string, unknown> = {};
  if (opts.taints) spec.taints = opts.taints;
  if (opts.unschedulable) spec.unschedulable = true;
  const ready = opts.ready === undefined ? 'True' : opts.ready;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: opts.labels ?? {} },
    spec,
    status: { allocatable, conditions: ready === null ? [] : [{ type: 'Ready', status: ready }] },
  };
}

/** A NodeInfo with `pods` already on it. */
function nodeWith(n: KubeObject, ...pods: KubeObject[]): NodeInfo {
  const info = nodeInfo(n);
  for (const p of pods) addPod(info, podInfo(p));
  return info;
}

/**
 * One scheduling cycle of a filter for one node, as the core runs it:
 * prepare (seeing every node), then filter. A SKIP from prepare must mean
 * the filter passes, which is checked too.
 */
function filter(plugin: FilterPlugin, p: KubeObject, target: NodeInfo, others: NodeInfo[] = []): FilterResult {
  const info = podInfo(p);
  const state: CycleState = new Map();
  const nodes = new Map([target, ...others].map((n) => [n.name, n]));
  const prepared = plugin.prepare?.(info, state, nodes);
  const result = plugin.filter(info, target, state);
  if (prepared === SKIP) expect(result).toBeUndefined();
  return result;
}

/** One cycle of a score plugin over `nodes`: prepare, score each, normalize. */
function scores(plugin: ScorePlugin, p: KubeObject, nodes: NodeInfo[]): number[] {
  const info = podInfo(p);
  const state: CycleState = new Map();
  const prepared = plugin.prepare?.(info, state, new Map(nodes.map((n) => [n.name, n])));
  const raw = nodes.map((n) => plugin.score(info, n, state));
  plugin.normalize?.(raw, state);
  if (prepared === SKIP) expect(new Set(raw).size).toBeLessThanOrEqual(1);
  return raw;
}

// ---------------------------------------------------------------------------

describe('podInfo requests', () => {
  it.each<[string, Record<string, any>, { cpu: number; memory: number; ephemeral?: number }]>([
    ['one container', { containers: [container({ cpu: '500m', memory: '128Mi' })] }, { cpu: 500, memory: 128 * Mi }],
    [
      'app containers add up',
      { containers: [container({ cpu: '500m', memory: '1Gi' }), container({ cpu: '1', memory: '1Gi' })] },
      { cpu: 1500, memory: 2 * Gi },
    ],
    [
      'a larger init container sets the floor, per resource',
      {
        initContainers: [container({ cpu: '2', memory: '1Gi' }), container({ cpu: '2', memory: '3Gi' })],
        containers: [container({ cpu: '2', memory: '1Gi' }), container({ cpu: '1', memory: '1Gi' })],
      },
      { cpu: 3000, memory: 3 * Gi },
    ],
    [
      'a smaller init container does not count',
      { initContainers: [container({ cpu: '100m' })], containers: [container({ cpu: '1' })] },
      { cpu: 1000, memory: 0 },
    ],
    [
      'a sidecar (restartable init container) adds to the app containers',
      {
        initContainers: [container({ cpu: '200m' }, undefined, { restartPolicy: 'Always' })],
        containers: [container({ cpu: '1' })],
      },
      { cpu: 1200, memory: 0 },
    ],
    [
      'an init container after a sidecar runs beside it',
      {
        initContainers: [
          container({ cpu: '500m' }, undefined, { restartPolicy: 'Always' }),
          container({ cpu: '2' }),
        ],
        containers: [container({ cpu: '1' })],
      },
      { cpu: 2500, memory: 0 },
    ],
    [
      'an init container before a sidecar runs alone',
      {
        initContainers: [
          container({ cpu: '2' }),
          container({ cpu: '500m' }, undefined, { restartPolicy: 'Always' }),
        ],
        containers: [container({ cpu: '1' })],
      },
      { cpu: 2000, memory: 0 },
    ],
    [
      'limits stand in for missing requests',
      { containers: [container({ cpu: '250m' }, { cpu: '1', memory: '512Mi' })] },
      { cpu: 250, memory: 512 * Mi },
    ],
    [
      'overhead is added on top',
      { containers: [container({ cpu: '1', memory: '1Gi' })], overhead: { cpu: '250m', memory: '120Mi' } },
      { cpu: 1250, memory: Gi + 120 * Mi },
    ],
    [
      'pod-level resources replace the containers total',
      { resources: { requests: { cpu: '3' } }, containers: [container({ cpu: '1', memory: '1Gi' })] },
      { cpu: 3000, memory: Gi },
    ],
    [
      'ephemeral-storage is counted like the others',
      { containers: [container({ 'ephemeral-storage': '2Gi' }), container({ 'ephemeral-storage': '1Gi' })] },
      { cpu: 0, memory: 0, ephemeral: 3 * Gi },
    ],
    ['no requests at all', { containers: [container()] }, { cpu: 0, memory: 0 }],
  ])('%s', (_, spec, want) => {
    const info = podInfo(pod({ spec }));
    expect(info.requests).toEqual({ milliCPU: want.cpu, memory: want.memory, ephemeralStorage: want.ephemeral ?? 0, pods: 1 });
  });

  it.each<[string, Record<string, any>, { cpu: number; memory: number }]>([
    ['no requests count as 100m / 200Mi per container', { containers: [container(), container()] }, { cpu: 200, memory: 400 * Mi }],
    ['an explicit zero stays zero', { containers: [container({ cpu: '0', memory: '0' })] }, { cpu: 0, memory: 0 }],
    ['a missing resource gets its default only', { containers: [container({ cpu: '1' })] }, { cpu: 1000, memory: 200 * Mi }],
    [
      'init containers get the defaults too',
      { initContainers: [container(), container()], containers: [container({ cpu: '50m', memory: '10Mi' })] },
      { cpu: 100, memory: 200 * Mi },
    ],
  ])('non-zero requests for scoring: %s', (_, spec, want) => {
    const { nonZeroRequests } = podInfo(pod({ spec }));
    expect([nonZeroRequests.milliCPU, nonZeroRequests.memory]).toEqual([want.cpu, want.memory]);
  });

  it('lists host ports with protocol and address defaulted, app containers only', () => {
    const info = podInfo(
      pod({
        spec: {
          initContainers: [container(undefined, undefined, { ports: [{ containerPort: 1, hostPort: 1 }] })],
          containers: [
            container(undefined, undefined, {
              ports: [
                { containerPort: 80, hostPort: 8080 },
                { containerPort: 53, hostPort: 53, protocol: 'UDP', hostIP: '10.0.0.1' },
                { containerPort: 9090 },
              ],
            }),
          ],
        },
      }),
    );
    expect(info.hostPorts).toEqual(['TCP/0.0.0.0/8080', 'UDP/10.0.0.1/53']);
  });

  it('takes the controlling owner only, and parses affinity terms once', () => {
    const p = pod({
      namespace: 'team',
      labels: { app: 'web' },
      spec: {
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' },
              { labelSelector: { matchLabels: { app: 'db' } }, namespaces: ['data'], topologyKey: 'zone' },
            ],
          },
        },
      },
    });
    p.metadata.ownerReferences = [
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'cm', uid: 'not-me' },
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'rs-uid', controller: true },
    ];
    const info = podInfo(p);
    expect(info.key).toBe('team/p');
    expect(info.ownerUid).toBe('rs-uid');
    expect(info.labels).toEqual({ app: 'web' });
    expect(info.requiredAffinityTerms).toEqual([]);
    expect(info.requiredAntiAffinityTerms.map((t) => [[...t.namespaces], t.topologyKey])).toEqual([
      [['team'], 'kubernetes.io/hostname'],
      [['data'], 'zone'],
    ]);
  });
});

describe('nodeInfo', () => {
  it('reads allocatable, falling back to capacity, and 110 pods when neither says', () => {
    const n: KubeObject = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1', labels: { zone: 'a' } },
      status: { allocatable: { cpu: '3500m' }, capacity: { cpu: '4', memory: '16Gi', 'ephemeral-storage': '100Gi' } },
    };
    const info = nodeInfo(n);
    expect(info.name).toBe('n1');
    expect(info.labels).toEqual({ zone: 'a' });
    expect(info.allocatable).toEqual({ milliCPU: 3500, memory: 16 * Gi, ephemeralStorage: 100 * Gi, pods: 110 });
  });

  it('keeps pods and totals across setNode', () => {
    const info = nodeWith(node('n1'), pod({ spec: { containers: [container({ cpu: '1' })] } }));
    setNode(info, node('n1', { cpu: '8', labels: { new: 'label' } }));
    expect(info.allocatable.milliCPU).toBe(8000);
    expect(info.labels).toEqual({ new: 'label' });
    expect(info.pods.size).toBe(1);
    expect(info.requested.milliCPU).toBe(1000);
  });
});

describe('addPod / removePod', () => {
  const web = (name: string, cpu: string, hostPort?: number) =>
    pod({
      name,
      owner: 'rs-1',
      spec: {
        containers: [container({ cpu, memory: '1Gi' }, undefined, hostPort ? { ports: [{ containerPort: 80, hostPort }] } : {})],
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: {}, topologyKey: 'kubernetes.io/hostname' }],
          },
        },
      },
    });

  it('keeps every total in step, and undoes exactly what was added', () => {
    const info = nodeInfo(node('n1'));
    addPod(info, podInfo(web('a', '1', 8080)));
    addPod(info, podInfo(web('b', '500m', 8080)));
    addPod(info, podInfo(pod({ name: 'c' })));
    expect(info.pods.size).toBe(3);
    expect(info.requested).toEqual({ milliCPU: 1500, memory: 2 * Gi, ephemeralStorage: 0, pods: 3 });
    expect(info.nonZeroRequested).toEqual({ milliCPU: 1600, memory: 2 * Gi + 200 * Mi, ephemeralStorage: 0, pods: 3 });
    expect(info.usedHostPorts).toEqual(new Map([['TCP/0.0.0.0/8080', 2]]));
    expect(info.ownerCounts).toEqual(new Map([['rs-1', 2]]));
    expect([...info.podsWithRequiredAntiAffinity.keys()]).toEqual(['default/a', 'default/b']);

    expect(removePod(info, podInfo(web('a', '1', 8080)))).toBe(true);
    expect(info.usedHostPorts).toEqual(new Map([['TCP/0.0.0.0/8080', 1]]));
    expect(info.ownerCounts).toEqual(new Map([['rs-1', 1]]));
    expect(removePod(info, 'default/b')).toBe(true);
    expect(removePod(info, 'default/c')).toBe(true);
    expect(removePod(info, 'default/c')).toBe(false);
    expect(info.pods.size).toBe(0);
    expect(info.requested).toEqual({ milliCPU: 0, memory: 0, ephemeralStorage: 0, pods: 0 });
    expect(info.nonZeroRequested).toEqual({ milliCPU: 0, memory: 0, ephemeralStorage: 0, pods: 0 });
    expect(info.usedHostPorts.size).toBe(0);
    expect(info.ownerCounts.size).toBe(0);
    expect(info.podsWithRequiredAntiAffinity.size).toBe(0);
  });

  it('replaces a pod added twice (an assumed pod seen bound), and removes what was stored', () => {
    const info = nodeInfo(node('n1'));
    addPod(info, podInfo(web('a', '1')));
    addPod(info, podInfo(web('a', '2')));
    expect(info.requested.milliCPU).toBe(2000);
    expect(info.requested.pods).toBe(1);
    // The passed PodInfo is stale (1 CPU); the stored one (2 CPU) is what comes off.
    removePod(info, podInfo(web('a', '1')));
    expect(info.requested.milliCPU).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// Filters

describe('node-ready', () => {
  const notReadyToleration = { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoSchedule' };
  const unreachableToleration = { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoSchedule' };
  it.each<[string, string | null, object[], FilterResult]>([
    ['Ready', 'True', [], undefined],
    ['not Ready', 'False', [], 'node(s) were not ready'],
    ['Ready Unknown', 'Unknown', [], 'node(s) were not ready'],
    ['no Ready condition yet', null, [], 'node(s) were not ready'],
    ['not Ready, not-ready tolerated', 'False', [notReadyToleration], undefined],
    ['Unknown, unreachable tolerated', 'Unknown', [unreachableToleration], undefined],
    ['not Ready, only unreachable tolerated', 'False', [unreachableToleration], 'node(s) were not ready'],
    ['not Ready, everything tolerated', 'False', [{ operator: 'Exists' }], undefined],
  ])('%s', (_, ready, tolerations, want) => {
    expect(filter(nodeReadyFilter, pod({ spec: { tolerations } }), nodeInfo(node('n1', { ready })))).toEqual(want);
  });
});

describe('node-unschedulable', () => {
  it.each<[string, boolean, object[], FilterResult]>([
    ['schedulable node', false, [], undefined],
    ['cordoned node', true, [], 'node(s) were unschedulable'],
    [
      'cordoned, taint tolerated',
      true,
      [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }],
      undefined,
    ],
    ['cordoned, everything tolerated', true, [{ operator: 'Exists' }], undefined],
    [
      'cordoned, tolerated for another effect only',
      true,
      [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoExecute' }],
      'node(s) were unschedulable',
    ],
  ])('%s', (_, unschedulable, tolerations, want) => {
    expect(filter(nodeUnschedulableFilter, pod({ spec: { tolerations } }), nodeInfo(node('n1', { unschedulable })))).toEqual(want);
  });
});

describe('node-name', () => {
  it.each<[string, string | undefined, FilterResult]>([
    ['no node name', undefined, undefined],
    ['this node', 'n1', undefined],
    ['another node', 'n2', "node(s) didn't match the requested node name"],
  ])('%s', (_, nodeName, want) => {
    expect(filter(nodeNameFilter, pod({ spec: nodeName ? { nodeName } : {} }), nodeInfo(node('n1')))).toEqual(want);
  });
});

describe('node-affinity filter', () => {
  const REASON = "node(s) didn't match Pod's node affinity/selector";
  const labels = { zone: 'a', disk: 'ssd', cores: '16', gpu: 'yes' };
  const required = (...nodeSelectorTerms: object[]) => ({
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms } } },
  });
  const expr = (key: string, operator: string, values?: string[]) => ({ matchExpressions: [{ key, operator, values }] });

  it.each<[string, Record<string, any>, FilterResult]>([
    ['nothing required', {}, undefined],
    ['nodeSelector matches', { nodeSelector: { zone: 'a', disk: 'ssd' } }, undefined],
    ['nodeSelector value differs', { nodeSelector: { zone: 'b' } }, REASON],
    ['nodeSelector label missing', { nodeSelector: { rack: '1' } }, REASON],
    ['In matches', required(expr('zone', 'In', ['a', 'b'])), undefined],
    ['In does not match', required(expr('zone', 'In', ['b', 'c'])), REASON],
    ['NotIn matches', required(expr('zone', 'NotIn', ['b'])), undefined],
    ['NotIn does not match', required(expr('zone', 'NotIn', ['a'])), REASON],
    ['NotIn on a missing label matches', required(expr('rack', 'NotIn', ['1'])), undefined],
    ['Exists', required(expr('gpu', 'Exists')), undefined],
    ['Exists on a missing label', required(expr('rack', 'Exists')), REASON],
    ['DoesNotExist', required(expr('rack', 'DoesNotExist')), undefined],
    ['DoesNotExist on a present label', required(expr('gpu', 'DoesNotExist')), REASON],
    ['Gt below the value', required(expr('cores', 'Gt', ['8'])), undefined],
    ['Gt at the value', required(expr('cores', 'Gt', ['16'])), REASON],
    ['Lt above the value', required(expr('cores', 'Lt', ['32'])), undefined],
    ['Lt at the value', required(expr('cores', 'Lt', ['16'])), REASON],
    ['Gt on a non-integer label', required(expr('zone', 'Gt', ['1'])), REASON],
    ['Gt on a missing label', required(expr('rack', 'Gt', ['1'])), REASON],
    [
      'expressions of one term are ANDed',
      required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'disk', operator: 'In', values: ['hdd'] }] }),
      REASON,
    ],
    ['terms are ORed', required(expr('zone', 'In', ['b']), expr('disk', 'In', ['ssd'])), undefined],
    ['matchFields metadata.name In', required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }), undefined],
    ['matchFields metadata.name In, other node', required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2'] }] }), REASON],
    ['matchFields metadata.name NotIn', required({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['n1'] }] }), REASON],
    [
      'expressions and fields of one term are ANDed',
      required({ ...expr('zone', 'In', ['a']), matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2'] }] }),
      REASON,
    ],
    ['an empty term matches nothing', required({}), REASON],
    ['no terms match nothing', required(), REASON],
    ['an invalid term drops out, the others still count', required(expr('zone', 'Gt', ['x']), expr('zone', 'In', ['a'])), undefined],
    ['an unknown operator makes the term invalid', required(expr('zone', 'Like', ['a'])), REASON],
    ['nodeSelector and affinity must both match', { nodeSelector: { zone: 'b' }, ...required(expr('disk', 'Exists')) }, REASON],
    ['nodeSelector and affinity both match', { nodeSelector: { zone: 'a' }, ...required(expr('disk', 'Exists')) }, undefined],
  ])('%s', (_, spec, want) => {
    expect(filter(nodeAffinityFilter, pod({ spec }), nodeInfo(node('n1', { labels })))).toEqual(want);
  });

  it('skips pods with neither nodeSelector nor required affinity', () => {
    expect(nodeAffinityFilter.prepare!(podInfo(pod()), new Map(), new Map())).toBe(SKIP);
  });
});

describe('taint-toleration filter', () => {
  const taint = (effect: string, key = 'dedicated', value = 'gpu') => ({ key, value, effect });
  it.each<[string, object[], object[], FilterResult]>([
    ['no taints', [], [], undefined],
    ['untolerated NoSchedule', [taint('NoSchedule')], [], 'node(s) had untolerated taint {dedicated: gpu}'],
    ['untolerated NoExecute', [taint('NoExecute')], [], 'node(s) had untolerated taint {dedicated: gpu}'],
    ['PreferNoSchedule is only a score', [taint('PreferNoSchedule')], [], undefined],
    ['a taint without value', [{ key: 'maintenance', effect: 'NoSchedule' }], [], 'node(s) had untolerated taint {maintenance: }'],
    ['Equal, same value', [taint('NoSchedule')], [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }], undefined],
    ['operator defaults to Equal', [taint('NoSchedule')], [{ key: 'dedicated', value: 'gpu' }], undefined],
    [
      'Equal, other value',
      [taint('NoSchedule')],
      [{ key: 'dedicated', operator: 'Equal', value: 'cpu', effect: 'NoSchedule' }],
      'node(s) had untolerated taint {dedicated: gpu}',
    ],
    ['Exists ignores the value', [taint('NoSchedule')], [{ key: 'dedicated', operator: 'Exists' }], undefined],
    ['Exists with an empty key tolerates every taint', [taint('NoSchedule'), taint('NoExecute', 'x')], [{ operator: 'Exists' }], undefined],
    ['an empty effect matches every effect', [taint('NoExecute')], [{ key: 'dedicated', operator: 'Exists' }], undefined],
    [
      'another effect does not match',
      [taint('NoExecute')],
      [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      'node(s) had untolerated taint {dedicated: gpu}',
    ],
    ['another key does not match', [taint('NoSchedule')], [{ key: 'other', operator: 'Exists' }], 'node(s) had untolerated taint {dedicated: gpu}'],
    [
      'the first untolerated taint is reported',
      [taint('NoSchedule', 'a', '1'), taint('NoSchedule', 'b', '2')],
      [{ key: 'a', operator: 'Exists' }],
      'node(s) had untolerated taint {b: 2}',
    ],
  ])('%s', (_, taints, tolerations, want) => {
    expect(filter(taintTolerationFilter, pod({ spec: { tolerations } }), nodeInfo(node('n1', { taints: taints as any })))).toEqual(want);
  });
});

describe('node-resources-fit', () => {
  const requesting = (cpu: string, memory: string, extra: Resources = {}) =>
    pod({ name: `p-${cpu}-${memory}`, spec: { containers: [container({ cpu, memory, ...extra })] } });

  it.each<[string, () => NodeInfo, KubeObject, FilterResult]>([
    ['fits an empty node', () => nodeWith(node('n1', { cpu: '2', memory: '4Gi' })), requesting('1', '1Gi'), undefined],
    ['exactly fills the node', () => nodeWith(node('n1', { cpu: '2', memory: '4Gi' })), requesting('2', '4Gi'), undefined],
    [
      'not enough CPU left',
      () => nodeWith(node('n1', { cpu: '2', memory: '4Gi' }), requesting('1500m', '1Gi')),
      requesting('1', '1Gi'),
      'Insufficient cpu',
    ],
    [
      'not enough memory left',
      () => nodeWith(node('n1', { cpu: '2', memory: '4Gi' }), requesting('100m', '3Gi')),
      requesting('1', '2Gi'),
      'Insufficient memory',
    ],
    [
      'neither: both reasons',
      () => nodeWith(node('n1', { cpu: '2', memory: '4Gi' })),
      requesting('3', '5Gi'),
      ['Insufficient cpu', 'Insufficient memory'],
    ],
    ['no pod slot left', () => nodeWith(node('n1', { pods: '1' }), requesting('1', '1Gi')), requesting('1', '1Gi'), 'Too many pods'],
    [
      'no slot and no CPU',
      () => nodeWith(node('n1', { cpu: '1', pods: '1' }), requesting('1', '1Gi')),
      requesting('1', '1Gi'),
      ['Too many pods', 'Insufficient cpu'],
    ],
    [
      'ephemeral-storage is checked when requested',
      () => nodeWith(node('n1', { ephemeralStorage: '10Gi' })),
      requesting('1', '1Gi', { 'ephemeral-storage': '20Gi' }),
      'Insufficient ephemeral-storage',
    ],
    ['and ignored when not requested', () => nodeWith(node('n1')), requesting('1', '1Gi'), undefined],
    [
      'a pod requesting nothing fits a full node',
      () => nodeWith(node('n1', { cpu: '1', memory: '1Gi' }), requesting('1', '1Gi')),
      pod({ name: 'empty' }),
      undefined,
    ],
    [
      'init containers count the Kubernetes way',
      () => nodeWith(node('n1', { cpu: '2' })),
      pod({ spec: { initContainers: [container({ cpu: '3' })], containers: [container({ cpu: '100m' })] } }),
      'Insufficient cpu',
    ],
    [
      'limits count when requests are missing',
      () => nodeWith(node('n1', { memory: '1Gi' })),
      pod({ spec: { containers: [container(undefined, { memory: '2Gi' })] } }),
      'Insufficient memory',
    ],
  ])('%s', (_, target, p, want) => {
    expect(filter(nodeResourcesFitFilter, p, target())).toEqual(want);
  });

  it('frees capacity when a pod is removed', () => {
    const running = requesting('2', '1Gi');
    const n = nodeWith(node('n1', { cpu: '2' }), running);
    expect(filter(nodeResourcesFitFilter, requesting('1', '1Gi'), n)).toBe('Insufficient cpu');
    removePod(n, podInfo(running));
    expect(filter(nodeResourcesFitFilter, requesting('1', '1Gi'), n)).toBeUndefined();
  });
});

describe('node-ports', () => {
  const REASON = "node(s) didn't have free ports for the requested pod ports";
  const withPort = (name: string, hostPort: number, hostIP?: string, protocol?: string) =>
    pod({ name, spec: { containers: [container(undefined, undefined, { ports: [{ containerPort: 80, hostPort, hostIP, protocol }] })] } });

  it.each<[string, KubeObject[], KubeObject, FilterResult]>([
    ['no ports wanted', [withPort('a', 80)], pod(), undefined],
    ['a free port', [withPort('a', 80)], withPort('b', 81), undefined],
    ['the same port on all addresses', [withPort('a', 80)], withPort('b', 80), REASON],
    ['the same port on the same address', [withPort('a', 80, '10.0.0.1')], withPort('b', 80, '10.0.0.1'), REASON],
    ['the same port on another address', [withPort('a', 80, '10.0.0.1')], withPort('b', 80, '10.0.0.2'), undefined],
    ['all addresses wanted, one address used', [withPort('a', 80, '10.0.0.1')], withPort('b', 80), REASON],
    ['one address wanted, all addresses used', [withPort('a', 80)], withPort('b', 80, '10.0.0.1'), REASON],
    ['another protocol', [withPort('a', 53, undefined, 'UDP')], withPort('b', 53), undefined],
    ['the same protocol, explicitly', [withPort('a', 53, undefined, 'UDP')], withPort('b', 53, '0.0.0.0', 'UDP'), REASON],
    ['a port ending in the same digits', [withPort('a', 180, '10.0.0.1')], withPort('b', 80), undefined],
  ])('%s', (_, running, incoming, want) => {
    expect(filter(nodePortsFilter, incoming, nodeWith(node('n1'), ...running))).toEqual(want);
  });

  it('frees the port when the last pod using it goes', () => {
    const n = nodeWith(node('n1'), withPort('a', 80), withPort('b', 80));
    removePod(n, 'default/a');
    expect(filter(nodePortsFilter, withPort('c', 80), n)).toBe(REASON);
    removePod(n, 'default/b');
    expect(filter(nodePortsFilter, withPort('c', 80), n)).toBeUndefined();
  });
});

describe('inter-pod-affinity', () => {
  const HOSTNAME = 'kubernetes.io/hostname';
  const term = (matchLabels: Record<string, string>, topologyKey = HOSTNAME, extra: object = {}) => ({
    labelSelector: { matchLabels },
    topologyKey,
    ...extra,
  });
  const antiAffine = (name: string, labels: Record<string, string>, ...terms: object[]) =>
    pod({ name, labels, spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: terms } } } });
  const affine = (name: string, labels: Record<string, string>, ...terms: object[]) =>
    pod({ name, labels, spec: { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: terms } } } });
  const plain = (name: string, labels: Record<string, string>, namespace?: string) => pod({ name, labels, namespace });

  const ANTI = "node(s) didn't match pod anti-affinity rules";
  const EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules";
  const AFFINITY = "node(s) didn't match pod affinity rules";

  it.each<[string, KubeObject[], KubeObject[], KubeObject, FilterResult]>([
    // [case, pods on n1, pods on n2, incoming pod, result on n1]
    ['no terms anywhere', [plain('a', { app: 'web' })], [], plain('b', { app: 'web' }), undefined],
    ['anti-affinity: a matching pod on the node', [plain('a', { app: 'web' })], [], antiAffine('b', { app: 'web' }, term({ app: 'web' })), ANTI],
    ['anti-affinity: the matching pod is elsewhere', [], [plain('a', { app: 'web' })], antiAffine('b', { app: 'web' }, term({ app: 'web' })), undefined],
    ['anti-affinity: labels differ', [plain('a', { app: 'db' })], [], antiAffine('b', { app: 'web' }, term({ app: 'web' })), undefined],
    [
      'anti-affinity: same labels, other namespace',
      [plain('a', { app: 'web' }, 'other')],
      [],
      antiAffine('b', { app: 'web' }, term({ app: 'web' })),
      undefined,
    ],
    [
      'anti-affinity: a namespace named in the term',
      [plain('a', { app: 'web' }, 'other')],
      [],
      antiAffine('b', { app: 'web' }, term({ app: 'web' }, HOSTNAME, { namespaces: ['other'] })),
      ANTI,
    ],
    [
      'anti-affinity: an empty namespaceSelector selects every namespace',
      [plain('a', { app: 'web' }, 'other')],
      [],
      antiAffine('b', { app: 'web' }, term({ app: 'web' }, HOSTNAME, { namespaceSelector: {} })),
      ANTI,
    ],
    [
      'anti-affinity: a namespaceSelector by name',
      [plain('a', { app: 'web' }, 'other')],
      [],
      antiAffine('b', {}, term({ app: 'web' }, HOSTNAME, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } } })),
      ANTI,
    ],
    [
      "existing pod's anti-affinity matches the incoming pod",
      [antiAffine('a', { app: 'db' }, term({ app: 'web' }))],
      [],
      plain('b', { app: 'web' }),
      EXISTING,
    ],
    [
      "existing pod's anti-affinity, on another node",
      [],
      [antiAffine('a', { app: 'db' }, term({ app: 'web' }))],
      plain('b', { app: 'web' }),
      undefined,
    ],
    [
      "existing pod's anti-affinity does not match",
      [antiAffine('a', { app: 'db' }, term({ app: 'web' }))],
      [],
      plain('b', { app: 'cache' }),
      undefined,
    ],
    [
      'anti-affinity by zone: a matching pod elsewhere in the zone',
      [],
      [plain('a', { app: 'web' })],
      antiAffine('b', {}, term({ app: 'web' }, 'zone')),
      ANTI,
    ],
    ['affinity: a matching pod on the node', [plain('a', { app: 'db' })], [], affine('b', { app: 'web' }, term({ app: 'db' })), undefined],
    ['affinity: the matching pod is elsewhere', [], [plain('a', { app: 'db' })], affine('b', { app: 'web' }, term({ app: 'db' })), AFFINITY],
    ['affinity by zone: the matching pod is elsewhere in the zone', [], [plain('a', { app: 'db' })], affine('b', {}, term({ app: 'db' }, 'zone')), undefined],
    ['affinity: the first of its group goes anywhere', [], [], affine('b', { app: 'web' }, term({ app: 'web' })), undefined],
    ['affinity: nothing matches and not itself either', [], [], affine('b', { app: 'web' }, term({ app: 'db' })), AFFINITY],
    ['affinity: the node lacks the topology label', [plain('a', { app: 'db' })], [], affine('b', {}, term({ app: 'db' }, 'rack')), AFFINITY],
  ])('%s', (_, onN1, onN2, incoming, want) => {
    const n1 = nodeWith(node('n1', { labels: { zone: 'z1' } }), ...onN1);
    const n2 = nodeWith(node('n2', { labels: { zone: 'z1' } }), ...onN2);
    expect(filter(interPodAffinityFilter, incoming, n1, [n2])).toEqual(want);
  });

  it('uses the hostname label when there is one, the node name when not', () => {
    const incoming = antiAffine('b', {}, term({ app: 'web' }));
    // Two nodes sharing a hostname label are one topology domain.
    const n1 = nodeWith(node('n1', { labels: { [HOSTNAME]: 'host' } }));
    const n2 = nodeWith(node('n2', { labels: { [HOSTNAME]: 'host' } }), plain('a', { app: 'web' }));
    expect(filter(interPodAffinityFilter, incoming, n1, [n2])).toBe(ANTI);
    const unlabelled = nodeWith(node('n3'));
    expect(filter(interPodAffinityFilter, incoming, unlabelled, [n2])).toBeUndefined();
  });

  it('skips pods when no terms apply either way', () => {
    const n1 = nodeWith(node('n1'), plain('a', { app: 'web' }));
    expect(interPodAffinityFilter.prepare!(podInfo(plain('b', {})), new Map(), new Map([['n1', n1]]))).toBe(SKIP);
  });
});

// ---------------------------------------------------------------------------
// Scores

describe('least-allocated', () => {
  const requesting = (cpu?: string, memory?: string) =>
    pod({ spec: { containers: [container(cpu ? { cpu, memory: memory! } : undefined)] } });
  const large: NodeOptions = { cpu: '4', memory: '8Gi' };
  it.each<[string, NodeOptions, KubeObject[], KubeObject, number]>([
    ['an empty node, a quarter requested', large, [], requesting('1', '2Gi'), 75],
    ['cpu and memory averaged', large, [], requesting('2', '2Gi'), 62], // (50 + 75) / 2 = 62.5
    ['what is already there counts', large, [requesting('2', '4Gi')], requesting('1', '2Gi'), 25],
    ['over capacity scores 0', large, [], requesting('8', '16Gi'), 0],
    // 900m of 1000m free: 90; 824Mi of 1Gi free: 80 (integer division).
    ['a pod without requests counts as 100m / 200Mi', { cpu: '1', memory: '1Gi' }, [], requesting(), 85],
    ['running pods without requests count too', { cpu: '1', memory: '1Gi' }, [requesting()], requesting('100m', '200Mi'), 70],
  ])('%s', (_, size, running, incoming, want) => {
    expect(scores(leastAllocatedScore, incoming, [nodeWith(node('n1', size), ...running)])).toEqual([want]);
  });

  it('prefers the emptier node', () => {
    const busy = nodeWith(node('busy'), pod({ name: 'x', spec: { containers: [container({ cpu: '3', memory: '6Gi' })] } }));
    const idle = nodeWith(node('idle'));
    const [b, i] = scores(leastAllocatedScore, pod({ spec: { containers: [container({ cpu: '500m', memory: '1Gi' })] } }), [busy, idle]);
    expect(i).toBeGreaterThan(b);
  });
});

describe('balanced-allocation', () => {
  const requesting = (cpu: string, memory: string) => pod({ spec: { containers: [container({ cpu, memory })] } });
  it.each<[string, KubeObject[], KubeObject, number]>([
    ['equal fractions score 100', [], requesting('1', '2Gi'), 100],
    ['half vs a quarter: std 0.125', [], requesting('2', '2Gi'), 87],
    ['running pods count', [requesting('2', '0')], requesting('1', '2Gi'), 75], // 0.75 vs 0.25
    ['fractions cap at 1', [], requesting('8', '8Gi'), 100],
  ])('%s', (_, running, incoming, want) => {
    const n = nodeWith(node('n1', { cpu: '4', memory: '8Gi' }), ...running);
    expect(scores(balancedAllocationScore, incoming, [n])).toEqual([want]);
  });

  it('leaves best-effort pods unscored', () => {
    const info = podInfo(pod());
    expect(balancedAllocationScore.prepare!(info, new Map(), new Map())).toBe(SKIP);
    const busy = nodeWith(node('b'), pod({ name: 'x', spec: { containers: [container({ cpu: '3', memory: '1Gi' })] } }));
    expect(scores(balancedAllocationScore, pod(), [nodeWith(node('a')), busy])).toEqual([0, 0]);
  });
});

describe('node-affinity score', () => {
  const preferring = (...terms: [number, string, string][]) =>
    pod({
      spec: {
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: terms.map(([weight, key, value]) => ({
              weight,
              preference: { matchExpressions: [{ key, operator: 'In', values: [value] }] },
            })),
          },
        },
      },
    });
  const nodes = () => [
    nodeInfo(node('both', { labels: { zone: 'a', disk: 'ssd' } })),
    nodeInfo(node('zone', { labels: { zone: 'a' } })),
    nodeInfo(node('none')),
  ];

  it.each<[string, KubeObject, number[]]>([
    ['weights add up, then scale to 100', preferring([10, 'zone', 'a'], [20, 'disk', 'ssd']), [100, 33, 0]],
    ['one term', preferring([5, 'zone', 'a']), [100, 100, 0]],
    ['zero-weight terms never count', preferring([0, 'zone', 'a']), [0, 0, 0]],
    ['nothing preferred', pod(), [0, 0, 0]],
  ])('%s', (_, p, want) => {
    expect(scores(nodeAffinityScore, p, nodes())).toEqual(want);
  });
});

describe('taint-toleration score', () => {
  const prefer = (key: string) => ({ key, value: 'x', effect: 'PreferNoSchedule' });
  const nodes = () => [
    nodeInfo(node('clean')),
    nodeInfo(node('one', { taints: [prefer('a')] })),
    nodeInfo(node('two', { taints: [prefer('a'), prefer('b'), { key: 'c', effect: 'NoSchedule' }] })),
  ];
  it.each<[string, object[], number[]]>([
    ['fewer intolerable PreferNoSchedule taints is better', [], [100, 50, 0]],
    ['tolerated taints do not count', [{ key: 'b', operator: 'Exists' }], [100, 0, 0]],
    ['everything tolerated: all equal', [{ operator: 'Exists' }], [100, 100, 100]],
  ])('%s', (_, tolerations, want) => {
    expect(scores(taintTolerationScore, pod({ spec: { tolerations } }), nodes())).toEqual(want);
  });
});

describe('owner-spread', () => {
  const replica = (name: string, owner = 'rs-1') => pod({ name, owner });
  it('prefers nodes with fewer pods of the same owner', () => {
    const nodes = [
      nodeWith(node('empty')),
      nodeWith(node('one'), replica('a'), replica('x', 'rs-2'), replica('y', 'rs-2')),
      nodeWith(node('two'), replica('b'), replica('c')),
    ];
    expect(scores(ownerSpreadScore, replica('new'), nodes)).toEqual([100, 50, 0]);
  });

  it('normalizes in floating point like SelectorSpread', () => {
    const raw = [21, 50];
    ownerSpreadScore.normalize!(raw, new Map());
    expect(raw).toEqual([57, 0]);
  });

  it('gives every node the same score for a pod without owner', () => {
    const nodes = [nodeWith(node('a')), nodeWith(node('b'), replica('x'))];
    expect(ownerSpreadScore.prepare!(podInfo(pod()), new Map(), new Map())).toBe(SKIP);
    expect(scores(ownerSpreadScore, pod(), nodes)).toEqual([100, 100]);
  });
});

describe('defaultNormalizeScore', () => {
  it.each<[number[], boolean, number[]]>([
    [[0, 5, 10], false, [0, 50, 100]],
    [[0, 5, 10], true, [100, 50, 0]],
    [[1, 3], false, [33, 100]],
    [[0, 0], false, [0, 0]],
    [[0, 0], true, [100, 100]],
    [[], true, []],
  ])('%j reverse=%s → %j', (raw, reverse, want) => {
    defaultNormalizeScore(raw, reverse);
    expect(raw).toEqual(want);
  });
});

describe('default profile', () => {
  it('lists the filters in kube-scheduler order and the scores with their weights', () => {
    expect(filterPlugins.map((p) => p.name)).toEqual([
      'NodeReady',
      'NodeUnschedulable',
      'NodeName',
      'TaintToleration',
      'NodeAffinity',
      'NodePorts',
      'NodeResourcesFit',
      'InterPodAffinity',
    ]);
    expect(Object.fromEntries(scorePlugins.map((p) => [p.name, p.weight]))).toEqual({
      TaintToleration: 3,
      NodeAffinity: 2,
      NodeResourcesLeastAllocated: 1,
      NodeResourcesBalancedAllocation: 1,
      OwnerSpread: 2,
    });
  });
});
