/**
 * The API servers of one cluster as a client sees them (`mk agent --server
 * https://a:6443,https://b:6443`): one is current and takes every request;
 * when it cannot serve, the client moves on to the next, round the list.
 * The choice is sticky, as k3s's agent load balancer is: a server that
 * works keeps the traffic, so watches and kept-alive connections stay put.
 */
export class ServerRotation {
  readonly servers: readonly URL[];
  private index = 0;

  constructor(servers: readonly string[]) {
    if (servers.length === 0) throw new Error('no API server given');
    this.servers = servers.map((s) => {
      try {
        return new URL(s);
      } catch {
        throw new Error(`invalid API server URL "${s}"`);
      }
    });
    if (new Set(this.servers.map((u) => u.protocol)).size > 1) {
      throw new Error(`the API servers must all be https:// or all http://: ${servers.join(', ')}`);
    }
  }

  get size(): number {
    return this.servers.length;
  }

  get current(): URL {
    return this.servers[this.index];
  }

  /**
   * `server` could not serve a request: the next one becomes current. Only
   * when `server` still is current: requests in flight when it failed all
   * report it, and the rotation must move once, not once per request.
   */
  failed(server: URL): void {
    if (this.servers[this.index] === server) this.index = (this.index + 1) % this.servers.length;
  }
}

/** Socket errors of a connection that was never made: the request did not reach that server, so it is safe to send it to another. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNECTTIMEOUT']);
/** Socket errors of a connection that broke or went silent: the server may be gone, but may have acted on the request. */
const BROKEN = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ESOCKETTIMEDOUT']);

/** How a failed request's socket error bears on failover. */
export function classifyConnectionFailure(code: string | undefined): 'not-connected' | 'broken' | 'other' {
  if (code && NOT_CONNECTED.has(code)) return 'not-connected';
  if (code && BROKEN.has(code)) return 'broken';
  return 'other';
}
