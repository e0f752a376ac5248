import * as net from 'node:net';

/**
 * A TCP connection to host:port (half-open allowed), resolved once
 * connected; rejected with a message in Go's words naming the address
 * (`dial tcp 172.17.0.3:81: connect: connection refused`), or after
 * `timeoutMs`.
 */
export function dialTcp(host: string, port: number, timeoutMs = 10_000): Promise<net.Socket> {
  const where = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`dial tcp ${where}: i/o timeout`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`dial tcp ${where}: connect: ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.message}`));
    });
  });
}
