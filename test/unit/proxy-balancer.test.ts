import { Balancer, type Endpoint } from '../../src/agent/proxy/balancer';
import type { Clock } from '../../src/agent/clock';

/** A clock tests move by hand. */
function manualClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, after: () => () => undefined, advance: (ms) => (now += ms) };
}

const ep = (i: number): Endpoint => ({ ip: `10.0.0.${i}`, port: 8080 });
const keyOf = (e: Endpoint | undefined) => (e ? `${e.ip}:${e.port}` : 'none');

function counts(b: Balancer, n: number, client = (i: number) => `192.0.2.${i % 250}`): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = keyOf(b.next(client(i)));
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

describe('the proxy balancer (round-robin, ClientIP affinity)', () => {
  it('has nothing to offer without endpoints', () => {
    const b = new Balancer(manualClock());
    expect(b.next('192.0.2.1')).toBeUndefined();
    b.setEndpoints([ep(1)]);
    b.setEndpoints([]);
    expect(b.next('192.0.2.1')).toBeUndefined();
  });

  it('spreads connections evenly, each endpoint once per round', () => {
    const b = new Balancer(manualClock());
    b.setEndpoints([ep(1), ep(2), ep(3)]);
    const round = [0, 1, 2].map(() => keyOf(b.next('192.0.2.1')));
    expect(new Set(round).size).toBe(3);
    // The next round repeats the same order.
    expect([0, 1, 2].map(() => keyOf(b.next('192.0.2.1')))).toEqual(round);
    expect([...counts(b, 300).values()]).toEqual([100, 100, 100]);
  });

  it('keeps its round when the same endpoints come again, in any order, and never repeats one', () => {
    const b = new Balancer(manualClock());
    b.setEndpoints([ep(1), ep(2), ep(3)]);
    const first = keyOf(b.next('c'));
    b.setEndpoints([ep(3), ep(1), ep(2), ep(1)]);
    expect(b.size).toBe(3);
    expect(keyOf(b.next('c'))).not.toBe(first);
  });

  it('never sends a new connection to an endpoint that left', () => {
    const b = new Balancer(manualClock());
    b.setEndpoints([ep(1), ep(2), ep(3)]);
    b.next('c');
    b.setEndpoints([ep(1), ep(3)]);
    expect(counts(b, 100).has(keyOf(ep(2)))).toBe(false);
  });

  it('shuffles a new endpoint list, so proxies do not all start on the same endpoint', () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const b = new Balancer(manualClock());
      b.setEndpoints([ep(1), ep(2), ep(3)]);
      firsts.add(keyOf(b.next('c')));
    }
    expect(firsts.size).toBeGreaterThan(1);
  });

  describe('with sessionAffinity ClientIP', () => {
    it('gives a client the same endpoint while it comes back within the timeout', () => {
      const clock = manualClock();
      const b = new Balancer(clock);
      b.setAffinity({ timeoutSeconds: 10 });
      b.setEndpoints([ep(1), ep(2), ep(3)]);
      const mine = keyOf(b.next('192.0.2.7'));
      for (let i = 0; i < 20; i++) {
        // Other clients move the round on meanwhile.
        b.next(`198.51.100.${i}`);
        clock.advance(9_000);
        expect(keyOf(b.next('192.0.2.7'))).toBe(mine);
      }
    });

    it('forgets a client that stayed away longer than the timeout', () => {
      const clock = manualClock();
      const b = new Balancer(clock);
      b.setAffinity({ timeoutSeconds: 10 });
      b.setEndpoints([ep(1), ep(2)]);
      const first = keyOf(b.next('192.0.2.7'));
      clock.advance(10_000);
      // The round moved on by one since: after the timeout the client takes the next endpoint.
      expect(keyOf(b.next('192.0.2.7'))).not.toBe(first);
    });

    it('spreads different clients over the endpoints', () => {
      const b = new Balancer(manualClock());
      b.setAffinity({ timeoutSeconds: 10800 });
      b.setEndpoints([ep(1), ep(2), ep(3)]);
      expect([...counts(b, 300, (i) => `192.0.2.${i % 3}`).values()].sort()).toEqual([100, 100, 100]);
    });

    it('moves a client on when its endpoint leaves, or when a dial to it failed', () => {
      const b = new Balancer(manualClock());
      b.setAffinity({ timeoutSeconds: 10800 });
      b.setEndpoints([ep(1), ep(2), ep(3)]);
      const mine = b.next('192.0.2.7')!;
      const retried = b.next('192.0.2.7', true)!;
      expect(keyOf(retried)).not.toBe(keyOf(mine));
      // The retry's endpoint is the one the client keeps.
      expect(keyOf(b.next('192.0.2.7'))).toBe(keyOf(retried));
      b.setEndpoints([ep(1), ep(2), ep(3)].filter((e) => keyOf(e) !== keyOf(retried)));
      const after = keyOf(b.next('192.0.2.7'));
      expect(after).not.toBe(keyOf(retried));
      expect(keyOf(b.next('192.0.2.7'))).toBe(after);
    });

    it('drops affinity when the Service stops asking for it', () => {
      const b = new Balancer(manualClock());
      b.setAffinity({ timeoutSeconds: 10800 });
      b.setEndpoints([ep(1), ep(2)]);
      b.next('192.0.2.7');
      b.setAffinity({ timeoutSeconds: 0 });
      expect(new Set([0, 1, 2, 3].map(() => keyOf(b.next('192.0.2.7')))).size).toBe(2);
    });
  });
});
