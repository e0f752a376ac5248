import type { LabelSelector } from '../api/selectors';
import type { KubeObject } from '../api/types';

/**
 * The scheduler's plugin contracts, after kube-scheduler's framework:
 * filter plugins decide whether a pod may run on a node, score plugins rank
 * the nodes that pass. Plugins are pure functions of the pod and the
 * scheduler cache's view of a node; the cache keeps NodeInfo up to date
 * (including pods it has assumed but not yet seen bound).
 */

/** Resource amounts in the units the scheduler compares: millicores, bytes, counts. */
export interface Resources {
  milliCPU: number;
  memory: number;
  ephemeralStorage: number;
  pods: number;
}

/**
 * One required (anti-)affinity term of a pod, parsed once when its PodInfo is
 * built: it selects the pods whose labels match `selector` in the namespaces
 * it names, within the topology domain (the nodes sharing the value of the
 * node label `topologyKey`).
 */
export interface AffinityTerm {
  selector: LabelSelector;
  /** The namespaces listed in the term, or the owning pod's own namespace when it lists none and has no namespaceSelector. */
  namespaces: ReadonlySet<string>;
  /** Further namespaces, by their labels; undefined when the term has no namespaceSelector. */
  namespaceSelector?: LabelSelector;
  topologyKey: string;
}

/** What the scheduler needs of a pod, computed once per pod (not per node). */
export interface PodInfo {
  pod: KubeObject;
  /** namespace/name */
  key: string;
  /**
   * Effective requests as Kubernetes counts them, per resource: the sum of
   * app and sidecar containers, or the largest init container (with the
   * sidecars started before it) if more, plus overhead. Limits stand in for
   * missing requests. `pods` is 1.
   */
  requests: Resources;
  /**
   * `requests` as resource scoring sees them: a container that asks for no
   * CPU or memory counts as asking for 100m / 200Mi (kube-scheduler's
   * non-zero defaults), so best-effort pods still spread out.
   */
  nonZeroRequests: Resources;
  /** Host ports the pod asks for, as `protocol/hostIP/port` (hostIP '0.0.0.0' when unset). */
  hostPorts: string[];
  /** uid of the controlling owner (ReplicaSet, ...), for spreading. */
  ownerUid?: string;
  labels: Record<string, string>;
  /** `spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution`, parsed. */
  requiredAffinityTerms: readonly AffinityTerm[];
  /** `spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution`, parsed. */
  requiredAntiAffinityTerms: readonly AffinityTerm[];
}

/** The scheduler cache's view of one node: the node plus what is (or is assumed to be) on it. */
export interface NodeInfo {
  name: string;
  node: KubeObject;
  labels: Record<string, string>;
  allocatable: Resources;
  /** Sum of `requests` of every pod on the node, assumed pods included. */
  requested: Resources;
  /** Sum of `nonZeroRequests` of every pod on the node. */
  nonZeroRequested: Resources;
  /** Every pod on the node, by key. */
  pods: Map<string, PodInfo>;
  /**
   * Host ports in use, as in PodInfo.hostPorts, each with the number of pods
   * using it (more than one only when pods were bound around the scheduler).
   */
  usedHostPorts: Map<string, number>;
  /** Pods on the node per controlling owner uid. */
  ownerCounts: Map<string, number>;
  /** The pods on the node with required anti-affinity terms, by key, so checking them skips every other pod. */
  podsWithRequiredAntiAffinity: Map<string, PodInfo>;
  /**
   * Facts the filters read for every node of every pod, taken from the node
   * object once per node update instead of once per pod (measured: this walk
   * was ~10% of scheduling CPU at 5,000 nodes).
   */
  ready: string | undefined;
  unschedulable: boolean;
  /** spec.taints, undefined when there are none. */
  taints: ReadonlyArray<{ key: string; value?: string; effect: string }> | undefined;
}

/**
 * The nodes as plugins see them in `prepare`. The scheduler cache's map also
 * indexes the nodes holding pods with required anti-affinity (usually none),
 * so a plain pod does not walk every node to find out there are none.
 */
export interface NodeIndex extends ReadonlyMap<string, NodeInfo> {
  readonly withRequiredAntiAffinity?: ReadonlySet<NodeInfo>;
}

/** Per-pod, per-cycle data a plugin computes once in `prepare` and reads for every node. */
export type CycleState = Map<string, unknown>;

/**
 * Why a node was filtered out, in Kubernetes' wording: undefined when the pod
 * fits; one reason; or several (NodeResourcesFit says "Insufficient cpu" and
 * "Insufficient memory" for the same node). Every reason counts once for the
 * node in the FailedScheduling message (see `countReasons`). As in
 * kube-scheduler, the core stops at a node's first failing filter, so a
 * node's reasons all come from one plugin. Arrays returned are shared and
 * frozen: read them, never keep or modify them.
 */
export type FilterResult = string | readonly string[] | undefined;

/**
 * What `prepare` returns when the plugin has nothing to check or rank for
 * this pod (kube-scheduler's Skip status), e.g. NodePorts for a pod without
 * host ports. The core may then leave the plugin out for every node of the
 * cycle. Honouring it is only an optimisation: called anyway, a skipped filter
 * passes every node and a skipped score is the same for every node.
 */
export const SKIP = 'skip';

/** undefined to run the plugin as usual, SKIP to leave it out this cycle. */
export type PrepareResult = void | typeof SKIP;

export interface FilterPlugin {
  name: string;
  /**
   * Optional per-pod precomputation (e.g. parsed affinity), stored in `state`;
   * called once per scheduling cycle, before any `filter` of that cycle.
   */
  prepare?(pod: PodInfo, state: CycleState, nodes: NodeIndex): PrepareResult;
  /** undefined when the pod fits the node; otherwise the reason(s) it does not. */
  filter(pod: PodInfo, node: NodeInfo, state: CycleState): FilterResult;
}

export interface ScorePlugin {
  name: string;
  weight: number;
  /** As FilterPlugin.prepare, called before any `score` of the cycle. */
  prepare?(pod: PodInfo, state: CycleState, nodes: NodeIndex): PrepareResult;
  /** A raw score for one feasible node. */
  score(pod: PodInfo, node: NodeInfo, state: CycleState): number;
  /**
   * Turns raw scores into 0..100 across the feasible nodes (in place). Plugins
   * whose raw score is already 0..100 leave it out.
   */
  normalize?(scores: number[], state: CycleState): void;
}

export const MAX_NODE_SCORE = 100;

/**
 * kube-scheduler's `DefaultNormalizeScore`: scales raw scores so the highest
 * becomes MAX_NODE_SCORE (integer arithmetic, as in Go), and with `reverse`
 * turns "more is worse" counts into "more is better" scores. All zeros stay
 * zeros, or all become MAX_NODE_SCORE when reversed.
 */
export function defaultNormalizeScore(scores: number[], reverse: boolean): void {
  let max = 0;
  for (const s of scores) if (s > max) max = s;
  if (max === 0) {
    if (reverse) scores.fill(MAX_NODE_SCORE);
    return;
  }
  for (let i = 0; i < scores.length; i++) {
    const s = Math.trunc((MAX_NODE_SCORE * scores[i]) / max);
    scores[i] = reverse ? MAX_NODE_SCORE - s : s;
  }
}

export function emptyResources(): Resources {
  return { milliCPU: 0, memory: 0, ephemeralStorage: 0, pods: 0 };
}
