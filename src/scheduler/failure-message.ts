import type { FilterResult } from './framework';

/**
 * The FailedScheduling message, exactly as kube-scheduler's FitError prints
 * it (without a preemption part: mk does not preempt):
 * `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector.`
 */

/** kube-scheduler's ErrNoNodesAvailable, reported instead when the cluster has no nodes at all. */
export const NO_NODES_AVAILABLE = 'no nodes available to schedule pods';

/** Adds the reasons of one node's FilterResult to the per-reason node counts. */
export function countReasons(reasons: Map<string, number>, result: FilterResult): void {
  if (result === undefined) return;
  if (typeof result === 'string') {
    reasons.set(result, (reasons.get(result) ?? 0) + 1);
    return;
  }
  for (const r of result) reasons.set(r, (reasons.get(r) ?? 0) + 1);
}

/**
 * The message for a pod that fits none of `totalNodes` nodes, given how many
 * nodes gave each reason. Entries are "<count> <reason>", sorted as strings
 * the way Go's sort.Strings does: by the whole entry, count first, so
 * "10 Too many pods" sorts before "2 Insufficient cpu".
 */
export function failureMessage(totalNodes: number, reasons: ReadonlyMap<string, number>): string {
  if (totalNodes === 0) return NO_NODES_AVAILABLE;
  const entries: string[] = [];
  for (const [reason, count] of reasons) entries.push(`${count} ${reason}`);
  // Plain code-unit order, which is Go's byte order for the ASCII reasons are written in.
  entries.sort();
  let message = `0/${totalNodes} nodes are available:`;
  if (entries.length > 0) message += ` ${entries.join(', ')}.`;
  return message;
}
