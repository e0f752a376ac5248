import { MAX_NODE_SCORE, type ScorePlugin } from '../framework';

/**
 * NodeResourcesFit's LeastAllocated strategy: prefer the node with the most
 * CPU and memory left after placing the pod, each resource weighted 1. Uses
 * the non-zero requests, so pods without requests still count for something
 * and do not all pile onto one node.
 */

/** `(capacity - requested) * 100 / capacity`, 0 when over capacity, in integers as kube-scheduler computes it. */
function leastRequested(requested: number, capacity: number): number {
  if (requested > capacity) return 0;
  return Math.floor(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

export const leastAllocatedScore: ScorePlugin = {
  name: 'NodeResourcesLeastAllocated',
  weight: 1,
  score(pod, node) {
    const free = node.allocatable;
    const used = node.nonZeroRequested;
    const want = pod.nonZeroRequests;
    let sum = 0;
    let weights = 0;
    // A resource the node reports none of is left out rather than scored 0.
    if (free.milliCPU > 0) {
      sum += leastRequested(used.milliCPU + want.milliCPU, free.milliCPU);
      weights++;
    }
    if (free.memory > 0) {
      sum += leastRequested(used.memory + want.memory, free.memory);
      weights++;
    }
    return weights === 0 ? 0 : Math.floor(sum / weights);
  },
};
