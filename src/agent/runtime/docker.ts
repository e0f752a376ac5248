import * as fs from 'node:fs';
import { PassThrough, Readable, Transform, Writable, type Duplex, type TransformCallback } from 'node:stream';
// Before dockerode: it keeps the parts of dockerode mk never calls from loading.
import './deferred-modules';
import Docker from 'dockerode';
import {
  ImagePullError,
  LABELS,
  type ContainerConfig,
  type ContainerRuntime,
  type ContainerState,
  type ContainerStatus,
  type ExecOptions,
  type ExecSession,
  type LogOptions,
  type PullPolicy,
  type RuntimeEvent,
  type RuntimePod,
  type SandboxConfig,
  type SandboxStatus,
} from './runtime';
import { dialTcp } from './tcp';

/*
 * The Docker adapter of ContainerRuntime: the one file in mk that imports
 * dockerode. A pod is a "pause" sandbox container that owns the network
 * namespace (and so the pod IP, hostname, resolv.conf, /etc/hosts and the
 * published hostPorts) plus one container per Kubernetes container joined to
 * it with `NetworkMode: container:<sandbox>`. Docker never restarts anything
 * (RestartPolicy no): restarts are the agent's decisions.
 */

export interface DockerRuntimeOptions {
  /** Node name: the value of the io.mk.node label on everything this runtime creates and lists. */
  node: string;
  /** Unix socket of the engine. Default: $DOCKER_HOST (unix:// or tcp://), else /var/run/docker.sock. */
  socketPath?: string;
}

export interface ProbeOptions {
  socketPath?: string;
  /** How long to wait for the engine's answer to /_ping. Default 1500 ms. */
  timeoutMs?: number;
}

/** The pause image mk builds locally on first use (no registry needed). Bump the tag when its content changes. */
export const PAUSE_IMAGE = 'mk/pause:1';
const PAUSE_IMAGE_BUSYBOX = 'mk/pause:1-busybox';

const DEFAULT_SOCKET = '/var/run/docker.sock';
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Where the engine is, as dockerode wants it, and as a human reads it. */
function endpoint(socketPath?: string): { modem: Docker.DockerOptions; display: string } {
  if (socketPath) return { modem: { socketPath }, display: `unix://${socketPath}` };
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) {
    const p = host.slice('unix://'.length) || DEFAULT_SOCKET;
    return { modem: { socketPath: p }, display: `unix://${p}` };
  }
  // tcp:// (and its TLS variables) is parsed by docker-modem itself from the environment.
  if (host) return { modem: {}, display: host };
  return { modem: { socketPath: DEFAULT_SOCKET }, display: `unix://${DEFAULT_SOCKET}` };
}

export class DockerRuntime implements ContainerRuntime {
  readonly name = 'docker';
  readonly node: string;
  /** Where the engine is expected (unix:///var/run/docker.sock, tcp://...), for messages. */
  readonly endpoint: string;

  private readonly docker: Docker;
  private pauseImage?: Promise<string>;
  /** Pod identity labels of sandboxes, so createContainer need not inspect the sandbox each time. */
  private readonly sandboxLabels = new Map<string, Record<string, string>>();
  /** Inspect results by container id, valid while the listed State is unchanged (listPods stays one call). */
  private readonly inspectCache = new Map<string, { state: string; info: Docker.ContainerInspectInfo }>();
  private readonly handlers = new Set<(event: RuntimeEvent) => void>();
  private events?: { stream?: NodeJS.ReadableStream; timer?: NodeJS.Timeout; since?: number };
  private closed = false;

  constructor(opts: DockerRuntimeOptions) {
    this.node = opts.node;
    const ep = endpoint(opts.socketPath);
    this.endpoint = ep.display;
    // No custom http.Agent: Node 20's global agent already keeps connections
    // alive, and docker-modem util.inspect()s the request options (agent and
    // all its sockets included) on every request, which made a burst of 60
    // inspects take ~450 ms instead of ~40 ms.
    this.docker = new Docker(ep.modem);
  }

  /** Where an engine would be looked for with these options (for a one-line "no engine at ..." message). */
  static endpoint(opts: { socketPath?: string } = {}): string {
    return endpoint(opts.socketPath).display;
  }

  /** Whether an engine answers /_ping within the timeout. Never throws. */
  static async probe(opts: ProbeOptions = {}): Promise<boolean> {
    const timeoutMs = opts.timeoutMs ?? 1500;
    const docker = new Docker({ ...endpoint(opts.socketPath).modem, timeout: timeoutMs });
    try {
      await (docker.ping as (opts: object) => Promise<unknown>)({ abortSignal: AbortSignal.timeout(timeoutMs) });
      return true;
    } catch {
      return false;
    }
  }

  async version(): Promise<string> {
    return (await this.docker.version()).Version;
  }

  // ---- images ----------------------------------------------------------

  async ensureImage(image: string, policy: PullPolicy): Promise<{ pulled: boolean; imageId: string }> {
    const invalid = invalidImageReason(image);
    if (invalid) {
      throw new ImagePullError('InvalidImageName', `Failed to apply default image tag "${image}": couldn't parse image reference "${image}": ${invalid}`);
    }
    if (policy !== 'Always') {
      const id = await this.imageId(image);
      if (id) return { pulled: false, imageId: id };
      if (policy === 'Never') {
        throw new ImagePullError('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
      }
    }
    try {
      const stream = await this.docker.pull(image);
      await followJsonStream(stream);
    } catch (err) {
      throw new ImagePullError('ErrImagePull', `Failed to pull image "${image}": ${engineMessage(err)}`);
    }
    const id = await this.imageId(image);
    if (!id) throw new ImagePullError('ErrImagePull', `Failed to pull image "${image}": image not present after pull`);
    return { pulled: true, imageId: id };
  }

  /** The local image's Id (sha256:...), or undefined when the engine has no such image. */
  async imageId(ref: string): Promise<string | undefined> {
    try {
      return (await this.docker.getImage(ref).inspect()).Id;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /**
   * `docker import` of an in-memory tar as image `ref`; `changes` are
   * Dockerfile instructions (`CMD ["sh"]`). Returns the new image's Id.
   * Used for the pause image, and by tests for their busybox image.
   */
  async importImage(ref: string, entries: TarEntry[], changes: string[] = []): Promise<string> {
    const { repo, tag } = splitRef(ref);
    const stream = await this.docker.importImage(Readable.from([tarArchive(entries)]), { repo, tag, changes });
    await followJsonStream(stream);
    const id = await this.imageId(ref);
    if (!id) throw new Error(`docker import of ${ref} reported success but the image is absent`);
    return id;
  }

  /** Builds the pause image once per runtime (idempotent across runtimes: the tag is checked first). */
  private ensurePauseImage(): Promise<string> {
    this.pauseImage ??= (async () => {
      const binary = pauseBinary(process.arch);
      const ref = binary ? PAUSE_IMAGE : PAUSE_IMAGE_BUSYBOX;
      if (await this.imageId(ref)) return ref;
      if (binary) {
        await this.importImage(ref, [{ path: 'pause', type: 'file', mode: 0o755, data: binary }], ['CMD ["/pause"]']);
        return ref;
      }
      let busybox: Buffer;
      try {
        busybox = fs.readFileSync('/bin/busybox');
      } catch {
        throw new Error(`mk has no pause binary for architecture ${process.arch} and /bin/busybox is not present to stand in for it`);
      }
      await this.importImage(ref, [{ path: 'bin', type: 'dir' }, { path: 'bin/busybox', type: 'file', mode: 0o755, data: busybox }], [
        'CMD ["/bin/busybox", "sleep", "2147483647"]',
      ]);
      return ref;
    })();
    this.pauseImage.catch(() => (this.pauseImage = undefined));
    return this.pauseImage;
  }

  // ---- sandboxes -------------------------------------------------------

  async runSandbox(config: SandboxConfig): Promise<SandboxStatus> {
    const image = await this.ensurePauseImage();
    const identity = {
      [LABELS.node]: this.node,
      [LABELS.podUid]: config.podUid,
      [LABELS.podName]: config.name,
      [LABELS.podNamespace]: config.namespace,
    };
    const exposed: Record<string, {}> = {};
    const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
    for (const pm of config.portMappings) {
      if (!pm.hostPort) continue;
      const key = `${pm.containerPort}/${(pm.protocol ?? 'TCP').toLowerCase()}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: pm.hostIP ?? '', HostPort: String(pm.hostPort) });
    }
    const extraHosts = (config.hostAliases ?? []).flatMap((a) => a.hostnames.map((h) => `${h}:${a.ip}`));
    const create: Docker.ContainerCreateOptions = {
      name: dockerName(['mk', 'POD', config.name, config.namespace, config.podUid]),
      Image: image,
      Cmd: image === PAUSE_IMAGE ? ['/pause'] : ['/bin/busybox', 'sleep', '2147483647'],
      Hostname: config.hostname.slice(0, 63),
      Labels: { ...config.labels, ...identity, [LABELS.role]: 'sandbox' },
      ExposedPorts: exposed,
      // The pause process ignores SIGTERM as pid 1; there is nothing to flush, so stop means kill.
      StopSignal: 'SIGKILL',
      HostConfig: {
        NetworkMode: 'bridge',
        PortBindings: bindings,
        Dns: config.dns?.nameservers,
        DnsSearch: config.dns?.searches,
        DnsOptions: config.dns?.options,
        ExtraHosts: extraHosts.length ? extraHosts : undefined,
        // Containers of the pod join its IPC namespace too, as in Kubernetes.
        IpcMode: 'shareable',
        Init: false,
        AutoRemove: false,
        RestartPolicy: { Name: 'no' },
      },
    };
    const container = await this.createNamed(create);
    try {
      await container.start();
      const info = await container.inspect();
      this.sandboxLabels.set(container.id, identity);
      return sandboxFromInspect(info);
    } catch (err) {
      await this.removeContainer(container.id).catch(() => undefined);
      throw err;
    }
  }

  async removeSandbox(id: string): Promise<void> {
    this.sandboxLabels.delete(id);
    await this.removeContainer(id);
  }

  // ---- containers ------------------------------------------------------

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    const identity = await this.sandboxIdentity(sandboxId);
    const labels: Record<string, string> = {
      [LABELS.attempt]: '0',
      [LABELS.containerType]: 'app',
      ...config.labels,
      ...identity,
      [LABELS.role]: 'container',
      [LABELS.containerName]: config.name,
    };
    const { resources: r, securityContext: sc } = config;
    let user: string | undefined;
    // Docker's User is user[:group]; a group alone (runAsGroup without runAsUser) cannot be said to it.
    if (sc.runAsUser !== undefined) user = sc.runAsGroup !== undefined ? `${sc.runAsUser}:${sc.runAsGroup}` : String(sc.runAsUser);
    const create: Docker.ContainerCreateOptions = {
      name: dockerName(['mk', config.name, identity[LABELS.podName], identity[LABELS.podNamespace], identity[LABELS.podUid], labels[LABELS.attempt]]),
      Image: config.image,
      // Kubernetes: command replaces ENTRYPOINT (and drops the image's CMD), args replaces CMD.
      Entrypoint: config.command?.length ? config.command : undefined,
      Cmd: config.args?.length ? config.args : undefined,
      Env: config.env.map((e) => `${e.name}=${e.value}`),
      WorkingDir: config.workingDir || undefined,
      User: user,
      OpenStdin: !!config.stdin,
      StdinOnce: !!config.stdinOnce,
      Tty: !!config.tty,
      Labels: labels,
      HostConfig: {
        NetworkMode: `container:${sandboxId}`,
        IpcMode: `container:${sandboxId}`,
        Binds: config.mounts.map((m) => `${m.hostPath}:${m.containerPath}${m.readOnly ? ':ro' : ''}`),
        NanoCpus: r.cpuMilli ? Math.round(r.cpuMilli * 1e6) : undefined,
        Memory: r.memoryBytes || undefined,
        // No swap beyond the limit, as the kubelet configures it.
        MemorySwap: r.memoryBytes || undefined,
        // The kubelet's milliCPUToShares: 1 CPU = 1024 shares, at least 2.
        CpuShares: r.cpuRequestMilli !== undefined ? Math.max(2, Math.floor((r.cpuRequestMilli * 1024) / 1000)) : undefined,
        Privileged: !!sc.privileged,
        ReadonlyRootfs: !!sc.readOnlyRootFilesystem,
        // json-file keeps `logs` working whatever the daemon's default driver is; size-capped like the kubelet's.
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
        Init: false,
        AutoRemove: false,
        RestartPolicy: { Name: 'no' },
      },
    };
    return (await this.createNamed(create)).id;
  }

  async startContainer(id: string): Promise<void> {
    this.inspectCache.delete(id);
    await this.docker.getContainer(id).start();
  }

  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    this.inspectCache.delete(id);
    try {
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(graceSeconds)) });
    } catch (err) {
      const code = statusCode(err);
      if (code !== 304 && code !== 404) throw err;
    }
  }

  async removeContainer(id: string): Promise<void> {
    this.inspectCache.delete(id);
    const container = this.docker.getContainer(id);
    try {
      await container.remove({ force: true, v: true });
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) return;
      if (code !== 409) throw err;
      // 409: another removal is in progress; done means gone, so wait for it.
      for (let i = 0; i < 200; i++) {
        const gone = await container.inspect().then(
          () => false,
          (e) => statusCode(e) === 404,
        );
        if (gone) return;
        await delay(50);
      }
      throw err;
    }
  }

  async listPods(): Promise<RuntimePod[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.node}=${this.node}`] } });
    const seen = new Set<string>();
    const pods = new Map<string, RuntimePod>();
    const podOf = (labels: Record<string, string>): RuntimePod => {
      const uid = labels[LABELS.podUid] ?? '';
      let pod = pods.get(uid);
      if (!pod) {
        pod = { podUid: uid, name: labels[LABELS.podName] ?? '', namespace: labels[LABELS.podNamespace] ?? '', sandboxes: [], containers: [] };
        pods.set(uid, pod);
      }
      return pod;
    };
    const pending: Array<Promise<void>> = [];
    for (const c of list) {
      seen.add(c.Id);
      const labels = c.Labels ?? {};
      const pod = podOf(labels);
      if (labels[LABELS.role] === 'sandbox') {
        pod.sandboxes.push({
          id: c.Id,
          podUid: pod.podUid,
          ip: c.NetworkSettings?.Networks?.bridge?.IPAddress || firstIp(c.NetworkSettings?.Networks) || undefined,
          ready: c.State === 'running',
          createdAt: new Date(c.Created * 1000),
          labels,
        });
        continue;
      }
      if (c.State === 'created') {
        pod.containers.push(statusFromList(c));
        continue;
      }
      // Times, exit code and OOM are only in inspect; they cannot change while the listed state stays the same.
      const cached = this.inspectCache.get(c.Id);
      if (cached && cached.state === c.State) {
        pod.containers.push(statusFromInspect(cached.info));
        continue;
      }
      const slot = pod.containers.length;
      pod.containers.push(statusFromList(c));
      pending.push(
        this.docker
          .getContainer(c.Id)
          .inspect()
          .then((info) => {
            if (listedState(info) === c.State) this.inspectCache.set(c.Id, { state: c.State, info });
            pod.containers[slot] = statusFromInspect(info);
          })
          .catch(() => undefined), // removed meanwhile: the list's view stands
      );
    }
    await Promise.all(pending);
    for (const id of this.inspectCache.keys()) if (!seen.has(id)) this.inspectCache.delete(id);
    return [...pods.values()];
  }

  async containerStatus(id: string): Promise<ContainerStatus | undefined> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      // The next relist then needs no inspect of its own (a just-started container would cost one each).
      this.inspectCache.set(id, { state: listedState(info), info });
      return statusFromInspect(info);
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  // ---- logs and exec ---------------------------------------------------

  async logs(containerId: string, opts: LogOptions): Promise<Readable> {
    const info = await this.docker.getContainer(containerId).inspect();
    const query: Record<string, unknown> = {
      follow: !!opts.follow,
      stdout: true,
      stderr: true,
      timestamps: !!opts.timestamps,
      tail: opts.tailLines !== undefined ? String(opts.tailLines) : 'all',
    };
    if (opts.sinceSeconds !== undefined) query.since = Math.floor(Date.now() / 1000) - opts.sinceSeconds;
    // Dialled directly so the body is always a stream: dockerode buffers
    // non-follow logs and JSON-parses them, which mangles a tty's output.
    const source = await new Promise<Readable>((resolve, reject) => {
      this.docker.modem.dial(
        {
          path: `/containers/${containerId}/logs?`,
          method: 'GET',
          isStream: true,
          statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          options: query,
        },
        (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as Readable)),
      );
    });
    const out = info.Config.Tty ? new PassThrough() : new LogDemuxer();
    const limited = opts.limitBytes !== undefined && opts.limitBytes >= 0 ? new ByteLimit(opts.limitBytes) : undefined;
    const last = limited ?? out;
    let stopped = false;
    // When the reader goes away or the limit is reached, stop the engine's stream.
    const stop = () => {
      stopped = true;
      source.destroy();
    };
    if (limited) {
      out.pipe(limited);
      limited.on('limit', () => {
        out.unpipe(limited);
        limited.end();
        stop();
      });
    }
    source.pipe(out);
    source.on('error', (err) => {
      if (!stopped) last.destroy(err);
    });
    last.on('close', stop);
    return last;
  }

  async exec(containerId: string, command: string[], opts: ExecOptions): Promise<ExecSession> {
    const exec = await this.docker.getContainer(containerId).exec({
      Cmd: command,
      AttachStdin: opts.stdin,
      AttachStdout: opts.stdout,
      AttachStderr: opts.stderr,
      Tty: opts.tty,
    });
    const socket = (await exec.start({ hijack: true, stdin: opts.stdin, Tty: opts.tty })) as unknown as Duplex;
    const stdout = new PassThrough();
    const stderr = opts.tty ? undefined : new PassThrough();
    if (opts.tty) socket.pipe(stdout);
    else this.docker.modem.demuxStream(socket, stdout, stderr!);
    const ended = new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        if (!opts.tty) stdout.end();
        stderr?.end();
        resolve();
      };
      socket.on('end', finish);
      socket.on('close', finish);
      socket.on('error', finish);
    });
    const exitCode = ended.then(async () => {
      // The stream can end a moment before the engine records the exit.
      for (let i = 0; i < 100; i++) {
        const state = await exec.inspect();
        if (!state.Running && state.ExitCode !== null && state.ExitCode !== undefined) return state.ExitCode;
        await delay(20);
      }
      return -1;
    });
    let stdin: NodeJS.WritableStream | undefined;
    if (opts.stdin) {
      // A wrapper, so ending stdin half-closes the connection (EOF for the command) without tearing down its output.
      stdin = new Writable({
        write: (chunk, _enc, cb) => socket.write(chunk, cb),
        final: (cb) => {
          socket.end();
          cb();
        },
      });
    }
    return {
      stdin,
      stdout,
      stderr,
      exitCode,
      resize: async (cols, rows) => {
        try {
          await exec.resize({ w: cols, h: rows });
        } catch (err) {
          // A resize racing the command's exit is moot, not a failure.
          if ((await exec.inspect().catch(() => undefined))?.Running !== false) throw err;
        }
      },
    };
  }

  /**
   * The sandbox holds the pod's network namespace on the docker bridge, and
   * the bridge is reachable from the host: the pod's port is its IP's port.
   * (A server bound to the pod's loopback only is out of reach this way;
   * the kubelet enters the namespace and dials localhost.)
   */
  async portForward(sandboxId: string, port: number): Promise<Duplex> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(sandboxId).inspect();
    } catch (err) {
      if (statusCode(err) === 404) throw new Error(`failed to find sandbox "${sandboxId}"`);
      throw err;
    }
    if (!info.State.Running) throw new Error(`network namespace for sandbox "${sandboxId}" is closed`);
    const ip = sandboxFromInspect(info).ip;
    if (!ip) throw new Error(`sandbox "${sandboxId}" has no address on a docker network`);
    return dialTcp(ip, port);
  }

  // ---- events ----------------------------------------------------------

  onEvent(handler: (event: RuntimeEvent) => void): () => void {
    this.handlers.add(handler);
    if (!this.events) {
      this.events = {};
      this.connectEvents(500);
    }
    return () => {
      this.handlers.delete(handler);
      if (this.handlers.size === 0) this.stopEvents();
    };
  }

  private connectEvents(backoffMs: number): void {
    const state = this.events;
    if (!state || this.closed) return;
    const retry = () => {
      if (this.events !== state || this.closed) return;
      state.stream = undefined;
      state.since ??= Math.floor(Date.now() / 1000);
      state.timer = setTimeout(() => this.connectEvents(Math.min(backoffMs * 2, 5000)), backoffMs);
      state.timer.unref();
    };
    const filters = { type: ['container'], event: ['start', 'die'], label: [`${LABELS.node}=${this.node}`] };
    // After a reconnect, replay from where the last stream stopped (a duplicate event is only a hint twice).
    const since = state.since;
    this.docker.getEvents({ filters, ...(since !== undefined ? { since } : {}) } as Docker.GetEventsOptions).then(
      (stream: NodeJS.ReadableStream) => {
        if (this.events !== state || this.closed) {
          (stream as any).destroy?.();
          return;
        }
        state.stream = stream;
        state.since = undefined;
        let buf = '';
        stream.on('data', (chunk: Buffer) => {
          backoffMs = 500;
          buf += chunk.toString('utf8');
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) this.dispatchEvent(line);
          }
        });
        let once = false;
        const lost = () => {
          if (once) return;
          once = true;
          state.since = Math.floor(Date.now() / 1000) - 1;
          retry();
        };
        stream.on('end', lost);
        stream.on('close', lost);
        stream.on('error', lost);
      },
      retry,
    );
  }

  private dispatchEvent(line: string): void {
    let ev: any;
    try {
      ev = JSON.parse(line);
    } catch {
      return;
    }
    const id: string | undefined = ev.id ?? ev.Actor?.ID;
    const attrs: Record<string, string> = ev.Actor?.Attributes ?? {};
    const action: string = ev.Action ?? ev.status;
    if (!id || (action !== 'start' && action !== 'die')) return;
    this.inspectCache.delete(id);
    const event: RuntimeEvent = { podUid: attrs[LABELS.podUid] ?? '', containerId: id, type: action === 'start' ? 'started' : 'died' };
    for (const h of [...this.handlers]) {
      try {
        h(event);
      } catch {
        // A handler's failure is its own; the others still hear the event.
      }
    }
  }

  private stopEvents(): void {
    const state = this.events;
    this.events = undefined;
    if (!state) return;
    clearTimeout(state.timer);
    (state.stream as any)?.destroy?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    this.stopEvents();
  }

  // ---- helpers ---------------------------------------------------------

  /** Creates a container under a readable name; a stale namesake (an earlier try) gets a suffix, not an error. */
  private async createNamed(opts: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    try {
      return await this.docker.createContainer(opts);
    } catch (err) {
      if (statusCode(err) !== 409 || !opts.name) throw err;
      return this.docker.createContainer({ ...opts, name: `${opts.name}_${Math.random().toString(36).slice(2, 8)}` });
    }
  }

  private async sandboxIdentity(sandboxId: string): Promise<Record<string, string>> {
    const cached = this.sandboxLabels.get(sandboxId);
    if (cached) return cached;
    const labels = (await this.docker.getContainer(sandboxId).inspect()).Config.Labels ?? {};
    if (labels[LABELS.role] !== 'sandbox') throw new Error(`container ${sandboxId} is not an mk sandbox`);
    const identity = {
      [LABELS.node]: labels[LABELS.node] ?? this.node,
      [LABELS.podUid]: labels[LABELS.podUid] ?? '',
      [LABELS.podName]: labels[LABELS.podName] ?? '',
      [LABELS.podNamespace]: labels[LABELS.podNamespace] ?? '',
    };
    this.sandboxLabels.set(sandboxId, identity);
    return identity;
  }
}

// ---- status mapping ------------------------------------------------------

function toState(dockerState: string | undefined): ContainerState {
  switch (dockerState) {
    case 'created':
      return 'created';
    case 'running':
    case 'paused':
    case 'restarting':
      return 'running';
    case 'exited':
    case 'dead':
      return 'exited';
    default:
      return 'unknown';
  }
}

/** The State string `docker ps` would list for this inspect result. */
function listedState(info: Docker.ContainerInspectInfo): string {
  return info.State.Status;
}

function time(s: string | undefined): Date | undefined {
  if (!s || s === ZERO_TIME) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function firstIp(networks: Record<string, { IPAddress?: string }> | undefined): string | undefined {
  for (const n of Object.values(networks ?? {})) if (n.IPAddress) return n.IPAddress;
  return undefined;
}

function sandboxFromInspect(info: Docker.ContainerInspectInfo): SandboxStatus {
  const labels = info.Config.Labels ?? {};
  return {
    id: info.Id,
    podUid: labels[LABELS.podUid] ?? '',
    ip: info.NetworkSettings.Networks?.bridge?.IPAddress || info.NetworkSettings.IPAddress || firstIp(info.NetworkSettings.Networks) || undefined,
    ready: info.State.Running,
    createdAt: new Date(info.Created),
    labels,
  };
}

function statusFromList(c: Docker.ContainerInfo): ContainerStatus {
  const labels = c.Labels ?? {};
  return {
    id: c.Id,
    name: labels[LABELS.containerName] ?? '',
    podUid: labels[LABELS.podUid] ?? '',
    attempt: Number(labels[LABELS.attempt] ?? 0) || 0,
    state: toState(c.State),
    createdAt: new Date(c.Created * 1000),
    image: c.Image,
    imageId: c.ImageID,
    labels,
  };
}

function statusFromInspect(info: Docker.ContainerInspectInfo): ContainerStatus {
  const labels = info.Config.Labels ?? {};
  const state = toState(info.State.Status);
  const status: ContainerStatus = {
    id: info.Id,
    name: labels[LABELS.containerName] ?? '',
    podUid: labels[LABELS.podUid] ?? '',
    attempt: Number(labels[LABELS.attempt] ?? 0) || 0,
    state,
    createdAt: new Date(info.Created),
    startedAt: time(info.State.StartedAt),
    image: info.Config.Image,
    imageId: info.Image,
    labels,
  };
  if (state === 'exited') {
    // The engine stamps StartedAt after the process is already running, so a
    // very short run can finish "before" it started; Kubernetes readers expect order.
    const finished = time(info.State.FinishedAt);
    status.finishedAt = finished && status.startedAt && finished < status.startedAt ? status.startedAt : finished;
    status.exitCode = info.State.ExitCode;
    status.reason = info.State.OOMKilled ? 'OOMKilled' : info.State.ExitCode === 0 ? 'Completed' : 'Error';
    if (info.State.Error) status.message = info.State.Error;
  }
  return status;
}

// ---- engine errors -------------------------------------------------------

function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

/** The engine's own words from a dockerode error ("(HTTP code 404) unexpected - <message>"). */
function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  if (e?.json?.message) return e.json.message;
  return String(e?.message ?? err)
    .replace(/^\(HTTP code \d+\) [^-]*- /, '')
    .trim();
}

/** Reads a JSON-lines progress stream (pull, import) to its end; an `error` line rejects with its message. */
function followJsonStream(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let failed: string | undefined;
    const scan = (final: boolean) => {
      const lines = buf.split('\n');
      buf = final ? '' : lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          const msg = JSON.parse(line);
          if (msg.error) failed ??= msg.errorDetail?.message ?? msg.error;
        } catch {
          // progress lines are advisory
        }
      }
    };
    stream.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      scan(false);
    });
    stream.on('end', () => {
      scan(true);
      failed ? reject(new Error(failed)) : resolve();
    });
    stream.on('error', reject);
  });
}

function invalidImageReason(image: string): string | undefined {
  if (!image || /\s/.test(image)) return 'invalid reference format';
  const name = image.split('@')[0].replace(/:[^:/]+$/, '');
  const repoPath = name.includes('/') && /[.:]|^localhost$/.test(name.split('/')[0]) ? name.slice(name.indexOf('/') + 1) : name;
  if (/[A-Z]/.test(repoPath)) return 'invalid reference format: repository name must be lowercase';
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repoPath)) return 'invalid reference format';
  return undefined;
}

function splitRef(ref: string): { repo: string; tag: string } {
  const m = /^(.*?)(?::([^:/]+))?$/.exec(ref)!;
  return { repo: m[1], tag: m[2] ?? 'latest' };
}

/** A container name Docker accepts: [a-zA-Z0-9][a-zA-Z0-9_.-]*, parts joined by '_'. */
function dockerName(parts: Array<string | undefined>): string {
  return parts.map((p) => (p ?? '').replace(/[^a-zA-Z0-9_.-]/g, '-')).join('_');
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- streams ---------------------------------------------------------------

/**
 * Docker's multiplexed attach/log framing ([type, 0, 0, 0, size BE32] then
 * `size` bytes) into one byte stream, stdout and stderr interleaved in the
 * order the engine wrote them.
 */
class LogDemuxer extends Transform {
  private pending = Buffer.alloc(0);

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      this.push(buf.subarray(8, 8 + size));
      buf = buf.subarray(8 + size);
    }
    this.pending = Buffer.from(buf);
    cb();
  }
}

/** Passes at most `limit` bytes, then ends and emits 'limit' (Kubernetes limitBytes). */
class ByteLimit extends Transform {
  private left: number;
  private done = false;

  constructor(limit: number) {
    super();
    this.left = limit;
  }

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.done) return cb();
    if (chunk.length >= this.left) {
      if (this.left > 0) this.push(chunk.subarray(0, this.left));
      this.left = 0;
      this.done = true;
      this.push(null);
      this.emit('limit');
      return cb();
    }
    this.left -= chunk.length;
    cb(null, chunk);
  }
}

// ---- the pause binary ------------------------------------------------------

/**
 * The pause program: a hand-assembled static ELF64 executable that blocks in
 * a syscall forever, so the sandbox costs no image pull and ~12 kB of RSS.
 *
 * Layout (129 bytes on x86-64, 148 on aarch64), loaded at 0x400000:
 *   0x00  ELF header (64 bytes): 7f 'E' 'L' 'F', class 2 (64-bit), data 1
 *         (little endian), version 1; e_type 2 (EXEC); e_machine 0x3e
 *         (x86-64) or 0xb7 (aarch64); e_entry 0x400078; e_phoff 64;
 *         e_ehsize 64; e_phentsize 56; e_phnum 1; no sections.
 *   0x40  one program header (56 bytes): PT_LOAD, flags R+X, offset 0,
 *         vaddr = paddr = 0x400000, filesz = memsz = file size, align 0x1000.
 *   0x78  code:
 *     x86-64:  b8 22 00 00 00   mov  eax, 34      ; __NR_pause
 *              0f 05            syscall
 *              eb f7            jmp  0x400078      ; a signal ends pause(): pause again
 *     aarch64 (no pause syscall there; ppoll(NULL, 0, NULL, NULL) blocks the same way):
 *              d2800000 mov x0,#0 / d2800001 mov x1,#0 / d2800002 mov x2,#0 /
 *              d2800003 mov x3,#0 / d2800928 mov x8,#73 (__NR_ppoll) /
 *              d4000001 svc #0 / 17fffffa b 0x400078
 * The x86-64 binary is exercised by the e2e tests; the aarch64 one is
 * assembled by hand from the ARM ARM encodings and not run on these machines.
 * Other architectures: undefined, and the runtime falls back to busybox.
 */
export function pauseBinary(arch: string = process.arch): Buffer | undefined {
  let machine: number;
  let code: Buffer;
  if (arch === 'x64') {
    machine = 0x3e;
    code = Buffer.from([0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7]);
  } else if (arch === 'arm64') {
    machine = 0xb7;
    const words = [0xd2800000, 0xd2800001, 0xd2800002, 0xd2800003, 0xd2800928, 0xd4000001, 0x17fffffa];
    code = Buffer.alloc(words.length * 4);
    words.forEach((w, i) => code.writeUInt32LE(w, i * 4));
  } else {
    return undefined;
  }
  const base = 0x400000n;
  const ehsize = 64;
  const phsize = 56;
  const size = ehsize + phsize + code.length;
  const b = Buffer.alloc(size);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  b.writeUInt16LE(2, 16); // e_type EXEC
  b.writeUInt16LE(machine, 18);
  b.writeUInt32LE(1, 20); // e_version
  b.writeBigUInt64LE(base + BigInt(ehsize + phsize), 24); // e_entry
  b.writeBigUInt64LE(BigInt(ehsize), 32); // e_phoff
  b.writeUInt16LE(ehsize, 52);
  b.writeUInt16LE(phsize, 54);
  b.writeUInt16LE(1, 56); // e_phnum
  const ph = ehsize;
  b.writeUInt32LE(1, ph); // PT_LOAD
  b.writeUInt32LE(5, ph + 4); // PF_R | PF_X
  b.writeBigUInt64LE(base, ph + 16); // p_vaddr
  b.writeBigUInt64LE(base, ph + 24); // p_paddr
  b.writeBigUInt64LE(BigInt(size), ph + 32); // p_filesz
  b.writeBigUInt64LE(BigInt(size), ph + 40); // p_memsz
  b.writeBigUInt64LE(0x1000n, ph + 48); // p_align
  code.copy(b, ehsize + phsize);
  return b;
}

// ---- tar -------------------------------------------------------------------

export interface TarEntry {
  /** Path inside the archive, without a leading '/'. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Default 0o644 for files, 0o755 for directories, 0o777 for links. */
  mode?: number;
  data?: Buffer;
  /** Target of a symlink. */
  linkname?: string;
}

/** A ustar archive of `entries` (owned by root), enough for `docker import`. */
export function tarArchive(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  const mtime = Math.floor(Date.now() / 1000);
  for (const e of entries) {
    const data = e.type === 'file' ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    let name = e.path.replace(/^\/+/, '');
    if (e.type === 'dir' && !name.endsWith('/')) name += '/';
    let prefix = '';
    if (Buffer.byteLength(name) > 100) {
      const cut = name.lastIndexOf('/', name.length - 2);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
      if (cut < 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`tar: path too long: ${e.path}`);
    }
    const h = Buffer.alloc(512);
    const put = (s: string, off: number, len: number) => h.write(s, off, len, 'utf8');
    const octal = (n: number, off: number, len: number) => put(n.toString(8).padStart(len - 1, '0') + '\0', off, len);
    put(name, 0, 100);
    octal(e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644), 100, 8);
    octal(0, 108, 8); // uid
    octal(0, 116, 8); // gid
    octal(data.length, 124, 12);
    octal(mtime, 136, 12);
    h.fill(' ', 148, 156); // checksum is computed with its own field as spaces
    put(e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0', 156, 1);
    if (e.linkname) put(e.linkname, 157, 100);
    put('ustar\0', 257, 6);
    put('00', 263, 2);
    put('root', 265, 32);
    put('root', 297, 32);
    put(prefix, 345, 155);
    let sum = 0;
    for (const byte of h) sum += byte;
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
    blocks.push(h, data);
    if (data.length % 512) blocks.push(Buffer.alloc(512 - (data.length % 512)));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
