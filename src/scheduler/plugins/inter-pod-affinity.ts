import { matchesLabels, type LabelSelector } from '../../api/selectors';
import { SKIP, type AffinityTerm, type CycleState, type FilterPlugin, type NodeIndex, type NodeInfo, type PodInfo } from '../framework';

/**
 * InterPodAffinity (required terms): a pod goes only where
 * - every one of its affinity terms finds a matching pod in the node's
 *   topology domain (the nodes sharing the node's value of the term's
 *   topologyKey; for `kubernetes.io/hostname`, the node itself),
 * - none of its anti-affinity terms finds one, and
 * - no pod already in the domain has an anti-affinity term matching it.
 *
 * As in kube-scheduler, `prepare` counts the matching pods per topology
 * domain once per cycle, so `filter` is a few map lookups per node.
 */

const AFFINITY_REASON = "node(s) didn't match pod affinity rules";
const ANTI_AFFINITY_REASON = "node(s) didn't match pod anti-affinity rules";
const EXISTING_ANTI_AFFINITY_REASON = "node(s) didn't satisfy existing pods anti-affinity rules";
const STATE = 'InterPodAffinity';
const HOSTNAME_LABEL = 'kubernetes.io/hostname';
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Matching pods per topology domain: topology key → topology value → count. */
type TopologyCounts = Map<string, Map<string, number>>;

interface State {
  /** Pods matching all of the incoming pod's affinity terms. */
  affinity: TopologyCounts;
  /** Pods matching any of the incoming pod's anti-affinity terms (one count per matching term). */
  antiAffinity: TopologyCounts;
  /** Anti-affinity terms of pods already placed that match the incoming pod. */
  existingAntiAffinity: TopologyCounts;
  /** Whether the incoming pod matches its own affinity terms. */
  matchesOwnAffinity: boolean;
}

/**
 * The node's topology domain for `key`, undefined when the node lacks that label.
 * Nodes registered through the API may lack the hostname label the kubelet
 * always sets, so for that key the node's name stands in; the two are the same
 * on every kubelet-registered node.
 */
export function topologyValue(node: NodeInfo, key: string): string | undefined {
  const v = node.labels[key];
  if (typeof v === 'string') return v;
  return key === HOSTNAME_LABEL ? node.name : undefined;
}

/**
 * A namespace selector sees only the label every namespace carries,
 * `kubernetes.io/metadata.name`: the scheduler has no namespace informer.
 */
function namespaceSelected(sel: LabelSelector, namespace: string): boolean {
  if (sel.matchesNothing) return false;
  if (sel.requirements.length === 0) return true;
  return matchesLabels(sel, { [NAMESPACE_NAME_LABEL]: namespace });
}

/** framework `AffinityTerm.Matches`: the pod is in one of the term's namespaces and its labels match. */
export function affinityTermMatches(term: AffinityTerm, pod: PodInfo): boolean {
  const namespace = pod.pod.metadata.namespace ?? 'default';
  if (!term.namespaces.has(namespace) && !(term.namespaceSelector && namespaceSelected(term.namespaceSelector, namespace))) {
    return false;
  }
  return matchesLabels(term.selector, pod.labels);
}

function matchesAll(terms: readonly AffinityTerm[], pod: PodInfo): boolean {
  if (terms.length === 0) return false;
  for (const t of terms) if (!affinityTermMatches(t, pod)) return false;
  return true;
}

function increment(counts: TopologyCounts, node: NodeInfo, key: string): void {
  const value = topologyValue(node, key);
  if (value === undefined) return;
  let byValue = counts.get(key);
  if (!byValue) counts.set(key, (byValue = new Map()));
  byValue.set(value, (byValue.get(value) ?? 0) + 1);
}

function count(counts: TopologyCounts, key: string, value: string): number {
  return counts.get(key)?.get(value) ?? 0;
}

function computeState(pod: PodInfo, nodes: NodeIndex): State | null {
  const existingAntiAffinity: TopologyCounts = new Map();
  for (const node of nodes.withRequiredAntiAffinity ?? nodes.values()) {
    if (node.podsWithRequiredAntiAffinity.size === 0) continue;
    for (const other of node.podsWithRequiredAntiAffinity.values()) {
      for (const term of other.requiredAntiAffinityTerms) {
        if (affinityTermMatches(term, pod)) increment(existingAntiAffinity, node, term.topologyKey);
      }
    }
  }
  const affinityTerms = pod.requiredAffinityTerms;
  const antiTerms = pod.requiredAntiAffinityTerms;
  if (existingAntiAffinity.size === 0 && affinityTerms.length === 0 && antiTerms.length === 0) return null;

  const affinity: TopologyCounts = new Map();
  const antiAffinity: TopologyCounts = new Map();
  if (affinityTerms.length > 0 || antiTerms.length > 0) {
    for (const node of nodes.values()) {
      for (const other of node.pods.values()) {
        if (matchesAll(affinityTerms, other)) for (const t of affinityTerms) increment(affinity, node, t.topologyKey);
        for (const t of antiTerms) if (affinityTermMatches(t, other)) increment(antiAffinity, node, t.topologyKey);
      }
    }
  }
  return { affinity, antiAffinity, existingAntiAffinity, matchesOwnAffinity: matchesAll(affinityTerms, pod) };
}

function satisfiesAffinity(pod: PodInfo, s: State, node: NodeInfo): boolean {
  let podsExist = true;
  for (const t of pod.requiredAffinityTerms) {
    const value = topologyValue(node, t.topologyKey);
    if (value === undefined) return false;
    if (count(s.affinity, t.topologyKey, value) === 0) podsExist = false;
  }
  // The first pod of a group that wants to be together has nobody to join:
  // kube-scheduler lets it in anywhere when no pod in the cluster matches
  // and it matches its own terms.
  return podsExist || (s.affinity.size === 0 && s.matchesOwnAffinity);
}

function satisfiesAntiAffinity(pod: PodInfo, s: State, node: NodeInfo): boolean {
  for (const t of pod.requiredAntiAffinityTerms) {
    const value = topologyValue(node, t.topologyKey);
    if (value !== undefined && count(s.antiAffinity, t.topologyKey, value) > 0) return false;
  }
  return true;
}

function satisfiesExistingAntiAffinity(s: State, node: NodeInfo): boolean {
  for (const [key, byValue] of s.existingAntiAffinity) {
    const value = topologyValue(node, key);
    if (value !== undefined && (byValue.get(value) ?? 0) > 0) return false;
  }
  return true;
}

export const interPodAffinityFilter: FilterPlugin = {
  name: 'InterPodAffinity',
  prepare(pod, state, nodes) {
    const s = computeState(pod, nodes);
    state.set(STATE, s);
    return s === null ? SKIP : undefined;
  },
  filter(pod, node, state: CycleState) {
    const s = state.get(STATE) as State | null | undefined;
    // Unlike the other filters this one cannot catch up lazily: the counts need every node.
    if (s === undefined) throw new Error('InterPodAffinity: filter called before prepare');
    if (s === null) return undefined;
    if (pod.requiredAffinityTerms.length > 0 && !satisfiesAffinity(pod, s, node)) return AFFINITY_REASON;
    if (s.antiAffinity.size > 0 && !satisfiesAntiAffinity(pod, s, node)) return ANTI_AFFINITY_REASON;
    if (s.existingAntiAffinity.size > 0 && !satisfiesExistingAntiAffinity(s, node)) return EXISTING_ANTI_AFFINITY_REASON;
    return undefined;
  },
};
