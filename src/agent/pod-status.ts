import type { KubeObject } from '../api/types';
import { rfc3339 } from './clock';
import type { ContainerStatus, SandboxStatus } from './runtime/runtime';

/**
 * PodStatus as the kubelet computes it (generateAPIPodStatus, getPhase and
 * the condition generators in pkg/kubelet/status): a pure function of the
 * pod, what the runtime reports, why containers are waiting, and the probe
 * results. Fields the kubelet does not own (PodScheduled and other
 * conditions, qosClass, nominatedNodeName) are carried over unchanged, and
 * lastTransitionTime only moves when a condition's status does, so an
 * unchanged pod computes an identical status and nothing is written.
 */

export interface Waiting {
  reason: string;
  message?: string;
}

export interface StatusInput {
  pod: KubeObject;
  /** The pod's current sandbox, if any. */
  sandbox?: SandboxStatus;
  /** Instances per container name, newest first. */
  instances: Map<string, ContainerStatus[]>;
  /** Why a container that is not running waits (CrashLoopBackOff, ErrImagePull, ...), from the last sync. */
  waiting: Map<string, Waiting>;
  ready(spec: any, containerId: string): boolean;
  started(spec: any, containerId: string): boolean;
  hostIPs: string[];
  /** `docker`, `fake`: the scheme of containerID. */
  runtimeName: string;
  now: number;
  /** The pod is being deleted and all its containers have been stopped: report the final, terminal status. */
  terminated?: boolean;
}

const OWNED_CONDITIONS = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady'];

export function computePodStatus(input: StatusInput): any {
  const { pod } = input;
  const old = pod.status ?? {};
  const spec = pod.spec ?? {};
  const initSpecs: any[] = spec.initContainers ?? [];
  const appSpecs: any[] = spec.containers ?? [];
  const hasInit = initSpecs.length > 0;

  const initStatuses = initSpecs.map((c) => containerStatus(c, input, hasInit, true));
  const appStatuses = appSpecs.map((c) => containerStatus(c, input, hasInit, false));

  let phase = podPhase(pod, initStatuses, appStatuses, !!input.terminated);
  if (old.phase === 'Succeeded' || old.phase === 'Failed') phase = old.phase;

  const status: any = { ...old, phase };
  const hostIPs = input.hostIPs;
  status.hostIP = hostIPs[0];
  status.hostIPs = hostIPs.map((ip) => ({ ip }));
  const podIP = spec.hostNetwork ? hostIPs[0] : input.sandbox?.ip;
  if (podIP) {
    status.podIP = podIP;
    status.podIPs = [{ ip: podIP }];
  }
  status.startTime ??= rfc3339(input.now);
  if (initStatuses.length) status.initContainerStatuses = initStatuses;
  else delete status.initContainerStatuses;
  status.containerStatuses = appStatuses;

  const conditions = [
    condition('PodReadyToStartContainers', !!input.sandbox?.ready && !input.terminated),
    initializedCondition(initSpecs, initStatuses, phase),
    ...readyConditions(pod, appStatuses, phase),
  ];
  const previous: any[] = old.conditions ?? [];
  for (const c of conditions) {
    const before = previous.find((p) => p.type === c.type);
    c.lastTransitionTime = before && before.status === c.status ? before.lastTransitionTime : rfc3339(input.now);
  }
  status.conditions = [...conditions, ...previous.filter((p) => !OWNED_CONDITIONS.includes(p.type))];
  return status;
}

function condition(type: string, ok: boolean, reason?: string, message?: string): any {
  const c: any = { type, status: ok ? 'True' : 'False', lastProbeTime: null };
  if (reason) c.reason = reason;
  if (message) c.message = message;
  return c;
}

function initializedCondition(specs: any[], statuses: any[], phase: string): any {
  const incomplete = statuses.filter((s) => !(s.state.terminated && s.state.terminated.exitCode === 0)).map((s) => s.name);
  if (!specs.length || !incomplete.length) return condition('Initialized', true, phase === 'Succeeded' && specs.length ? 'PodCompleted' : undefined);
  return condition('Initialized', false, 'ContainersNotInitialized', `containers with incomplete status: [${incomplete.join(' ')}]`);
}

/** ContainersReady and Ready (Ready also waits for the pod's readiness gates). */
function readyConditions(pod: KubeObject, statuses: any[], phase: string): any[] {
  if (phase === 'Succeeded') return [condition('Ready', false, 'PodCompleted'), condition('ContainersReady', false, 'PodCompleted')];
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const containersMessage = unready.length ? `containers with unready status: [${unready.join(' ')}]` : '';
  const containersReady = unready.length
    ? condition('ContainersReady', false, 'ContainersNotReady', containersMessage)
    : condition('ContainersReady', true);
  if (unready.length) return [condition('Ready', false, 'ContainersNotReady', containersMessage), containersReady];
  const gates: string[] = [];
  for (const g of pod.spec?.readinessGates ?? []) {
    const c = (pod.status?.conditions ?? []).find((x: any) => x.type === g.conditionType);
    if (!c) gates.push(`corresponding condition of pod readiness gate "${g.conditionType}" does not exist.`);
    else if (c.status !== 'True') gates.push(`the status of pod readiness gate "${g.conditionType}" is not "True", but ${c.status}`);
  }
  if (gates.length) return [condition('Ready', false, 'ReadinessGatesNotReady', gates.join(', ')), containersReady];
  return [condition('Ready', true), containersReady];
}

/** The terminated state of a runtime container instance. */
export function terminatedState(c: ContainerStatus, runtimeName: string): any {
  const exitCode = c.exitCode ?? 0;
  const t: any = {
    exitCode,
    reason: c.reason || (exitCode === 0 ? 'Completed' : 'Error'),
    startedAt: rfc3339(c.startedAt ?? c.createdAt),
    finishedAt: rfc3339(c.finishedAt ?? c.startedAt ?? c.createdAt),
    containerID: `${runtimeName}://${c.id}`,
  };
  if (c.message) t.message = c.message;
  return t;
}

/** The image reference Kubernetes shows as imageID: `docker-pullable://repo@sha256:...` or `<runtime>://sha256:...`. */
export function imageRef(imageId: string, runtimeName: string): string {
  if (!imageId || imageId.includes('://')) return imageId;
  if (runtimeName === 'docker' && imageId.includes('@')) return `docker-pullable://${imageId}`;
  return `${runtimeName}://${imageId}`;
}

function containerStatus(spec: any, input: StatusInput, hasInit: boolean, isInit: boolean): any {
  const instances = input.instances.get(spec.name) ?? [];
  const [latest, previous] = instances;
  const waiting = input.waiting.get(spec.name);
  const s: any = { name: spec.name, state: {}, lastState: {}, ready: false, restartCount: 0, image: spec.image, imageID: '', started: false };
  const lastTerminated = (c?: ContainerStatus) => (c && c.state === 'exited' ? { terminated: terminatedState(c, input.runtimeName) } : {});

  if (!latest) {
    if (input.terminated) {
      s.state = { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated' } };
    } else {
      s.state = { waiting: waiting ?? { reason: hasInit ? 'PodInitializing' : 'ContainerCreating' } };
    }
    return s;
  }
  s.restartCount = latest.attempt;
  s.imageID = imageRef(latest.imageId, input.runtimeName);
  s.containerID = `${input.runtimeName}://${latest.id}`;
  if (latest.state === 'running') {
    s.state = { running: { startedAt: rfc3339(latest.startedAt ?? latest.createdAt) } };
    s.lastState = lastTerminated(previous);
    s.started = input.started(spec, latest.id);
    s.ready = !isInit && input.ready(spec, latest.id);
  } else if (latest.state === 'exited') {
    if (waiting && !input.terminated) {
      s.state = { waiting };
      s.lastState = lastTerminated(latest);
    } else {
      s.state = lastTerminated(latest);
      s.lastState = lastTerminated(previous);
      // A finished init container counts as ready, as in Kubernetes.
      if (isInit && latest.exitCode === 0) s.ready = true;
    }
  } else {
    s.state = { waiting: waiting ?? { reason: 'ContainerCreating' } };
    s.lastState = lastTerminated(previous);
  }
  return s;
}

/** The kubelet's getPhase over the container statuses just computed. */
function podPhase(pod: KubeObject, inits: any[], apps: any[], terminated: boolean): string {
  const restartPolicy = pod.spec?.restartPolicy ?? 'Always';
  let pendingInit = 0;
  let failedInit = 0;
  for (const s of inits) {
    if (s.state.running) pendingInit++;
    else if (s.state.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated && s.lastState.terminated.exitCode !== 0) failedInit++;
      else pendingInit++;
    } else pendingInit++;
  }
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of apps) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated) stopped++;
      else waiting++;
    }
  }
  if (failedInit > 0 && (restartPolicy === 'Never' || terminated)) return 'Failed';
  if (pendingInit > 0 && !terminated) return 'Pending';
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (terminated) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}
