import { quantityMilliValue, quantityValue } from '../api/quantity';
import { labelSelectorFromObject, type LabelSelector, type LabelSelectorObject } from '../api/selectors';
import type { KubeObject } from '../api/types';
import { emptyResources, type AffinityTerm, type NodeInfo, type PodInfo, type Resources } from './framework';

/**
 * Builds the scheduler's views of pods and nodes, and keeps a node's totals
 * in step as pods come and go. Everything a plugin would otherwise parse per
 * node (quantities, ports, affinity selectors) is parsed here, once per pod.
 */

/** What scoring assumes a container without a CPU request asks for (kube-scheduler's DefaultMilliCPURequest). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
/** What scoring assumes a container without a memory request asks for (DefaultMemoryRequest, 200Mi). */
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;
/** The kubelet's default `maxPods`, used when a node reports no pod capacity. */
export const DEFAULT_MAX_PODS = 110;

const NO_LABELS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NO_TERMS: readonly AffinityTerm[] = Object.freeze([]);
const MATCHES_NOTHING: LabelSelector = Object.freeze({ type: 'label', requirements: [], matchesNothing: true });

/** One container's requests for the resources the scheduler compares; undefined where it names none. */
interface ContainerRequests {
  cpu?: number;
  memory?: number;
  ephemeralStorage?: number;
  restartable: boolean;
}

type ResourceList = Record<string, string | number> | undefined;

/** Resource `name` from `list`, else from `fallback`, parsed; undefined when neither names it. */
function quantityOf(list: ResourceList, fallback: ResourceList, name: string, parse: (q: string | number) => number) {
  const q = list?.[name] ?? fallback?.[name];
  return q === undefined ? undefined : parse(q);
}

/**
 * A container's requests, a limit standing in for a missing request: the API
 * server's defaulting copies limits into missing requests, and the scheduler
 * must see a pod the same whether or not it went through that.
 */
function containerRequests(c: any): ContainerRequests {
  const requests: ResourceList = c?.resources?.requests;
  const limits: ResourceList = c?.resources?.limits;
  return {
    cpu: quantityOf(requests, limits, 'cpu', quantityMilliValue),
    memory: quantityOf(requests, limits, 'memory', quantityValue),
    ephemeralStorage: quantityOf(requests, limits, 'ephemeral-storage', quantityValue),
    restartable: c?.restartPolicy === 'Always',
  };
}

/**
 * component-helpers `PodRequests` for cpu, memory and ephemeral-storage
 * (extended resources are not scheduled): app containers and sidecars (init
 * containers with restartPolicy Always) run together, so they add up; a
 * regular init container runs alone beside the sidecars started before it, so
 * only the largest such moment counts. With `nonZero`, a container naming no
 * CPU or memory counts the scoring defaults instead, as kube-scheduler's
 * NonMissingContainerRequests does.
 */
function aggregate(app: ContainerRequests[], init: ContainerRequests[], nonZero: boolean): Resources {
  const get = (c: ContainerRequests, r: 'cpu' | 'memory' | 'ephemeralStorage'): number => {
    const v = c[r];
    if (v !== undefined) return v;
    if (!nonZero) return 0;
    return r === 'cpu' ? DEFAULT_MILLI_CPU_REQUEST : r === 'memory' ? DEFAULT_MEMORY_REQUEST : 0;
  };
  const total = (r: 'cpu' | 'memory' | 'ephemeralStorage'): number => {
    let sum = 0;
    for (const c of app) sum += get(c, r);
    let sidecars = 0;
    let initPeak = 0;
    for (const c of init) {
      const v = get(c, r);
      if (c.restartable) {
        sum += v;
        sidecars += v;
        initPeak = Math.max(initPeak, sidecars);
      } else {
        initPeak = Math.max(initPeak, v + sidecars);
      }
    }
    return Math.max(sum, initPeak);
  };
  return { milliCPU: total('cpu'), memory: total('memory'), ephemeralStorage: total('ephemeralStorage'), pods: 1 };
}

/**
 * Pod-level `spec.resources` (cpu and memory only, as Kubernetes supports)
 * replace the containers' total when set, then `spec.overhead` (the runtime's
 * own cost, e.g. a VM sandbox) is added on top.
 */
function applyPodLevel(r: Resources, spec: any): Resources {
  const podCPU = quantityOf(spec?.resources?.requests, spec?.resources?.limits, 'cpu', quantityMilliValue);
  const podMemory = quantityOf(spec?.resources?.requests, spec?.resources?.limits, 'memory', quantityValue);
  if (podCPU !== undefined) r.milliCPU = podCPU;
  if (podMemory !== undefined) r.memory = podMemory;
  const overhead: ResourceList = spec?.overhead;
  if (overhead) {
    r.milliCPU += quantityOf(overhead, undefined, 'cpu', quantityMilliValue) ?? 0;
    r.memory += quantityOf(overhead, undefined, 'memory', quantityValue) ?? 0;
    r.ephemeralStorage += quantityOf(overhead, undefined, 'ephemeral-storage', quantityValue) ?? 0;
  }
  return r;
}

/** The host ports of the app containers, as kube-scheduler's NodePorts collects them. */
function hostPortsOf(spec: any): string[] {
  const ports: string[] = [];
  for (const c of spec?.containers ?? []) {
    for (const p of c?.ports ?? []) {
      if (!(p?.hostPort > 0)) continue;
      ports.push(`${p.protocol || 'TCP'}/${p.hostIP || '0.0.0.0'}/${p.hostPort}`);
    }
  }
  return ports;
}

/**
 * A selector that cannot be parsed selects nothing. The API server validates
 * selectors, so this only guards against objects written around it; for
 * anti-affinity it means "no conflict", for affinity "no match", which is
 * where kube-scheduler ends up too (it refuses to schedule such a pod at all).
 */
function selectorOrNothing(sel: LabelSelectorObject | null | undefined): LabelSelector {
  try {
    return labelSelectorFromObject(sel);
  } catch {
    return MATCHES_NOTHING;
  }
}

/** kube-scheduler's `GetAffinityTerms`; term namespaces default to the owning pod's namespace. */
function affinityTerms(terms: any[] | undefined, namespace: string): readonly AffinityTerm[] {
  if (!terms || terms.length === 0) return NO_TERMS;
  return terms.map((t): AffinityTerm => {
    const listed: string[] = t?.namespaces ?? [];
    const term: AffinityTerm = {
      selector: selectorOrNothing(t?.labelSelector),
      namespaces: new Set(listed.length === 0 && t?.namespaceSelector == null ? [namespace] : listed),
      topologyKey: t?.topologyKey ?? '',
    };
    if (t?.namespaceSelector != null) term.namespaceSelector = selectorOrNothing(t.namespaceSelector);
    return term;
  });
}

/**
 * The scheduler's view of a pod. Quantities that do not parse throw (the
 * API server rejects them, so seeing one is a bug, not a scheduling outcome).
 */
export function podInfo(pod: KubeObject): PodInfo {
  const spec = pod.spec ?? {};
  const namespace = pod.metadata.namespace ?? 'default';
  const app = (spec.containers ?? []).map(containerRequests);
  const init = (spec.initContainers ?? []).map(containerRequests);
  const affinity = spec.affinity;
  const info: PodInfo = {
    pod,
    key: `${namespace}/${pod.metadata.name}`,
    requests: applyPodLevel(aggregate(app, init, false), spec),
    nonZeroRequests: applyPodLevel(aggregate(app, init, true), spec),
    hostPorts: hostPortsOf(spec),
    labels: pod.metadata.labels ?? NO_LABELS,
    requiredAffinityTerms: affinityTerms(affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution, namespace),
    requiredAntiAffinityTerms: affinityTerms(
      affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
      namespace,
    ),
  };
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller === true);
  if (owner) info.ownerUid = owner.uid;
  return info;
}

/** status.allocatable, resource by resource falling back to status.capacity. */
function allocatableOf(node: KubeObject): Resources {
  const alloc: ResourceList = node.status?.allocatable;
  const cap: ResourceList = node.status?.capacity;
  const get = (name: string, parse: (q: string | number) => number) => quantityOf(alloc, cap, name, parse);
  return {
    milliCPU: get('cpu', quantityMilliValue) ?? 0,
    memory: get('memory', quantityValue) ?? 0,
    ephemeralStorage: get('ephemeral-storage', quantityValue) ?? 0,
    pods: get('pods', quantityValue) ?? DEFAULT_MAX_PODS,
  };
}

/** A NodeInfo for `node` with no pods on it yet. */
export function nodeInfo(node: KubeObject): NodeInfo {
  const info: NodeInfo = {
    name: node.metadata.name ?? '',
    node,
    labels: NO_LABELS,
    allocatable: emptyResources(),
    requested: emptyResources(),
    nonZeroRequested: emptyResources(),
    pods: new Map(),
    usedHostPorts: new Map(),
    ownerCounts: new Map(),
    podsWithRequiredAntiAffinity: new Map(),
    ready: undefined,
    unschedulable: false,
    taints: undefined,
  };
  setNode(info, node);
  return info;
}

/** Replaces the node object of `info` (after a node update), keeping its pods and totals. */
export function setNode(info: NodeInfo, node: KubeObject): void {
  info.name = node.metadata.name ?? '';
  info.node = node;
  info.labels = node.metadata.labels ?? NO_LABELS;
  info.allocatable = allocatableOf(node);
  const conditions: Array<{ type: string; status: string }> | undefined = node.status?.conditions;
  info.ready = conditions?.find((c) => c.type === 'Ready')?.status;
  info.unschedulable = node.spec?.unschedulable === true;
  info.taints = node.spec?.taints?.length ? node.spec.taints : undefined;
}

function addResources(to: Resources, r: Resources, sign: 1 | -1): void {
  to.milliCPU += sign * r.milliCPU;
  to.memory += sign * r.memory;
  to.ephemeralStorage += sign * r.ephemeralStorage;
  to.pods += sign * r.pods;
}

function bump(counts: Map<string, number>, key: string, by: 1 | -1): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

function account(node: NodeInfo, pod: PodInfo, sign: 1 | -1): void {
  addResources(node.requested, pod.requests, sign);
  addResources(node.nonZeroRequested, pod.nonZeroRequests, sign);
  for (const port of pod.hostPorts) bump(node.usedHostPorts, port, sign);
  if (pod.ownerUid !== undefined) bump(node.ownerCounts, pod.ownerUid, sign);
}

/**
 * Puts `pod` on `node` (bound, or assumed by the scheduler). Adding a pod
 * already there replaces it, so an update of a known pod is one call.
 */
export function addPod(node: NodeInfo, pod: PodInfo): void {
  removePod(node, pod.key);
  node.pods.set(pod.key, pod);
  account(node, pod, 1);
  if (pod.requiredAntiAffinityTerms.length > 0) node.podsWithRequiredAntiAffinity.set(pod.key, pod);
}

/**
 * Takes a pod off `node`, undoing exactly what adding it did (the PodInfo
 * stored then, not the one passed, so a changed pod cannot skew the totals).
 * Returns false when the pod was not on the node.
 */
export function removePod(node: NodeInfo, pod: PodInfo | string): boolean {
  const key = typeof pod === 'string' ? pod : pod.key;
  const stored = node.pods.get(key);
  if (!stored) return false;
  node.pods.delete(key);
  node.podsWithRequiredAntiAffinity.delete(key);
  account(node, stored, -1);
  return true;
}
