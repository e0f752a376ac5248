import { WorkQueue } from '../../src/controllers/workqueue';

describe('WorkQueue', () => {
  test('a key added twice while waiting is processed once', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    q.done('a');
    q.done('b');
    expect(q.length).toBe(0);
    q.shutDown();
  });

  test('a key is never handed to two workers at once; an add during processing re-queues it after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const first = await q.get();
    q.add('a');
    expect(q.length).toBe(0); // held back while a worker has it
    let second: string | undefined;
    const waiting = q.get().then((k) => (second = k));
    await new Promise((r) => setImmediate(r));
    expect(second).toBeUndefined();
    q.done(first!);
    await waiting;
    expect(second).toBe('a');
    q.done('a');
    q.shutDown();
  });

  test('rate-limited requeue backs off exponentially per key and forget resets it', async () => {
    const q = new WorkQueue({ baseDelayMs: 20 });
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const start = Date.now();
      q.addRateLimited('k');
      const k = await q.get();
      delays.push(Date.now() - start);
      q.done(k!);
    }
    expect(q.numRequeues('k')).toBe(3);
    expect(delays[0]).toBeGreaterThanOrEqual(15);
    expect(delays[1]).toBeGreaterThanOrEqual(35);
    expect(delays[2]).toBeGreaterThanOrEqual(75);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
    q.shutDown();
  });

  test('addAfter adds the key once the delay passes; an earlier pending addAfter wins', async () => {
    const q = new WorkQueue();
    const start = Date.now();
    q.addAfter('x', 40);
    q.addAfter('x', 1000);
    expect(q.length).toBe(0);
    expect(await q.get()).toBe('x');
    const waited = Date.now() - start;
    expect(waited).toBeGreaterThanOrEqual(35);
    expect(waited).toBeLessThan(900);
    q.done('x');
    q.shutDown();
  });

  test('a nearer addAfter replaces a farther pending one (a long recheck must not hold back a short one)', async () => {
    const q = new WorkQueue();
    const start = Date.now();
    q.addAfter('x', 60_000);
    q.addAfter('x', 40);
    expect(await q.get()).toBe('x');
    expect(Date.now() - start).toBeLessThan(5_000);
    q.done('x');
    // The farther timer is gone: nothing else comes.
    expect(q.length).toBe(0);
    q.shutDown();
  });

  test('get resolves undefined after shutDown', async () => {
    const q = new WorkQueue();
    const pending = q.get();
    q.shutDown();
    expect(await pending).toBeUndefined();
  });
});
