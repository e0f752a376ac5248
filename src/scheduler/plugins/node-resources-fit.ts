import type { FilterPlugin, FilterResult } from '../framework';

/**
 * NodeResourcesFit: the pod's requests must fit in what the node has left
 * (allocatable minus the requests of the pods already on it, assumed pods
 * included), and the node must have room for one more pod. Only resources
 * the pod asks for are checked, so a node with no ephemeral-storage
 * allocatable still takes pods that request none.
 */

const TOO_MANY_PODS = 1;
const CPU = 2;
const MEMORY = 4;
const EPHEMERAL_STORAGE = 8;

/**
 * Every combination of reasons, indexed by a bitmask of the flags above, built
 * once so that a failing node costs no allocation. Each reason is counted by
 * itself in the FailedScheduling message, as kube-scheduler does.
 */
const REASONS: readonly FilterResult[] = Array.from({ length: 16 }, (_, mask) => {
  const reasons: string[] = [];
  if (mask & TOO_MANY_PODS) reasons.push('Too many pods');
  if (mask & CPU) reasons.push('Insufficient cpu');
  if (mask & MEMORY) reasons.push('Insufficient memory');
  if (mask & EPHEMERAL_STORAGE) reasons.push('Insufficient ephemeral-storage');
  return reasons.length === 0 ? undefined : reasons.length === 1 ? reasons[0] : Object.freeze(reasons);
});

export const nodeResourcesFitFilter: FilterPlugin = {
  name: 'NodeResourcesFit',
  filter(pod, node) {
    const want = pod.requests;
    const free = node.allocatable;
    const used = node.requested;
    let mask = 0;
    if (node.pods.size + 1 > free.pods) mask |= TOO_MANY_PODS;
    if (want.milliCPU > 0 && want.milliCPU > free.milliCPU - used.milliCPU) mask |= CPU;
    if (want.memory > 0 && want.memory > free.memory - used.memory) mask |= MEMORY;
    if (want.ephemeralStorage > 0 && want.ephemeralStorage > free.ephemeralStorage - used.ephemeralStorage) {
      mask |= EPHEMERAL_STORAGE;
    }
    return REASONS[mask];
  },
};
