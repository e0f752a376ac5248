import { resolveResourceName } from '../api/registry';
import { badRequest, internalError, notFound } from '../apiserver/errors';
import type { KubeObject } from '../api/types';
import type { KubeClient } from '../client/api-client';
import { Informer } from '../client/informer';
import { Backoff } from './backoff';
import { realClock, type Clock } from './clock';
import { ConfigSources } from './config-sources';
import { readHostResolvConf, type ResolvConf } from './dns/pod-dns';
import { ContainerConfigError } from './env';
import { NodeLease } from './lease';
import { NodeStatusReporter, type NodeCapacity } from './node-status';
import { PodEvents } from './pod-events';
import { newestFirst, PodWorker, type WorkerContext } from './pod-worker';
import { ProbeManager } from './probes';
import { fingerprint, RuntimeCache } from './runtime-cache';
import type { ContainerRuntime, RuntimePod } from './runtime/runtime';
import { serviceEnvForPod } from './service-env';
import { VolumeManager } from './volumes';

const PODS = resolveResourceName('pods')!;
const SERVICES = resolveResourceName('services')!;

export interface AgentOptions {
  nodeName: string;
  /** The agent's own state: pod volumes live under `<dataDir>/pods/<uid>/volumes`. */
  dataDir: string;
  /** The node's InternalIP and every pod's hostIP. Default 127.0.0.1. */
  nodeIP?: string;
  /** Defaults: os.cpus().length, os.totalmem(), 110 pods. */
  capacity?: Partial<NodeCapacity>;
  /** Extra node labels (over kubernetes.io/hostname, /os, /arch). */
  labels?: Record<string, string>;
  /** Port of the agent's log/exec server: status.daemonEndpoints.kubeletEndpoint.Port. See also setDaemonPort. */
  daemonPort?: number;
  /** Lease spec.leaseDurationSeconds. Default 40. */
  leaseDurationSeconds?: number;
  /** Lease renewal (and node status check) interval. Default 10 s. */
  heartbeatIntervalMs?: number;
  /** Node status is written at least this often even when unchanged. Default 60 s. */
  statusIntervalMs?: number;
  /** Runtime relist interval (the kubelet's PLEG period). Default 1 s. */
  syncIntervalMs?: number;
  /** Crash-loop backoff: 10 s doubling to 5 min, forgotten after a container ran 10 min. */
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  /** Image pull backoff: 10 s doubling to 5 min. */
  imagePullBackoff?: { initialMs?: number; maxMs?: number };
  /**
   * Treat httpGet/tcpSocket probes and hooks without an explicit host as
   * passing instead of dialing the pod IP. Default: true for the fake
   * runtime, whose pod IPs are not real addresses.
   */
  simulateNetworkProbes?: boolean;
  /**
   * Every Service (for the containers' service environment variables). The
   * launcher shares one among the agents of a process; without it the agent
   * watches Services itself.
   */
  services?: Informer;
  /** The kubelet's --cluster-dns: the nameserver of ClusterFirst pods. Empty: they fall back to the host's resolver. */
  clusterDNS?: string[];
  /** The kubelet's --cluster-domain. Default cluster.local. */
  clusterDomain?: string;
  /** The host's resolver (the kubelet's --resolv-conf). Default: /etc/resolv.conf as read at start. */
  resolvConf?: ResolvConf;
  log?: (line: string) => void;
  clock?: Clock;
}

/**
 * The node agent (kubelet): registers the Node and keeps its status and
 * Lease fresh, watches the pods bound to the node, and runs one PodWorker
 * per pod that drives the ContainerRuntime toward the pod's spec.
 *
 * Changes reach workers three ways: the pod informer (spec, deletion),
 * runtime events (a container died), and the relist every `syncIntervalMs`
 * (anything the events missed). A restarted agent finds what the runtime
 * already runs through the relist, adopts the containers of pods it still
 * has and removes those of pods that are gone.
 */
export class Agent {
  readonly nodeName: string;
  private readonly nodeIP: string;
  private readonly log: (line: string) => void;
  private readonly clock: Clock;
  private readonly syncIntervalMs: number;
  private readonly nodeStatus: NodeStatusReporter;
  private readonly lease: NodeLease;
  private readonly cache: RuntimeCache;
  private readonly probes: ProbeManager;
  private readonly sources: ConfigSources;
  private readonly podInformer: Informer;
  private readonly services: Informer;
  private readonly ownServices: boolean;
  private readonly podsByUid = new Map<string, KubeObject>();
  private readonly workers = new Map<string, PodWorker>();
  private readonly fingerprints = new Map<string, string>();
  /** Pods whose workers removed everything, with the first relist that is sure to show it. */
  private readonly removed = new Map<string, number>();
  private readonly workerContext: WorkerContext;
  /** True once the pod informer has listed: from then on, runtime pods it lacks are orphans. */
  private synced = false;
  private stopped = false;
  private cancelRelist?: () => void;
  private unsubscribe?: () => void;

  constructor(
    client: KubeClient,
    private readonly runtime: ContainerRuntime,
    opts: AgentOptions,
  ) {
    this.nodeName = opts.nodeName;
    this.nodeIP = opts.nodeIP ?? '127.0.0.1';
    const userLog = opts.log ?? (() => undefined);
    this.log = (line) => userLog(`agent ${opts.nodeName}: ${line}`);
    this.clock = opts.clock ?? realClock;
    this.syncIntervalMs = opts.syncIntervalMs ?? 1_000;
    const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 10_000;

    this.nodeStatus = new NodeStatusReporter(client, runtime.name, {
      nodeName: opts.nodeName,
      nodeIP: this.nodeIP,
      capacity: opts.capacity,
      labels: opts.labels,
      daemonPort: opts.daemonPort,
      statusIntervalMs: opts.statusIntervalMs ?? 60_000,
      checkIntervalMs: heartbeatIntervalMs,
      clock: this.clock,
      log: this.log,
    });
    this.lease = new NodeLease(client, {
      nodeName: opts.nodeName,
      durationSeconds: opts.leaseDurationSeconds ?? 40,
      intervalMs: heartbeatIntervalMs,
      clock: this.clock,
      log: this.log,
    });
    this.cache = new RuntimeCache(
      runtime,
      (pods, seq) => this.onRelist(pods, seq),
      (problem) => this.nodeStatus.setRuntimeProblem(problem),
    );
    const events = new PodEvents(client, opts.nodeName, this.clock, this.log);
    const simulateNetwork = opts.simulateNetworkProbes ?? runtime.name === 'fake';
    this.probes = new ProbeManager({
      runtime,
      clock: this.clock,
      simulateNetwork,
      events: { unhealthy: (pod, container, message) => events.record(pod, 'Warning', 'Unhealthy', message, { name: container }) },
      onChange: (uid) => this.workers.get(uid)?.requestSync(),
    });
    this.sources = new ConfigSources(client, (uid) => this.workers.get(uid)?.requestSync());
    this.podInformer = new Informer(client, PODS, { fieldSelector: `spec.nodeName=${opts.nodeName}` });
    this.ownServices = !opts.services;
    this.services = opts.services ?? new Informer(client, SERVICES);

    const crash = opts.backoff ?? {};
    const image = opts.imagePullBackoff ?? {};
    this.workerContext = {
      nodeName: opts.nodeName,
      client,
      runtime,
      cache: this.cache,
      clock: this.clock,
      events,
      probes: this.probes,
      volumes: new VolumeManager(opts.dataDir),
      sources: this.sources,
      crashBackoff: new Backoff({ initialMs: crash.initialMs ?? 10_000, maxMs: crash.maxMs ?? 300_000 }, this.clock),
      imageBackoff: new Backoff({ initialMs: image.initialMs ?? 10_000, maxMs: image.maxMs ?? 300_000 }, this.clock),
      retryBackoff: new Backoff({ initialMs: 500, maxMs: 120_000 }, this.clock),
      backoffResetMs: crash.resetAfterMs ?? 600_000,
      syncIntervalMs: this.syncIntervalMs,
      hostIPs: [this.nodeIP],
      allocatable: () => this.nodeStatus.capacity,
      simulateNetwork,
      dns: {
        clusterDNS: opts.clusterDNS ?? [],
        clusterDomain: opts.clusterDomain ?? 'cluster.local',
        host: opts.resolvConf ?? readHostResolvConf(),
      },
      serviceEnv: (pod) => {
        // The kubelet's own words when it cannot know the Services yet.
        if (!this.services.synced) throw new ContainerConfigError('services have not yet been read at least once, cannot construct envvars');
        return serviceEnvForPod(pod, this.services.list());
      },
      log: this.log,
      pod: (uid) => this.podsByUid.get(uid),
      done: (uid) => {
        this.workers.delete(uid);
        this.removed.set(uid, this.cache.nextSeq());
      },
      observed: (uid, state) => this.fingerprints.set(uid, fingerprint(state)),
    };
  }

  /**
   * Registers the node, starts the heartbeat, reads what the runtime already
   * runs, then starts watching this node's pods. Resolves once every known
   * pod has a worker (their first syncs run on their own).
   */
  async start(): Promise<void> {
    try {
      this.nodeStatus.setRuntimeVersion(await this.runtime.version());
    } catch (err) {
      this.nodeStatus.setRuntimeProblem((err as Error).message);
    }
    await this.nodeStatus.register();
    this.nodeStatus.start();
    await this.lease.start();

    // Containers get the Services' variables: know them before the first pod starts.
    await this.services.start();
    // What runs already is known before any pod is synced, so nothing is started twice.
    await this.cache.relist().catch((err) => this.log(`listing the runtime's pods failed: ${(err as Error).message}`));
    this.podInformer.on({
      add: (pod) => this.onPod(pod),
      update: (old, pod) => {
        if (old.metadata.uid !== pod.metadata.uid) {
          this.onPodDeleted(old);
          this.onPod(pod);
        } else {
          this.onPod(pod, old);
        }
      },
      delete: (pod) => this.onPodDeleted(pod),
    });
    await this.podInformer.start();
    this.synced = true;
    this.adoptOrphans(this.cache.snapshot());

    // Only deaths matter: nothing starts but what a worker started itself.
    this.unsubscribe = this.runtime.onEvent((e) => {
      if (e.type === 'died') this.workers.get(e.podUid)?.requestSync(true);
    });
    this.scheduleRelist();
    this.log(`started: ${this.podsByUid.size} pods on the node, ${this.cache.snapshot().size} in the runtime`);
  }

  /** Stops heartbeats, watches and workers (waiting for syncs under way). The Node and the containers stay. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelRelist?.();
    this.unsubscribe?.();
    this.podInformer.stop();
    if (this.ownServices) this.services.stop();
    this.probes.stop();
    await Promise.all([this.lease.stop(), this.nodeStatus.stop(), ...[...this.workers.values()].map((w) => w.stop())]);
    this.sources.stop();
  }

  /**
   * The runtime id of a pod's container for logs and exec (AgentServer's
   * `resolveContainer`): the newest instance, or with `previous` the one
   * before it. Throws the API errors the kubelet answers with.
   */
  async resolveContainer(namespace: string, podName: string, container: string | undefined, previous: boolean): Promise<string> {
    const pod = this.podInformer.get(`${namespace}/${podName}`);
    if (!pod) throw notFound(PODS, podName);
    const names = (key: string) => (pod.spec?.[key] ?? []).map((c: any) => c.name as string);
    const [apps, inits] = [names('containers'), names('initContainers')];
    if (!container) {
      if (apps.length !== 1) {
        const initHint = inits.length ? ` or one of the init containers: [${inits.join(' ')}]` : '';
        throw badRequest(`a container name must be specified for pod ${podName}, choose one of: [${apps.join(' ')}]${initHint}`);
      }
      container = apps[0];
    }
    if (!apps.includes(container) && !inits.includes(container)) throw badRequest(`container ${container} is not valid for pod ${podName}`);
    const rp = await this.cache.get(pod.metadata.uid!, this.cache.nextSeq());
    const instances = (rp?.containers ?? []).filter((c) => c.name === container).sort(newestFirst);
    const found = instances[previous ? 1 : 0];
    if (found) return found.id;
    if (previous) throw badRequest(`previous terminated container "${container}" in pod "${podName}" not found`);
    const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
    const reason = statuses.find((s: any) => s.name === container)?.state?.waiting?.reason ?? 'ContainerCreating';
    throw badRequest(`container "${container}" in pod "${podName}" is waiting to start: ${reason}`);
  }

  /**
   * The sandbox a port forward into the pod enters (AgentServer's
   * `resolveSandbox`): its running one, else its newest. Throws the API
   * errors the kubelet answers with: 404 for a pod not on this node, 500
   * (its GetPortForward) for one without any sandbox yet.
   */
  async resolveSandbox(namespace: string, podName: string): Promise<{ id: string; uid: string }> {
    const pod = this.podInformer.get(`${namespace}/${podName}`);
    if (!pod) throw notFound(PODS, podName);
    const uid = pod.metadata.uid!;
    const rp = await this.cache.get(uid, this.cache.nextSeq());
    const sandboxes = [...(rp?.sandboxes ?? [])].sort((a, b) => Number(b.ready) - Number(a.ready) || b.createdAt.getTime() - a.createdAt.getTime());
    if (!sandboxes[0]) throw internalError(`failed to find sandboxID for pod ${podName}_${namespace}(${uid})`);
    return { id: sandboxes[0].id, uid };
  }

  /** The log/exec server's port, once known: written to the Node's daemonEndpoints at once. */
  setDaemonPort(port: number): void {
    this.nodeStatus.setDaemonPort(port);
  }

  private scheduleRelist(): void {
    if (this.stopped) return;
    this.cancelRelist = this.clock.after(this.syncIntervalMs, () => {
      this.cache
        .relist()
        .catch((err) => this.log(`listing the runtime's pods failed: ${(err as Error).message}`))
        .finally(() => this.scheduleRelist());
    });
  }

  private worker(uid: string): PodWorker {
    let w = this.workers.get(uid);
    if (!w) {
      w = new PodWorker(uid, this.workerContext);
      this.workers.set(uid, w);
    }
    return w;
  }

  private onPod(pod: KubeObject, old?: KubeObject): void {
    if (this.stopped) return;
    const uid = pod.metadata.uid!;
    this.podsByUid.set(uid, pod);
    const w = this.worker(uid);
    if (!old || !w.isOwnWrite(old, pod)) w.requestSync();
  }

  private onPodDeleted(pod: KubeObject): void {
    const uid = pod.metadata.uid!;
    this.podsByUid.delete(uid);
    if (!this.stopped) this.workers.get(uid)?.requestSync();
  }

  /** Wakes the workers of pods whose runtime state changed, and gives orphans a worker that removes them. */
  private onRelist(pods: Map<string, RuntimePod>, seq: number): void {
    if (this.stopped) return;
    for (const [uid, rp] of pods) {
      const fp = fingerprint(rp);
      if (this.fingerprints.get(uid) === fp) continue;
      this.fingerprints.set(uid, fp);
      this.workers.get(uid)?.requestSync();
    }
    for (const uid of [...this.fingerprints.keys()]) {
      if (pods.has(uid)) continue;
      this.fingerprints.delete(uid);
      this.workers.get(uid)?.requestSync();
    }
    // A relist that began before a worker finished removing its pod may still show it: not an orphan.
    for (const [uid, from] of this.removed) if (seq >= from) this.removed.delete(uid);
    if (this.synced) this.adoptOrphans(pods);
  }

  /** Runtime pods the API does not bind to this node (any more): a worker finds the pod gone and removes them. */
  private adoptOrphans(pods: ReadonlyMap<string, RuntimePod>): void {
    for (const uid of pods.keys()) {
      if (this.podsByUid.has(uid) || this.workers.has(uid) || this.removed.has(uid)) continue;
      this.log(`removing the containers of pod ${pods.get(uid)!.namespace}/${pods.get(uid)!.name} (${uid}): it is not on this node any more`);
      this.worker(uid).requestSync();
    }
  }
}
