import { SKIP, type FilterPlugin } from '../framework';

/**
 * NodeName: a pod naming a node in `spec.nodeName` fits that node only.
 * (Such pods normally bypass the scheduler; this covers the ones handed to it.)
 */

const REASON = "node(s) didn't match the requested node name";

export const nodeNameFilter: FilterPlugin = {
  name: 'NodeName',
  prepare(pod) {
    return pod.pod.spec?.nodeName ? undefined : SKIP;
  },
  filter(pod, node) {
    const wanted: string | undefined = pod.pod.spec?.nodeName;
    return !wanted || wanted === node.name ? undefined : REASON;
  },
};
