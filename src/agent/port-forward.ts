import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { channelOf, encodeChannel, HIGH_WATER_BYTES, portPrefix } from '../client/port-forward';
import { decodeFrame, type StreamProtocol } from '../client/exec';

/**
 * The agent's end of a pods/portforward WebSocket (the kubelet's
 * handleWebSocketStreams): for each requested port, the port number on its
 * two channels at once, then one TCP connection into the pod's network
 * namespace spliced to the data channel. What goes wrong with a port is
 * written on its error channel in the kubelet's words; the WebSocket closes
 * normally once every port's connection has ended.
 */

export interface PortForwardPod {
  /** `name_namespace`, as the kubelet names a pod in these messages. */
  fullName: string;
  uid: string;
  /** Connects to `port` in the pod's network namespace; rejects with why it could not. */
  dial(port: number): Promise<Duplex>;
}

export function servePortForward(ws: WebSocket, protocol: StreamProtocol, ports: number[], pod: PortForwardPod): void {
  const send = (channel: number, payload: Buffer, sent?: () => void) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    const { data, binary } = encodeChannel(protocol, channel, payload);
    ws.send(data, { binary }, sent);
  };
  const connections = ports.map((port, index) => new ForwardedConnection(ws, port, index, pod, send));
  for (const c of connections) {
    send(2 * c.index, portPrefix(c.port));
    send(2 * c.index + 1, portPrefix(c.port));
  }

  ws.on('message', (data) => {
    const frame = decodeFrame(protocol, data);
    if (!frame || frame.close) return;
    const { index, error } = channelOf(frame.channel);
    // The error channels are the server's to write; anything else is not for a port of this request.
    if (error || !connections[index]) return;
    connections[index]!.fromClient(frame.payload);
  });
  ws.on('close', () => {
    for (const c of connections) c.destroy();
  });

  void Promise.all(connections.map((c) => c.run())).then(() => {
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  });
}

/** One port of a request: its TCP connection into the pod, and the bytes sent before it was up. */
class ForwardedConnection {
  private socket?: Duplex;
  private early: Buffer[] = [];
  private destroyed = false;

  constructor(
    private readonly ws: WebSocket,
    readonly port: number,
    readonly index: number,
    private readonly pod: PortForwardPod,
    private readonly send: (channel: number, payload: Buffer, sent?: () => void) => void,
  ) {}

  fromClient(payload: Buffer): void {
    if (this.socket) {
      // The pod already closed the connection: what the client still sends has nowhere to go.
      if (!this.socket.writable) return;
      if (!this.socket.write(payload)) {
        // One slow pod connection holds the whole WebSocket back, as TCP would.
        this.ws.pause();
        this.socket.once('drain', () => this.ws.resume());
      }
    } else if (!this.destroyed) {
      this.early.push(Buffer.from(payload));
    }
  }

  destroy(): void {
    this.destroyed = true;
    this.socket?.destroy();
  }

  /** Resolves once the connection is over (or could not be made). */
  async run(): Promise<void> {
    let socket: Duplex;
    try {
      socket = await this.pod.dial(this.port);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.destroyed) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    for (const chunk of this.early.splice(0)) socket.write(chunk);

    await new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        this.send(2 * this.index, chunk, () => {
          if (socket.isPaused() && this.ws.bufferedAmount < HIGH_WATER_BYTES / 2) socket.resume();
        });
        if (this.ws.bufferedAmount > HIGH_WATER_BYTES) socket.pause();
      });
      // The pod closed its side: v4 has no way to tell the client so and keep the other direction, so the connection ends.
      socket.once('end', () => socket.end());
      let failed = false;
      socket.on('error', (err) => {
        if (!failed) this.fail(err);
        failed = true;
      });
      socket.once('close', () => resolve());
    });
  }

  private fail(err: unknown): void {
    const message = `error forwarding port ${this.port} to pod ${this.pod.fullName}, uid ${this.pod.uid}: ${(err as Error)?.message ?? err}`;
    this.send(2 * this.index + 1, Buffer.from(message));
  }
}
