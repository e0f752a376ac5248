import type { KubeObject } from './types';
import { volumeSourceFields } from './schemas';

/**
 * Kubernetes' defaulting, applied in place to every object written (create
 * and update), before validation. It follows
 * k8s.io/kubernetes pkg/apis/core/v1/defaults.go and apps/v1/defaults.go, the
 * v1 conversions that fold fields together (Secret stringData, the deprecated
 * pod serviceAccount), and the admission plugins whose effect users see on
 * every pod: ServiceAccount (serviceAccountName default), Priority (priority
 * 0) and DefaultTolerationSeconds.
 *
 * Defaulters run before validation, so they must not throw on malformed
 * input (validation reports it); they are idempotent, and they touch only
 * what is missing, without cloning, because they run on every create.
 */

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const each = (v: unknown, fn: (item: Obj) => void): void => {
  if (Array.isArray(v)) for (const item of v) if (isObj(item)) fn(item);
};
/** Go decodes "" and an absent field alike, so both get the default. */
const unset = (v: unknown) => v === undefined || v === null || v === '';

let notReadyTolerationSeconds = 300;
let unreachableTolerationSeconds = 300;

/** The DefaultTolerationSeconds admission default, in seconds. */
export const DEFAULT_TOLERATION_SECONDS = 300;

/**
 * Sets how long pods tolerate node.kubernetes.io/not-ready and
 * .../unreachable NoExecute taints by default (kube-apiserver's
 * --default-not-ready-toleration-seconds and
 * --default-unreachable-toleration-seconds).
 */
export function setDefaultTolerationSeconds(notReady: number, unreachable = notReady): void {
  notReadyTolerationSeconds = notReady;
  unreachableTolerationSeconds = unreachable;
}

/** The tag of an image reference: `latest` when it has neither tag nor digest. */
function imageTag(image: string): string {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const colon = name.lastIndexOf(':');
  // A colon before the last slash belongs to a registry host:port.
  if (colon > name.lastIndexOf('/')) return name.slice(colon + 1);
  return at >= 0 || !image ? '' : 'latest';
}

function defaultHTTPGet(action: unknown): void {
  if (!isObj(action)) return;
  if (unset(action.path)) action.path = '/';
  if (unset(action.scheme)) action.scheme = 'HTTP';
}

function defaultProbe(probe: unknown): void {
  if (!isObj(probe)) return;
  if (!probe.timeoutSeconds) probe.timeoutSeconds = 1;
  if (!probe.periodSeconds) probe.periodSeconds = 10;
  if (!probe.successThreshold) probe.successThreshold = 1;
  if (!probe.failureThreshold) probe.failureThreshold = 3;
  defaultHTTPGet(probe.httpGet);
  if (isObj(probe.grpc) && probe.grpc.service == null) probe.grpc.service = '';
}

function defaultFieldRef(ref: unknown): void {
  if (isObj(ref) && unset(ref.apiVersion)) ref.apiVersion = 'v1';
}

function defaultContainer(c: Obj): void {
  if (unset(c.imagePullPolicy)) c.imagePullPolicy = imageTag(typeof c.image === 'string' ? c.image : '') === 'latest' ? 'Always' : 'IfNotPresent';
  if (unset(c.terminationMessagePath)) c.terminationMessagePath = '/dev/termination-log';
  if (unset(c.terminationMessagePolicy)) c.terminationMessagePolicy = 'File';
  each(c.ports, (p) => {
    if (unset(p.protocol)) p.protocol = 'TCP';
  });
  each(c.env, (e) => defaultFieldRef(e.valueFrom?.fieldRef));
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  if (isObj(c.lifecycle)) {
    defaultHTTPGet(c.lifecycle.postStart?.httpGet);
    defaultHTTPGet(c.lifecycle.preStop?.httpGet);
  }
}

const FILE_MODE_0644 = 0o644;

function defaultVolume(v: Obj): void {
  if (!volumeSourceFields.some((k) => v[k] != null)) v.emptyDir = {};
  if (isObj(v.hostPath) && v.hostPath.type == null) v.hostPath.type = '';
  for (const k of ['secret', 'configMap', 'downwardAPI', 'projected']) {
    if (isObj(v[k]) && v[k].defaultMode == null) v[k].defaultMode = FILE_MODE_0644;
  }
  each(v.downwardAPI?.items, (f) => defaultFieldRef(f.fieldRef));
  each(v.projected?.sources, (s) => {
    each(s.downwardAPI?.items, (f) => defaultFieldRef(f.fieldRef));
    if (isObj(s.serviceAccountToken) && s.serviceAccountToken.expirationSeconds == null) s.serviceAccountToken.expirationSeconds = 3600;
  });
}

/** SetDefaults_PodSpec plus container and volume defaults: what pods and pod templates share. */
function defaultPodSpec(spec: unknown): void {
  if (!isObj(spec)) return;
  if (unset(spec.dnsPolicy)) spec.dnsPolicy = 'ClusterFirst';
  if (unset(spec.restartPolicy)) spec.restartPolicy = 'Always';
  if (spec.securityContext == null) spec.securityContext = {};
  if (spec.terminationGracePeriodSeconds == null) spec.terminationGracePeriodSeconds = 30;
  if (unset(spec.schedulerName)) spec.schedulerName = 'default-scheduler';
  // The v1 conversion keeps the deprecated serviceAccount as an alias; serviceAccountName wins.
  if (unset(spec.serviceAccountName) && !unset(spec.serviceAccount)) spec.serviceAccountName = spec.serviceAccount;
  if (!unset(spec.serviceAccountName)) spec.serviceAccount = spec.serviceAccountName;
  each(spec.containers, defaultContainer);
  each(spec.initContainers, defaultContainer);
  each(spec.ephemeralContainers, defaultContainer);
  each(spec.volumes, defaultVolume);
}

/** Built-in PriorityClasses the Priority admission plugin knows without a lookup. */
const SYSTEM_PRIORITIES: Record<string, number> = {
  'system-node-critical': 2000001000,
  'system-cluster-critical': 2000000000,
};

function toleratesNoExecute(tolerations: Obj[], key: string): boolean {
  return tolerations.some((t) => (t.key === key || unset(t.key)) && (t.effect === 'NoExecute' || unset(t.effect)));
}

function defaultPod(pod: KubeObject): void {
  const spec = pod.spec;
  if (!isObj(spec)) return;
  defaultPodSpec(spec);

  for (const key of ['containers', 'initContainers']) {
    // Requests default to limits on pods only (SetDefaults_Pod), not on templates.
    each(spec[key], (c) => {
      const res = c.resources;
      if (!isObj(res) || !isObj(res.limits)) return;
      if (!isObj(res.requests)) res.requests = {};
      for (const [name, q] of Object.entries(res.limits)) if (res.requests[name] === undefined) res.requests[name] = q;
    });
  }
  if (spec.enableServiceLinks == null) spec.enableServiceLinks = true;
  if (spec.hostNetwork === true) {
    for (const key of ['containers', 'initContainers']) {
      each(spec[key], (c) =>
        each(c.ports, (p) => {
          if (!p.hostPort) p.hostPort = p.containerPort;
        }),
      );
    }
  }

  // ServiceAccount admission.
  if (unset(spec.serviceAccountName)) spec.serviceAccountName = spec.serviceAccount = 'default';

  // Priority admission; other PriorityClasses are resolved by their own admission.
  if (spec.priority == null && (unset(spec.priorityClassName) || spec.priorityClassName in SYSTEM_PRIORITIES)) {
    spec.priority = unset(spec.priorityClassName) ? 0 : SYSTEM_PRIORITIES[spec.priorityClassName];
  }
  if (spec.priority != null && unset(spec.preemptionPolicy)) spec.preemptionPolicy = 'PreemptLowerPriority';

  // DefaultTolerationSeconds admission.
  const tolerations: Obj[] = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  const add: Obj[] = [];
  if (!toleratesNoExecute(tolerations, 'node.kubernetes.io/not-ready')) {
    add.push({ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: notReadyTolerationSeconds });
  }
  if (!toleratesNoExecute(tolerations, 'node.kubernetes.io/unreachable')) {
    add.push({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: unreachableTolerationSeconds });
  }
  if (add.length && (Array.isArray(spec.tolerations) || spec.tolerations == null)) spec.tolerations = [...tolerations, ...add];
}

function defaultTemplate(spec: unknown): void {
  if (isObj(spec) && isObj(spec.template)) defaultPodSpec(spec.template.spec);
}

function defaultDeployment(d: KubeObject): void {
  const spec = d.spec;
  if (!isObj(spec)) return;
  if (spec.replicas == null) spec.replicas = 1;
  if (spec.strategy == null) spec.strategy = {};
  const strategy = spec.strategy;
  if (isObj(strategy)) {
    if (unset(strategy.type)) strategy.type = 'RollingUpdate';
    if (strategy.type === 'RollingUpdate') {
      if (strategy.rollingUpdate == null) strategy.rollingUpdate = {};
      const ru = strategy.rollingUpdate;
      if (isObj(ru)) {
        if (ru.maxUnavailable == null) ru.maxUnavailable = '25%';
        if (ru.maxSurge == null) ru.maxSurge = '25%';
      }
    }
  }
  if (spec.revisionHistoryLimit == null) spec.revisionHistoryLimit = 10;
  if (spec.progressDeadlineSeconds == null) spec.progressDeadlineSeconds = 600;
  defaultTemplate(spec);
}

function defaultReplicaSet(rs: KubeObject): void {
  if (!isObj(rs.spec)) return;
  if (rs.spec.replicas == null) rs.spec.replicas = 1;
  defaultTemplate(rs.spec);
}

function defaultDaemonSet(ds: KubeObject): void {
  const spec = ds.spec;
  if (!isObj(spec)) return;
  if (spec.updateStrategy == null) spec.updateStrategy = {};
  const strategy = spec.updateStrategy;
  if (isObj(strategy)) {
    if (unset(strategy.type)) strategy.type = 'RollingUpdate';
    if (strategy.type === 'RollingUpdate') {
      if (strategy.rollingUpdate == null) strategy.rollingUpdate = {};
      const ru = strategy.rollingUpdate;
      if (isObj(ru)) {
        if (ru.maxUnavailable == null) ru.maxUnavailable = 1;
        if (ru.maxSurge == null) ru.maxSurge = 0;
      }
    }
  }
  if (spec.revisionHistoryLimit == null) spec.revisionHistoryLimit = 10;
  defaultTemplate(spec);
}

/**
 * batch/v1 SetDefaults_Job plus the job REST strategy's generateSelector:
 * unless `manualSelector` is true, a new job selects its pods by its own uid
 * (`batch.kubernetes.io/controller-uid`), and the template carries that label
 * and the job name under both the current and the legacy keys.
 */
function defaultJob(job: KubeObject): void {
  const spec = job.spec;
  if (!isObj(spec)) return;
  if (spec.completions == null && spec.parallelism == null) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  if (spec.parallelism == null) spec.parallelism = 1;
  if (spec.backoffLimit == null) spec.backoffLimit = 6;
  if (unset(spec.completionMode)) spec.completionMode = 'NonIndexed';
  if (spec.suspend == null) spec.suspend = false;
  if (unset(spec.podReplacementPolicy)) spec.podReplacementPolicy = 'TerminatingOrFailed';
  const uid = job.metadata?.uid;
  const name = job.metadata?.name;
  if (spec.manualSelector !== true && spec.selector == null && uid && name && isObj(spec.template)) {
    const tmeta = isObj(spec.template.metadata) ? spec.template.metadata : (spec.template.metadata = {});
    const labels = isObj(tmeta.labels) ? tmeta.labels : (tmeta.labels = {});
    labels['batch.kubernetes.io/controller-uid'] = uid;
    labels['controller-uid'] = uid;
    labels['batch.kubernetes.io/job-name'] = name;
    labels['job-name'] = name;
    spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
  }
  defaultTemplate(spec);
}

function defaultCronJob(cj: KubeObject): void {
  const spec = cj.spec;
  if (!isObj(spec)) return;
  if (unset(spec.concurrencyPolicy)) spec.concurrencyPolicy = 'Allow';
  if (spec.suspend == null) spec.suspend = false;
  if (spec.successfulJobsHistoryLimit == null) spec.successfulJobsHistoryLimit = 3;
  if (spec.failedJobsHistoryLimit == null) spec.failedJobsHistoryLimit = 1;
  // The job template is defaulted as a job would be, except the selector (each job gets its own).
  const jobSpec = isObj(spec.jobTemplate) ? spec.jobTemplate.spec : undefined;
  if (isObj(jobSpec)) {
    if (jobSpec.completions == null && jobSpec.parallelism == null) {
      jobSpec.completions = 1;
      jobSpec.parallelism = 1;
    }
    if (jobSpec.parallelism == null) jobSpec.parallelism = 1;
    if (jobSpec.backoffLimit == null) jobSpec.backoffLimit = 6;
    if (unset(jobSpec.completionMode)) jobSpec.completionMode = 'NonIndexed';
    if (jobSpec.suspend == null) jobSpec.suspend = false;
    if (unset(jobSpec.podReplacementPolicy)) jobSpec.podReplacementPolicy = 'TerminatingOrFailed';
    defaultTemplate(jobSpec);
  }
}

function defaultService(svc: KubeObject): void {
  const spec = svc.spec;
  if (!isObj(spec)) return;
  if (unset(spec.sessionAffinity)) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP' && spec.sessionAffinityConfig?.clientIP?.timeoutSeconds == null) {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
  }
  if (unset(spec.type)) spec.type = 'ClusterIP';
  each(spec.ports, (p) => {
    if (unset(p.protocol)) p.protocol = 'TCP';
    if (p.targetPort == null || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  });
  const external = spec.type === 'NodePort' || spec.type === 'LoadBalancer' || (spec.type === 'ClusterIP' && Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0);
  if (external && unset(spec.externalTrafficPolicy)) spec.externalTrafficPolicy = 'Cluster';
  if (spec.internalTrafficPolicy == null && (spec.type === 'ClusterIP' || spec.type === 'NodePort' || spec.type === 'LoadBalancer')) {
    spec.internalTrafficPolicy = 'Cluster';
  }
  if (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts == null) spec.allocateLoadBalancerNodePorts = true;

  // What the service REST strategy and IP allocator fill in; mk serves single-stack IPv4.
  if (spec.type !== 'ExternalName') {
    if (!unset(spec.clusterIP) && !(Array.isArray(spec.clusterIPs) && spec.clusterIPs.length)) spec.clusterIPs = [spec.clusterIP];
    const selectorless = !isObj(spec.selector) || !Object.keys(spec.selector).length;
    const headlessSelectorless = spec.clusterIP === 'None' && selectorless;
    if (spec.ipFamilyPolicy == null) spec.ipFamilyPolicy = headlessSelectorless ? 'RequireDualStack' : 'SingleStack';
    if (!(Array.isArray(spec.ipFamilies) && spec.ipFamilies.length)) spec.ipFamilies = ['IPv4'];
    // A selectorless headless service may front endpoints of any family, even on a single-stack
    // cluster: unless SingleStack, it lists both (initIPFamilyFields' special case).
    if (headlessSelectorless && spec.ipFamilyPolicy !== 'SingleStack' && Array.isArray(spec.ipFamilies) && spec.ipFamilies.length === 1) {
      spec.ipFamilies = [...spec.ipFamilies, spec.ipFamilies[0] === 'IPv6' ? 'IPv4' : 'IPv6'];
    }
  }
}

function defaultSecret(secret: KubeObject): void {
  if (unset(secret.type)) secret.type = 'Opaque';
  // The v1 conversion merges write-only stringData into data, winning over it.
  if (isObj(secret.stringData)) {
    const entries = Object.entries(secret.stringData);
    if (entries.length) {
      if (!isObj(secret.data)) secret.data = {};
      for (const [k, v] of entries) secret.data[k] = Buffer.from(String(v ?? ''), 'utf8').toString('base64');
    }
  }
  // A malformed stringData stays for validation to report.
  if (secret.stringData == null || isObj(secret.stringData)) delete secret.stringData;
}

function defaultNamespace(ns: KubeObject): void {
  const meta = ns.metadata;
  if (isObj(meta) && meta.name) {
    if (meta.labels == null) meta.labels = {};
    if (isObj(meta.labels)) meta.labels['kubernetes.io/metadata.name'] = meta.name;
  }
  if (ns.spec == null) ns.spec = {};
  // Only a new namespace gets the finalizer: the namespace controller removes it
  // through the finalize subresource while the namespace terminates.
  if (isObj(ns.spec) && ns.spec.finalizers == null && !(isObj(meta) && meta.deletionTimestamp)) ns.spec.finalizers = ['kubernetes'];
  if (ns.status == null) ns.status = {};
  if (isObj(ns.status) && unset(ns.status.phase)) ns.status.phase = 'Active';
}

function defaultNode(node: KubeObject): void {
  const spec = node.spec;
  if (isObj(spec)) {
    // podCIDR is podCIDRs[0] in v1; either may be given.
    const cidrs = Array.isArray(spec.podCIDRs) ? spec.podCIDRs : [];
    if (!cidrs.length && !unset(spec.podCIDR)) spec.podCIDRs = [spec.podCIDR];
    else if (cidrs.length && unset(spec.podCIDR)) spec.podCIDR = cidrs[0];
  }
  const status = node.status;
  if (isObj(status) && status.allocatable == null && isObj(status.capacity)) status.allocatable = { ...status.capacity };
}

function defaultEndpoints(ep: KubeObject): void {
  each(ep.subsets, (ss) =>
    each(ss.ports, (p) => {
      if (unset(p.protocol)) p.protocol = 'TCP';
    }),
  );
}

/** Defaulting per kind, applied in place on create and update, as the Kubernetes API server does. */
export const defaulters: Record<string, (obj: KubeObject) => void> = {
  Namespace: defaultNamespace,
  Pod: defaultPod,
  Node: defaultNode,
  Service: defaultService,
  Endpoints: defaultEndpoints,
  Secret: defaultSecret,
  Deployment: defaultDeployment,
  ReplicaSet: defaultReplicaSet,
  DaemonSet: defaultDaemonSet,
  Job: defaultJob,
  CronJob: defaultCronJob,
};

const needsNodePorts = (spec: Obj) =>
  spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);

/**
 * A Service update that omits what the server allocated keeps it (the service
 * strategy's patchAllocatedValues): `kubectl replace` of a manifest without
 * clusterIP or nodePort must not look like a request to change them.
 */
function carryOverServiceAllocations(svc: KubeObject, old: KubeObject): void {
  const spec = svc.spec;
  const oldSpec = old.spec;
  if (!isObj(spec) || !isObj(oldSpec)) return;
  if (spec.type !== 'ExternalName' && oldSpec.type !== 'ExternalName') {
    if (unset(spec.clusterIP) && !unset(oldSpec.clusterIP)) spec.clusterIP = oldSpec.clusterIP;
    const ips = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
    if (Array.isArray(oldSpec.clusterIPs) && oldSpec.clusterIPs.length && (!ips.length || (ips.length === 1 && ips[0] === spec.clusterIP && spec.clusterIP === oldSpec.clusterIP))) {
      spec.clusterIPs = oldSpec.clusterIPs;
    }
  }
  if (needsNodePorts(spec) && needsNodePorts(oldSpec) && Array.isArray(spec.ports) && Array.isArray(oldSpec.ports)) {
    const used = new Set(spec.ports.map((p: Obj) => p?.nodePort).filter(Boolean));
    const byName = new Map<string, number>(oldSpec.ports.map((p: Obj) => [p?.name ?? '', p?.nodePort]));
    each(spec.ports, (p) => {
      const previous = byName.get(p.name ?? '');
      if (!p.nodePort && previous && !used.has(previous)) p.nodePort = previous;
    });
  }
  if (spec.healthCheckNodePort == null && oldSpec.healthCheckNodePort != null && spec.externalTrafficPolicy === 'Local') {
    spec.healthCheckNodePort = oldSpec.healthCheckNodePort;
  }
}

const sameList = (a: unknown, b: unknown) => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
const externallyAccessible = (spec: Obj) =>
  spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0);

/**
 * The service strategy's dropTypeDependentFields: a Service is a union
 * discriminated by `type`, so an update that switches to a type without
 * cluster IPs, node ports, a health check port or an external traffic policy
 * clears those fields, if the client sent them back unchanged (so
 * `kubectl edit` of the type alone works). The allocator then frees them.
 */
function dropTypeDependentFields(svc: KubeObject, old: KubeObject): void {
  const spec = svc.spec;
  const oldSpec = old.spec;
  if (!isObj(spec) || !isObj(oldSpec)) return;
  if (oldSpec.type !== 'ExternalName' && spec.type === 'ExternalName') {
    if ((spec.clusterIP ?? '') === (oldSpec.clusterIP ?? '') && sameList(spec.clusterIPs, oldSpec.clusterIPs)) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (sameList(spec.ipFamilies, oldSpec.ipFamilies)) delete spec.ipFamilies;
    if (spec.ipFamilyPolicy === oldSpec.ipFamilyPolicy) delete spec.ipFamilyPolicy;
  }
  if (needsNodePortsOf(oldSpec) && !needsNodePortsOf(spec) && Array.isArray(spec.ports)) {
    const oldPorts = new Set((Array.isArray(oldSpec.ports) ? oldSpec.ports : []).map((p: Obj) => p?.nodePort).filter(Boolean));
    const added = spec.ports.some((p: Obj) => isObj(p) && p.nodePort && !oldPorts.has(p.nodePort));
    if (!added) each(spec.ports, (p) => delete p.nodePort);
  }
  const needsHealthCheck = (s: Obj) => s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
  if (needsHealthCheck(oldSpec) && !needsHealthCheck(spec) && spec.healthCheckNodePort === oldSpec.healthCheckNodePort) delete spec.healthCheckNodePort;
  if (oldSpec.type === 'LoadBalancer' && spec.type !== 'LoadBalancer') {
    if (spec.allocateLoadBalancerNodePorts != null && spec.allocateLoadBalancerNodePorts === oldSpec.allocateLoadBalancerNodePorts) delete spec.allocateLoadBalancerNodePorts;
    if (spec.loadBalancerClass === oldSpec.loadBalancerClass) delete spec.loadBalancerClass;
  }
  if (externallyAccessible(oldSpec) && !externallyAccessible(spec) && spec.externalTrafficPolicy === oldSpec.externalTrafficPolicy) {
    delete spec.externalTrafficPolicy;
  }
}

const needsNodePortsOf = (spec: Obj) => spec.type === 'NodePort' || spec.type === 'LoadBalancer';

/**
 * Update-only defaulting: values a client may leave out of an update because
 * the server assigned them. `validateObject` applies these before checking
 * an update, so callers need not.
 */
export const updateDefaulters: Record<string, (obj: KubeObject, old: KubeObject) => void> = {
  Service: (svc, old) => {
    dropTypeDependentFields(svc, old);
    carryOverServiceAllocations(svc, old);
  },
};
