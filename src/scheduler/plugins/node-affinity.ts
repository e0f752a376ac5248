import {
  labelSelectorFromObject,
  matchesLabels,
  qualifiedNameErrors,
  type LabelRequirement,
  type LabelSelector,
} from '../../api/selectors';
import {
  defaultNormalizeScore,
  SKIP,
  type CycleState,
  type FilterPlugin,
  type NodeInfo,
  type PodInfo,
  type ScorePlugin,
} from '../framework';

/**
 * NodeAffinity: `spec.nodeSelector` and the required node affinity must both
 * match a node for the pod to fit it (filter); each preferred term that
 * matches adds its weight to the node's score.
 *
 * Semantics are component-helpers' `nodeaffinity`: node selector terms are
 * ORed, the expressions and fields inside one term ANDed; a term with
 * neither matches nothing; a term that does not parse matches nothing while
 * the other terms still count.
 */

const REASON = "node(s) didn't match Pod's node affinity/selector";
const FILTER_STATE = 'NodeAffinity/required';
const SCORE_STATE = 'NodeAffinity/preferred';

interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

/** One node selector term, parsed. */
interface Term {
  /** matchExpressions against the node's labels; undefined when the term has none. */
  labels?: LabelSelector;
  /** matchFields: `metadata.name` In/NotIn one value, the only field Kubernetes supports. */
  fields?: { name: string; in: boolean }[];
}

interface Required {
  /** spec.nodeSelector as [key, value] pairs. */
  nodeSelector: [string, string][];
  /** The required terms, ORed; undefined when the pod has no required node affinity. */
  terms?: Term[];
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A Gt/Lt requirement; labelSelectorFromObject knows only the set operators metav1 selectors have. */
function boundRequirement(r: NodeSelectorRequirement): LabelRequirement {
  const values = r.values ?? [];
  if (qualifiedNameErrors(r.key).length > 0 || values.length !== 1 || !/^[+-]?[0-9]+$/.test(values[0])) {
    throw new Error(`invalid ${r.operator} requirement on ${JSON.stringify(r.key)}`);
  }
  const bound = BigInt(values[0]);
  if (bound < INT64_MIN || bound > INT64_MAX) throw new Error(`invalid ${r.operator} value ${values[0]}`);
  return { key: r.key, operator: r.operator === 'Gt' ? 'gt' : 'lt', values, bound };
}

/** nodeaffinity's `nodeSelectorRequirementsAsSelector`. @throws when an expression is invalid. */
function expressionsSelector(exprs: NodeSelectorRequirement[]): LabelSelector {
  const setBased = exprs.filter((e) => e.operator !== 'Gt' && e.operator !== 'Lt');
  const bounds = exprs.filter((e) => e.operator === 'Gt' || e.operator === 'Lt').map(boundRequirement);
  const base = setBased.length > 0 ? labelSelectorFromObject({ matchExpressions: setBased }).requirements : [];
  return { type: 'label', requirements: [...base, ...bounds], matchesNothing: false };
}

/** A parsed term, or undefined when it matches nothing (empty, or invalid). */
function parseTerm(t: NodeSelectorTerm | null | undefined): Term | undefined {
  const exprs = t?.matchExpressions ?? [];
  const fields = t?.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return undefined;
  try {
    const term: Term = {};
    if (exprs.length > 0) term.labels = expressionsSelector(exprs);
    if (fields.length > 0) {
      term.fields = fields.map((f) => {
        const ok = f.key === 'metadata.name' && (f.operator === 'In' || f.operator === 'NotIn') && f.values?.length === 1;
        if (!ok) throw new Error(`unsupported matchFields requirement on ${JSON.stringify(f.key)}`);
        return { name: f.values![0], in: f.operator === 'In' };
      });
    }
    return term;
  } catch {
    return undefined;
  }
}

function termMatches(term: Term, node: NodeInfo): boolean {
  if (term.labels && !matchesLabels(term.labels, node.labels)) return false;
  if (term.fields) for (const f of term.fields) if ((node.name === f.name) !== f.in) return false;
  return true;
}

/** What the filter checks for this pod; null when it has neither a node selector nor required affinity. */
function required(pod: PodInfo, state: CycleState): Required | null {
  let r = state.get(FILTER_STATE) as Required | null | undefined;
  if (r !== undefined) return r;
  const spec = pod.pod.spec ?? {};
  const nodeSelector = Object.entries((spec.nodeSelector ?? {}) as Record<string, string>);
  const req = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  r = null;
  if (nodeSelector.length > 0 || req) {
    r = { nodeSelector };
    if (req) {
      // An invalid or empty term drops out; no terms left means no node matches.
      r.terms = [];
      for (const t of req.nodeSelectorTerms ?? []) {
        const term = parseTerm(t);
        if (term) r.terms.push(term);
      }
    }
  }
  state.set(FILTER_STATE, r);
  return r;
}

export const nodeAffinityFilter: FilterPlugin = {
  name: 'NodeAffinity',
  prepare(pod, state) {
    return required(pod, state) === null ? SKIP : undefined;
  },
  filter(pod, node, state) {
    const r = required(pod, state);
    if (r === null) return undefined;
    const labels = node.labels;
    for (const [key, value] of r.nodeSelector) if (labels[key] !== value) return REASON;
    if (!r.terms) return undefined;
    for (const term of r.terms) if (termMatches(term, node)) return undefined;
    return REASON;
  },
};

interface Preferred {
  term: Term;
  weight: number;
}

/** The preferred terms worth checking (weight 0 and empty terms never score); null when there are none. */
function preferred(pod: PodInfo, state: CycleState): Preferred[] | null {
  let p = state.get(SCORE_STATE) as Preferred[] | null | undefined;
  if (p !== undefined) return p;
  p = [];
  for (const t of pod.pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    const term = t?.weight ? parseTerm(t.preference) : undefined;
    if (term) p.push({ term, weight: t.weight });
  }
  if (p.length === 0) p = null;
  state.set(SCORE_STATE, p);
  return p;
}

export const nodeAffinityScore: ScorePlugin = {
  name: 'NodeAffinity',
  weight: 2,
  prepare(pod, state) {
    return preferred(pod, state) === null ? SKIP : undefined;
  },
  /** The sum of the weights of the preferred terms the node matches. */
  score(pod, node, state) {
    const p = preferred(pod, state);
    if (p === null) return 0;
    let sum = 0;
    for (const { term, weight } of p) if (termMatches(term, node)) sum += weight;
    return sum;
  },
  normalize(scores) {
    defaultNormalizeScore(scores, false);
  },
};
