import type { KubeObject } from '../../src/api/types';
import { SchedulingQueue, type QueuedPod } from '../../src/scheduler/queue';

/**
 * The scheduling queue's contract: priority then FIFO; 1 s backoff doubling
 * to 10 s after a failure; unschedulable pods come back only on a cluster
 * change (moveAllToActive), through their backoff; deletes and spec edits
 * take effect in whichever area the pod waits.
 *
 * Time is jest's fake clock, passed in as the queue's `now`, so the real
 * 1 s / 10 s figures are checked without waiting for them. setImmediate is
 * left real: `readyNow` uses it to tell "nothing ready" from "not yet".
 */

function pod(name: string, priority?: number, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', resourceVersion: '1' },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...(priority === undefined ? {} : { priority }), ...spec },
  };
}

const key = (name: string) => `default/${name}`;

/**
 * Pops what the queue can hand out right now. One pop() is kept pending
 * between calls (a pop cannot be cancelled), so no pod is ever lost to a
 * stale consumer.
 */
function consumer(q: SchedulingQueue) {
  let pending: Promise<QueuedPod | undefined> | undefined;
  const NONE = Symbol('none');
  const next = async (): Promise<QueuedPod | undefined> => {
    pending ??= q.pop();
    // Every microtask (a push resolving the pending pop) settles before setImmediate fires.
    const r = await Promise.race([pending, new Promise<typeof NONE>((resolve) => setImmediate(() => resolve(NONE)))]);
    if (r === NONE) return undefined;
    pending = undefined;
    return r;
  };
  return {
    next,
    /** Keys of every pod ready now, in pop order. */
    async readyNow(): Promise<string[]> {
      const keys: string[] = [];
      for (let item = await next(); item; item = await next()) keys.push(item.key);
      return keys;
    },
    /** Pops exactly one pod, which must be ready now. */
    async one(): Promise<QueuedPod> {
      const item = await next();
      if (!item) throw new Error('no pod was ready');
      return item;
    },
  };
}

async function advance(ms: number): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
}

describe('SchedulingQueue (fake clock)', () => {
  let q: SchedulingQueue;
  let c: ReturnType<typeof consumer>;

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000, doNotFake: ['setImmediate'] });
    q = new SchedulingQueue({ now: () => Date.now(), backoffTickMs: 1 });
    c = consumer(q);
  });

  afterEach(() => {
    q.close();
    jest.useRealTimers();
  });

  it('pops higher priority first, then first come first served', async () => {
    const order: [string, number | undefined][] = [
      ['a', 0], ['b', 10], ['c', 0], ['d', 5], ['e', undefined], ['f', 10], ['g', -5], ['h', 5],
    ];
    for (const [name, prio] of order) {
      q.addOrUpdate(pod(name, prio), key(name));
      jest.advanceTimersByTime(1); // distinct arrival times
    }
    expect(q.length).toBe(8);
    expect(await c.readyNow()).toEqual(['b', 'f', 'd', 'h', 'a', 'c', 'e', 'g'].map(key));
    expect(q.length).toBe(0);
  });

  // BUG: `enqueued` is Date.now() (1 ms resolution) and the heap is not stable, so pods
  // arriving in the same millisecond pop almost last-in-first-out (burst-0, burst-11,
  // burst-10, ...). A burst of creates lands in one millisecond all the time (the API
  // serves thousands per second). Fix: break ties with a per-queue sequence number.
  // Flip to `it` once fixed.
  it('keeps arrival order among equal priorities when pods arrive within the same millisecond', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `burst-${i}`);
    for (const n of names) q.addOrUpdate(pod(n), key(n));
    expect(await c.readyNow()).toEqual(names.map(key));
  });

  it('interleaves later arrivals by priority, not by arrival', async () => {
    q.addOrUpdate(pod('low-1', 1), key('low-1'));
    jest.advanceTimersByTime(1);
    q.addOrUpdate(pod('low-2', 1), key('low-2'));
    expect((await c.one()).key).toBe(key('low-1'));
    jest.advanceTimersByTime(1);
    q.addOrUpdate(pod('high', 100), key('high'));
    expect(await c.readyNow()).toEqual([key('high'), key('low-2')]);
  });

  it('refreshes the object of a pod already waiting instead of queueing it twice', async () => {
    q.addOrUpdate(pod('a'), key('a'));
    const updated = pod('a');
    updated.metadata.resourceVersion = '2';
    q.addOrUpdate(updated, key('a'));
    expect(q.length).toBe(1);
    const item = await c.one();
    expect(item.pod.metadata.resourceVersion).toBe('2');
    expect(await c.readyNow()).toEqual([]);
  });

  it('backs a failed pod off for 1 s, doubling per failure up to 10 s', async () => {
    q.addOrUpdate(pod('a'), key('a'));
    let item = await c.one();
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 6; attempt++) {
      q.requeueWithBackoff(item);
      expect(q.length).toBe(1);
      const failedAt = Date.now();
      // Step in 250 ms until it comes back (and check it is not back 1 ms early).
      for (;;) {
        await advance(250);
        const ready = await c.next();
        if (ready) {
          item = ready;
          break;
        }
        if (Date.now() - failedAt > 60_000) throw new Error('the pod never came back');
      }
      waits.push(Date.now() - failedAt);
      expect(item.attempts).toBe(attempt);
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
  });

  it('does not hand a backed-off pod out a millisecond early', async () => {
    q.addOrUpdate(pod('a'), key('a'));
    q.requeueWithBackoff(await c.one());
    await advance(999);
    expect(await c.readyNow()).toEqual([]);
    await advance(1);
    expect(await c.readyNow()).toEqual([key('a')]);
  });

  it('keeps an unschedulable pod until moveAllToActive, however long that takes', async () => {
    q.addOrUpdate(pod('a'), key('a'));
    q.requeueUnschedulable(await c.one());
    expect(q.length).toBe(1);
    await advance(5 * 60_000);
    expect(await c.readyNow()).toEqual([]);
    q.moveAllToActive();
    // Its backoff (1 s) expired long ago, so it is ready at once.
    expect(await c.readyNow()).toEqual([key('a')]);
  });

  it('moves an unschedulable pod through the rest of its backoff when the change comes early', async () => {
    q.addOrUpdate(pod('a'), key('a'));
    q.requeueUnschedulable(await c.one());
    await advance(300);
    q.moveAllToActive();
    expect(await c.readyNow()).toEqual([]);
    await advance(699);
    expect(await c.readyNow()).toEqual([]);
    await advance(1);
    expect(await c.readyNow()).toEqual([key('a')]);
  });

  it('counts consecutive unschedulable attempts into the backoff', async () => {
    q.addOrUpdate(pod('a'), key('a'));
    q.requeueUnschedulable(await c.one());
    await advance(5_000);
    q.moveAllToActive();
    // Second failure: a change 1.5 s later is still inside its 2 s backoff.
    q.requeueUnschedulable(await c.one());
    await advance(1_500);
    q.moveAllToActive();
    expect(await c.readyNow()).toEqual([]);
    await advance(500);
    expect(await c.readyNow()).toEqual([key('a')]);
  });

  it('sends a pod that failed after a move request to backoff, not to wait for another change', async () => {
    q.addOrUpdate(pod('a'), key('a'));
    const item = await c.one();
    // A node was added while the pod was being scheduled: its "fits nowhere" may be stale.
    q.moveAllToActive();
    q.requeueUnschedulable(item);
    await advance(1_000);
    expect(await c.readyNow()).toEqual([key('a')]);
  });

  it('moves every unschedulable pod on one change, in priority order', async () => {
    for (const [name, prio] of [['a', 1], ['b', 3], ['c', 2]] as const) {
      q.addOrUpdate(pod(name, prio), key(name));
      jest.advanceTimersByTime(1);
    }
    for (let i = 0; i < 3; i++) q.requeueUnschedulable(await c.one());
    await advance(10_000);
    q.moveAllToActive();
    expect(await c.readyNow()).toEqual(['b', 'c', 'a'].map(key));
  });

  // BUG: each backed-off pod is flushed by its own timer at failedAt + backoff, so a consumer
  // that is waiting (the scheduler loop always is) takes `low`, which failed 5 ms earlier, before
  // `high` is even in the heap: priority is lost for pods that failed at nearly the same time.
  // kube-scheduler flushes backoff once a second, so both come out in one batch, by priority.
  // (test/integration/scheduler.test.ts shows the same through the API.) Flip to `it` once fixed.
  it('lets pods that failed together come out of backoff together, by priority', async () => {
    q.close();
    q = new SchedulingQueue({ now: () => Date.now() }); // the default 1 s backoff tick
    c = consumer(q);
    // Failures that straddle a tick boundary still come out a tick apart, as with
    // kube-scheduler's 1 s flush; these two fail well inside one tick.
    jest.advanceTimersByTime(200);
    q.addOrUpdate(pod('low', 1), key('low'));
    q.requeueUnschedulable(await c.one());
    jest.advanceTimersByTime(5);
    q.addOrUpdate(pod('high', 100), key('high'));
    q.requeueUnschedulable(await c.one());
    await advance(100);
    q.moveAllToActive(); // a node was added: both are retried, through the rest of their backoff
    const order: string[] = [];
    for (let ms = 0; ms < 2_000 && order.length < 2; ms++) {
      await advance(1);
      order.push(...(await c.readyNow())); // the scheduler pops as soon as a pod is ready
    }
    expect(order).toEqual([key('high'), key('low')]);
  });

  it('deletes a pod from the active heap, backoff and unschedulable areas alike', async () => {
    for (const n of ['backing-off', 'unschedulable', 'active', 'keep']) {
      q.addOrUpdate(pod(n), key(n));
      jest.advanceTimersByTime(1);
    }
    q.requeueWithBackoff(await c.one()); // backing-off
    q.requeueUnschedulable(await c.one()); // unschedulable
    expect(q.length).toBe(4);
    q.delete(key('backing-off'));
    q.delete(key('unschedulable'));
    q.delete(key('active'));
    q.delete(key('never-queued'));
    expect(q.length).toBe(1);
    await advance(60_000);
    q.moveAllToActive();
    expect(await c.readyNow()).toEqual([key('keep')]);
    expect(q.length).toBe(0);
  });

  it('deleting a pod forgets its failures: re-added, it starts at 1 s again', async () => {
    q.addOrUpdate(pod('a'), key('a'));
    for (let i = 0; i < 3; i++) {
      q.requeueWithBackoff(await c.one());
      await advance(10_000);
    }
    q.requeueWithBackoff(await c.one()); // 4th failure: 8 s
    q.delete(key('a'));
    q.addOrUpdate(pod('a'), key('a'));
    const fresh = await c.one();
    expect(fresh.attempts).toBe(0);
    q.requeueWithBackoff(fresh);
    await advance(1_000);
    expect(await c.readyNow()).toEqual([key('a')]);
  });

  it('moves an unschedulable pod back at once when its spec changes, but not for a status-only update', async () => {
    q.addOrUpdate(pod('a'), key('a'));
    q.requeueUnschedulable(await c.one());
    // The scheduler's own PodScheduled=False write comes back through the watch: no retry for that.
    const statusOnly = pod('a');
    statusOnly.metadata.resourceVersion = '2';
    statusOnly.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] };
    q.addOrUpdate(statusOnly, key('a'));
    expect(await c.readyNow()).toEqual([]);
    expect(q.length).toBe(1);
    // A user edit (here a toleration) may make it fit: retried immediately, its backoff notwithstanding.
    const edited = pod('a', undefined, { tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] });
    edited.metadata.resourceVersion = '3';
    q.addOrUpdate(edited, key('a'));
    const item = await c.one();
    expect(item.pod.metadata.resourceVersion).toBe('3');
    expect(item.pod.spec?.tolerations).toHaveLength(1);
  });

  it('keeps the newer entry when a pod is re-added while it is being scheduled', async () => {
    q.addOrUpdate(pod('a'), key('a'));
    const inFlight = await c.one();
    const newer = pod('a');
    newer.metadata.resourceVersion = '2';
    q.addOrUpdate(newer, key('a'));
    q.requeueUnschedulable(inFlight);
    q.requeueWithBackoff(inFlight);
    expect(q.length).toBe(1);
    const item = await c.one();
    expect(item.pod.metadata.resourceVersion).toBe('2');
    await advance(60_000);
    q.moveAllToActive();
    expect(await c.readyNow()).toEqual([]);
  });

  it('resolves a waiting pop with undefined once closed', async () => {
    const waiting = q.pop();
    q.close();
    await expect(waiting).resolves.toBeUndefined();
    await expect(q.pop()).resolves.toBeUndefined();
  });
});

describe('SchedulingQueue (real clock)', () => {
  it('returns a backed-off pod by itself after a short initialBackoffMs, doubling to the cap', async () => {
    const q = new SchedulingQueue({ initialBackoffMs: 20, maxBackoffMs: 50, backoffTickMs: 1 });
    try {
      q.addOrUpdate(pod('a'), key('a'));
      let item = (await q.pop())!;
      const waited: number[] = [];
      for (let i = 0; i < 3; i++) {
        const start = Date.now();
        q.requeueWithBackoff(item);
        item = (await q.pop())!; // resolves when the backoff timer fires; no polling
        waited.push(Date.now() - start);
      }
      expect(item.key).toBe(key('a'));
      // 20, 40, then capped at 50 ms (timers never fire early; allow slack for a loaded machine).
      expect(waited[0]).toBeGreaterThanOrEqual(19);
      expect(waited[1]).toBeGreaterThanOrEqual(39);
      expect(waited[2]).toBeGreaterThanOrEqual(49);
      expect(Math.max(...waited)).toBeLessThan(5_000);
    } finally {
      q.close();
    }
  });
});
