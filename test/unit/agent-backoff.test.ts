import { Backoff, goDuration } from '../../src/agent/backoff';
import type { Clock } from '../../src/agent/clock';

function manualClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, after: () => () => undefined, advance: (ms) => (now += ms) };
}

describe('Backoff (the kubelet crash-loop backoff)', () => {
  it('restarts at once, then doubles up to the maximum', () => {
    const clock = manualClock();
    const b = new Backoff({ initialMs: 10_000, maxMs: 300_000 }, clock);
    const key = 'uid/main';
    // First crash: not backing off; restart now and arm 10 s.
    expect(b.isInBackOffSince(key, clock.now())).toBe(false);
    expect(b.next(key, clock.now())).toBe(10_000);
    // Second crash right after: wait 10 s.
    clock.advance(1_000);
    const crashed = clock.now();
    expect(b.isInBackOffSince(key, crashed)).toBe(true);
    expect(b.retryAt(key, crashed)).toBe(crashed + 10_000);
    clock.advance(10_000);
    expect(b.isInBackOffSince(key, crashed)).toBe(false);
    const delays = [b.next(key, crashed)];
    for (let i = 0; i < 6; i++) delays.push(b.next(key, crashed));
    expect(delays).toEqual([20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it('starts over after a long quiet period, or when reset', () => {
    const clock = manualClock();
    const b = new Backoff({ initialMs: 10_000, maxMs: 300_000 }, clock);
    b.next('k', clock.now());
    b.next('k', clock.now());
    expect(b.get('k')).toBe(20_000);
    clock.advance(600_001);
    expect(b.next('k', clock.now())).toBe(10_000);
    b.reset('k');
    expect(b.get('k')).toBe(0);
    b.next('uid-1/a');
    b.next('uid-2/a');
    b.resetPrefix('uid-1/');
    expect([b.get('uid-1/a'), b.get('uid-2/a')]).toEqual([0, 10_000]);
  });

  it('backs image pulls off from the attempt', () => {
    const clock = manualClock();
    const b = new Backoff({ initialMs: 10_000, maxMs: 300_000 }, clock);
    expect(b.isInBackOffSinceUpdate('img')).toBe(false);
    b.next('img');
    expect(b.isInBackOffSinceUpdate('img')).toBe(true);
    expect(b.retryAtSinceUpdate('img')).toBe(clock.now() + 10_000);
    clock.advance(10_000);
    expect(b.isInBackOffSinceUpdate('img')).toBe(false);
  });
});

describe('goDuration', () => {
  it.each([
    [100, '100ms'],
    [10_000, '10s'],
    [1_500, '1.5s'],
    [80_000, '1m20s'],
    [300_000, '5m0s'],
    [3_600_000, '1h0m0s'],
  ])('%d ms is %s', (ms, text) => expect(goDuration(ms)).toBe(text));
});
