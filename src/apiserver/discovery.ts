import { Router } from 'express';
import { resourceTypes, virtualResourceTypes, type ResourceType } from '../api/registry';

/**
 * Discovery documents (/api, /api/v1, /apis, /apis/{group}, /apis/{group}/{version})
 * and /version, all derived from the registry so a client finds every kind
 * mk serves, with its verbs, short names, categories and subresources.
 */

/** The Kubernetes minor whose API mk implements; kubectl picks its release by it. */
export const KUBERNETES_VERSION = { major: '1', minor: '31', patch: '0' };

/** The kinds and verbs of each subresource, as Kubernetes advertises them. */
const SUBRESOURCES: Record<string, { kind: string; group?: string; version?: string; verbs: string[] }> = {
  status: { kind: '', verbs: ['get', 'patch', 'update'] },
  binding: { kind: 'Binding', verbs: ['create'] },
  scale: { kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] },
  finalize: { kind: '', verbs: ['update'] },
  log: { kind: 'Pod', verbs: ['get'] },
  exec: { kind: 'PodExecOptions', verbs: ['create', 'get'] },
  portforward: { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
};

function apiResources(rts: ResourceType[]): object[] {
  const out: object[] = [];
  for (const rt of rts) {
    out.push({
      name: rt.plural,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.verbs,
      ...(rt.shortNames.length ? { shortNames: rt.shortNames } : {}),
      ...(rt.categories.length ? { categories: rt.categories } : {}),
    });
    for (const sub of rt.subresources) {
      const s = SUBRESOURCES[sub];
      if (!s) continue;
      out.push({
        name: `${rt.plural}/${sub}`,
        singularName: '',
        namespaced: rt.namespaced,
        ...(s.group ? { group: s.group, version: s.version } : {}),
        kind: s.kind || rt.kind,
        verbs: s.verbs,
      });
    }
  }
  return out;
}

/** Every served kind by group ('' is core), then version: what discovery and /openapi both list. */
export function groupVersions(): Map<string, Map<string, ResourceType[]>> {
  const groups = new Map<string, Map<string, ResourceType[]>>();
  for (const rt of [...resourceTypes, ...virtualResourceTypes]) {
    if (!groups.has(rt.group)) groups.set(rt.group, new Map());
    const versions = groups.get(rt.group)!;
    if (!versions.has(rt.version)) versions.set(rt.version, []);
    versions.get(rt.version)!.push(rt);
  }
  return groups;
}

function apiGroup(name: string, versions: string[]): object {
  const list = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: list, preferredVersion: list[0] };
}

export function discoveryRouter(version: string): Router {
  const router = Router();
  const groups = groupVersions();
  const named = [...groups.keys()].filter((g) => g !== '');
  const json = (body: object) => JSON.stringify(body);

  const documents = new Map<string, string>();
  documents.set('/api', json({ kind: 'APIVersions', versions: [...(groups.get('')?.keys() ?? [])], serverAddressByClientCIDRs: [] }));
  for (const [v, rts] of groups.get('') ?? []) {
    documents.set(`/api/${v}`, json({ kind: 'APIResourceList', groupVersion: v, resources: apiResources(rts) }));
  }
  documents.set('/apis', json({
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: named.map((g) => apiGroup(g, [...groups.get(g)!.keys()])),
  }));
  for (const g of named) {
    documents.set(`/apis/${g}`, json({ kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g, [...groups.get(g)!.keys()]) }));
    for (const [v, rts] of groups.get(g)!) {
      documents.set(`/apis/${g}/${v}`, json({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${g}/${v}`, resources: apiResources(rts) }));
    }
  }
  const { major, minor, patch } = KUBERNETES_VERSION;
  documents.set('/version', json({
    major,
    minor,
    gitVersion: `v${major}.${minor}.${patch}+mk${version}`,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '1970-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'tsc',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  }));

  router.get(/.*/, (req, res, next) => {
    const doc = documents.get(req.path.replace(/\/$/, '') || '/');
    if (!doc) return next();
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(doc);
  });
  return router;
}
