import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { KubeObject } from '../api/types';
import type { Clock } from './clock';
import { execToCompletion, type ContainerRuntime } from './runtime/runtime';

/**
 * Container probes (liveness, readiness, startup) and lifecycle hook
 * actions. Each probe of each running container has its own timer, armed
 * only while the container runs, so a node full of probe-less pods costs
 * nothing here. Results are kept per container instance (runtime id): a
 * restarted container starts over, not ready and not yet started.
 */

export type ProbeKind = 'liveness' | 'readiness' | 'startup';

/** Where an action runs: the container, and the addresses its network answers on. */
export interface ActionTarget {
  pod: KubeObject;
  container: any;
  containerId: string;
  /** The pod IP, or the node's for hostNetwork pods. */
  podIP?: string;
}

export interface ActionResult {
  ok: boolean;
  /** Why it failed (output of an exec, the HTTP status, the dial error). */
  message: string;
}

export interface ActionOptions {
  runtime: ContainerRuntime;
  timeoutMs: number;
  /**
   * Pretend httpGet and tcpSocket actions succeed without dialing, unless
   * they name an explicit host. For runtimes whose pod IPs are not real
   * (the fake runtime), so mk never sends traffic to made-up addresses.
   */
  simulateNetwork?: boolean;
}

const PROBE_USER_AGENT = 'kube-probe/1.31';

/** Runs one exec / httpGet / tcpSocket / sleep action (a probe or a lifecycle hook) once. */
export async function runAction(action: any, target: ActionTarget, opts: ActionOptions): Promise<ActionResult> {
  try {
    if (action.exec) return await execAction(action.exec.command ?? [], target, opts);
    if (action.httpGet) return await httpAction(action.httpGet, target, opts);
    if (action.tcpSocket) return await tcpAction(action.tcpSocket, target, opts);
    if (action.sleep) {
      await new Promise((r) => setTimeout(r, Math.min(opts.timeoutMs, (action.sleep.seconds ?? 0) * 1000)));
      return { ok: true, message: '' };
    }
    // gRPC probes need a gRPC client mk does not carry; treat them as passing rather than killing the container.
    return { ok: true, message: '' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

async function execAction(command: string[], target: ActionTarget, opts: ActionOptions): Promise<ActionResult> {
  const session = await opts.runtime.exec(target.containerId, command, { stdin: false, stdout: true, stderr: true, tty: false });
  try {
    const { exitCode, stdout, stderr } = await execToCompletion(session, opts.timeoutMs);
    return { ok: exitCode === 0, message: (stdout + stderr).trim() || (exitCode === 0 ? '' : `command ${JSON.stringify(command.join(' '))} exited with ${exitCode}`) };
  } catch (err) {
    if (/timed out/.test((err as Error).message)) return { ok: false, message: `command ${JSON.stringify(command.join(' '))} timed out` };
    throw err;
  }
}

/** A port number, or a name resolved against the container's ports. */
function resolvePort(port: unknown, container: any): number {
  if (typeof port === 'number') return port;
  if (typeof port === 'string' && /^\d+$/.test(port)) return Number(port);
  const found = (container.ports ?? []).find((p: any) => p.name === port);
  if (!found) throw new Error(`couldn't find port ${String(port)} in the container's ports`);
  return found.containerPort;
}

function hostFor(action: any, target: ActionTarget): string | undefined {
  if (action.host) return action.host;
  if (target.pod.spec?.hostNetwork) return '127.0.0.1';
  return target.podIP;
}

async function httpAction(get: any, target: ActionTarget, opts: ActionOptions): Promise<ActionResult> {
  if (opts.simulateNetwork && !get.host) return { ok: true, message: '' };
  const host = hostFor(get, target);
  if (!host) return { ok: false, message: 'the pod has no IP yet' };
  const port = resolvePort(get.port, target.container);
  const scheme = String(get.scheme ?? 'HTTP').toLowerCase();
  const p = String(get.path ?? '/');
  const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${p.startsWith('/') ? p : '/' + p}`;
  const headers: Record<string, string> = { 'User-Agent': PROBE_USER_AGENT, Accept: '*/*' };
  for (const h of get.httpHeaders ?? []) headers[h.name] = h.value;
  const transport = scheme === 'https' ? https : http;
  return new Promise<ActionResult>((resolve) => {
    const req = transport.get(url, { headers, timeout: opts.timeoutMs, rejectUnauthorized: false, agent: false }, (res) => {
      let read = 0;
      res.on('data', (c: Buffer) => {
        read += c.length;
        if (read > 10 * 1024) res.destroy();
      });
      const code = res.statusCode ?? 0;
      const done = () =>
        resolve(code >= 200 && code < 400 ? { ok: true, message: '' } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
    req.on('timeout', () => req.destroy(new Error('context deadline exceeded (Client.Timeout exceeded while awaiting headers)')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, message: `Get "${url}": ${dialError(host, port, err)}` }));
  });
}

async function tcpAction(tcp: any, target: ActionTarget, opts: ActionOptions): Promise<ActionResult> {
  if (opts.simulateNetwork && !tcp.host) return { ok: true, message: '' };
  const host = hostFor(tcp, target);
  if (!host) return { ok: false, message: 'the pod has no IP yet' };
  const port = resolvePort(tcp.port, target.container);
  return new Promise<ActionResult>((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (r: ActionResult) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(opts.timeoutMs, () => finish({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }));
    socket.on('connect', () => finish({ ok: true, message: '' }));
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, message: dialError(host, port, err) }));
  });
}

function dialError(host: string, port: number, err: NodeJS.ErrnoException): string {
  if (err.code === 'ECONNREFUSED') return `dial tcp ${host}:${port}: connect: connection refused`;
  if (err.code === 'ETIMEDOUT') return `dial tcp ${host}:${port}: i/o timeout`;
  return err.message;
}

// ---------------------------------------------------------------------------

export interface ProbeEvents {
  /** A failed probe attempt: an Unhealthy event on the container. */
  unhealthy(pod: KubeObject, container: string, message: string): void;
}

export interface ProbeManagerOptions {
  runtime: ContainerRuntime;
  clock: Clock;
  events: ProbeEvents;
  /** A result changed (readiness, startup, or a liveness/startup failure): the pod needs a sync. */
  onChange: (podUid: string) => void;
  simulateNetwork?: boolean;
}

/** A running container the probes watch. */
export interface ProbedContainer {
  name: string;
  id: string;
  /** ms since the epoch. */
  startedAt: number;
}

const LABEL: Record<ProbeKind, string> = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' };

class ProbeWorker {
  /** readiness: ready; liveness: alive; startup: started. Undefined until decided. */
  result: boolean | undefined;
  lastMessage = '';
  private successes = 0;
  private failures = 0;
  private cancel?: () => void;
  private stopped = false;

  constructor(
    readonly kind: ProbeKind,
    readonly probe: any,
    readonly containerId: string,
    private readonly startedAt: number,
    private target: ActionTarget,
    private readonly owner: ProbeManager,
  ) {
    this.result = kind === 'liveness' ? true : kind === 'readiness' ? false : undefined;
  }

  start(): void {
    const at = this.startedAt + (this.probe.initialDelaySeconds ?? 0) * 1000;
    this.schedule(Math.max(0, at - this.owner.clock.now()));
  }

  retarget(target: ActionTarget): void {
    this.target = target;
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.cancel = this.owner.clock.after(ms, () => void this.run());
  }

  private get periodMs(): number {
    return Math.max(1, this.probe.periodSeconds ?? 10) * 1000;
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    // Liveness and readiness wait for the startup probe; a decided startup or failed liveness probe stops probing.
    const gated = this.kind !== 'startup' && !this.owner.started(this.target.pod.metadata.uid!, this.target.container, this.containerId);
    const settled = (this.kind === 'startup' && this.result !== undefined) || (this.kind === 'liveness' && this.result === false);
    if (gated || settled) {
      if (!settled) this.schedule(this.periodMs);
      return;
    }
    const r = await runAction(this.probe, this.target, {
      runtime: this.owner.runtime,
      timeoutMs: Math.max(1, this.probe.timeoutSeconds ?? 1) * 1000,
      simulateNetwork: this.owner.simulateNetwork,
    });
    if (this.stopped) return;
    const before = this.result;
    if (r.ok) {
      this.failures = 0;
      this.successes++;
      const needed = this.kind === 'readiness' ? Math.max(1, this.probe.successThreshold ?? 1) : 1;
      if (this.successes >= needed) this.result = true;
    } else {
      this.successes = 0;
      this.failures++;
      this.lastMessage = r.message;
      this.owner.events.unhealthy(this.target.pod, this.target.container.name, `${LABEL[this.kind]} probe failed: ${r.message}`);
      if (this.failures >= Math.max(1, this.probe.failureThreshold ?? 3)) this.result = false;
    }
    if (this.result !== before) this.owner.onChange(this.target.pod.metadata.uid!);
    this.schedule(this.periodMs);
  }
}

export class ProbeManager {
  readonly runtime: ContainerRuntime;
  readonly clock: Clock;
  readonly events: ProbeEvents;
  readonly onChange: (podUid: string) => void;
  readonly simulateNetwork: boolean;
  /** `uid` -> `container/kind` -> worker. */
  private readonly pods = new Map<string, Map<string, ProbeWorker>>();

  constructor(opts: ProbeManagerOptions) {
    this.runtime = opts.runtime;
    this.clock = opts.clock;
    this.events = opts.events;
    this.onChange = opts.onChange;
    this.simulateNetwork = !!opts.simulateNetwork;
  }

  /** Starts, restarts or stops the pod's probes to match the containers running now. */
  update(pod: KubeObject, running: ProbedContainer[], podIP: string | undefined): void {
    const uid = pod.metadata.uid!;
    let workers = this.pods.get(uid);
    const wanted = new Set<string>();
    for (const c of running) {
      const spec = (pod.spec?.containers ?? []).find((x: any) => x.name === c.name);
      if (!spec) continue;
      for (const kind of ['startup', 'liveness', 'readiness'] as const) {
        const probe = spec[`${kind}Probe`];
        if (!probe) continue;
        const key = `${c.name}/${kind}`;
        wanted.add(key);
        const target: ActionTarget = { pod, container: spec, containerId: c.id, podIP };
        const existing = workers?.get(key);
        if (existing && existing.containerId === c.id) {
          existing.retarget(target);
          continue;
        }
        existing?.stop();
        if (!workers) this.pods.set(uid, (workers = new Map()));
        const worker = new ProbeWorker(kind, probe, c.id, c.startedAt, target, this);
        workers.set(key, worker);
        worker.start();
      }
    }
    if (!workers) return;
    for (const [key, w] of workers) {
      if (!wanted.has(key)) {
        w.stop();
        workers.delete(key);
      }
    }
    if (!workers.size) this.pods.delete(uid);
  }

  removePod(uid: string): void {
    for (const w of this.pods.get(uid)?.values() ?? []) w.stop();
    this.pods.delete(uid);
  }

  stop(): void {
    for (const uid of [...this.pods.keys()]) this.removePod(uid);
  }

  private worker(uid: string, name: string, kind: ProbeKind, containerId: string): ProbeWorker | undefined {
    const w = this.pods.get(uid)?.get(`${name}/${kind}`);
    return w && w.containerId === containerId ? w : undefined;
  }

  /** Whether the startup probe passed (true without one). */
  started(uid: string, spec: any, containerId: string): boolean {
    if (!spec.startupProbe) return true;
    return this.worker(uid, spec.name, 'startup', containerId)?.result === true;
  }

  /** Whether the container counts as ready: started, and its readiness probe passing (if it has one). */
  ready(uid: string, spec: any, containerId: string): boolean {
    if (!this.started(uid, spec, containerId)) return false;
    if (!spec.readinessProbe) return true;
    return this.worker(uid, spec.name, 'readiness', containerId)?.result === true;
  }

  /** Why the container must be restarted (failed liveness or startup probe), if it must. */
  failed(uid: string, name: string, containerId: string): 'liveness' | 'startup' | undefined {
    if (this.worker(uid, name, 'startup', containerId)?.result === false) return 'startup';
    if (this.worker(uid, name, 'liveness', containerId)?.result === false) return 'liveness';
    return undefined;
  }
}
