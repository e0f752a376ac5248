import type { KubeObject, OwnerReference } from '../api/types';

/**
 * Pod templates as the workload controllers use them: the stable
 * `pod-template-hash` a Deployment names its ReplicaSets by, template
 * comparison that ignores that hash, and the pod a template stamps out.
 */

/** The label (and RS name suffix) that tells a Deployment's ReplicaSets apart. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

// apimachinery's rand.SafeEncodeString alphabet: no vowels (no words) and no
// look-alikes (0/o, 1/l/i), so a hash never spells anything.
const SAFE_ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/** JSON with keys sorted at every level, so equal objects print equally whatever their key order. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * The template as Go's typed structs see it: null, `{}` and `[]` are the
 * same as absent (kubectl sends `resources: {}` and `creationTimestamp:
 * null` after its typed round trip; apimachinery's semantic DeepEqual treats
 * nil and empty maps and slices as equal). Hashing and comparing this form
 * makes a template that came back through kubectl match its ReplicaSet.
 */
export function semanticForm(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(semanticForm);
    return items.length ? items : undefined;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const n = semanticForm(v);
      if (n !== undefined) out[k] = n;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return value === null ? undefined : value;
}

/** 32-bit FNV-1a, the hash Kubernetes' ComputeHash uses. */
function fnv32a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** apimachinery rand.SafeEncodeString: each character mapped into the safe alphabet. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHANUMS[s.charCodeAt(i) % SAFE_ALPHANUMS.length];
  return out;
}

/**
 * controller.ComputeHash: FNV-1a of the template (written out
 * deterministically), mixed with the Deployment's collisionCount when set,
 * rendered as a safe string. Equal templates always get the same hash;
 * bumping collisionCount gives a new name after a collision.
 */
export function computeHash(template: unknown, collisionCount?: number): string {
  const bytes = Buffer.from(stableStringify(semanticForm(template) ?? {}), 'utf8');
  let h = fnv32a(bytes);
  if (collisionCount != null) {
    const extra = Buffer.alloc(4);
    extra.writeUInt32LE(collisionCount >>> 0);
    h = fnv32a(extra, h);
  }
  return safeEncodeString(String(h));
}

function withoutHash(template: any): any {
  const copy = structuredClone(template ?? {});
  if (copy.metadata?.labels) {
    delete copy.metadata.labels[POD_TEMPLATE_HASH_LABEL];
    if (Object.keys(copy.metadata.labels).length === 0) delete copy.metadata.labels;
  }
  return copy;
}

/** The form EqualIgnoreHash compares: the template, semantically normalized, without the pod-template-hash label. */
export function comparableTemplate(template: unknown): string {
  return stableStringify(semanticForm(withoutHash(template)));
}

/** deploymentutil.EqualIgnoreHash: the templates are equal once the pod-template-hash label is left out of both. */
export function equalIgnoreHash(a: unknown, b: unknown): boolean {
  return comparableTemplate(a) === comparableTemplate(b);
}

const comparableTemplates = new Map<string, string>();
const COMPARABLE_TEMPLATES_KEPT = 10_000;

/**
 * comparableTemplate of a stored object's spec.template, remembered per
 * object version (uid + resourceVersion; a stored version never changes). A
 * Deployment sync compares its template with each of its ReplicaSets', and
 * it syncs on every change of their status.
 */
export function comparableTemplateOf(obj: KubeObject): string {
  const { uid, resourceVersion } = obj.metadata;
  if (!uid || !resourceVersion) return comparableTemplate(obj.spec?.template);
  const version = `${uid}/${resourceVersion}`;
  let found = comparableTemplates.get(version);
  if (found === undefined) {
    if (comparableTemplates.size >= COMPARABLE_TEMPLATES_KEPT) comparableTemplates.clear();
    found = comparableTemplate(obj.spec?.template);
    comparableTemplates.set(version, found);
  }
  return found;
}

/** A copy of the template with the pod-template-hash label set. */
export function templateWithHash(template: any, hash: string): any {
  const copy = structuredClone(template ?? {});
  copy.metadata ??= {};
  copy.metadata.labels = { ...(copy.metadata.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
  return copy;
}

/** A copy of the template with the pod-template-hash label removed (what a rollback copies into the Deployment). */
export function templateWithoutHash(template: any): any {
  return withoutHash(template);
}

/**
 * controller.GetPodFromTemplate: a pod to create from `template`, named
 * `<generateName>xxxxx` by the API server and controlled by `owner`.
 */
export function podFromTemplate(template: any, namespace: string, generateName: string, owner: OwnerReference): KubeObject {
  const t = structuredClone(template ?? {});
  const metadata = t.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName,
      namespace,
      ...(metadata.labels ? { labels: metadata.labels } : {}),
      ...(metadata.annotations ? { annotations: metadata.annotations } : {}),
      ...(metadata.finalizers ? { finalizers: metadata.finalizers } : {}),
      ownerReferences: [owner],
    },
    spec: t.spec ?? {},
  };
}
