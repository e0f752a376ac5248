import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable, type Duplex } from 'node:stream';
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

/*
 * An in-memory ContainerRuntime, like kwok: no processes, no I/O. Pods get
 * addresses, containers "run" and can be made to exit, so the agent's whole
 * state machine (and the scheduler and controllers above it) can be driven
 * at scale from one process: 5,000 pods across 100 fake nodes cost a few
 * hundred bytes each.
 */

/** Makes containers whose command line (command and args joined by spaces) matches exit. */
export interface ExitRule {
  match: RegExp | ((commandLine: string) => boolean);
  exitCode: number;
  /** How long the container runs before it exits. Default: the runtime's runDurationMs. */
  afterMs?: number;
}

export interface FakeExecResult {
  exitCode: number;
  stdout?: string;
  stderr?: string;
}

export interface FakeRuntimeOptions {
  /** Node name, the io.mk.node label of everything this runtime reports. Default 'fake'. */
  node?: string;
  /**
   * Pod addresses come from this CIDR (prefix /8 to /30), e.g. the Node's
   * spec.podCIDR. Default: 10.244.<nodeIndex>.0/24, extended into 10.245...
   * past index 255, so fake nodes in one process never share an address.
   */
  podCIDR?: string;
  /** Index of this node among the fake nodes of a process. Default: a per-process counter. */
  nodeIndex?: number;
  /** startContainer resolves (and the container runs) after this long. Default 0. */
  startDelayMs?: number;
  /** ensureImage takes this long when it "pulls". Default 0. */
  pullDelayMs?: number;
  /** How long a container with `exit N` in its command runs before it exits. Default 0. */
  runDurationMs?: number;
  /** `sleep S` in a command makes the container exit 0 after S seconds times this. Default 1. */
  sleepScale?: number;
  /** Images that fail to pull with ErrImagePull. Default: names containing 'does-not-exist'. */
  failImages?: Array<string | RegExp>;
  /** Checked before the built-in rules (`exit N`, `sleep S`, `true`, `false`). */
  exitRules?: ExitRule[];
  /** Answers exec before the built-in behaviour (exit 0, `false` 1, `exit N` N, `echo` echoes). */
  execHandler?: (containerId: string, command: string[]) => FakeExecResult | undefined;
  /** Exit code a stopped container reports. Default 137 (killed). */
  stopExitCode?: number;
  /** The clock for timestamps. Default Date.now. */
  now?: () => number;
}

interface FakeSandbox {
  id: string;
  podUid: string;
  ip: string;
  ipIndex: number;
  createdAt: number;
  labels: Record<string, string>;
}

interface FakeContainer {
  id: string;
  sandboxId: string;
  podUid: string;
  name: string;
  attempt: number;
  state: ContainerState;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number;
  reason?: string;
  image: string;
  imageId: string;
  labels: Record<string, string>;
  /** When set, the container exits with this code after `afterMs` of running. */
  exit?: { code: number; afterMs: number };
  timer?: NodeJS.Timeout;
  /** Allocated on first appendLog only: most fake containers never log. */
  logs?: Array<{ at: number; line: string }>;
  followers?: Set<PassThrough>;
}

interface FakePod {
  name: string;
  namespace: string;
  sandboxes: Set<string>;
  containers: Set<string>;
}

let nextNodeIndex = 0;

export class FakeRuntime implements ContainerRuntime {
  readonly name = 'fake';
  readonly node: string;
  /** The CIDR pod addresses come from. */
  readonly podCIDR: string;

  private readonly opts: FakeRuntimeOptions;
  private readonly now: () => number;
  private readonly pods = new Map<string, FakePod>();
  private readonly sandboxes = new Map<string, FakeSandbox>();
  private readonly containers = new Map<string, FakeContainer>();
  /** What listPods last reported, until something changes. */
  private listed?: RuntimePod[];
  private readonly handlers = new Set<(event: RuntimeEvent) => void>();
  private readonly imageIds = new Map<string, string>();
  private readonly net: { base: number; size: number; used: Set<number>; next: number };

  constructor(opts: FakeRuntimeOptions = {}) {
    this.opts = opts;
    this.node = opts.node ?? 'fake';
    this.now = opts.now ?? Date.now;
    const index = opts.nodeIndex ?? nextNodeIndex++;
    // 10.244.0.0/24, 10.244.1.0/24, ... 10.244.255.0/24, 10.245.0.0/24, ...
    this.podCIDR = opts.podCIDR ?? `${ipString(((10 << 24) | (244 << 16)) + index * 256)}/24`;
    const [addr, bits] = this.podCIDR.split('/');
    const prefix = Number(bits);
    if (!(prefix >= 8 && prefix <= 30) || !/^\d+\.\d+\.\d+\.\d+$/.test(addr)) throw new Error(`fake runtime: bad podCIDR ${this.podCIDR}`);
    const size = 2 ** (32 - prefix);
    this.net = { base: ipNumber(addr) & ~(size - 1), size, used: new Set(), next: 1 };
  }

  async version(): Promise<string> {
    return '0.1.0';
  }

  async ensureImage(image: string, policy: PullPolicy): Promise<{ pulled: boolean; imageId: string }> {
    if (!image || /\s/.test(image)) throw new ImagePullError('InvalidImageName', `Failed to apply default image tag "${image}": couldn't parse image reference "${image}": invalid reference format`);
    const failing = (this.opts.failImages ?? [/does-not-exist/]).some((f) => (typeof f === 'string' ? image.includes(f) : f.test(image)));
    // Every image but a failing one counts as present under Never (as if preloaded on the node).
    if (policy === 'Never') {
      if (failing) throw new ImagePullError('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
      return { pulled: false, imageId: this.imageId(image) };
    }
    if (policy === 'IfNotPresent' && this.imageIds.has(image)) return { pulled: false, imageId: this.imageId(image) };
    if (this.opts.pullDelayMs) await delay(this.opts.pullDelayMs);
    if (failing) {
      throw new ImagePullError('ErrImagePull', `Failed to pull image "${image}": pull access denied for ${image}, repository does not exist or may require authorization`);
    }
    return { pulled: true, imageId: this.imageId(image) };
  }

  async runSandbox(config: SandboxConfig): Promise<SandboxStatus> {
    const ipIndex = this.allocateIp();
    const sb: FakeSandbox = {
      id: newId(),
      podUid: config.podUid,
      ip: ipString(this.net.base + ipIndex),
      ipIndex,
      createdAt: this.now(),
      labels: {
        ...config.labels,
        [LABELS.node]: this.node,
        [LABELS.podUid]: config.podUid,
        [LABELS.podName]: config.name,
        [LABELS.podNamespace]: config.namespace,
        [LABELS.role]: 'sandbox',
      },
    };
    this.sandboxes.set(sb.id, sb);
    this.changed();
    let pod = this.pods.get(config.podUid);
    if (!pod) {
      pod = { name: config.name, namespace: config.namespace, sandboxes: new Set(), containers: new Set() };
      this.pods.set(config.podUid, pod);
    }
    pod.sandboxes.add(sb.id);
    this.emit({ podUid: sb.podUid, containerId: sb.id, type: 'started' });
    return sandboxStatus(sb);
  }

  async removeSandbox(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    this.sandboxes.delete(id);
    this.changed();
    this.net.used.delete(sb.ipIndex);
    const pod = this.pods.get(sb.podUid);
    pod?.sandboxes.delete(id);
    this.forgetPodIfEmpty(sb.podUid);
    this.emit({ podUid: sb.podUid, containerId: id, type: 'died' });
  }

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    const sb = this.sandboxes.get(sandboxId);
    if (!sb) throw new Error(`fake runtime: no sandbox ${sandboxId}`);
    const labels: Record<string, string> = {
      [LABELS.attempt]: '0',
      [LABELS.containerType]: 'app',
      ...config.labels,
      [LABELS.node]: this.node,
      [LABELS.podUid]: sb.podUid,
      [LABELS.podName]: sb.labels[LABELS.podName],
      [LABELS.podNamespace]: sb.labels[LABELS.podNamespace],
      [LABELS.role]: 'container',
      [LABELS.containerName]: config.name,
    };
    const c: FakeContainer = {
      id: newId(),
      sandboxId,
      podUid: sb.podUid,
      name: config.name,
      attempt: Number(labels[LABELS.attempt]) || 0,
      state: 'created',
      createdAt: this.now(),
      image: config.image,
      imageId: this.imageId(config.image),
      labels,
      exit: this.exitBehaviour([...(config.command ?? []), ...(config.args ?? [])].join(' ')),
    };
    this.containers.set(c.id, c);
    this.pods.get(sb.podUid)!.containers.add(c.id);
    this.changed();
    return c.id;
  }

  async startContainer(id: string): Promise<void> {
    const c = this.mustGet(id);
    if (c.state !== 'created') throw new Error(`fake runtime: container ${id} is ${c.state}, not created`);
    if (this.opts.startDelayMs) await delay(this.opts.startDelayMs);
    if (c.state !== 'created' || !this.containers.has(id)) return; // stopped or removed meanwhile
    c.state = 'running';
    c.startedAt = this.now();
    this.changed();
    this.emit({ podUid: c.podUid, containerId: id, type: 'started' });
    if (c.exit) {
      const { code, afterMs } = c.exit;
      c.timer = setTimeout(() => this.finish(c, code), afterMs);
      c.timer.unref?.();
    }
  }

  async stopContainer(id: string, _graceSeconds: number): Promise<void> {
    const c = this.containers.get(id);
    if (c?.state === 'running') this.finish(c, this.opts.stopExitCode ?? 137);
  }

  async removeContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    if (c.state === 'running') this.finish(c, this.opts.stopExitCode ?? 137);
    clearTimeout(c.timer);
    this.containers.delete(id);
    this.pods.get(c.podUid)?.containers.delete(id);
    this.changed();
    this.forgetPodIfEmpty(c.podUid);
  }

  async listPods(): Promise<RuntimePod[]> {
    // The agent relists after every pod sync; most find nothing changed since the last.
    this.listed ??= [...this.pods].map(([podUid, pod]) => ({
      podUid,
      name: pod.name,
      namespace: pod.namespace,
      sandboxes: [...pod.sandboxes].map((id) => sandboxStatus(this.sandboxes.get(id)!)),
      containers: [...pod.containers].map((id) => containerStatus(this.containers.get(id)!)),
    }));
    return [...this.listed];
  }

  async containerStatus(id: string): Promise<ContainerStatus | undefined> {
    const c = this.containers.get(id);
    return c && containerStatus(c);
  }

  /** Adds a line to a container's log (what the program would have printed); followers see it at once. */
  appendLog(containerId: string, line: string): void {
    const c = this.mustGet(containerId);
    const entry = { at: this.now(), line: line.endsWith('\n') ? line : `${line}\n` };
    (c.logs ??= []).push(entry);
    for (const f of c.followers ?? []) f.write(entry.line);
  }

  /** Makes a running container exit now, as a crash would (reason: 'OOMKilled', say; default Completed / Error). */
  exitContainer(containerId: string, exitCode: number, reason?: string): void {
    const c = this.mustGet(containerId);
    if (c.state === 'running') this.finish(c, exitCode, reason);
  }

  async logs(containerId: string, opts: LogOptions): Promise<Readable> {
    const c = this.mustGet(containerId);
    let entries = c.logs ?? [];
    if (opts.sinceSeconds !== undefined) {
      const since = this.now() - opts.sinceSeconds * 1000;
      entries = entries.filter((e) => e.at >= since);
    }
    if (opts.tailLines !== undefined) entries = opts.tailLines > 0 ? entries.slice(-opts.tailLines) : [];
    const render = (e: { at: number; line: string }) => (opts.timestamps ? `${new Date(e.at).toISOString()} ${e.line}` : e.line);
    let text = entries.map(render).join('');
    let limited = false;
    if (opts.limitBytes !== undefined && Buffer.byteLength(text) >= opts.limitBytes) {
      text = Buffer.from(text).subarray(0, opts.limitBytes).toString('utf8');
      limited = true;
    }
    if (!opts.follow || limited || c.state === 'exited') return Readable.from(text ? [Buffer.from(text)] : []);
    const out = new PassThrough();
    if (text) out.write(text);
    (c.followers ??= new Set()).add(out);
    out.on('close', () => c.followers?.delete(out));
    return out;
  }

  async exec(containerId: string, command: string[], opts: ExecOptions): Promise<ExecSession> {
    const c = this.mustGet(containerId);
    if (c.state !== 'running') throw new Error(`container ${containerId} is not running`);
    const result = this.opts.execHandler?.(containerId, command) ?? builtinExec(command);
    const stdout = Readable.from(result.stdout ? [Buffer.from(result.stdout)] : []);
    const stderr = opts.tty ? undefined : Readable.from(result.stderr ? [Buffer.from(result.stderr)] : []);
    return {
      stdin: opts.stdin ? new Writable({ write: (_c, _e, cb) => cb() }) : undefined,
      stdout,
      stderr,
      exitCode: Promise.resolve(result.exitCode),
      resize: async () => undefined,
    };
  }

  /** Fake pods have addresses but no network: nothing can be reached in them. */
  async portForward(sandboxId: string, port: number): Promise<Duplex> {
    if (!this.sandboxes.has(sandboxId)) throw new Error(`failed to find sandbox "${sandboxId}"`);
    throw new Error(`the fake runtime has no pod network: nothing listens on port ${port} (run the agent with --runtime docker to forward to real containers)`);
  }

  onEvent(handler: (event: RuntimeEvent) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.handlers.clear();
    for (const c of this.containers.values()) {
      clearTimeout(c.timer);
      for (const f of c.followers ?? []) f.end();
    }
  }

  // ---- internals -------------------------------------------------------

  private finish(c: FakeContainer, exitCode: number, reason?: string): void {
    clearTimeout(c.timer);
    c.timer = undefined;
    c.state = 'exited';
    c.exitCode = exitCode;
    if (reason) c.reason = reason;
    c.finishedAt = this.now();
    this.changed();
    for (const f of c.followers ?? []) f.end();
    c.followers = undefined;
    this.emit({ podUid: c.podUid, containerId: c.id, type: 'died' });
  }

  /** The built-in rules read a command line the way a shell would run it, roughly. */
  private exitBehaviour(commandLine: string): FakeContainer['exit'] {
    const run = this.opts.runDurationMs ?? 0;
    for (const rule of this.opts.exitRules ?? []) {
      if (typeof rule.match === 'function' ? rule.match(commandLine) : rule.match.test(commandLine)) {
        return { code: rule.exitCode, afterMs: rule.afterMs ?? run };
      }
    }
    const sleep = /\bsleep\s+(\d+(?:\.\d+)?)\b/.exec(commandLine);
    const sleepMs = sleep ? Number(sleep[1]) * 1000 * (this.opts.sleepScale ?? 1) : 0;
    const exit = /\bexit\s+(\d+)\b/.exec(commandLine);
    if (exit) return { code: Number(exit[1]), afterMs: run + sleepMs };
    if (sleep) return { code: 0, afterMs: sleepMs };
    const first = commandLine.trim().split(/\s+/)[0];
    if (first === 'true' || first === '/bin/true') return { code: 0, afterMs: run };
    if (first === 'false' || first === '/bin/false') return { code: 1, afterMs: run };
    return undefined;
  }

  private allocateIp(): number {
    const { size, used } = this.net;
    // Host numbers 1 .. size-2 (network and broadcast addresses excluded), handed out round-robin.
    for (let i = 0; i < size - 2; i++) {
      const n = ((this.net.next - 1 + i) % (size - 2)) + 1;
      if (!used.has(n)) {
        used.add(n);
        this.net.next = (n % (size - 2)) + 1;
        return n;
      }
    }
    throw new Error(`fake runtime: no free pod address in ${this.podCIDR}`);
  }

  private imageId(image: string): string {
    let id = this.imageIds.get(image);
    if (!id) {
      id = `sha256:${createHash('sha256').update(image).digest('hex')}`;
      this.imageIds.set(image, id);
    }
    return id;
  }

  private mustGet(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new Error(`fake runtime: no such container ${id}`);
    return c;
  }

  /** Every change to what listPods reports goes through here. */
  private changed(): void {
    this.listed = undefined;
  }

  private forgetPodIfEmpty(podUid: string): void {
    const pod = this.pods.get(podUid);
    if (pod && pod.sandboxes.size === 0 && pod.containers.size === 0) this.pods.delete(podUid);
  }

  private emit(event: RuntimeEvent): void {
    if (this.handlers.size === 0) return;
    // Asynchronously, as a real engine's events arrive: never re-entering the caller.
    queueMicrotask(() => {
      for (const h of [...this.handlers]) {
        try {
          h(event);
        } catch {
          // one handler's failure does not silence the others
        }
      }
    });
  }
}

function sandboxStatus(sb: FakeSandbox): SandboxStatus {
  return { id: sb.id, podUid: sb.podUid, ip: sb.ip, ready: true, createdAt: new Date(sb.createdAt), labels: sb.labels };
}

function containerStatus(c: FakeContainer): ContainerStatus {
  const s: ContainerStatus = {
    id: c.id,
    name: c.name,
    podUid: c.podUid,
    attempt: c.attempt,
    state: c.state,
    createdAt: new Date(c.createdAt),
    image: c.image,
    imageId: c.imageId,
    labels: c.labels,
  };
  if (c.startedAt !== undefined) s.startedAt = new Date(c.startedAt);
  if (c.state === 'exited') {
    s.finishedAt = new Date(c.finishedAt!);
    s.exitCode = c.exitCode;
    s.reason = c.reason ?? (c.exitCode === 0 ? 'Completed' : 'Error');
  }
  return s;
}

function builtinExec(command: string[]): FakeExecResult {
  const line = command.join(' ');
  const exit = /\bexit\s+(\d+)\b/.exec(line);
  if (exit) return { exitCode: Number(exit[1]) };
  if (command[0] === 'false' || command[0] === '/bin/false') return { exitCode: 1 };
  if (command[0] === 'echo') return { exitCode: 0, stdout: `${command.slice(1).join(' ')}\n` };
  return { exitCode: 0 };
}

function newId(): string {
  return randomBytes(16).toString('hex');
}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function ipString(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
