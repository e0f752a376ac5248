import * as fs from 'node:fs';
import * as os from 'node:os';
import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import { rfc3339, type Clock } from './clock';
import { canonicalJson } from './json';

/**
 * The agent's Node object: registration (create, or update the labels of
 * the one a previous run left), then status: capacity and allocatable,
 * addresses, nodeInfo, daemonEndpoints and the Ready / pressure conditions.
 * Status is checked every `checkIntervalMs` and written when it changed or
 * when `statusIntervalMs` passed since the last write (that write only moves
 * lastHeartbeatTime); liveness in between is the Lease's job.
 */

const NODES = resolveResourceName('nodes')!;

export const KUBELET_VERSION = 'v1.31.0-mk';

export interface NodeCapacity {
  cpu: string | number;
  memory: string | number;
  pods: string | number;
}

export interface NodeStatusOptions {
  nodeName: string;
  nodeIP: string;
  capacity?: Partial<NodeCapacity>;
  labels?: Record<string, string>;
  daemonPort?: number;
  statusIntervalMs: number;
  checkIntervalMs: number;
  clock: Clock;
  log: (line: string) => void;
}

/** Node.js's name for the CPU architecture, in Go's spelling (what Kubernetes labels carry). */
function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[os.arch()] ?? os.arch();
}

function readTrimmed(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function osImage(): string {
  const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readTrimmed('/etc/os-release'));
  return m?.[1] ?? `${os.type()} ${os.release()}`;
}

interface ConditionSpec {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export class NodeStatusReporter {
  private runtimeVersion = 'unknown';
  private runtimeProblem?: string;
  private daemonPort: number;
  /** The last status written, without heartbeat times; and when. */
  private lastPosted?: { key: string; at: number; conditions: any[] };
  private cancelTimer?: () => void;
  private stopped = false;
  private posting?: Promise<void>;
  readonly capacity: Record<string, string>;
  /** What does not change while the agent runs, read once. */
  private readonly system = { machineID: readTrimmed('/etc/machine-id'), bootID: readTrimmed('/proc/sys/kernel/random/boot_id'), kernelVersion: os.release(), osImage: osImage() };

  constructor(
    private readonly client: KubeClient,
    private readonly runtimeName: string,
    private readonly opts: NodeStatusOptions,
  ) {
    this.daemonPort = opts.daemonPort ?? 0;
    this.capacity = {
      cpu: String(opts.capacity?.cpu ?? os.cpus().length),
      memory: String(opts.capacity?.memory ?? `${Math.floor(os.totalmem() / 1024)}Ki`),
      pods: String(opts.capacity?.pods ?? 110),
    };
  }

  get labels(): Record<string, string> {
    const arch = goArch();
    const osName = os.platform();
    return {
      'beta.kubernetes.io/arch': arch,
      'beta.kubernetes.io/os': osName,
      'kubernetes.io/arch': arch,
      'kubernetes.io/hostname': this.opts.nodeName,
      'kubernetes.io/os': osName,
      ...this.opts.labels,
    };
  }

  setRuntimeVersion(version: string): void {
    this.runtimeVersion = version;
  }

  /** The runtime stopped answering (or answers again: undefined); the Ready condition follows at once. */
  setRuntimeProblem(problem: string | undefined): void {
    if (problem === this.runtimeProblem) return;
    this.runtimeProblem = problem;
    this.poke();
  }

  setDaemonPort(port: number): void {
    if (port === this.daemonPort) return;
    this.daemonPort = port;
    this.poke();
  }

  /** Creates the Node, or brings the labels of an existing one up to date; then writes its status. */
  async register(): Promise<void> {
    const name = this.opts.nodeName;
    const now = this.opts.clock.now();
    const node: KubeObject = { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: this.labels }, spec: {}, status: this.status(now) };
    try {
      await this.client.create(NODES, node);
      this.remember(now);
      this.opts.log(`registered node ${name}`);
      return;
    } catch (err) {
      if (!ApiStatusError.isAlreadyExists(err)) throw err;
    }
    const existing = await this.client.get(NODES, undefined, name);
    const labels = { ...existing.metadata.labels, ...this.labels };
    if (canonicalJson(labels) !== canonicalJson(existing.metadata.labels ?? {})) {
      await this.client.patch(NODES, undefined, name, { metadata: { labels } }, 'merge');
    }
    // Conditions that already hold keep their lastTransitionTime across agent restarts.
    this.lastPosted = { key: '', at: 0, conditions: existing.status?.conditions ?? [] };
    await this.post();
  }

  start(): void {
    this.schedule();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    return this.posting ?? Promise.resolve();
  }

  /** Check now (something node-level changed). */
  poke(): void {
    if (this.stopped || !this.lastPosted) return;
    this.cancelTimer?.();
    this.schedule(0);
  }

  private schedule(ms = this.opts.checkIntervalMs): void {
    if (this.stopped) return;
    this.cancelTimer = this.opts.clock.after(ms, () => {
      this.posting = this.check().finally(() => {
        this.posting = undefined;
        this.schedule();
      });
    });
  }

  private async check(): Promise<void> {
    const now = this.opts.clock.now();
    const due = !this.lastPosted || now - this.lastPosted.at >= this.opts.statusIntervalMs;
    if (!due && this.statusKey(now) === this.lastPosted!.key) return;
    try {
      await this.post();
    } catch (err) {
      if (ApiStatusError.isNotFound(err)) {
        // Someone deleted the Node: register again, as a restarted kubelet would.
        await this.register().catch((e) => this.opts.log(`registering node ${this.opts.nodeName} failed: ${(e as Error).message}`));
      } else {
        this.opts.log(`updating node ${this.opts.nodeName} status failed: ${(err as Error).message}`);
      }
    }
  }

  private async post(): Promise<void> {
    const now = this.opts.clock.now();
    await this.client.patch(NODES, undefined, this.opts.nodeName, { status: this.status(now) }, 'merge', { subresource: 'status' });
    this.remember(now);
  }

  private remember(now: number): void {
    this.lastPosted = { key: this.statusKey(now), at: now, conditions: this.status(now).conditions };
  }

  /** The status with heartbeat times left out: what "changed" means. */
  private statusKey(now: number): string {
    const s = this.status(now);
    s.conditions = s.conditions.map((c: any) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message }));
    return canonicalJson(s);
  }

  private conditionSpecs(): ConditionSpec[] {
    const ready: ConditionSpec = this.runtimeProblem
      ? { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: `container runtime is down: ${this.runtimeProblem}` }
      : { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' };
    return [
      { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
      { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
      { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
      ready,
    ];
  }

  private status(now: number): any {
    const stamp = rfc3339(now);
    const conditions = this.conditionSpecs().map((c) => {
      const before = this.lastPosted?.conditions.find((p) => p.type === c.type);
      return {
        ...c,
        lastHeartbeatTime: stamp,
        lastTransitionTime: before && before.status === c.status ? before.lastTransitionTime : stamp,
      };
    });
    return {
      capacity: { ...this.capacity },
      allocatable: { ...this.capacity },
      conditions,
      addresses: [
        { type: 'InternalIP', address: this.opts.nodeIP },
        { type: 'Hostname', address: this.opts.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.daemonPort } },
      nodeInfo: {
        machineID: this.system.machineID,
        systemUUID: '',
        bootID: this.system.bootID,
        kernelVersion: this.system.kernelVersion,
        osImage: this.system.osImage,
        containerRuntimeVersion: `${this.runtimeName}://${this.runtimeVersion}`,
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: '',
        operatingSystem: os.platform(),
        architecture: goArch(),
      },
    };
  }
}
