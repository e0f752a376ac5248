import type { FilterPlugin } from '../framework';
import { tolerates } from './taint-toleration';

/**
 * NodeReady: only nodes whose Ready condition is True take new pods.
 *
 * kube-scheduler has no such filter any more: the node lifecycle controller
 * taints unready nodes (`node.kubernetes.io/not-ready`, or `unreachable` when
 * the kubelet stopped reporting) and TaintToleration keeps pods off. mk does
 * not depend on that controller, so this filter reads the condition itself
 * and lets through exactly the pods those taints would: the ones tolerating
 * them, such as DaemonSet pods.
 */

const REASON = 'node(s) were not ready';
const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';

export const nodeReadyFilter: FilterPlugin = {
  name: 'NodeReady',
  filter(pod, node) {
    const status = node.ready;
    if (status === 'True') return undefined;
    const taint = status === 'Unknown' ? UNREACHABLE_TAINT : NOT_READY_TAINT;
    return tolerates(pod.pod.spec?.tolerations, taint, '', 'NoSchedule') ? undefined : REASON;
  },
};
