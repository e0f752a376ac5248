import type { KubeObject } from '../api/types';

/** A pod waiting to be scheduled, with what the queue knows of its history. */
export interface QueuedPod {
  key: string;
  pod: KubeObject;
  /** Scheduling attempts so far; drives the backoff. */
  attempts: number;
  /** When it first entered the queue (ms). */
  enqueued: number;
  /** Arrival order, for FIFO among equal priorities (many pods share a millisecond). */
  seq: number;
  /** The queue's move counter when this attempt started (see `moveRequests`). */
  cycle: number;
  /** When the last attempt failed (ms); backoff counts from here. */
  failedAt: number;
}

export interface QueueOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Backoff ends on ticks of this length (1 s, like kube-scheduler's backoff
   * flush), so pods that failed a few ms apart return together and the
   * active queue orders them by priority. 1 makes backoff exact.
   */
  backoffTickMs?: number;
  now?: () => number;
}

function priorityOf(pod: KubeObject): number {
  return typeof pod.spec?.priority === 'number' ? pod.spec.priority : 0;
}

/** Higher priority first, then first come first served. */
function before(a: QueuedPod, b: QueuedPod): boolean {
  const pa = priorityOf(a.pod);
  const pb = priorityOf(b.pod);
  return pa !== pb ? pa > pb : a.seq < b.seq;
}

/**
 * kube-scheduler's scheduling queue in small: an active heap (priority, then
 * FIFO), a backoff area for pods that just failed (1 s doubling to 10 s), and
 * an unschedulable area for pods that fit nowhere. Unschedulable pods are not
 * polled: a cluster change that could make room (a node added or updated, a
 * pod deleted) moves them back, through backoff if theirs has not expired.
 */
export class SchedulingQueue {
  private readonly heap: QueuedPod[] = [];
  private readonly inHeap = new Map<string, QueuedPod>();
  private readonly backoff = new Map<string, { item: QueuedPod; until: number }>();
  private readonly unschedulable = new Map<string, QueuedPod>();
  private readonly attempts = new Map<string, number>();
  private waiter?: () => void;
  private backoffTimer?: NodeJS.Timeout;
  private closed = false;
  /** Counts cluster changes; a failure seen after one goes to backoff, not to unschedulable. */
  private moveRequests = 0;
  private nextSeq = 0;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly tickMs: number;
  private readonly now: () => number;

  constructor(opts: QueueOptions = {}) {
    this.initialBackoffMs = opts.initialBackoffMs ?? 1_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.tickMs = Math.max(1, opts.backoffTickMs ?? 1_000);
    this.now = opts.now ?? Date.now;
  }

  get length(): number {
    return this.heap.length + this.backoff.size + this.unschedulable.size;
  }

  /** Adds a new pending pod, or refreshes the object of one already queued. */
  addOrUpdate(pod: KubeObject, key: string): void {
    const queued = this.inHeap.get(key);
    if (queued) {
      queued.pod = pod;
      return;
    }
    const waiting = this.backoff.get(key)?.item ?? this.unschedulable.get(key);
    if (waiting) {
      const specChanged = JSON.stringify(waiting.pod.spec) !== JSON.stringify(pod.spec);
      waiting.pod = pod;
      // An edited pod deserves a fresh look; an unchanged one keeps waiting.
      if (specChanged && this.unschedulable.delete(key)) this.push(waiting);
      return;
    }
    this.push({ key, pod, attempts: this.attempts.get(key) ?? 0, enqueued: this.now(), seq: this.nextSeq++, cycle: 0, failedAt: 0 });
  }

  delete(key: string): void {
    this.unschedulable.delete(key);
    this.backoff.delete(key);
    this.attempts.delete(key);
    const queued = this.inHeap.get(key);
    if (queued) {
      this.inHeap.delete(key);
      const i = this.heap.indexOf(queued);
      if (i >= 0) this.removeAt(i);
    }
  }

  /** Waits for and removes the most urgent pod; resolves undefined once closed. */
  async pop(): Promise<QueuedPod | undefined> {
    while (!this.heap.length) {
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    const item = this.removeAt(0);
    this.inHeap.delete(item.key);
    item.cycle = this.moveRequests;
    return item;
  }

  /** A scheduling attempt failed for a transient reason (a failed binding): retry after backoff. */
  requeueWithBackoff(item: QueuedPod): void {
    if (!this.inHeap.has(item.key)) this.toBackoff(item);
  }

  /**
   * The pod fits no node. It waits for a cluster change, unless one already
   * happened while it was being scheduled, in which case it only backs off.
   */
  requeueUnschedulable(item: QueuedPod): void {
    if (this.inHeap.has(item.key)) return; // re-added while it was being scheduled: the newer entry wins
    if (this.moveRequests !== item.cycle) this.toBackoff(item);
    else {
      this.failed(item);
      this.unschedulable.set(item.key, item);
    }
  }

  /** Forgets the attempt count of a pod that was placed. */
  done(key: string): void {
    this.attempts.delete(key);
  }

  /** Something changed that might let unschedulable pods fit: give them another try. */
  moveAllToActive(): void {
    this.moveRequests++;
    const now = this.now();
    for (const [key, item] of this.unschedulable) {
      this.unschedulable.delete(key);
      const until = this.backoffUntil(item);
      if (until > now) this.backoff.set(key, { item, until });
      else this.push(item);
    }
    this.armBackoffTimer();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.backoffTimer);
    this.waiter?.();
  }

  private failed(item: QueuedPod): void {
    item.attempts++;
    item.failedAt = this.now();
    this.attempts.set(item.key, item.attempts);
  }

  /** 1 s after the first failure, doubling per attempt, at most 10 s; rounded up to the next tick. */
  private backoffUntil(item: QueuedPod): number {
    const ms = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.max(0, item.attempts - 1));
    return Math.ceil((item.failedAt + ms) / this.tickMs) * this.tickMs;
  }

  private toBackoff(item: QueuedPod): void {
    this.failed(item);
    this.backoff.set(item.key, { item, until: this.backoffUntil(item) });
    this.armBackoffTimer();
  }

  private armBackoffTimer(): void {
    clearTimeout(this.backoffTimer);
    if (!this.backoff.size || this.closed) return;
    let earliest = Infinity;
    for (const { until } of this.backoff.values()) earliest = Math.min(earliest, until);
    this.backoffTimer = setTimeout(() => this.flushBackoff(), Math.max(0, earliest - this.now()));
    this.backoffTimer.unref?.();
  }

  private flushBackoff(): void {
    const now = this.now();
    for (const [key, { item, until }] of this.backoff) {
      if (until <= now) {
        this.backoff.delete(key);
        this.push(item);
      }
    }
    this.armBackoffTimer();
  }

  private push(item: QueuedPod): void {
    this.inHeap.set(item.key, item);
    this.heap.push(item);
    let i = this.heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(this.heap[i], this.heap[parent])) break;
      [this.heap[i], this.heap[parent]] = [this.heap[parent], this.heap[i]];
      i = parent;
    }
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private removeAt(index: number): QueuedPod {
    const heap = this.heap;
    const item = heap[index];
    const last = heap.pop()!;
    if (index < heap.length) {
      heap[index] = last;
      let i = index;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < heap.length && before(heap[l], heap[best])) best = l;
        if (r < heap.length && before(heap[r], heap[best])) best = r;
        if (best === i) break;
        [heap[i], heap[best]] = [heap[best], heap[i]];
        i = best;
      }
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!before(heap[i], heap[parent])) break;
        [heap[i], heap[parent]] = [heap[parent], heap[i]];
        i = parent;
      }
    }
    return item;
  }
}
