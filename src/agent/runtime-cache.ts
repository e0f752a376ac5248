import type { ContainerRuntime, ContainerStatus, RuntimePod, SandboxStatus } from './runtime/runtime';

/**
 * A short summary of a pod's runtime state: a relist whose summary differs
 * from the last one known wakes the pod's worker. (Order counts; runtimes
 * list in a stable order, and a reordering costs one needless sync.)
 */
export function fingerprint(rp: { sandboxes: readonly SandboxStatus[]; containers: readonly ContainerStatus[] }): string {
  let out = '';
  for (const s of rp.sandboxes) out += `s:${s.id}:${s.ready}:${s.ip ?? ''}|`;
  for (const c of rp.containers) out += `c:${c.id}:${c.state}:${c.exitCode ?? ''}|`;
  return out;
}

/**
 * The agent's view of the runtime: one `listPods` per relist for the whole
 * node, shared by every pod worker (the kubelet's PLEG plus its pod cache).
 *
 * Relists are numbered as they start. A worker that has just changed the
 * runtime must not act on a relist that began before its change, so it asks
 * for a relist numbered at least `nextSeq()` as of the end of its sync;
 * concurrent requests share one relist.
 */
export class RuntimeCache {
  private pods = new Map<string, RuntimePod>();
  /** Number of the relist `pods` came from. */
  private seq = 0;
  /** Number of the last relist started. */
  private startedSeq = 0;
  private inflight?: Promise<void>;

  constructor(
    private readonly runtime: ContainerRuntime,
    /** Called after every successful relist with its snapshot and number. */
    private readonly onRelist: (pods: Map<string, RuntimePod>, seq: number) => void,
    /** Called with the error of a failed relist, and with undefined after a successful one. */
    private readonly onHealth: (problem: string | undefined) => void,
  ) {}

  /** The number a relist starting from now on will have at least. */
  nextSeq(): number {
    return this.startedSeq + 1;
  }

  /** Whether a relist has succeeded yet. */
  get primed(): boolean {
    return this.seq > 0;
  }

  /** One pod, from a relist numbered at least `seq` (relisting if needed). */
  async get(podUid: string, seq: number): Promise<RuntimePod | undefined> {
    await this.atLeast(seq);
    return this.pods.get(podUid);
  }

  /** Every pod, from the latest relist. */
  snapshot(): ReadonlyMap<string, RuntimePod> {
    return this.pods;
  }

  /** Relists now (or joins the relist under way), returning once a relist started from now has finished. */
  relist(): Promise<void> {
    return this.atLeast(this.nextSeq());
  }

  private async atLeast(seq: number): Promise<void> {
    while (this.seq < seq) {
      if (!this.inflight) {
        this.inflight = this.listOnce().finally(() => {
          this.inflight = undefined;
        });
      }
      await this.inflight;
    }
  }

  private async listOnce(): Promise<void> {
    const seq = ++this.startedSeq;
    let list: RuntimePod[];
    try {
      list = await this.runtime.listPods();
    } catch (err) {
      this.onHealth((err as Error).message);
      throw err;
    }
    this.pods = new Map(list.map((p) => [p.podUid, p]));
    this.seq = seq;
    this.onHealth(undefined);
    this.onRelist(this.pods, seq);
  }
}
