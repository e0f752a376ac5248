import { MAX_NODE_SCORE, SKIP, type ScorePlugin } from '../framework';

/**
 * OwnerSpread: prefer nodes running fewer pods of the same controller (the
 * pod's controlling owner, e.g. its ReplicaSet), so replicas spread out and
 * one node failing takes down as few of them as possible.
 *
 * It stands in for kube-scheduler's SelectorSpread, which counts the pods
 * matched by the selectors of the Services and controllers selecting the pod;
 * the controlling owner finds the same pods for the common case of one
 * controller per pod, without those informers. Zones are not weighed in.
 */

export const ownerSpreadScore: ScorePlugin = {
  name: 'OwnerSpread',
  weight: 2,
  prepare(pod) {
    return pod.ownerUid === undefined ? SKIP : undefined;
  },
  /** Pods of the same owner already on the node; normalize turns fewer into better. */
  score(pod, node) {
    return pod.ownerUid === undefined ? 0 : node.ownerCounts.get(pod.ownerUid) ?? 0;
  },
  /**
   * SelectorSpread's: 100 × (max - count) / max, all 100 when no node has any.
   * Computed in floating point as there (100 × 29/50 is 57 there, not 58).
   */
  normalize(scores) {
    let max = 0;
    for (const s of scores) if (s > max) max = s;
    for (let i = 0; i < scores.length; i++) {
      scores[i] = max === 0 ? MAX_NODE_SCORE : Math.trunc(MAX_NODE_SCORE * ((max - scores[i]) / max));
    }
  },
};
