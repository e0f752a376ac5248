/**
 * JSON with object keys sorted and null-valued keys left out, so equal
 * values give equal strings (hashes, change detection). Null and absent
 * count as the same, as the API server may drop nulls it stores
 * (`lastProbeTime: null`).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) if (v[k] !== null) sorted[k] = v[k];
    return sorted;
  });
}
