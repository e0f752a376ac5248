import { MAX_NODE_SCORE, SKIP, type ScorePlugin } from '../framework';

/**
 * NodeResourcesBalancedAllocation: prefer the node where, with the pod
 * placed, CPU and memory would be used in the most equal proportions, so
 * neither runs out while the other sits idle. Score = (1 - standard
 * deviation of the two used fractions) × 100; with two resources that
 * deviation is half their difference.
 *
 * Works on actual requests, not the non-zero defaults, and leaves
 * best-effort pods unscored, as kube-scheduler does since they would
 * otherwise all be sent to the same node.
 */

export const balancedAllocationScore: ScorePlugin = {
  name: 'NodeResourcesBalancedAllocation',
  weight: 1,
  prepare(pod) {
    return pod.requests.milliCPU === 0 && pod.requests.memory === 0 ? SKIP : undefined;
  },
  score(pod, node) {
    const want = pod.requests;
    if (want.milliCPU === 0 && want.memory === 0) return 0;
    const free = node.allocatable;
    const used = node.requested;
    // A resource the node reports none of has no fraction; one fraction alone has no deviation.
    if (free.milliCPU <= 0 || free.memory <= 0) return MAX_NODE_SCORE;
    const cpu = Math.min(1, (used.milliCPU + want.milliCPU) / free.milliCPU);
    const memory = Math.min(1, (used.memory + want.memory) / free.memory);
    const std = Math.abs(cpu - memory) / 2;
    return Math.trunc((1 - std) * MAX_NODE_SCORE);
  },
};
