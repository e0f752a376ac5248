import type { FilterPlugin } from '../framework';
import { tolerates } from './taint-toleration';

/**
 * NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes no new
 * pods, except those tolerating the `node.kubernetes.io/unschedulable`
 * NoSchedule taint that cordoning stands for.
 */

const REASON = 'node(s) were unschedulable';
const UNSCHEDULABLE_TAINT = 'node.kubernetes.io/unschedulable';

export const nodeUnschedulableFilter: FilterPlugin = {
  name: 'NodeUnschedulable',
  filter(pod, node) {
    if (!node.unschedulable) return undefined;
    return tolerates(pod.pod.spec?.tolerations, UNSCHEDULABLE_TAINT, '', 'NoSchedule') ? undefined : REASON;
  },
};
