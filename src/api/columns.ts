import type { KubeObject } from './types';
import { labelSelectorFromObject, labelSelectorToString, type LabelSelectorObject } from './selectors';

/**
 * A column of `mk get` / `kubectl get` output, as the server's Table
 * (meta.k8s.io/v1) describes it. priority 0 columns are always shown,
 * priority 1 only with `-o wide`.
 */
export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description: string;
  priority: number;
  /** The cell for one object; `now` (ms) is passed so AGE is computed against one clock. */
  cell(obj: KubeObject, now: number): string | number | boolean;
}

// ---------------------------------------------------------------------------
// Formatting helpers shared by the columns and by `mk describe`.
// ---------------------------------------------------------------------------

/**
 * kubectl's `duration.HumanDuration`: ~2-3 significant figures, so an age
 * reads `45s`, `2m10s`, `25m`, `5h10m`, `3d4h`, `120d`, `2y30d`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  // A clock skew of up to two seconds still reads as "now".
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.trunc(hours / 24);
    const dy = days % 365;
    return dy === 0 ? `${Math.trunc(days / 365)}y` : `${Math.trunc(days / 365)}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** kubectl's `translateTimestampSince`: the age of an RFC 3339 timestamp, `<unknown>` when unset. */
export function translateTimestampSince(timestamp: string | undefined | null, now: number): string {
  if (!timestamp) return '<unknown>';
  const t = Date.parse(timestamp);
  if (Number.isNaN(t)) return '<unknown>';
  return humanDuration(now - t);
}

/** `labels.FormatLabels`: `a=b,c=d` sorted by key, `<none>` when empty. */
export function formatLabels(labels: Record<string, string> | undefined | null): string {
  const keys = Object.keys(labels ?? {}).sort();
  if (keys.length === 0) return '<none>';
  return keys.map((k) => `${k}=${labels![k]}`).join(',');
}

/**
 * A `metav1.LabelSelector` as `labels.Selector.String()` renders it
 * (`app=web,tier in (a,b),!legacy`); '' when it selects everything or
 * nothing, `<invalid>` when it does not parse.
 */
export function labelSelectorString(selector: LabelSelectorObject | undefined | null): string {
  try {
    return labelSelectorToString(labelSelectorFromObject(selector));
  } catch {
    return '<invalid>';
  }
}

/** `metav1.FormatLabelSelector`: like labelSelectorString but `<none>` when empty. */
export function formatLabelSelector(selector: LabelSelectorObject | undefined | null): string {
  return labelSelectorString(selector) || '<none>';
}

/** CONTAINERS and IMAGES cells of a pod template: names and images joined with commas. */
export function containerCells(podSpec: any): { names: string; images: string } {
  const containers: any[] = podSpec?.containers ?? [];
  return {
    names: containers.map((c) => c.name ?? '').join(','),
    images: containers.map((c) => c.image ?? '').join(','),
  };
}

// ---------------------------------------------------------------------------
// Pods
// ---------------------------------------------------------------------------

export interface PodSummary {
  /** READY: `ready/total`. */
  ready: string;
  /** STATUS: the aggregate reason kubectl shows (`Running`, `Init:0/1`, `CrashLoopBackOff`, ...). */
  status: string;
  restartCount: number;
  /** RESTARTS: `3` or `3 (2m ago)`. */
  restarts: string;
}

function isRestartableInitContainer(container: any): boolean {
  return container?.restartPolicy === 'Always';
}

function conditionTrue(conditions: any[] | undefined, type: string): boolean {
  const c = (conditions ?? []).find((x) => x.type === type);
  return c?.status === 'True';
}

function terminatedAt(cs: any): number {
  const finished = cs?.lastState?.terminated?.finishedAt;
  const t = finished ? Date.parse(finished) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/**
 * READY, STATUS and RESTARTS of a pod, computed the way kubectl's
 * `printPod` does: the phase unless a more telling reason exists (a
 * waiting or terminated container, an init container still running,
 * a deletion in progress).
 */
export function podSummary(pod: KubeObject, now: number): PodSummary {
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  const initSpecs: any[] = spec.initContainers ?? [];
  const initStatuses: any[] = status.initContainerStatuses ?? [];
  const containerStatuses: any[] = status.containerStatuses ?? [];

  let restarts = 0;
  let restartableInitRestarts = 0;
  let totalContainers = (spec.containers ?? []).length;
  let readyContainers = 0;
  let lastRestart = 0;
  let lastRestartableInitRestart = 0;

  const phase: string = status.phase ?? '';
  let reason: string = status.reason || phase;

  for (const c of status.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }

  const initByName = new Map<string, any>();
  for (const c of initSpecs) {
    initByName.set(c.name, c);
    if (isRestartableInitContainer(c)) totalContainers++;
  }

  let initializing = false;
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = initStatuses[i];
    restarts += cs.restartCount ?? 0;
    lastRestart = Math.max(lastRestart, terminatedAt(cs));
    const restartable = isRestartableInitContainer(initByName.get(cs.name));
    if (restartable) {
      restartableInitRestarts += cs.restartCount ?? 0;
      lastRestartableInitRestart = Math.max(lastRestartableInitRestart, terminatedAt(cs));
    }
    const terminated = cs.state?.terminated;
    const waiting = cs.state?.waiting;
    if (terminated && (terminated.exitCode ?? 0) === 0) continue;
    if (restartable && cs.started === true) {
      if (cs.ready) readyContainers++;
      continue;
    }
    if (terminated) {
      if (!terminated.reason) {
        reason = terminated.signal ? `Init:Signal:${terminated.signal}` : `Init:ExitCode:${terminated.exitCode ?? 0}`;
      } else {
        reason = `Init:${terminated.reason}`;
      }
    } else if (waiting?.reason && waiting.reason !== 'PodInitializing') {
      reason = `Init:${waiting.reason}`;
    } else {
      reason = `Init:${i}/${initSpecs.length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || conditionTrue(status.conditions, 'Initialized')) {
    restarts = restartableInitRestarts;
    lastRestart = lastRestartableInitRestart;
    let hasRunning = false;
    for (let i = containerStatuses.length - 1; i >= 0; i--) {
      const cs = containerStatuses[i];
      restarts += cs.restartCount ?? 0;
      lastRestart = Math.max(lastRestart, terminatedAt(cs));
      const waiting = cs.state?.waiting;
      const terminated = cs.state?.terminated;
      if (waiting?.reason) {
        reason = waiting.reason;
      } else if (terminated?.reason) {
        reason = terminated.reason;
      } else if (terminated) {
        reason = terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode ?? 0}`;
      } else if (cs.ready && cs.state?.running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    // A pod whose last container completed but another still runs is not "Completed".
    if (reason === 'Completed' && hasRunning) {
      reason = conditionTrue(status.conditions, 'Ready') ? 'Running' : 'NotReady';
    }
  }

  const deleting = !!pod.metadata?.deletionTimestamp;
  if (deleting && status.reason === 'NodeLost') {
    reason = 'Unknown';
  } else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') {
    reason = 'Terminating';
  }

  const restartsText =
    restarts !== 0 && lastRestart > 0 ? `${restarts} (${humanDuration(now - lastRestart)} ago)` : String(restarts);

  return { ready: `${readyContainers}/${totalContainers}`, status: reason, restartCount: restarts, restarts: restartsText };
}

function podIP(pod: KubeObject): string {
  return pod.status?.podIPs?.[0]?.ip || pod.status?.podIP || '<none>';
}

function readinessGates(pod: KubeObject): string {
  const gates: any[] = pod.spec?.readinessGates ?? [];
  if (gates.length === 0) return '<none>';
  let trueCount = 0;
  for (const g of gates) {
    const c = (pod.status?.conditions ?? []).find((x: any) => x.type === g.conditionType);
    if (c?.status === 'True') trueCount++;
  }
  return `${trueCount}/${gates.length}`;
}

// ---------------------------------------------------------------------------
// Nodes, services, endpoints, events
// ---------------------------------------------------------------------------

/** Roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role=<role>` labels, sorted. */
export function nodeRoles(node: KubeObject): string[] {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata?.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length);
      if (role) roles.add(role);
    } else if (k === 'kubernetes.io/role' && v) {
      roles.add(v);
    }
  }
  return [...roles].sort();
}

/** STATUS of a node: `Ready`, `NotReady`, `Unknown`, plus `,SchedulingDisabled` when cordoned. */
export function nodeStatus(node: KubeObject): string {
  const status: string[] = [];
  const ready = (node.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
  if (ready) status.push(ready.status === 'True' ? 'Ready' : 'NotReady');
  if (status.length === 0) status.push('Unknown');
  if (node.spec?.unschedulable) status.push('SchedulingDisabled');
  return status.join(',');
}

function nodeAddress(node: KubeObject, type: string): string {
  const a = (node.status?.addresses ?? []).find((x: any) => x.type === type);
  return a?.address || '<none>';
}

function loadBalancerIPs(svc: KubeObject, wide: boolean): string {
  const seen = new Set<string>();
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    if (ing.ip) seen.add(ing.ip);
    else if (ing.hostname) seen.add(ing.hostname);
  }
  let r = [...seen].sort().join(',');
  // kubectl clips long load-balancer lists outside -o wide.
  if (!wide && r.length > 16) r = `${r.slice(0, 13)}...`;
  return r;
}

/** EXTERNAL-IP of a service, by type, as kubectl computes it. */
export function serviceExternalIP(svc: KubeObject, wide = false): string {
  const externalIPs: string[] = svc.spec?.externalIPs ?? [];
  switch (svc.spec?.type ?? 'ClusterIP') {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = loadBalancerIPs(svc, wide);
      if (externalIPs.length > 0) return [...(lb ? lb.split(',') : []), ...externalIPs].join(',');
      return lb || '<pending>';
    }
    case 'ExternalName':
      return svc.spec?.externalName ?? '';
    default:
      return '<unknown>';
  }
}

/** PORT(S) of a service: `80/TCP,443:30443/TCP`. */
export function servicePorts(svc: KubeObject): string {
  const ports: any[] = svc.spec?.ports ?? [];
  const text = ports
    .map((p) => {
      const protocol = p.protocol ?? 'TCP';
      return p.nodePort ? `${p.port}:${p.nodePort}/${protocol}` : `${p.port}/${protocol}`;
    })
    .join(',');
  return text || '<none>';
}

function joinHostPort(ip: string, port: number | string): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * ENDPOINTS of an Endpoints object: up to three `ip:port` then `+ N more...`.
 * `portNames` restricts to the named ports (describe service uses it).
 */
export function formatEndpoints(ep: KubeObject, portNames?: Set<string>): string {
  const subsets: any[] = ep.subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const max = 3;
  const list: string[] = [];
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addresses: any[] = ss.addresses ?? [];
    const ports: any[] = ss.ports ?? [];
    if (ports.length === 0) {
      // A headless service may have no ports.
      count += addresses.length;
      for (const a of addresses) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(a.ip);
      }
      continue;
    }
    for (const port of ports) {
      if (portNames && !portNames.has(port.name ?? '')) continue;
      count += addresses.length;
      for (const a of addresses) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(joinHostPort(a.ip, port.port));
      }
    }
  }
  const ret = list.join(',');
  return more ? `${ret} + ${count - max} more...` : ret;
}

/** The SOURCE of an event: `component, host`, falling back to reportingController/Instance. */
export function formatEventSource(ev: KubeObject): string {
  const component = ev.source?.component || ev.reportingController || '';
  const host = ev.source?.host || ev.reportingInstance || '';
  return host ? `${component}, ${host}` : component;
}

function eventFirstSeen(ev: KubeObject, now: number): string {
  return ev.firstTimestamp ? translateTimestampSince(ev.firstTimestamp, now) : translateTimestampSince(ev.eventTime, now);
}

function eventLastSeen(ev: KubeObject, now: number): string {
  if (ev.series) return translateTimestampSince(ev.series.lastObservedTime, now);
  return ev.lastTimestamp ? translateTimestampSince(ev.lastTimestamp, now) : eventFirstSeen(ev, now);
}

function eventCount(ev: KubeObject): number {
  if (ev.series) return ev.series.count ?? 1;
  return ev.count || 1;
}

// ---------------------------------------------------------------------------
// The column table
// ---------------------------------------------------------------------------

const NAME_DESCRIPTION =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.';
const AGE_DESCRIPTION =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is represented in RFC3339 form and is in UTC.';

function col(
  name: string,
  description: string,
  cell: TableColumn['cell'],
  extra: Partial<Pick<TableColumn, 'type' | 'format' | 'priority'>> = {},
): TableColumn {
  return { name, type: extra.type ?? 'string', format: extra.format, description, priority: extra.priority ?? 0, cell };
}

/** The NAME column every kind starts with. */
export const nameColumn: TableColumn = col('Name', NAME_DESCRIPTION, (o) => o.metadata?.name ?? '', { format: 'name' });

/** The AGE column, from metadata.creationTimestamp. */
export const ageColumn: TableColumn = col('Age', AGE_DESCRIPTION, (o, now) =>
  translateTimestampSince(o.metadata?.creationTimestamp, now),
);

/** Columns for kinds kubectl has no printer for: NAME and AGE, like the server's default table. */
export const defaultColumns: TableColumn[] = [nameColumn, ageColumn];

function templateColumns(selector: (o: KubeObject) => string, podSpec: (o: KubeObject) => unknown = (o) => o.spec?.template?.spec): TableColumn[] {
  return [
    col('Containers', 'Names of each container in the template.', (o) => containerCells(podSpec(o)).names, { priority: 1 }),
    col('Images', 'Images referenced by each container in the template.', (o) => containerCells(podSpec(o)).images, { priority: 1 }),
    col('Selector', 'Label selector for pods.', selector, { priority: 1 }),
  ];
}

const pods: TableColumn[] = [
  nameColumn,
  col('Ready', 'The aggregate readiness state of this pod for accepting traffic.', (o, now) => podSummary(o, now).ready),
  col('Status', 'The aggregate status of the containers in this pod.', (o, now) => podSummary(o, now).status),
  col(
    'Restarts',
    'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
    (o, now) => podSummary(o, now).restarts,
  ),
  ageColumn,
  col('IP', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', podIP, { priority: 1 }),
  col('Node', 'NodeName indicates in which node this pod is scheduled.', (o) => o.spec?.nodeName || '<none>', { priority: 1 }),
  col('Nominated Node', 'nominatedNodeName is set only when this pod preempts other pods on the node.', (o) => o.status?.nominatedNodeName || '<none>', {
    priority: 1,
  }),
  col('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.', readinessGates, { priority: 1 }),
];

const nodes: TableColumn[] = [
  nameColumn,
  col('Status', 'The status of the node', nodeStatus),
  col('Roles', 'The roles of the node', (o) => nodeRoles(o).join(',') || '<none>'),
  ageColumn,
  col('Version', 'Kubelet Version reported by the node.', (o) => o.status?.nodeInfo?.kubeletVersion ?? ''),
  col('Internal-IP', 'List of addresses reachable to the node.', (o) => nodeAddress(o, 'InternalIP'), { priority: 1 }),
  col('External-IP', 'List of addresses reachable to the node.', (o) => nodeAddress(o, 'ExternalIP'), { priority: 1 }),
  col('OS-Image', 'OS Image reported by the node from /etc/os-release.', (o) => o.status?.nodeInfo?.osImage || '<unknown>', { priority: 1 }),
  col('Kernel-Version', "Kernel Version reported by the node from 'uname -r'.", (o) => o.status?.nodeInfo?.kernelVersion || '<unknown>', {
    priority: 1,
  }),
  col('Container-Runtime', 'ContainerRuntime Version reported by the node through runtime remote API.', (o) =>
    o.status?.nodeInfo?.containerRuntimeVersion || '<unknown>', { priority: 1 },
  ),
];

const deployments: TableColumn[] = [
  nameColumn,
  col('Ready', 'Number of the pod with ready state', (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`),
  col('Up-to-date', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.', (o) =>
    o.status?.updatedReplicas ?? 0,
  ),
  col('Available', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.', (o) =>
    o.status?.availableReplicas ?? 0,
  ),
  ageColumn,
  ...templateColumns((o) => labelSelectorString(o.spec?.selector)),
];

const replicasets: TableColumn[] = [
  nameColumn,
  col('Desired', 'Replicas is the number of desired replicas.', (o) => o.spec?.replicas ?? 1, { type: 'integer' }),
  col('Current', 'Replicas is the most recently observed number of replicas.', (o) => o.status?.replicas ?? 0, { type: 'integer' }),
  col('Ready', 'The number of ready replicas for this replica set.', (o) => o.status?.readyReplicas ?? 0, { type: 'integer' }),
  ageColumn,
  ...templateColumns((o) => formatLabelSelector(o.spec?.selector)),
];

const daemonsets: TableColumn[] = [
  nameColumn,
  col('Desired', 'The total number of nodes that should be running the daemon pod.', (o) => o.status?.desiredNumberScheduled ?? 0, {
    type: 'integer',
  }),
  col('Current', 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.', (o) =>
    o.status?.currentNumberScheduled ?? 0, { type: 'integer' },
  ),
  col('Ready', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.', (o) =>
    o.status?.numberReady ?? 0, { type: 'integer' },
  ),
  col('Up-to-date', 'The total number of nodes that are running updated daemon pod', (o) => o.status?.updatedNumberScheduled ?? 0, {
    type: 'integer',
  }),
  col('Available', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.', (o) =>
    o.status?.numberAvailable ?? 0, { type: 'integer' },
  ),
  col('Node Selector', 'NodeSelector is a selector which must be true for the pod to fit on a node.', (o) =>
    formatLabels(o.spec?.template?.spec?.nodeSelector),
  ),
  ageColumn,
  ...templateColumns((o) => formatLabelSelector(o.spec?.selector)),
];

/** kubectl's job STATUS column. */
function jobStatus(o: KubeObject): string {
  const conds: any[] = o.status?.conditions ?? [];
  const has = (type: string) => conds.some((c) => c.type === type && c.status === 'True');
  if (has('Complete')) return 'Complete';
  if (has('Failed')) return 'Failed';
  if (o.metadata?.deletionTimestamp) return 'Terminating';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('Suspended')) return 'Suspended';
  return 'Running';
}

const jobs: TableColumn[] = [
  nameColumn,
  col('Status', 'Status of the job.', jobStatus),
  col('Completions', 'The completion status of the job', (o) => {
    const succeeded = o.status?.succeeded ?? 0;
    return o.spec?.completions != null ? `${succeeded}/${o.spec.completions}` : `${succeeded}/1 of ${o.spec?.parallelism ?? 1}`;
  }),
  col('Duration', 'Time required to complete the job.', (o, now) => {
    const start = o.status?.startTime;
    if (!start) return '';
    const end = o.status?.completionTime ? Date.parse(o.status.completionTime) : now;
    return humanDuration(end - Date.parse(start));
  }),
  ageColumn,
  ...templateColumns((o) => formatLabelSelector(o.spec?.selector)),
];

const cronjobs: TableColumn[] = [
  nameColumn,
  col('Schedule', 'The schedule in Cron format', (o) => o.spec?.schedule ?? ''),
  col('Timezone', 'The timezone name for the given schedule', (o) => o.spec?.timeZone || '<none>'),
  col('Suspend', 'Whether this cron job is suspended', (o) => (o.spec?.suspend ? 'True' : 'False')),
  col('Active', 'Number of jobs running', (o) => (o.status?.active ?? []).length, { type: 'integer' }),
  col('Last Schedule', 'When the last job was scheduled', (o, now) =>
    o.status?.lastScheduleTime ? translateTimestampSince(o.status.lastScheduleTime, now) : '<none>',
  ),
  ageColumn,
  ...templateColumns((o) => formatLabelSelector(o.spec?.jobTemplate?.spec?.selector), (o) => o.spec?.jobTemplate?.spec?.template?.spec),
];

const services: TableColumn[] = [
  nameColumn,
  col('Type', 'type determines how the Service is exposed.', (o) => o.spec?.type ?? ''),
  col('Cluster-IP', 'clusterIP is the IP address of the service.', (o) => o.spec?.clusterIPs?.[0] || o.spec?.clusterIP || '<none>'),
  col('External-IP', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.', (o) =>
    serviceExternalIP(o),
  ),
  col('Port(s)', 'The list of ports that are exposed by this service.', servicePorts),
  ageColumn,
  col('Selector', 'Route service traffic to pods with label keys and values matching this selector.', (o) => formatLabels(o.spec?.selector), {
    priority: 1,
  }),
];

const endpoints: TableColumn[] = [
  nameColumn,
  col('Endpoints', 'The set of all endpoints is the union of all subsets.', (o) => formatEndpoints(o)),
  ageColumn,
];

const configmaps: TableColumn[] = [
  nameColumn,
  col('Data', 'Data contains the configuration data.', (o) => Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length, {
    type: 'integer',
  }),
  ageColumn,
];

const secrets: TableColumn[] = [
  nameColumn,
  col('Type', 'Used to facilitate programmatic handling of secret data.', (o) => o.type ?? ''),
  col('Data', 'Data contains the secret data.', (o) => Object.keys(o.data ?? {}).length, { type: 'integer' }),
  ageColumn,
];

const events: TableColumn[] = [
  col('Last Seen', 'The time at which the most recent occurrence of this event was recorded.', eventLastSeen),
  col('Type', 'Type of this event (Normal, Warning), new types could be added in the future', (o) => o.type ?? ''),
  col('Reason', 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.', (o) =>
    o.reason ?? '',
  ),
  col('Object', 'The object that this event is about.', (o) => {
    const kind = String(o.involvedObject?.kind ?? '').toLowerCase();
    return o.involvedObject?.name ? `${kind}/${o.involvedObject.name}` : kind;
  }),
  col('Subobject', 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.', (o) =>
    o.involvedObject?.fieldPath ?? '', { priority: 1 },
  ),
  col('Source', 'The component reporting this event.', formatEventSource, { priority: 1 }),
  col('Message', 'A human-readable description of the status of this operation.', (o) => String(o.message ?? '').trim()),
  col('First Seen', 'The time at which the event was first recorded.', eventFirstSeen, { priority: 1 }),
  col('Count', 'The number of times this event has occurred.', eventCount, { priority: 1 }),
  { ...nameColumn, priority: 1 },
];

const namespaces: TableColumn[] = [
  nameColumn,
  col('Status', 'The status of the namespace', (o) => o.status?.phase ?? ''),
  ageColumn,
];

const serviceaccounts: TableColumn[] = [
  nameColumn,
  col('Secrets', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.', (o) =>
    (o.secrets ?? []).length, { type: 'integer' },
  ),
  ageColumn,
];

const leases: TableColumn[] = [
  nameColumn,
  col('Holder', 'holderIdentity contains the identity of the holder of a current lease.', (o) => o.spec?.holderIdentity ?? ''),
  ageColumn,
];

const priorityclasses: TableColumn[] = [
  nameColumn,
  col('Value', 'The priority of pods of this class.', (o) => o.value ?? 0, { type: 'integer' }),
  col('Global-Default', 'Whether pods without a priorityClassName get this class.', (o) => o.globalDefault === true, { type: 'boolean' }),
  col('Preemption-Policy', 'Whether pods of this class may preempt lower-priority pods.', (o) => o.preemptionPolicy ?? 'PreemptLowerPriority', { priority: 1 }),
  ageColumn,
];

/** Columns per resource, keyed `plural` for the core group, `plural.group` otherwise. */
export const tableColumns: Record<string, TableColumn[]> = {
  pods,
  nodes,
  'deployments.apps': deployments,
  'replicasets.apps': replicasets,
  'daemonsets.apps': daemonsets,
  'jobs.batch': jobs,
  'cronjobs.batch': cronjobs,
  services,
  endpoints,
  configmaps,
  secrets,
  events,
  namespaces,
  serviceaccounts,
  'leases.coordination.k8s.io': leases,
  'priorityclasses.scheduling.k8s.io': priorityclasses,
};
