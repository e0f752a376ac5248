import type { Duplex, Readable } from 'node:stream';

/**
 * The container runtime contract of the agent (mk's CRI). The kubelet side
 * (pod workers, probes, status) speaks only this interface; `docker.ts` is
 * the one file that talks to a Docker engine (through dockerode) and
 * `fake.ts` stands in for it in tests and at scale.
 *
 * Everything mk creates is labelled (see LABELS) so that a restarted agent
 * finds and adopts what is already running instead of starting it twice.
 */

/** Labels on every sandbox and container mk creates. */
export const LABELS = {
  /** Marks objects as mk's; the value is the node name that owns them. */
  node: 'io.mk.node',
  podUid: 'io.mk.pod.uid',
  podName: 'io.mk.pod.name',
  podNamespace: 'io.mk.pod.namespace',
  /** 'sandbox' for the pod's network holder, 'container' for the rest. */
  role: 'io.mk.role',
  containerName: 'io.mk.container.name',
  /** Restart attempt of this container instance (0 for the first run). */
  attempt: 'io.mk.container.attempt',
  /** 'init' for init containers, 'app' otherwise. */
  containerType: 'io.mk.container.type',
  /** Hash of the container spec it was created from; a changed spec means recreate. */
  specHash: 'io.mk.container.hash',
} as const;

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface PortMapping {
  containerPort: number;
  hostPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  hostIP?: string;
}

export interface SandboxConfig {
  podUid: string;
  name: string;
  namespace: string;
  /** The pod's hostname inside its containers (metadata.name or spec.hostname). */
  hostname: string;
  labels: Record<string, string>;
  /** hostPorts of the pod's containers, published on the node. */
  portMappings: PortMapping[];
  /** DNS for the pod's containers (resolv.conf); undefined: the runtime's default. */
  dns?: { nameservers: string[]; searches: string[]; options: string[] };
  /** Extra /etc/hosts lines. */
  hostAliases?: Array<{ ip: string; hostnames: string[] }>;
}

export interface SandboxStatus {
  id: string;
  podUid: string;
  /** The pod IP: the sandbox's address on the runtime's network. */
  ip?: string;
  ready: boolean;
  createdAt: Date;
  labels: Record<string, string>;
}

export interface Mount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export interface ContainerConfig {
  name: string;
  image: string;
  /** The image's entrypoint replaced (Kubernetes `command`). */
  command?: string[];
  /** The image's cmd replaced (Kubernetes `args`). */
  args?: string[];
  env: Array<{ name: string; value: string }>;
  workingDir?: string;
  mounts: Mount[];
  /** Limits the runtime enforces. */
  resources: { cpuMilli?: number; memoryBytes?: number; cpuRequestMilli?: number };
  securityContext: { runAsUser?: number; runAsGroup?: number; privileged?: boolean; readOnlyRootFilesystem?: boolean };
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  labels: Record<string, string>;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerStatus {
  id: string;
  /** Kubernetes container name (from LABELS.containerName). */
  name: string;
  podUid: string;
  attempt: number;
  state: ContainerState;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  exitCode?: number;
  /** OOMKilled, Error, Completed, ... when exited. */
  reason?: string;
  message?: string;
  image: string;
  imageId: string;
  labels: Record<string, string>;
}

/** One pod as the runtime sees it: its sandbox(es) and containers, found by label. */
export interface RuntimePod {
  podUid: string;
  name: string;
  namespace: string;
  sandboxes: SandboxStatus[];
  containers: ContainerStatus[];
}

export interface LogOptions {
  follow?: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  timestamps?: boolean;
  /** Stop after this many bytes (Kubernetes limitBytes). */
  limitBytes?: number;
}

export interface ExecOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** A running exec: write to `stdin`, read `stdout`/`stderr` (both on `stdout` with a tty). */
export interface ExecSession {
  stdin?: NodeJS.WritableStream;
  stdout: Readable;
  stderr?: Readable;
  /** Resolves with the command's exit code once it ends. */
  exitCode: Promise<number>;
  resize(cols: number, rows: number): Promise<void>;
}

/** The image could not be made present; `reason` is what Kubernetes shows (ErrImagePull, ErrImageNeverPull). */
export class ImagePullError extends Error {
  constructor(readonly reason: 'ErrImagePull' | 'ErrImageNeverPull' | 'InvalidImageName', message: string) {
    super(message);
    this.name = 'ImagePullError';
  }
}

/** A change the runtime noticed on its own (a container exited), so the agent can react at once. */
export interface RuntimeEvent {
  podUid: string;
  containerId: string;
  type: 'started' | 'died';
}

export interface ContainerRuntime {
  /** 'docker', 'fake': reported in Node status.nodeInfo.containerRuntimeVersion as `<name>://<version>`. */
  readonly name: string;
  version(): Promise<string>;

  /**
   * Makes the image present according to the pull policy. Resolves with
   * whether a pull happened; throws ImagePullError with the engine's message.
   */
  ensureImage(image: string, policy: PullPolicy): Promise<{ pulled: boolean; imageId: string }>;

  /** Creates and starts the pod's sandbox: the network namespace (and pod IP) its containers share. */
  runSandbox(config: SandboxConfig): Promise<SandboxStatus>;
  /** Stops and removes the sandbox; removing an absent one is not an error. */
  removeSandbox(id: string): Promise<void>;

  /** Creates (not starts) a container in the sandbox's network namespace; returns its id. */
  createContainer(sandboxId: string, config: ContainerConfig): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** SIGTERM (or the image's stop signal), then SIGKILL after `graceSeconds`. Stopping a stopped one is not an error. */
  stopContainer(id: string, graceSeconds: number): Promise<void>;
  /** Removing an absent container is not an error. */
  removeContainer(id: string): Promise<void>;

  /** Every pod on this node that mk created (by label), with sandboxes and containers. */
  listPods(): Promise<RuntimePod[]>;
  containerStatus(id: string): Promise<ContainerStatus | undefined>;

  logs(containerId: string, opts: LogOptions): Promise<Readable>;
  exec(containerId: string, command: string[], opts: ExecOptions): Promise<ExecSession>;
  /**
   * A TCP connection to `port` inside the sandbox's network namespace (CRI
   * PortForward), for pods/portforward. Rejects with a message saying why
   * (sandbox gone, nothing listening) when it cannot be made.
   */
  portForward(sandboxId: string, port: number): Promise<Duplex>;

  /** Subscribes to runtime events; returns the unsubscribe function. */
  onEvent(handler: (event: RuntimeEvent) => void): () => void;

  close(): Promise<void>;
}

/** Reads an ExecSession to completion (exec probes, tests): stdout, stderr and the exit code. */
export async function execToCompletion(session: ExecSession, timeoutMs: number): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const collect = (s?: Readable) =>
    new Promise<string>((resolve) => {
      if (!s) return resolve('');
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
      s.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      s.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`command timed out after ${timeoutMs}ms`)), timeoutMs);
  });
  try {
    const [exitCode, stdout, stderr] = await Promise.race([
      Promise.all([session.exitCode, collect(session.stdout), collect(session.stderr)]),
      timeout,
    ]);
    return { exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

