import { apiVersionOf, resourceTypes, type ResourceType } from '../../src/api/registry';
import type * as https from 'node:https';
import type { TestServer } from '../helpers';
import { httpsRequest, podManifest } from '../helpers';

/**
 * What the integration suites share: the URL of a resource, spelled out the
 * Kubernetes way, and one valid manifest per kind the registry serves.
 */

/**
 * Server options for these suites: the API server alone. The in-process
 * scheduler would bind pods and write their conditions, and controllers
 * (garbage collector, namespace, workload controllers) would finalize,
 * annotate and delete objects: exactly what several tests here do (or check
 * nobody else does) by hand.
 */
export const API_ONLY = { disableScheduler: true, disableControllers: ['all'] };

/** `/api/v1/namespaces/{ns}/pods/{name}/{sub}`, `/apis/apps/v1/deployments`, ... */
export function pathOf(rt: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  let p = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  if (rt.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${rt.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** The registry row of a kind, by its plural. */
export function kind(plural: string): ResourceType {
  const rt = resourceTypes.find((r) => r.plural === plural);
  if (!rt) throw new Error(`no kind ${plural} in the registry`);
  return rt;
}

function podTemplate(app: string): any {
  return {
    metadata: { labels: { app } },
    spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
  };
}

/** The kind-specific part of a valid object of each kind (everything but apiVersion, kind, metadata). */
const bodies: Record<string, (name: string, namespace: string) => Record<string, any>> = {
  Namespace: () => ({}),
  Pod: (name) => ({ spec: podManifest(name).spec }),
  Node: () => ({ spec: { podCIDR: '10.42.0.0/24' } }),
  Service: (name) => ({ spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } }),
  Endpoints: () => ({ subsets: [{ addresses: [{ ip: '10.42.0.5' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }] }),
  ConfigMap: () => ({ data: { 'app.properties': 'color=blue\n' } }),
  Secret: () => ({ type: 'Opaque', data: { password: Buffer.from('s3cret').toString('base64') } }),
  Event: (name, namespace) => ({
    involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace, name },
    reason: 'Scheduled',
    message: `Successfully assigned ${namespace}/${name} to node-1`,
    type: 'Normal',
    source: { component: 'default-scheduler' },
    firstTimestamp: '2024-01-01T00:00:00Z',
    lastTimestamp: '2024-01-01T00:00:00Z',
    count: 1,
  }),
  ServiceAccount: () => ({}),
  Deployment: (name) => ({ spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: podTemplate(name) } }),
  ReplicaSet: (name) => ({ spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: podTemplate(name) } }),
  DaemonSet: (name) => ({ spec: { selector: { matchLabels: { app: name } }, template: podTemplate(name) } }),
  Lease: () => ({ spec: { holderIdentity: 'node-1', leaseDurationSeconds: 40 } }),
  Job: (name) => ({ spec: { completions: 1, template: { metadata: { labels: { app: name } }, spec: { ...podTemplate(name).spec, restartPolicy: 'Never' } } } }),
  CronJob: (name) => ({
    spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template: { metadata: { labels: { app: name } }, spec: { ...podTemplate(name).spec, restartPolicy: 'Never' } } } } },
  }),
  PriorityClass: () => ({ value: 1000, globalDefault: false, description: 'for tests' }),
};

/**
 * A valid manifest of `rt` named `name`, with `labels` (default `{app: name}`),
 * meant for `namespace` (which only shapes fields that must agree with it).
 */
export function manifest(rt: ResourceType, name: string, labels: Record<string, string> = { app: name }, namespace = 'default'): any {
  const body = bodies[rt.kind];
  if (!body) throw new Error(`no sample manifest for ${rt.kind}: add one to test/integration/fixtures.ts`);
  return { apiVersion: apiVersionOf(rt), kind: rt.kind, metadata: { name, labels }, ...body(name, namespace) };
}

/** An object's labels without the ones the server adds itself (namespaces get their name as a label). */
export function userLabels(obj: any): Record<string, string> {
  const { 'kubernetes.io/metadata.name': _own, ...rest } = obj?.metadata?.labels ?? {};
  return rest;
}

/** Creates an object and fails the test unless the server answered 201. */
export async function create(ts: TestServer, rt: ResourceType, namespace: string | undefined, obj: any): Promise<any> {
  const res = await ts.api('POST', pathOf(rt, namespace), obj);
  if (res.status !== 201) throw new Error(`create ${rt.plural} ${obj.metadata?.name}: ${res.status} ${res.text}`);
  return res.body;
}

/**
 * A Node whose status sends the API server's pod streams (log, exec,
 * portforward) to an agent listening on 127.0.0.1:`agentPort`, as a
 * registered agent's would.
 */
export async function createNodeAt(ts: TestServer, name: string, agentPort: number): Promise<void> {
  const nodes = kind('nodes');
  await create(ts, nodes, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name } });
  const res = await ts.api('PATCH', pathOf(nodes, undefined, name, 'status'), {
    status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: agentPort } } },
  }, MERGE_PATCH);
  if (res.status !== 200) throw new Error(`status of node ${name}: ${res.status} ${res.text}`);
}

/** The resourceVersion of an object or list, as a number for ordering checks. */
export function rv(obj: any): number {
  const v = Number(obj?.metadata?.resourceVersion);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`not a resourceVersion: ${JSON.stringify(obj?.metadata)}`);
  return v;
}

/** Asserts a response is a Kubernetes Status with this code and reason. */
export function expectStatus(res: { status: number; body: any; text: string }, code: number, reason: string): void {
  expect({ status: res.status, kind: res.body?.kind, code: res.body?.code, reason: res.body?.reason }).toEqual({
    status: code,
    kind: 'Status',
    code,
    reason,
  });
  expect(res.body).toMatchObject({ apiVersion: 'v1', status: 'Failure' });
  expect(typeof res.body.message).toBe('string');
}

/**
 * One request with exactly the headers given (no token added): for
 * authentication tests, and for servers the test spawned itself.
 */
export async function rawRequest(
  agent: https.Agent, url: string, method = 'GET', headers: Record<string, string> = {}, body?: string,
): Promise<{ status: number; body: any; text: string }> {
  const res = await httpsRequest(agent, method, url, headers, body);
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.statusCode ?? 0, body: parsed, text };
}

export const MERGE_PATCH = { 'Content-Type': 'application/merge-patch+json' };
export const JSON_PATCH = { 'Content-Type': 'application/json-patch+json' };
