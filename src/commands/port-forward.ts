import { Args, Flags } from '@oclif/core';
import { lookupResource, type ResourceType } from '../api/registry';
import { labelSelectorFromObject, labelSelectorToString, type LabelSelector } from '../api/selectors';
import type { KubeObject } from '../api/types';
import { BaseCommand, UsageError } from '../cli/base-command';
import { ApiStatusError, type KubeClient, type WatchHandle } from '../client/api-client';
import {
  parseForwardedPorts,
  parseListenAddresses,
  PortForwarder,
  type ForwardedPort,
  type Listening,
} from '../client/port-forward';
import { compareByDeletionCost } from '../controllers/replicaset-controller';
import { parseDuration } from './delete';

const PODS = lookupResource('', 'v1', 'pods')!;
const SERVICES = lookupResource('', 'v1', 'services')!;

export interface PortForwardResult {
  pod: string;
  listening: Listening[];
}

/**
 * A pod to forward to and the ports as the user gave them with service
 * ports and named ports turned into the pod's container ports, as
 * kubectl's port-forward resolves TYPE/NAME (AttachablePodForObject,
 * translateServicePortToTargetPort, convertPodNamedPortToNumber).
 */
export interface ResolvedTarget {
  pod: KubeObject;
  /** `[LOCAL:]REMOTE` with REMOTE a container port number. */
  ports: string[];
}

export default class PortForward extends BaseCommand<typeof PortForward> {
  static summary = 'Forward one or more local ports to a pod.';

  static description = `Listens on local ports and forwards each connection to a port of a pod, like kubectl port-forward: through the API server, which reaches the agent of the pod's node, which connects to the port in the pod's network namespace. Each local connection gets its own WebSocket (pods/portforward, v4.channel.k8s.io).

TYPE/NAME may name a pod, or a Service, Deployment, ReplicaSet, DaemonSet or Job: the most available of its pods is chosen once, at start. For a Service, REMOTE is a service port (number or name), forwarded to the target port it maps to. Use LOCAL 0 or omit it (":REMOTE") for a free local port. mk runs until interrupted, or until the pod stops.`;

  static examples = [
    '<%= config.bin %> port-forward pod/web 8080:80',
    '<%= config.bin %> port-forward web :8080',
    '<%= config.bin %> port-forward svc/web 8080:http',
    '<%= config.bin %> port-forward deployment/web 5000 6000',
    '<%= config.bin %> port-forward --address 0.0.0.0 pod/web 8888:8080',
  ];

  static strict = false;

  static args = {
    target: Args.string({ description: 'TYPE/NAME or a pod NAME, then [LOCAL_PORT:]REMOTE_PORT...', required: true }),
  };

  static flags = {
    address: Flags.string({
      summary: 'Addresses to listen on (comma separated). Only accepts IP addresses or localhost as a value.',
      description: 'When localhost is supplied, mk tries to bind on both 127.0.0.1 and ::1 and fails only if neither is available.',
      multiple: true,
      // One value per --address (repeat it, or separate with commas), so arguments after it stay arguments.
      multipleNonGreedy: true,
      delimiter: ',',
      default: ['localhost'],
    }),
    'pod-running-timeout': Flags.string({
      summary: 'How long to wait (like 5s, 2m, or 3h, higher than zero) until at least one pod is running.',
      default: '1m',
    }),
  };

  public async run(): Promise<PortForwardResult> {
    const [targetArg, ...portArgs] = this.positional;
    if (!targetArg || portArgs.length === 0) throw new UsageError('TYPE/NAME and list of ports are required for port-forward');
    const timeoutMs = parseDuration(this.flags['pod-running-timeout']);
    if (timeoutMs <= 0) throw new UsageError('--pod-running-timeout must be higher than zero');
    let addresses: ReturnType<typeof parseListenAddresses>;
    try {
      addresses = parseListenAddresses(this.flags.address);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const namespace = this.namespace();
    const client = this.client();

    const target = await resolveTarget(client, namespace, targetArg, portArgs, timeoutMs, (name) => this.resourceType(name));
    let ports: ForwardedPort[];
    try {
      ports = parseForwardedPorts(target.ports);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const pod = target.pod;
    if (pod.status?.phase !== 'Running') {
      throw new UsageError(`unable to forward port because pod is not running. Current status=${pod.status?.phase ?? 'Pending'}`);
    }

    const name = pod.metadata.name!;
    const forwarder = new PortForwarder(this.kubeconfig(), { namespace, pod: name }, addresses, {
      onConnection: (port) => this.log(`Handling connection for ${port.local}`),
      onError: (port, message) => this.logToStderr(`error: an error occurred forwarding ${port.local} -> ${port.remote}: ${message}`),
    });
    const { listening, failed } = await forwarder.listen(ports);
    for (const f of failed) this.logToStderr(`Unable to listen on port ${f.port.local}: ${f.message}`);
    for (const l of listening) this.log(`Forwarding from ${l.address} -> ${l.remote}`);

    const stopped = await new Promise<'signal' | 'pod'>((resolve, reject) => {
      const onSignal = () => finish('signal');
      const podWatch = watchUntilPodStops(client, namespace, pod);
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      podWatch.stopped.then(() => finish('pod'), (err) => finish(undefined, err));
      function finish(how?: 'signal' | 'pod', err?: unknown): void {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
        podWatch.cancel();
        if (err) reject(err);
        else resolve(how!);
      }
    }).finally(() => forwarder.close());
    if (stopped === 'pod') throw new UsageError('lost connection to pod');
    return { pod: name, listening };
  }
}

/** The pod TYPE/NAME stands for, and the port arguments resolved against it. */
export async function resolveTarget(
  client: KubeClient,
  namespace: string,
  arg: string,
  ports: string[],
  timeoutMs: number,
  resourceType: (name: string) => ResourceType,
): Promise<ResolvedTarget> {
  const slash = arg.indexOf('/');
  const rt = slash < 0 ? PODS : resourceType(arg.slice(0, slash));
  const name = slash < 0 ? arg : arg.slice(slash + 1);
  if (!name) throw new UsageError(`arguments in resource/name form must have a single resource and name`);
  const obj = await client.get(rt, namespace, name);
  if (rt === PODS) {
    checkUdpOnly(ports, containerPortProtocols(obj), (port) => containerPortByName(obj, port));
    return { pod: obj, ports: podNamedPortsToNumbers(ports, obj) };
  }

  let selector: LabelSelector;
  if (rt === SERVICES) {
    const set: Record<string, string> = obj.spec?.selector ?? {};
    if (Object.keys(set).length === 0) throw new UsageError(`invalid service '${name}': Service is defined without a selector`);
    selector = labelSelectorFromObject({ matchLabels: set });
  } else if (obj.spec?.selector && typeof obj.spec.selector === 'object') {
    selector = labelSelectorFromObject(obj.spec.selector);
  } else {
    throw new UsageError(`cannot attach to ${rt.kind}: selector for ${rt.kind} not implemented`);
  }
  const pod = await firstPod(client, namespace, labelSelectorToString(selector), timeoutMs);
  if (rt === SERVICES) {
    checkUdpOnly(ports, (obj.spec?.ports ?? []).map((p: any) => ({ port: p.port, protocol: p.protocol })), (port) => servicePortByName(obj, port));
    return { pod, ports: servicePortsToTargetPorts(ports, obj, pod) };
  }
  return { pod, ports: podNamedPortsToNumbers(ports, pod) };
}

/**
 * kubectl's GetFirstPod: the most available pod matching the selector
 * (scheduled, Running, ready longest, fewest restarts, oldest); if none
 * exists yet, the first one a watch sees within the timeout.
 */
async function firstPod(client: KubeClient, namespace: string, labelSelector: string, timeoutMs: number): Promise<KubeObject> {
  const list = await client.list(PODS, namespace, { labelSelector });
  if (list.items.length > 0) return [...list.items].sort((a, b) => compareByDeletionCost(b, a))[0]!;
  return new Promise<KubeObject>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => finish(new UsageError('timed out waiting for the condition')), timeoutMs);
    const handle = client.watch(PODS, namespace, { labelSelector, resourceVersion: list.metadata?.resourceVersion }, (e) => {
      if (e.type === 'ADDED' || e.type === 'MODIFIED') finish(undefined, e.object);
    });
    handle.done.then(() => finish(new UsageError('timed out waiting for the condition')), (err) => finish(err));
    function finish(err?: unknown, pod?: KubeObject): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      handle.stop();
      if (err) reject(err);
      else resolve(pod!);
    }
  });
}

function splitPort(spec: string): [string, string] {
  const parts = spec.split(':');
  return parts.length === 2 ? [parts[0]!, parts[1]!] : [parts[0]!, parts[0]!];
}

function containerPortByName(pod: KubeObject, name: string): number {
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === name) return p.containerPort;
  }
  throw new UsageError(`Pod '${pod.metadata.name}' does not have a named port '${name}'`);
}

function servicePortByName(svc: KubeObject, name: string): number {
  const port = (svc.spec?.ports ?? []).find((p: any) => p.name === name);
  if (!port) throw new UsageError(`Service '${svc.metadata.name}' does not have a named port '${name}'`);
  return port.port;
}

/** Named remote ports become the pod's container port numbers (convertPodNamedPortToNumber). */
function podNamedPortsToNumbers(ports: string[], pod: KubeObject): string[] {
  return ports.map((spec) => {
    const [local, remote] = splitPort(spec);
    const number = /^\d+$/.test(remote) ? remote : String(containerPortByName(pod, remote));
    return local !== remote ? `${local}:${number}` : number;
  });
}

/**
 * Service ports (by number or name) become the pod ports they target
 * (translateServicePortToTargetPort): targetPort as a number, or a
 * container port name looked up in the pod; none means the service port.
 */
function servicePortsToTargetPorts(ports: string[], svc: KubeObject, pod: KubeObject): string[] {
  return ports.map((spec) => {
    let [local, remote] = splitPort(spec);
    let portnum: number;
    if (/^\d+$/.test(remote)) {
      portnum = Number(remote);
    } else {
      portnum = servicePortByName(svc, remote);
      if (local === remote) local = String(portnum);
    }
    const target = String(containerPortForServicePort(svc, pod, portnum));
    return local !== target ? `${local}:${target}` : target;
  });
}

function containerPortForServicePort(svc: KubeObject, pod: KubeObject, port: number): number {
  for (const p of svc.spec?.ports ?? []) {
    if (p.port !== port) continue;
    if (svc.spec?.clusterIP === 'None') return port;
    const target = p.targetPort;
    if (target === undefined || target === null || target === 0 || target === '') return p.port;
    if (typeof target === 'number') return target;
    return /^\d+$/.test(target) ? Number(target) : containerPortByName(pod, target);
  }
  throw new UsageError(`Service ${svc.metadata.name} does not have a service port ${port}`);
}

function containerPortProtocols(pod: KubeObject): Array<{ port: number; protocol?: string }> {
  return (pod.spec?.containers ?? []).flatMap((c: any) => (c.ports ?? []).map((p: any) => ({ port: p.containerPort, protocol: p.protocol })));
}

/** Forwarding is TCP: kubectl refuses a remote port that is declared for UDP and not for TCP (checkUDPPorts). */
function checkUdpOnly(ports: string[], declared: Array<{ port: number; protocol?: string }>, byName: (name: string) => number): void {
  const udp = new Set(declared.filter((d) => d.protocol === 'UDP').map((d) => d.port));
  for (const d of declared) if ((d.protocol ?? 'TCP') === 'TCP') udp.delete(d.port);
  for (const spec of ports) {
    const [, remote] = splitPort(spec);
    const port = /^\d+$/.test(remote) ? Number(remote) : byName(remote);
    if (udp.has(port)) throw new UsageError(`UDP protocol is not supported for ${remote}`);
  }
}

/**
 * Resolves once the pod is gone (deleted, replaced by a namesake) or has
 * stopped (Succeeded, Failed), the way kubectl notices it lost the pod.
 */
function watchUntilPodStops(client: KubeClient, namespace: string, pod: KubeObject): { stopped: Promise<void>; cancel(): void } {
  let handle: WatchHandle | undefined;
  let cancelled = false;
  const name = pod.metadata.name!;
  const uid = pod.metadata.uid;
  const isStopped = (p: KubeObject | undefined) => !p || p.metadata.uid !== uid || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
  const stopped = (async () => {
    let resourceVersion = pod.metadata.resourceVersion;
    while (!cancelled) {
      const gone = await new Promise<boolean>((resolve, reject) => {
        handle = client.watch(PODS, namespace, { resourceVersion, fieldSelector: `metadata.name=${name}` }, (e) => {
          if (e.type === 'ERROR') return handle!.stop();
          if (e.type === 'DELETED' || isStopped(e.object)) return resolve(true);
          resourceVersion = e.object.metadata.resourceVersion;
        });
        handle.done.then(() => resolve(false), reject);
      });
      if (gone) return;
      if (cancelled) return new Promise<void>(() => undefined);
      // The watch ended (server timeout, or too old a resourceVersion): look at the pod again, then watch on.
      let live: KubeObject | undefined;
      try {
        live = await client.get(PODS, namespace, name);
      } catch (err) {
        if (!ApiStatusError.isNotFound(err)) throw err;
      }
      if (isStopped(live)) return;
      resourceVersion = live!.metadata.resourceVersion;
    }
    return new Promise<void>(() => undefined);
  })();
  return {
    stopped,
    cancel: () => {
      cancelled = true;
      handle?.stop();
    },
  };
}
