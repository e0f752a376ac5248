import type { Clock } from '../clock';

/**
 * Endpoint choice for one service port, after kube-proxy's userspace
 * LoadBalancerRR: round-robin over the ready endpoints, and with
 * `sessionAffinity: ClientIP` a client keeps the endpoint it was last given
 * while it comes back within `timeoutSeconds` of its last connection.
 *
 * A new endpoint list (different as a set) is shuffled and the round starts
 * over, so proxies on many nodes do not all begin with the same endpoint;
 * affinities to endpoints that left are forgotten, so no new connection is
 * sent to an endpoint that is gone.
 */

export interface Endpoint {
  ip: string;
  port: number;
}

export interface AffinityConfig {
  /** `sessionAffinityConfig.clientIP.timeoutSeconds` (default 10800); 0 or undefined: no affinity. */
  timeoutSeconds?: number;
}

const key = (e: Endpoint) => `${e.ip}:${e.port}`;

export class Balancer {
  private endpoints: Endpoint[] = [];
  private index = 0;
  private timeoutMs = 0;
  /** client IP -> its endpoint and when it last used it. */
  private readonly affinity = new Map<string, { endpoint: Endpoint; lastUsed: number }>();
  private lastSweep = 0;

  constructor(
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
  ) {}

  get size(): number {
    return this.endpoints.length;
  }

  /** Whether next() looks at the client's IP (ClientIP affinity). */
  get usesClientIP(): boolean {
    return this.timeoutMs > 0;
  }

  /** The current endpoints, in round-robin order. */
  list(): readonly Endpoint[] {
    return this.endpoints;
  }

  setAffinity(config: AffinityConfig): void {
    const ms = Math.max(0, (config.timeoutSeconds ?? 0) * 1000);
    if (ms === this.timeoutMs) return;
    this.timeoutMs = ms;
    if (!ms) this.affinity.clear();
  }

  /** Replaces the endpoint list; unchanged sets keep the round and the affinities. */
  setEndpoints(endpoints: Endpoint[]): void {
    const next = new Map(endpoints.map((e) => [key(e), e]));
    const current = new Set(this.endpoints.map(key));
    if (next.size === current.size && [...next.keys()].every((k) => current.has(k))) return;
    const list = [...next.values()];
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [list[i], list[j]] = [list[j], list[i]];
    }
    this.endpoints = list;
    this.index = 0;
    for (const [client, a] of this.affinity) if (!next.has(key(a.endpoint))) this.affinity.delete(client);
  }

  /**
   * The endpoint for a new connection from `clientIP`, or undefined when
   * there is none. `retry` (a later attempt for the same connection, after
   * a failed dial) ignores the client's affinity and moves on.
   */
  next(clientIP: string, retry = false): Endpoint | undefined {
    if (!this.endpoints.length) return undefined;
    const now = this.clock.now();
    if (this.timeoutMs) {
      this.sweep(now);
      const held = this.affinity.get(clientIP);
      if (!retry && held && now - held.lastUsed < this.timeoutMs) {
        held.lastUsed = now;
        return held.endpoint;
      }
    }
    const endpoint = this.endpoints[this.index];
    this.index = (this.index + 1) % this.endpoints.length;
    if (this.timeoutMs) this.affinity.set(clientIP, { endpoint, lastUsed: now });
    return endpoint;
  }

  /** Drops expired affinities now and then, so clients that never return do not pile up. */
  private sweep(now: number): void {
    if (now - this.lastSweep < Math.min(this.timeoutMs, 60_000)) return;
    this.lastSweep = now;
    for (const [client, a] of this.affinity) if (now - a.lastUsed >= this.timeoutMs) this.affinity.delete(client);
  }
}
