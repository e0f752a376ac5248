import type { Clock } from './clock';

/**
 * Per-key exponential backoff with the semantics of client-go's
 * flowcontrol.Backoff, which the kubelet uses for crash loops and image
 * pulls: the first failure is retried at once and arms `initialMs`; each
 * failure inside the window doubles it up to `maxMs`; a failure long after
 * the last one (more than twice the maximum) starts over.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

interface Entry {
  backoffMs: number;
  /** The event time of the last `next`. */
  lastUpdate: number;
}

export class Backoff {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly opts: BackoffOptions,
    private readonly clock: Clock,
  ) {}

  /** The current backoff of `key`, 0 when it has none. */
  get(key: string): number {
    return this.entries.get(key)?.backoffMs ?? 0;
  }

  /** Records a retry caused by an event at `at` and returns the backoff that now applies. */
  next(key: string, at = this.clock.now()): number {
    const entry = this.entries.get(key);
    if (!entry || this.expired(entry, at)) {
      this.entries.set(key, { backoffMs: this.opts.initialMs, lastUpdate: at });
      return this.opts.initialMs;
    }
    entry.backoffMs = Math.min(entry.backoffMs * 2, this.opts.maxMs);
    entry.lastUpdate = at;
    return entry.backoffMs;
  }

  /** Whether a retry for an event at `at` must still wait; see `retryAt` for when it may go. */
  isInBackOffSince(key: string, at: number): boolean {
    const entry = this.entries.get(key);
    if (!entry || this.expired(entry, at)) return false;
    return this.clock.now() - at < entry.backoffMs;
  }

  /** Whether the last `next` was less than the current backoff ago (image pulls back off from the attempt, not an event). */
  isInBackOffSinceUpdate(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    return this.clock.now() - entry.lastUpdate < entry.backoffMs;
  }

  /** When the backoff that started with the last `next` ends. */
  retryAtSinceUpdate(key: string): number {
    const entry = this.entries.get(key);
    return entry ? entry.lastUpdate + entry.backoffMs : this.clock.now();
  }

  /** When a retry for an event at `at` may go. */
  retryAt(key: string, at: number): number {
    return at + this.get(key);
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets every key that starts with `prefix` (a removed pod's). */
  resetPrefix(prefix: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  private expired(entry: Entry, at: number): boolean {
    return at - entry.lastUpdate > 2 * this.opts.maxMs;
  }
}

/** A duration as Go prints one (`100ms`, `10s`, `1m20s`, `5m0s`): the kubelet's messages carry them. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const totalSeconds = ms / 1000;
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = +(totalSeconds % 60).toFixed(3);
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}
