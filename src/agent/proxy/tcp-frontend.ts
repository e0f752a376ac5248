import * as net from 'node:net';
import type { Balancer } from './balancer';

/**
 * One listening socket of the service proxy (a ClusterIP or NodePort
 * address of one service port) relaying each accepted TCP connection to an
 * endpoint its Balancer picks, as kube-proxy's userspace mode did.
 *
 * A dial that fails moves on to the next endpoint, with the timeouts
 * kube-proxy used (250 ms, 500 ms, 1 s, 2 s); when there is no endpoint, or
 * every attempt failed, the client's connection is reset at once, so a
 * Service without ready endpoints refuses instead of hanging.
 */

/** kube-proxy userspace's EndpointDialTimeouts: one attempt per entry. */
export const DIAL_TIMEOUTS_MS = [250, 500, 1000, 2000];

export interface FrontendStats {
  accepted: number;
  /** Connections reset because no endpoint could be reached (or there was none). */
  refused: number;
  /** Dials that failed and were retried on another endpoint. */
  dialFailures: number;
}

export class TcpFrontend {
  readonly stats: FrontendStats = { accepted: 0, refused: 0, dialFailures: 0 };
  private readonly server: net.Server;
  /** Open client connections, so close() can end them when asked to. */
  private readonly connections = new Set<net.Socket>();

  constructor(
    readonly host: string,
    readonly port: number,
    /** Swappable: a changed Service keeps its listener but may change its balancer. */
    public balancer: Balancer,
    private readonly dialTimeoutsMs: number[] = DIAL_TIMEOUTS_MS,
  ) {
    // pauseOnConnect: the client's first bytes wait in the kernel until the endpoint is connected.
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.accept(socket));
  }

  /** Starts listening; rejects with the socket error (EADDRINUSE, EADDRNOTAVAIL...). */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.host, port: this.port, exclusive: true }, () => {
        this.server.off('error', onError);
        // A listening server's later errors (EMFILE on accept) must not crash the agent.
        this.server.on('error', () => undefined);
        resolve();
      });
    });
  }

  /**
   * Stops accepting. Connections already relayed stay up unless
   * `dropConnections` (as kube-proxy leaves established flows alone).
   */
  close(dropConnections = false): Promise<void> {
    if (dropConnections) for (const s of this.connections) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.stats.accepted++;
    client.on('error', () => undefined);
    // The peer's address costs a syscall: asked only when affinity needs it.
    const clientIP = this.balancer.usesClientIP ? (client.remoteAddress ?? '').replace(/^::ffff:/, '') : '';
    this.dial(client, clientIP, 0);
  }

  private refuse(client: net.Socket): void {
    this.stats.refused++;
    // An RST, not a FIN: the client learns at once that nobody answered.
    if (!client.destroyed) client.resetAndDestroy();
  }

  private dial(client: net.Socket, clientIP: string, attempt: number): void {
    if (client.destroyed) return;
    const endpoint = attempt < this.dialTimeoutsMs.length ? this.balancer.next(clientIP, attempt > 0) : undefined;
    if (!endpoint) return this.refuse(client);
    const upstream = net.connect({ host: endpoint.ip, port: endpoint.port, noDelay: true, allowHalfOpen: true });
    const timer = setTimeout(() => upstream.destroy(new Error('dial timeout')), this.dialTimeoutsMs[attempt]);
    const failed = () => {
      clearTimeout(timer);
      this.stats.dialFailures++;
      upstream.destroy();
      this.dial(client, clientIP, attempt + 1);
    };
    upstream.once('error', failed);
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.off('error', failed);
      this.relay(client, upstream);
    });
  }

  private relay(client: net.Socket, upstream: net.Socket): void {
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    this.connections.add(client);
    // An error on either side (a reset) resets the other; a clean end is passed on by the pipes as a FIN.
    const abort = (other: net.Socket) => () => {
      if (!other.destroyed) other.resetAndDestroy();
    };
    upstream.on('error', abort(client));
    client.on('error', abort(upstream));
    // A side that closed without its peer's FIN was torn down (destroyed, reset): so is the other.
    client.once('close', () => {
      this.connections.delete(client);
      if (!client.readableEnded) upstream.destroy();
    });
    upstream.once('close', () => {
      if (!upstream.readableEnded) client.destroy();
    });
    forward(client, upstream);
    forward(upstream, client);
    client.resume();
  }
}

/**
 * Copies `from` into `to` with backpressure, and its end as a FIN. What
 * stream.pipe does, without the bookkeeping that costs a proxy handling a
 * new connection per request a measurable share of its CPU.
 */
function forward(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.once('end', () => to.end());
}
