import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import { Backoff, goDuration } from './backoff';
import type { Clock } from './clock';
import { ConfigSources, podObjectRefs } from './config-sources';
import { containerConfig, containerHash, pullPolicy, sandboxConfig, type ContainerType } from './containers';
import { podDnsConfig, type ClusterDnsSettings } from './dns/pod-dns';
import { ContainerConfigError, expandArgs, resolveEnv, type EnvContext } from './env';
import { canonicalJson } from './json';
import type { PodEvents } from './pod-events';
import { computePodStatus, type Waiting } from './pod-status';
import { runAction, type ProbeManager } from './probes';
import type { RuntimeCache } from './runtime-cache';
import { ImagePullError, LABELS, type ContainerRuntime, type ContainerStatus, type RuntimePod, type SandboxStatus } from './runtime/runtime';
import { MountError, type PreparedVolume, type VolumeManager } from './volumes';

const PODS = resolveResourceName('pods')!;

/** The kubelet never gives a container less than this to stop (minimumGracePeriodInSeconds). */
const MIN_GRACE_SECONDS = 2;

/** What a pod worker needs from its agent. */
export interface WorkerContext {
  nodeName: string;
  client: KubeClient;
  runtime: ContainerRuntime;
  cache: RuntimeCache;
  clock: Clock;
  events: PodEvents;
  probes: ProbeManager;
  volumes: VolumeManager;
  sources: ConfigSources;
  /** Crash loops (and failed starts), per `uid/container`. */
  crashBackoff: Backoff;
  /** Image pulls, per `uid/image`. */
  imageBackoff: Backoff;
  /** Mount, configuration and sync retries, per `uid/...`. */
  retryBackoff: Backoff;
  /** A container that ran this long before it exited restarts without backoff. */
  backoffResetMs: number;
  /** How soon an image pull failure turns from ErrImagePull into ImagePullBackOff. */
  syncIntervalMs: number;
  hostIPs: string[];
  allocatable: () => Record<string, string>;
  simulateNetwork: boolean;
  /** Cluster DNS for the pods' resolv.conf (the kubelet's --cluster-dns, --cluster-domain, --resolv-conf). */
  dns: ClusterDnsSettings;
  /** The Services' environment variables for a pod's containers; throws ContainerConfigError before Services are known. */
  serviceEnv(pod: KubeObject): ReadonlyMap<string, string>;
  log: (line: string) => void;
  /** The pod with this uid as the API has it (informer), or undefined once it is gone. */
  pod(uid: string): KubeObject | undefined;
  /** The worker has removed everything of a pod that is gone: forget it. */
  done(uid: string): void;
  /** The runtime state a sync left the pod in, so the next relist only wakes the worker if something else changed. */
  observed(uid: string, state: { sandboxes: SandboxStatus[]; containers: ContainerStatus[] }): void;
}

/** A pod's runtime objects as this sync sees them: the relist, plus what the sync itself changed. */
class PodView {
  readonly sandboxes: SandboxStatus[];
  readonly containers: ContainerStatus[];

  constructor(rp: RuntimePod | undefined) {
    this.sandboxes = [...(rp?.sandboxes ?? [])];
    this.containers = [...(rp?.containers ?? [])];
  }

  get empty(): boolean {
    return !this.sandboxes.length && !this.containers.length;
  }

  /** The newest sandbox: the pod's network, if it is still ready. */
  sandbox(): SandboxStatus | undefined {
    let best: SandboxStatus | undefined;
    for (const s of this.sandboxes) if (!best || s.createdAt.getTime() > best.createdAt.getTime()) best = s;
    return best;
  }

  /** Instances of one container, newest first (highest attempt, then latest created). */
  instances(name: string): ContainerStatus[] {
    return this.containers.filter((c) => c.name === name).sort(newestFirst);
  }

  byName(): Map<string, ContainerStatus[]> {
    const out = new Map<string, ContainerStatus[]>();
    for (const c of this.containers) {
      const list = out.get(c.name);
      if (list) list.push(c);
      else out.set(c.name, [c]);
    }
    for (const list of out.values()) list.sort(newestFirst);
    return out;
  }

  upsert(c: ContainerStatus): void {
    const i = this.containers.findIndex((x) => x.id === c.id);
    if (i >= 0) this.containers[i] = c;
    else this.containers.push(c);
  }

  removeContainer(id: string): void {
    const i = this.containers.findIndex((x) => x.id === id);
    if (i >= 0) this.containers.splice(i, 1);
  }

  removeSandbox(id: string): void {
    const i = this.sandboxes.findIndex((x) => x.id === id);
    if (i >= 0) this.sandboxes.splice(i, 1);
  }
}

/** Orders a container's instances newest first: highest attempt, then latest created. */
export function newestFirst(a: ContainerStatus, b: ContainerStatus): number {
  return b.attempt - a.attempt || b.createdAt.getTime() - a.createdAt.getTime();
}

function isActive(c: ContainerStatus): boolean {
  return c.state === 'running' || c.state === 'created';
}

/** `name_namespace(uid)`, as the kubelet names pods in messages. */
function podDesc(pod: KubeObject): string {
  return `${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`;
}

/**
 * One pod's worker: every sync of the pod runs here, one at a time
 * (requests during a sync fold into one more sync after it). A sync is
 * level-based: it reads the pod from the informer and the runtime from the
 * relist cache, drives the runtime toward the spec (sandbox, volumes, init
 * containers in order, app containers with restart policy and backoff,
 * probes' verdicts, graceful deletion), and writes the resulting PodStatus
 * if it differs from what the API has. Timers exist only while something is
 * due (a backoff ending); an idle pod costs nothing.
 */
export class PodWorker {
  private pending = false;
  private loop?: Promise<void>;
  /** The relist a sync must see at least: one started after this worker's last change. */
  private needSeq = 0;
  private cancelWake?: () => void;
  private stopped = false;
  private failures = 0;
  /** Why containers wait, as found by the current sync. */
  private waiting = new Map<string, Waiting>();
  /** Containers whose create or start failed: when, and how to report it while backing off. */
  private readonly startFailures = new Map<string, { at: number; waiting: Waiting }>();
  /** The last pull error per `uid/image`, shown with ImagePullBackOff. */
  private readonly imageFailures = new Map<string, string>();
  /** The last status written (or being written): the pod's resourceVersion before and after, and the canonical JSON sent. */
  private lastWritten?: { basedOnRv?: string; resultRv?: string; sent: string };
  /** Set once a terminating pod's final status has been written. */
  private finalStatusWritten = false;
  /**
   * Set once the pod object's final delete has been answered: syncs that
   * follow (woken by that status write's own echo) wait for the informer's
   * DELETED instead of deleting again, as the kubelet deletes once.
   */
  private finalDeleteDone = false;

  constructor(
    readonly uid: string,
    private readonly ctx: WorkerContext,
  ) {}

  /**
   * Whether an update of the pod is only the echo of this worker's own
   * status write (which may arrive before the write's response does).
   */
  isOwnWrite(old: KubeObject, pod: KubeObject): boolean {
    const lw = this.lastWritten;
    if (!lw) return false;
    if (lw.resultRv && lw.resultRv === pod.metadata.resourceVersion) return true;
    // Both versions come from the same server, so unchanged parts serialize identically.
    const rest = (p: KubeObject) => JSON.stringify([p.spec, { ...p.metadata, resourceVersion: undefined, managedFields: undefined }]);
    return rest(old) === rest(pod) && canonicalJson(pod.status ?? {}) === lw.sent;
  }

  /**
   * Asks for a sync. `freshRuntime`: the runtime changed behind the agent's
   * back (a container died), so the sync must see a relist started from now.
   */
  requestSync(freshRuntime = false): void {
    if (this.stopped) return;
    if (freshRuntime) this.needSeq = Math.max(this.needSeq, this.ctx.cache.nextSeq());
    this.pending = true;
    this.loop ??= this.run();
  }

  /** Stops scheduling syncs and waits for the one under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelWake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.pending && !this.stopped) {
      this.pending = false;
      let wakeAt: number | undefined;
      try {
        wakeAt = await this.sync();
        this.failures = 0;
      } catch (err) {
        this.failures++;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7));
        this.ctx.log(`syncing pod ${this.describe()} failed (retrying in ${goDuration(delay)}): ${(err as Error).message}`);
        wakeAt = this.ctx.clock.now() + delay;
      }
      this.setWake(wakeAt);
    }
    this.loop = undefined;
  }

  private describe(): string {
    const pod = this.ctx.pod(this.uid);
    return pod ? `${pod.metadata.namespace}/${pod.metadata.name}` : this.uid;
  }

  private setWake(at: number | undefined): void {
    this.cancelWake?.();
    this.cancelWake = undefined;
    if (at === undefined || this.stopped) return;
    this.cancelWake = this.ctx.clock.after(at - this.ctx.clock.now(), () => {
      this.cancelWake = undefined;
      this.requestSync(true);
    });
  }

  /** One sync; returns when the next one is due on its own (a backoff ending), if ever. */
  private async sync(): Promise<number | undefined> {
    const { ctx } = this;
    const view = new PodView(await ctx.cache.get(this.uid, this.needSeq));
    const pod = ctx.pod(this.uid);
    try {
      if (!pod) {
        await this.teardown(view);
        return undefined;
      }
      if (pod.metadata.deletionTimestamp) {
        await this.terminate(pod, view);
        return undefined;
      }
      ctx.sources.track(this.uid, pod.metadata.namespace ?? 'default', podObjectRefs(pod));
      this.waiting = new Map();
      const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
      let wakeAt: number | undefined;
      if (terminal) {
        // A finished pod runs nothing; its exited containers stay for logs until it is deleted.
        for (const c of view.containers.filter(isActive)) await this.kill(pod, view, c, MIN_GRACE_SECONDS, null);
      } else {
        wakeAt = await this.drive(pod, view);
      }
      const sandbox = view.sandbox();
      const podIP = pod.spec?.hostNetwork ? ctx.hostIPs[0] : sandbox?.ip;
      ctx.probes.update(
        pod,
        view.containers
          .filter((c) => c.state === 'running')
          .map((c) => ({ name: c.name, id: c.id, startedAt: (c.startedAt ?? c.createdAt).getTime() })),
        podIP,
      );
      if (!terminal) await this.writeStatus(pod, this.status(pod, view));
      ctx.observed(this.uid, view);
      return wakeAt;
    } finally {
      // Whatever this sync changed, the next one must see a relist that started after it.
      this.needSeq = ctx.cache.nextSeq();
    }
  }

  private status(pod: KubeObject, view: PodView, terminated = false): any {
    const { ctx } = this;
    return computePodStatus({
      pod,
      sandbox: view.sandbox(),
      instances: view.byName(),
      waiting: this.waiting,
      ready: (spec, id) => ctx.probes.ready(this.uid, spec, id),
      started: (spec, id) => ctx.probes.started(this.uid, spec, id),
      hostIPs: ctx.hostIPs,
      runtimeName: ctx.runtime.name,
      now: ctx.clock.now(),
      terminated,
    });
  }

  /** Writes the status if it differs from what the API has (or from what this worker last wrote). */
  private async writeStatus(pod: KubeObject, status: any): Promise<void> {
    const sent = canonicalJson(status);
    const rv = pod.metadata.resourceVersion;
    const lw = this.lastWritten;
    // The informer may still hold the version before our last write, or the server's rendering of it.
    const current = lw && (rv === lw.basedOnRv || rv === lw.resultRv) ? lw.sent : canonicalJson(pod.status ?? {});
    if (sent === current) return;
    this.lastWritten = { basedOnRv: rv, sent };
    try {
      const written = await this.ctx.client.patch(
        PODS,
        pod.metadata.namespace,
        pod.metadata.name!,
        [
          // Only this pod, not a namesake created since.
          { op: 'test', path: '/metadata/uid', value: this.uid },
          { op: 'add', path: '/status', value: status },
        ],
        'json',
        { subresource: 'status' },
      );
      this.lastWritten = { basedOnRv: rv, resultRv: written.metadata.resourceVersion, sent };
    } catch (err) {
      this.lastWritten = undefined;
      // Gone or replaced: the informer will say so and the next sync tears down.
      if (ApiStatusError.isNotFound(err) || (err instanceof ApiStatusError && (err.code === 409 || err.code === 422))) return;
      throw err;
    }
  }

  // -------------------------------------------------------------------------
  // Driving a live pod

  /** Brings the runtime toward the pod's spec. Returns when a backoff ends and another sync is due. */
  private async drive(pod: KubeObject, view: PodView): Promise<number | undefined> {
    const { ctx } = this;
    const spec = pod.spec ?? {};
    const policy: string = spec.restartPolicy ?? 'Always';
    const initSpecs: any[] = spec.initContainers ?? [];
    const appSpecs: any[] = spec.containers ?? [];
    let wakeAt: number | undefined;
    const wake = (at: number) => {
      wakeAt = wakeAt === undefined ? at : Math.min(wakeAt, at);
    };

    await this.removeStrays(pod, view, [...initSpecs, ...appSpecs]);

    // A pod whose containers all finished for good keeps what it has, even without a sandbox.
    const done = appSpecs.length > 0 && appSpecs.every((c) => {
      const latest = view.instances(c.name)[0];
      return latest?.state === 'exited' && (policy === 'Never' || (policy === 'OnFailure' && latest.exitCode === 0));
    });
    if (policy !== 'Always' && done) return undefined;

    let volumes: Map<string, PreparedVolume>;
    try {
      volumes = await ctx.volumes.setup(pod, this.envContext(pod, view.sandbox()));
      ctx.retryBackoff.reset(`${this.uid}/mount`);
    } catch (err) {
      if (!(err instanceof MountError)) throw err;
      ctx.events.record(pod, 'Warning', 'FailedMount', err.message);
      wake(ctx.clock.now() + ctx.retryBackoff.next(`${this.uid}/mount`));
      return wakeAt;
    }

    let sandbox = view.sandbox();
    if (!sandbox || !sandbox.ready) {
      if (sandbox || view.containers.length) ctx.events.record(pod, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
      for (const c of view.containers.filter(isActive)) await this.kill(pod, view, c, MIN_GRACE_SECONDS);
      for (const s of [...view.sandboxes]) {
        await ctx.runtime.removeSandbox(s.id);
        view.removeSandbox(s.id);
      }
      try {
        const dns = podDnsConfig(pod, ctx.dns);
        for (const w of dns.warnings) ctx.events.record(pod, 'Warning', w.reason, w.message);
        sandbox = await ctx.runtime.runSandbox(sandboxConfig(pod, ctx.nodeName, dns.dns));
        ctx.retryBackoff.reset(`${this.uid}/sandbox`);
      } catch (err) {
        ctx.events.record(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(err as Error).message}`);
        wake(ctx.clock.now() + ctx.retryBackoff.next(`${this.uid}/sandbox`));
        return wakeAt;
      }
      view.sandboxes.push(sandbox);
    }
    // A second sandbox (a crash between creating and recording one) is a stray.
    for (const s of view.sandboxes.filter((x) => x.id !== sandbox!.id)) {
      await ctx.runtime.removeSandbox(s.id);
      view.removeSandbox(s.id);
    }
    const since = sandbox.createdAt.getTime();
    const inSandbox = (c: ContainerStatus | undefined) => !!c && c.createdAt.getTime() >= since;

    // Init containers, one at a time and in order, each to success. Once an
    // app container has run in this sandbox, initialization is over.
    const initialized = appSpecs.some((c) => inSandbox(view.instances(c.name)[0]));
    if (!initialized) {
      for (const c of initSpecs) {
        const latest = view.instances(c.name)[0];
        const current = inSandbox(latest) ? latest : undefined;
        // Running, or 'unknown' until the next relist tells: wait for it either way.
        if (current?.state === 'running' || current?.state === 'unknown') return wakeAt;
        if (current?.state === 'exited' && current.exitCode === 0) continue;
        if (current?.state === 'exited') {
          if (policy === 'Never') return wakeAt;
          const retry = this.backedOff(pod, c, current, true);
          if (retry !== undefined) {
            wake(retry);
            return wakeAt;
          }
        } else if (current?.state === 'created') {
          await this.remove(view, current);
        }
        const gated = this.startGated(c);
        if (gated !== undefined) {
          wake(gated);
          return wakeAt;
        }
        const next = await this.start(pod, c, 'init', this.nextAttempt(pod, view, c.name), sandbox, volumes, view);
        if (next !== undefined) wake(next);
        // The next init container waits for this one to finish.
        return wakeAt;
      }
    }

    for (const c of appSpecs) {
      let latest: ContainerStatus | undefined = view.instances(c.name)[0];
      if (latest && latest.state === 'running') {
        const hash = latest.labels[LABELS.specHash];
        const changed = !!hash && hash !== containerHash(c);
        const probeFailure = ctx.probes.failed(this.uid, c.name, latest.id);
        if (!changed && !probeFailure && inSandbox(latest)) continue;
        const podGrace = spec.terminationGracePeriodSeconds ?? 30;
        if (changed) {
          await this.kill(pod, view, latest, podGrace, `Container ${c.name} definition changed, will be restarted`);
          const next = await this.start(pod, c, 'app', this.nextAttempt(pod, view, c.name), sandbox, volumes, view);
          if (next !== undefined) wake(next);
          continue;
        }
        if (probeFailure) {
          const grace = c[`${probeFailure}Probe`]?.terminationGracePeriodSeconds ?? podGrace;
          await this.kill(pod, view, latest, grace, `Container ${c.name} failed ${probeFailure} probe, will be restarted`);
        } else {
          await this.kill(pod, view, latest, MIN_GRACE_SECONDS);
        }
        latest = view.instances(c.name)[0];
      }
      if (latest?.state === 'created') {
        // Created but never started (the agent stopped in between): start over.
        await this.remove(view, latest);
        latest = view.instances(c.name)[0];
      }
      if (latest?.state === 'exited') {
        const restart = policy === 'Always' || (policy === 'OnFailure' && latest.exitCode !== 0);
        if (!restart) continue;
        const retry = this.backedOff(pod, c, latest, false);
        if (retry !== undefined) {
          wake(retry);
          continue;
        }
      } else if (latest) {
        // 'unknown': let the next relist tell.
        continue;
      }
      const gated = this.startGated(c);
      if (gated !== undefined) {
        wake(gated);
        continue;
      }
      const next = await this.start(pod, c, 'app', this.nextAttempt(pod, view, c.name), sandbox, volumes, view);
      if (next !== undefined) wake(next);
    }
    return wakeAt;
  }

  /**
   * The kubelet's doBackOff for an exited container about to be restarted:
   * undefined to restart now, else when to look again (and the container
   * shows CrashLoopBackOff meanwhile).
   */
  private backedOff(pod: KubeObject, c: any, exited: ContainerStatus, init: boolean): number | undefined {
    const { ctx } = this;
    const key = `${this.uid}/${c.name}`;
    const finished = (exited.finishedAt ?? exited.createdAt).getTime();
    const started = (exited.startedAt ?? exited.createdAt).getTime();
    if (finished - started >= ctx.backoffResetMs) ctx.crashBackoff.reset(key);
    if (ctx.crashBackoff.isInBackOffSince(key, finished)) {
      const delay = ctx.crashBackoff.get(key);
      this.waiting.set(c.name, {
        reason: 'CrashLoopBackOff',
        message: `back-off ${goDuration(delay)} restarting failed container=${c.name} pod=${podDesc(pod)}`,
      });
      ctx.events.record(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${podDesc(pod)}`, { name: c.name, init });
      return ctx.crashBackoff.retryAt(key, finished);
    }
    ctx.crashBackoff.next(key, finished);
    this.startFailures.delete(c.name);
    return undefined;
  }

  /** A container whose last create/start failed waits out its backoff: when to look again, or undefined to go. */
  private startGated(c: any): number | undefined {
    const failure = this.startFailures.get(c.name);
    if (!failure) return undefined;
    const key = `${this.uid}/${c.name}`;
    if (!this.ctx.crashBackoff.isInBackOffSince(key, failure.at)) return undefined;
    this.waiting.set(c.name, failure.waiting);
    return this.ctx.crashBackoff.retryAt(key, failure.at);
  }

  /** The restart count a new instance gets: one more than the last, which the API remembers if the runtime forgot. */
  private nextAttempt(pod: KubeObject, view: PodView, name: string): number {
    const latest = view.instances(name)[0];
    if (latest) return latest.attempt + 1;
    const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
    const known = statuses.find((s: any) => s.name === name);
    return known?.containerID ? (known.restartCount ?? 0) + 1 : 0;
  }

  private envContext(pod: KubeObject, sandbox: SandboxStatus | undefined): EnvContext {
    const { ctx } = this;
    const podIPs = pod.spec?.hostNetwork ? ctx.hostIPs : sandbox?.ip ? [sandbox.ip] : [];
    const alloc = ctx.allocatable();
    return {
      pod,
      podIPs,
      hostIPs: ctx.hostIPs,
      allocatable: { cpu: alloc.cpu, memory: alloc.memory, 'ephemeral-storage': alloc['ephemeral-storage'] },
      read: (kind, namespace, name) => ctx.sources.read(kind, namespace, name),
    };
  }

  /**
   * Pulls (per policy), configures, creates and starts one container.
   * Returns when to look again if it could not (a backoff), else undefined.
   */
  private async start(
    pod: KubeObject, c: any, type: ContainerType, attempt: number, sandbox: SandboxStatus, volumes: Map<string, PreparedVolume>, view: PodView,
  ): Promise<number | undefined> {
    const { ctx } = this;
    const init = type === 'init';
    const ref = { name: c.name, init };
    const event = (t: 'Normal' | 'Warning', reason: string, message: string) => ctx.events.record(pod, t, reason, message, ref);
    const now = () => ctx.clock.now();

    // Image
    const image: string = c.image;
    const policy = pullPolicy(c);
    const imageKey = `${this.uid}/${image}`;
    if (ctx.imageBackoff.isInBackOffSinceUpdate(imageKey)) {
      const last = this.imageFailures.get(imageKey);
      this.waiting.set(c.name, { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"${last ? `: ${last}` : ''}` });
      event('Normal', 'BackOff', `Back-off pulling image "${image}"`);
      event('Warning', 'Failed', 'Error: ImagePullBackOff');
      return ctx.imageBackoff.retryAtSinceUpdate(imageKey);
    }
    if (policy === 'Always') event('Normal', 'Pulling', `Pulling image "${image}"`);
    const pullStart = now();
    try {
      const result = await ctx.runtime.ensureImage(image, policy);
      if (result.pulled) {
        if (policy !== 'Always') event('Normal', 'Pulling', `Pulling image "${image}"`);
        event('Normal', 'Pulled', `Successfully pulled image "${image}" in ${goDuration(now() - pullStart)}`);
      } else {
        event('Normal', 'Pulled', `Container image "${image}" already present on machine`);
      }
      ctx.imageBackoff.reset(imageKey);
      this.imageFailures.delete(imageKey);
    } catch (err) {
      if (!(err instanceof ImagePullError)) throw err;
      if (err.reason === 'ErrImageNeverPull' || err.reason === 'InvalidImageName') {
        // No pull will ever happen, so there is no ImagePullBackOff (as the kubelet):
        // keep reporting the reason, and look again later in case the image is loaded.
        if (err.reason === 'ErrImageNeverPull') {
          const message = `Container image "${image}" is not present with pull policy of Never`;
          this.waiting.set(c.name, { reason: 'ErrImageNeverPull', message });
          event('Warning', 'ErrImageNeverPull', message);
        } else {
          this.waiting.set(c.name, { reason: 'InvalidImageName', message: err.message });
          event('Warning', 'InspectFailed', err.message);
        }
        return now() + ctx.retryBackoff.next(`${imageKey}/absent`);
      }
      ctx.imageBackoff.next(imageKey);
      this.imageFailures.set(imageKey, `ErrImagePull: ${err.message}`);
      this.waiting.set(c.name, { reason: 'ErrImagePull', message: err.message });
      event('Warning', 'Failed', err.message.startsWith('Failed to pull image') ? err.message : `Failed to pull image "${image}": ${err.message}`);
      event('Warning', 'Failed', 'Error: ErrImagePull');
      // Look again soon, to show ImagePullBackOff for the rest of the backoff.
      return Math.min(now() + ctx.syncIntervalMs, ctx.imageBackoff.retryAtSinceUpdate(imageKey));
    }

    // Configuration
    let config;
    try {
      const envCtx = { ...this.envContext(pod, sandbox), serviceEnv: ctx.serviceEnv(pod) };
      const resolved = await resolveEnv(c, envCtx);
      for (const w of resolved.warnings) event('Warning', w.reason, w.message);
      const mounts = await ctx.volumes.mounts(c, volumes, resolved.env);
      config = containerConfig(pod, c, {
        nodeName: ctx.nodeName,
        type,
        attempt,
        env: resolved.env,
        command: expandArgs(c.command, resolved.env),
        args: expandArgs(c.args, resolved.env),
        mounts,
      });
      ctx.retryBackoff.reset(`${this.uid}/${c.name}/config`);
    } catch (err) {
      if (!(err instanceof ContainerConfigError) && !(err instanceof MountError)) throw err;
      this.waiting.set(c.name, { reason: 'CreateContainerConfigError', message: err.message });
      event('Warning', 'Failed', `Error: ${err.message}`);
      return now() + ctx.retryBackoff.next(`${this.uid}/${c.name}/config`);
    }

    // Create and start
    let id: string;
    try {
      id = await ctx.runtime.createContainer(sandbox.id, config);
    } catch (err) {
      return this.startFailed(c, 'CreateContainerError', err as Error, event);
    }
    event('Normal', 'Created', `Created container ${c.name}`);
    try {
      await ctx.runtime.startContainer(id);
    } catch (err) {
      await ctx.runtime.removeContainer(id).catch(() => undefined);
      return this.startFailed(c, 'RunContainerError', err as Error, event);
    }
    event('Normal', 'Started', `Started container ${c.name}`);
    this.startFailures.delete(c.name);
    let status = await ctx.runtime.containerStatus(id);
    if (status) view.upsert(status);

    const postStart = c.lifecycle?.postStart;
    if (postStart && status?.state === 'running') {
      const result = await runAction(postStart, { pod, container: c, containerId: id, podIP: sandbox.ip }, {
        runtime: ctx.runtime,
        timeoutMs: (pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000,
        simulateNetwork: ctx.simulateNetwork,
      });
      if (!result.ok) {
        event('Warning', 'FailedPostStartHook', `PostStartHook failed: ${result.message}`);
        await this.kill(pod, view, status, MIN_GRACE_SECONDS, `FailedPostStartHook`);
        status = await ctx.runtime.containerStatus(id);
        if (status) view.upsert(status);
      }
    }
    return undefined;
  }

  private startFailed(c: any, reason: string, err: Error, event: (t: 'Normal' | 'Warning', reason: string, message: string) => void): number {
    const { ctx } = this;
    const key = `${this.uid}/${c.name}`;
    const at = ctx.clock.now();
    ctx.crashBackoff.next(key, at);
    const waiting = { reason, message: err.message };
    this.startFailures.set(c.name, { at, waiting });
    this.waiting.set(c.name, waiting);
    event('Warning', 'Failed', `Error: ${err.message}`);
    return ctx.crashBackoff.retryAt(key, at);
  }

  /** Removes what no spec asks for: containers of unknown names, extra running instances, and all but the two newest of each. */
  private async removeStrays(pod: KubeObject, view: PodView, specs: any[]): Promise<void> {
    const names = new Set(specs.map((c) => c.name));
    for (const [name, instances] of view.byName()) {
      for (let i = 0; i < instances.length; i++) {
        const c = instances[i];
        const stray = !names.has(name) || (i >= 1 && isActive(c)) || i >= 2;
        if (!stray) continue;
        if (isActive(c)) await this.kill(pod, view, c, MIN_GRACE_SECONDS, null);
        await this.remove(view, c);
      }
    }
  }

  private async remove(view: PodView, c: ContainerStatus): Promise<void> {
    await this.ctx.runtime.removeContainer(c.id);
    view.removeContainer(c.id);
  }

  /**
   * Stops a container: its preStop hook (within the grace period), then
   * SIGTERM and SIGKILL after what is left of the grace. `message` is the
   * Killing event (default `Stopping container X`; null for none).
   */
  private async kill(pod: KubeObject | undefined, view: PodView, c: ContainerStatus, graceSeconds: number, message?: string | null): Promise<void> {
    const { ctx } = this;
    const init = !!pod?.spec?.initContainers?.some((x: any) => x.name === c.name);
    const spec = [...(pod?.spec?.initContainers ?? []), ...(pod?.spec?.containers ?? [])].find((x: any) => x.name === c.name);
    if (pod && message !== null) ctx.events.record(pod, 'Normal', 'Killing', message ?? `Stopping container ${c.name}`, { name: c.name, init });
    let grace = Math.max(graceSeconds, MIN_GRACE_SECONDS);
    const preStop = spec?.lifecycle?.preStop;
    if (pod && preStop && c.state === 'running') {
      const t0 = ctx.clock.now();
      const sandbox = view.sandbox();
      const result = await runAction(preStop, { pod, container: spec, containerId: c.id, podIP: pod.spec?.hostNetwork ? ctx.hostIPs[0] : sandbox?.ip }, {
        runtime: ctx.runtime,
        timeoutMs: grace * 1000,
        simulateNetwork: ctx.simulateNetwork,
      });
      if (!result.ok) {
        ctx.events.record(pod, 'Warning', 'FailedPreStopHook', `PreStopHook failed: ${result.message}`, { name: c.name, init });
      }
      grace = Math.max(MIN_GRACE_SECONDS, grace - Math.floor((ctx.clock.now() - t0) / 1000));
    }
    await ctx.runtime.stopContainer(c.id, grace);
    const after = await ctx.runtime.containerStatus(c.id);
    view.upsert(after ?? { ...c, state: 'exited', finishedAt: new Date(ctx.clock.now()), exitCode: c.exitCode ?? 137 });
  }

  // -------------------------------------------------------------------------
  // Ending a pod

  /**
   * Graceful deletion: stop every container (preStop, SIGTERM, SIGKILL after
   * the grace period), write the final status, remove the containers,
   * sandbox and volumes, then delete the pod object for good.
   */
  private async terminate(pod: KubeObject, view: PodView): Promise<void> {
    const { ctx } = this;
    ctx.probes.removePod(this.uid);
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    await Promise.all(view.containers.filter(isActive).map((c) => this.kill(pod, view, c, grace)));
    if (!this.finalStatusWritten && !view.empty && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed') {
      this.waiting = new Map();
      await this.writeStatus(pod, this.status(pod, view, true));
      this.finalStatusWritten = true;
    }
    await this.removeAll(view);
    if (this.finalDeleteDone) return;
    try {
      await ctx.client.delete(PODS, pod.metadata.namespace, pod.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: this.uid } });
    } catch (err) {
      if (!ApiStatusError.isNotFound(err) && !ApiStatusError.isConflict(err)) throw err;
    }
    this.finalDeleteDone = true;
  }

  /** The pod is gone from the API (or never was ours): remove everything it left, then forget it. */
  private async teardown(view: PodView): Promise<void> {
    const { ctx } = this;
    ctx.probes.removePod(this.uid);
    await Promise.all(view.containers.filter(isActive).map((c) => this.kill(undefined, view, c, MIN_GRACE_SECONDS, null)));
    await this.removeAll(view);
    ctx.sources.release(this.uid);
    ctx.events.forget(this.uid);
    for (const b of [ctx.crashBackoff, ctx.imageBackoff, ctx.retryBackoff]) b.resetPrefix(`${this.uid}/`);
    this.stopped = true;
    this.cancelWake?.();
    ctx.done(this.uid);
  }

  private async removeAll(view: PodView): Promise<void> {
    const { ctx } = this;
    for (const c of [...view.containers]) await this.remove(view, c);
    for (const s of [...view.sandboxes]) {
      await ctx.runtime.removeSandbox(s.id);
      view.removeSandbox(s.id);
    }
    await ctx.volumes.remove(this.uid);
  }
}
