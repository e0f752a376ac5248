import type { FilterPlugin, ScorePlugin } from '../framework';
import { balancedAllocationScore } from './balanced-allocation';
import { interPodAffinityFilter } from './inter-pod-affinity';
import { leastAllocatedScore } from './least-allocated';
import { nodeAffinityFilter, nodeAffinityScore } from './node-affinity';
import { nodeNameFilter } from './node-name';
import { nodePortsFilter } from './node-ports';
import { nodeReadyFilter } from './node-ready';
import { nodeResourcesFitFilter } from './node-resources-fit';
import { nodeUnschedulableFilter } from './node-unschedulable';
import { ownerSpreadScore } from './owner-spread';
import { taintTolerationFilter, taintTolerationScore } from './taint-toleration';

/**
 * mk's default scheduling profile, after kube-scheduler's.
 *
 * Filters run in kube-scheduler's order, which also puts the cheap checks
 * first: the core stops at a node's first failing filter, so the order
 * decides both the cost and which reason a node is reported with.
 */
export const filterPlugins: readonly FilterPlugin[] = Object.freeze([
  nodeReadyFilter,
  nodeUnschedulableFilter,
  nodeNameFilter,
  taintTolerationFilter,
  nodeAffinityFilter,
  nodePortsFilter,
  nodeResourcesFitFilter,
  interPodAffinityFilter,
]);

/**
 * Score plugins, each weighted as in kube-scheduler's default profile
 * (NodeResourcesFit 1, BalancedAllocation 1, NodeAffinity 2,
 * TaintToleration 3, and 2 for spreading, like PodTopologySpread); the
 * weights live on the plugins.
 */
export const scorePlugins: readonly ScorePlugin[] = Object.freeze([
  taintTolerationScore,
  nodeAffinityScore,
  leastAllocatedScore,
  balancedAllocationScore,
  ownerSpreadScore,
]);
