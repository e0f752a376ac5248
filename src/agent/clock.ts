/**
 * The agent's sense of time, injectable so tests can drive backoffs, probes
 * and heartbeats without waiting for them. `after` returns the function that
 * cancels the timer; cancelling a timer that already fired is harmless.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  after(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(t);
  },
};

/** RFC 3339 with second precision: how Kubernetes writes metav1.Time. */
export function rfc3339(ms: number | Date): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** RFC 3339 with microsecond precision: how Kubernetes writes metav1.MicroTime (Lease renewTime). */
export function microTime(ms: number | Date): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
