import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError } from '../client/api-client';
import type { Informer } from '../client/informer';
import { objectKey, splitKey, type ControllerContext, type Reconciler, type Result } from './controller';
import type { SharedInformers } from './informers';
import type { ControllerFactory } from './manager';
import { isPodReady, isPodTerminal } from './replicaset-controller';

const PODS = resolveResourceName('pods')!;
const SERVICES = resolveResourceName('services')!;
const ENDPOINTS = resolveResourceName('endpoints')!;

/** The label the endpoints controller puts on the Endpoints of headless Services. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

type Obj = Record<string, any>;

export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: { kind: string; namespace?: string; name?: string; uid?: string };
}

export interface EndpointPort {
  name?: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}

/** Whether a Service's selector (a plain label map) selects these labels. */
function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
  return true;
}

/** The selector the controller acts on: none (absent or empty) means the Endpoints are someone else's. */
function selectorOf(svc: KubeObject): Record<string, string> | undefined {
  const sel = svc.spec?.selector;
  return sel && typeof sel === 'object' && Object.keys(sel).length ? sel : undefined;
}

const isHeadless = (svc: KubeObject) => svc.spec?.clusterIP === 'None';

/**
 * endpointsliceutil.ShouldPodBeInEndpoints: terminal pods and pods without
 * an IP never are; terminating ones only when the Service publishes
 * not-ready addresses.
 */
export function shouldPodBeInEndpoints(pod: KubeObject, includeTerminating: boolean): boolean {
  if (isPodTerminal(pod)) return false;
  if (!pod.status?.podIP && !(pod.status?.podIPs ?? []).length) return false;
  if (!includeTerminating && pod.metadata.deletionTimestamp) return false;
  return true;
}

/**
 * podutil.FindPort: a numeric targetPort is used as is; a named one is the
 * containerPort of that name and the service port's protocol, in the
 * containers or the restartable (sidecar) init containers. Undefined when
 * the pod has no such port (it is then left out for that port).
 */
export function findPort(pod: KubeObject, servicePort: Obj): number | undefined {
  const target = servicePort.targetPort ?? servicePort.port;
  if (typeof target === 'number') return target;
  if (typeof target === 'string' && /^\d+$/.test(target)) return Number(target);
  const protocol = servicePort.protocol ?? 'TCP';
  const containers: Obj[] = [
    ...(pod.spec?.containers ?? []),
    ...(pod.spec?.initContainers ?? []).filter((c: Obj) => c?.restartPolicy === 'Always'),
  ];
  for (const c of containers) {
    for (const p of c?.ports ?? []) {
      if (p?.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
    }
  }
  return undefined;
}

function podAddress(svc: KubeObject, pod: KubeObject): EndpointAddress {
  const address: EndpointAddress = { ip: pod.status?.podIP ?? pod.status?.podIPs?.[0]?.ip };
  // A pod with a hostname and the service as its subdomain gets a DNS name under the service (ShouldSetHostname).
  if (pod.spec?.hostname && pod.spec?.subdomain === svc.metadata.name && pod.metadata.namespace === svc.metadata.namespace) {
    address.hostname = pod.spec.hostname;
  }
  if (pod.spec?.nodeName) address.nodeName = pod.spec.nodeName;
  address.targetRef = { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
  return address;
}

const addressKey = (a: EndpointAddress) => `${a.ip}\u0000${a.targetRef?.uid ?? ''}`;
const portKey = (p: EndpointPort) => `${p.name ?? ''}\u0000${p.port}\u0000${p.protocol}\u0000${p.appProtocol ?? ''}`;
const compareStrings = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const compareAddresses = (a: EndpointAddress, b: EndpointAddress) => compareStrings(a.ip, b.ip) || compareStrings(a.targetRef?.uid ?? '', b.targetRef?.uid ?? '');
const comparePorts = (a: EndpointPort, b: EndpointPort) => compareStrings(portKey(a), portKey(b));

/**
 * The subsets of a Service's Endpoints from the pods it selects, as the
 * endpoints controller computes them: every (pod, port) pair the pod can
 * serve, ready or not, then RepackSubsets: addresses that serve the same set
 * of ports share one subset. An address ready on a port wins over the same
 * address not ready on it. The result is sorted, so an unchanged world gives
 * an identical object (and no write).
 */
export function computeSubsets(svc: KubeObject, pods: KubeObject[]): EndpointSubset[] {
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const servicePorts: Obj[] = svc.spec?.ports ?? [];
  // port key -> address key -> ready
  const byPort = new Map<string, { port?: EndpointPort; ready: Map<string, boolean> }>();
  const addresses = new Map<string, EndpointAddress>();
  const add = (address: EndpointAddress, port: EndpointPort | undefined, ready: boolean) => {
    const ak = addressKey(address);
    if (!addresses.has(ak)) addresses.set(ak, address);
    const pk = port ? portKey(port) : '';
    let entry = byPort.get(pk);
    if (!entry) byPort.set(pk, (entry = { port, ready: new Map() }));
    if (!entry.ready.get(ak)) entry.ready.set(ak, ready);
  };

  for (const pod of pods) {
    if (!shouldPodBeInEndpoints(pod, publishNotReady)) continue;
    const address = podAddress(svc, pod);
    const ready = publishNotReady || isPodReady(pod);
    if (servicePorts.length === 0) {
      // Headless services may have no ports: their addresses are listed alone.
      if (isHeadless(svc)) add(address, undefined, ready);
      continue;
    }
    for (const sp of servicePorts) {
      const port = findPort(pod, sp);
      if (port === undefined) continue;
      const ep: EndpointPort = { name: sp.name || undefined, port, protocol: sp.protocol ?? 'TCP' };
      if (sp.appProtocol) ep.appProtocol = sp.appProtocol;
      if (ep.name === undefined) delete ep.name;
      add(address, ep, ready);
    }
  }

  // Group ports by the exact set of (address, readiness) that serves them.
  const groups = new Map<string, { ports: EndpointPort[]; ready: Map<string, boolean> }>();
  for (const { port, ready } of byPort.values()) {
    const signature = [...ready.entries()].map(([k, r]) => `${k}\u0000${r ? 1 : 0}`).sort().join('\u0001');
    let group = groups.get(signature);
    if (!group) groups.set(signature, (group = { ports: [], ready }));
    if (port) group.ports.push(port);
  }
  const subsets: EndpointSubset[] = [];
  for (const { ports, ready } of groups.values()) {
    const readyAddrs: EndpointAddress[] = [];
    const notReady: EndpointAddress[] = [];
    for (const [k, r] of ready) (r ? readyAddrs : notReady).push(addresses.get(k)!);
    const subset: EndpointSubset = {};
    if (readyAddrs.length) subset.addresses = readyAddrs.sort(compareAddresses);
    if (notReady.length) subset.notReadyAddresses = notReady.sort(compareAddresses);
    if (ports.length) subset.ports = ports.sort(comparePorts);
    subsets.push(subset);
  }
  const subsetKey = (s: EndpointSubset) =>
    JSON.stringify([(s.addresses ?? []).map(addressKey), (s.notReadyAddresses ?? []).map(addressKey), (s.ports ?? []).map(portKey)]);
  return subsets.sort((a, b) => compareStrings(subsetKey(a), subsetKey(b)));
}

/** The fields of a pod its Endpoints depend on: a pod update that changes none of them is not looked at. */
function endpointsFingerprint(pod: KubeObject): string {
  return JSON.stringify([
    pod.status?.podIP,
    pod.status?.podIPs,
    isPodReady(pod),
    isPodTerminal(pod),
    !!pod.metadata.deletionTimestamp,
    pod.spec?.nodeName,
    pod.spec?.hostname,
    pod.spec?.subdomain,
  ]);
}

/** JSON with object keys sorted: the stored Endpoints may list fields in another order than computeSubsets. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v));
}

const sameLabels = (a: Record<string, string> | undefined, b: Record<string, string> | undefined) =>
  JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());

/**
 * The endpoints controller (pkg/controller/endpoint): keeps one Endpoints
 * object per Service with a selector, named like the Service, listing the
 * pods it selects: ready ones under `addresses`, the others under
 * `notReadyAddresses`, with the ports each serves. Services without a
 * selector, and ExternalName Services, are left to whoever manages their
 * Endpoints; the Endpoints of a deleted Service are deleted.
 *
 * Requeue rules: a failed write (a conflict with a stale cache included)
 * throws and is retried with backoff; otherwise nothing is requeued, since
 * every change of a selected pod enqueues its Services.
 */
export class EndpointsController implements Reconciler {
  readonly name = 'endpoint';
  private services!: Informer;
  private pods!: Informer;
  private endpoints!: Informer;

  constructor(private readonly ctx: ControllerContext) {}

  setup(informers: SharedInformers, enqueue: (key: string) => void): void {
    this.services = informers.for(SERVICES);
    this.pods = informers.for(PODS);
    this.endpoints = informers.for(ENDPOINTS);
    this.services.on({
      add: (svc) => enqueue(objectKey(svc)),
      update: (_old, svc) => enqueue(objectKey(svc)),
      delete: (svc) => enqueue(objectKey(svc)),
    });
    const enqueueSelecting = (pod: KubeObject, also?: KubeObject) => {
      for (const svc of this.services.list()) {
        if (svc.metadata.namespace !== pod.metadata.namespace) continue;
        const selector = selectorOf(svc);
        if (!selector) continue;
        if (selects(selector, pod.metadata.labels) || (also && selects(selector, also.metadata.labels))) enqueue(objectKey(svc));
      }
    };
    this.pods.on({
      add: (pod) => enqueueSelecting(pod),
      update: (old, pod) => {
        const relabelled = !sameLabels(old.metadata.labels, pod.metadata.labels);
        if (relabelled) enqueueSelecting(pod, old);
        else if (endpointsFingerprint(old) !== endpointsFingerprint(pod)) enqueueSelecting(pod);
      },
      delete: (pod) => enqueueSelecting(pod),
    });
    this.endpoints.on({
      // Endpoints found at start may belong to Services deleted while the controller was down
      // (checkLeftoverEndpoints); later adds are the controller's own writes or someone else's.
      add: (ep) => {
        if (!this.endpoints.synced) enqueue(objectKey(ep));
      },
      // Deleted by hand while its Service exists: put it back.
      delete: (ep) => enqueue(objectKey(ep)),
    });
  }

  async reconcile(key: string): Promise<Result | void> {
    const { namespace, name } = splitKey(key);
    const svc = this.services.get(key);
    if (!svc) {
      try {
        await this.ctx.client.delete(ENDPOINTS, namespace, name);
      } catch (err) {
        if (!ApiStatusError.isNotFound(err)) throw err;
      }
      return;
    }
    if (svc.spec?.type === 'ExternalName') return;
    const selector = selectorOf(svc);
    if (!selector) return;

    const pods = this.pods.list().filter((p) => p.metadata.namespace === namespace && selects(selector, p.metadata.labels));
    const subsets = computeSubsets(svc, pods);
    const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
    if (isHeadless(svc)) labels[HEADLESS_LABEL] = '';
    else delete labels[HEADLESS_LABEL];

    const current = this.endpoints.get(key);
    if (current && canonical(current.subsets ?? []) === canonical(subsets) && sameLabels(current.metadata.labels, labels)) return;
    if (!current) {
      try {
        await this.ctx.client.create(ENDPOINTS, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace, labels }, subsets });
      } catch (err) {
        // The namespace is going away: nothing to keep up to date.
        if (err instanceof ApiStatusError && err.code === 403) return;
        throw err;
      }
      return;
    }
    await this.ctx.client.update(ENDPOINTS, { ...current, metadata: { ...current.metadata, labels }, subsets });
  }
}

export const endpointsControllerFactory: ControllerFactory = {
  name: 'endpoint',
  create: (ctx) => new EndpointsController(ctx),
  workers: 4,
};
