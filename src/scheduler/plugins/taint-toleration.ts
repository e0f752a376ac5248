import { defaultNormalizeScore, type FilterPlugin, type ScorePlugin } from '../framework';

/**
 * TaintToleration: a node's NoSchedule and NoExecute taints keep off every
 * pod that does not tolerate them (filter); PreferNoSchedule taints only make
 * the node less attractive, the more of them the pod does not tolerate (score).
 */

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

/**
 * core/v1 `Toleration.ToleratesTaint`: an empty effect matches every effect,
 * an empty key (which validation allows only with Exists) every key; Equal
 * (the default operator) also compares values, Exists does not.
 */
export function toleratesTaint(t: Toleration, key: string, value: string, effect: string): boolean {
  if (t.effect && t.effect !== effect) return false;
  if (t.key && t.key !== key) return false;
  switch (t.operator ?? '') {
    case '':
    case 'Equal':
      return (t.value ?? '') === value;
    case 'Exists':
      return true;
    default:
      return false;
  }
}

/** Whether any of `tolerations` (a pod's spec.tolerations, possibly absent) tolerates the taint. */
export function tolerates(
  tolerations: readonly Toleration[] | undefined,
  key: string,
  value: string,
  effect: string,
): boolean {
  if (!tolerations) return false;
  for (const t of tolerations) if (toleratesTaint(t, key, value, effect)) return true;
  return false;
}

export const taintTolerationFilter: FilterPlugin = {
  name: 'TaintToleration',
  filter(pod, node) {
    const taints = node.taints as Taint[] | undefined;
    if (!taints || taints.length === 0) return undefined;
    const tolerations: Toleration[] | undefined = pod.pod.spec?.tolerations;
    for (const taint of taints) {
      if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
      const value = taint.value ?? '';
      if (!tolerates(tolerations, taint.key, value, taint.effect)) {
        return `node(s) had untolerated taint {${taint.key}: ${value}}`;
      }
    }
    return undefined;
  },
};

export const taintTolerationScore: ScorePlugin = {
  name: 'TaintToleration',
  weight: 3,
  /** The number of PreferNoSchedule taints the pod does not tolerate; fewer is better. */
  score(pod, node) {
    const taints = node.taints as Taint[] | undefined;
    if (!taints || taints.length === 0) return 0;
    const tolerations: Toleration[] | undefined = pod.pod.spec?.tolerations;
    let intolerable = 0;
    for (const taint of taints) {
      if (taint.effect === 'PreferNoSchedule' && !tolerates(tolerations, taint.key, taint.value ?? '', taint.effect)) {
        intolerable++;
      }
    }
    return intolerable;
  },
  normalize(scores) {
    defaultNormalizeScore(scores, true);
  },
};
