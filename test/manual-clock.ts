import type { Clock } from '../src/agent/clock';

export type ManualClock = Clock & {
  /** Moves time on by `ms`, firing every timer due on the way, in time order. */
  advance(ms: number): Promise<void>;
};

/**
 * A Clock whose timers fire only when the test advances it. After each
 * firing `settle` runs: whatever the fired work needs to finish before the
 * next timer (its API calls, the streams it reads).
 */
export function manualClock(opts: { start?: number; settle: () => Promise<void> }): ManualClock {
  let now = opts.start ?? 0;
  let timers: Array<{ at: number; fn: () => void }> = [];
  return {
    now: () => now,
    after(ms, fn) {
      const t = { at: now + ms, fn };
      timers.push(t);
      return () => (timers = timers.filter((x) => x !== t));
    },
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
        await opts.settle();
      }
      now = end;
    },
  };
}
