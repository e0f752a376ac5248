import type { KubeObject, StatusCause } from './types';
import { tableColumns, type TableColumn } from './columns';
import { schemas, type JSONSchema } from './schemas';
import { defaulters } from './defaults';
import { semanticValidators } from './validation';

/**
 * One row per resource kind. The API server's router, discovery, validation,
 * defaulting, field selectors and table printing are all driven by this
 * table: adding a kind to mk is adding a row here (plus its schema, columns
 * and defaults in the neighbouring files), never writing a new router.
 */
export interface ResourceType {
  /** API group; '' is the legacy core group served under /api/v1. */
  group: string;
  version: string;
  kind: string;
  listKind: string;
  /** The URL path segment: `pods`, `deployments`. */
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /**
   * Subresources served for this kind. `status` also switches on the
   * spec/status split: the main resource ignores status changes and the
   * status subresource ignores everything but status.
   */
  subresources: string[];
  /** Fields usable in a fieldSelector besides metadata.name and metadata.namespace. */
  selectableFields: string[];
  /** The API verbs served, as discovery lists them; only `create` for kinds that are never stored. */
  verbs: string[];
  /** Whether spec changes bump metadata.generation (kinds with a spec do). */
  hasGeneration: boolean;
  /**
   * Whether a DELETE that removes the object answers with the object (Kubernetes' ReturnDeletedObject:
   * pods, services, service accounts, namespaces) rather than a `Status` of `Success` naming it.
   */
  returnDeletedObject?: boolean;
  columns: TableColumn[];
  schema: JSONSchema;
  /** Fills in defaults in place, the way the Kubernetes API server defaults on write. */
  defaults?: (obj: KubeObject) => void;
  /** Checks beyond the JSON schema (cross-field rules, immutable fields on update). */
  validate?: (obj: KubeObject, old?: KubeObject) => StatusCause[];
}

interface Row {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  subresources?: string[];
  selectableFields?: string[];
  hasGeneration?: boolean;
  returnDeletedObject?: boolean;
  verbs?: string[];
}

/** What a stored kind serves. */
export const STORED_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const rows: Row[] = [
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], subresources: ['status', 'finalize'], selectableFields: ['status.phase'], hasGeneration: false, returnDeletedObject: true },
  {
    group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], categories: ['all'],
    subresources: ['status', 'binding', 'log', 'exec', 'portforward'],
    selectableFields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
    hasGeneration: false,
    returnDeletedObject: true,
  },
  { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], subresources: ['status'], selectableFields: ['spec.unschedulable'], hasGeneration: false },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'], categories: ['all'], subresources: ['status'], hasGeneration: false, returnDeletedObject: true },
  { group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', namespaced: true, shortNames: ['ep'], hasGeneration: false },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'], hasGeneration: false },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, selectableFields: ['type'], hasGeneration: false },
  {
    group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'],
    selectableFields: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
    hasGeneration: false,
  },
  { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, shortNames: ['sa'], hasGeneration: false, returnDeletedObject: true },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, shortNames: ['deploy'], categories: ['all'], subresources: ['status', 'scale'] },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true, shortNames: ['rs'], categories: ['all'], subresources: ['status', 'scale'] },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true, shortNames: ['ds'], categories: ['all'], subresources: ['status'] },
  { group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', namespaced: true, categories: ['all'], subresources: ['status'] },
  { group: 'batch', version: 'v1', kind: 'CronJob', plural: 'cronjobs', namespaced: true, shortNames: ['cj'], categories: ['all'], subresources: ['status'] },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true, hasGeneration: false },
  { group: 'scheduling.k8s.io', version: 'v1', kind: 'PriorityClass', plural: 'priorityclasses', namespaced: false, shortNames: ['pc'], hasGeneration: false },
];

function build(row: Row): ResourceType {
  const key = row.group ? `${row.plural}.${row.group}` : row.plural;
  return {
    group: row.group,
    version: row.version,
    kind: row.kind,
    listKind: `${row.kind}List`,
    plural: row.plural,
    singular: row.kind.toLowerCase(),
    namespaced: row.namespaced,
    shortNames: row.shortNames ?? [],
    categories: row.categories ?? [],
    subresources: row.subresources ?? [],
    selectableFields: row.selectableFields ?? [],
    verbs: row.verbs ?? STORED_VERBS,
    hasGeneration: row.hasGeneration ?? true,
    returnDeletedObject: row.returnDeletedObject ?? false,
    columns: tableColumns[key] ?? [],
    schema: schemas[row.kind] ?? { type: 'object' },
    defaults: defaulters[row.kind],
    validate: semanticValidators[row.kind],
  };
}

/** The stored kinds: each has a watch cache, informers and controllers may list and watch it. */
export const resourceTypes: ResourceType[] = rows.map(build);

/**
 * Kinds that are served but never stored: a create answers a question about
 * the request in the returned object's status (Kubernetes' SelfSubject*Reviews),
 * and nothing can be read back. Discovery and the router see them; storage,
 * informers and controllers do not.
 */
export const virtualResourceTypes: ResourceType[] = [
  { group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectAccessReview', plural: 'selfsubjectaccessreviews', namespaced: false, hasGeneration: false, verbs: ['create'] },
  { group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectRulesReview', plural: 'selfsubjectrulesreviews', namespaced: false, hasGeneration: false, verbs: ['create'] },
].map(build);

/** `apps/v1`, or `v1` for the core group. */
export function apiVersionOf(rt: ResourceType): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

/** The store key prefix of a kind; every object of it lives below this. */
export function storagePrefix(rt: ResourceType): string {
  return rt.group ? `/registry/${rt.group}/${rt.plural}/` : `/registry/${rt.plural}/`;
}

/** The store key of one object. */
export function storageKey(rt: ResourceType, namespace: string | undefined, name: string): string {
  return rt.namespaced ? `${storagePrefix(rt)}${namespace}/${name}` : `${storagePrefix(rt)}${name}`;
}

const byGroupVersionPlural = new Map<string, ResourceType>();
const byApiVersionKind = new Map<string, ResourceType>();
for (const rt of [...resourceTypes, ...virtualResourceTypes]) {
  byGroupVersionPlural.set(`${rt.group}/${rt.version}/${rt.plural}`, rt);
  byApiVersionKind.set(`${apiVersionOf(rt)}/${rt.kind}`, rt);
}

/** The kind served at /api(s)/{group}/{version}/{plural}, if any. */
export function lookupResource(group: string, version: string, plural: string): ResourceType | undefined {
  return byGroupVersionPlural.get(`${group}/${version}/${plural}`);
}

/** The kind of a manifest's `apiVersion` + `kind`, if mk serves it. */
export function lookupKind(apiVersion: string, kind: string): ResourceType | undefined {
  return byApiVersionKind.get(`${apiVersion}/${kind}`);
}

/**
 * Resolves what a user typed (`po`, `pod`, `pods`, `Pod`, `deployments.apps`,
 * `deploy`) to a kind, the way kubectl's RESTMapper does.
 */
export function resolveResourceName(name: string): ResourceType | undefined {
  const lower = name.toLowerCase();
  const [base, ...groupParts] = lower.split('.');
  const group = groupParts.join('.');
  return resourceTypes.find(
    (rt) =>
      (!group || rt.group === group) &&
      (rt.plural === base || rt.singular === base || rt.shortNames.includes(base) || rt.kind.toLowerCase() === base),
  );
}

/** All kinds in a category such as `all`. */
export function resourcesInCategory(category: string): ResourceType[] {
  return resourceTypes.filter((rt) => rt.categories.includes(category));
}
