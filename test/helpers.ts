import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { startServer, type RunningServer, type ServerOptions } from '../src/server';

/**
 * Retries `fn` until it stops throwing, or fails with its last error after
 * `timeoutMs`. Tests wait for convergence with this, never with fixed sleeps.
 */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

export function tempDir(prefix = 'mk-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface ApiResponse {
  status: number;
  body: any;
  text: string;
  headers: Headers;
}

export interface TestServer {
  server: RunningServer;
  dataDir: string;
  url: string;
  token: string;
  /** An https agent that trusts the server's cluster CA. */
  agent: https.Agent;
  /** One HTTP request with the cluster token; bodies that are objects are sent as JSON. */
  api(method: string, urlPath: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** Stops the server (data dir kept, so it can be started again on it). */
  stop(): Promise<void>;
  /** Starts a server again on the same data dir (a restart). */
  restart(): Promise<TestServer>;
  /** Stops the server and removes its data dir. */
  destroy(): Promise<void>;
}

/** Starts the real mk server on port 0 with a real SQLite file in a temp dir. */
export async function startTestServer(options: Partial<ServerOptions> = {}, dataDir = tempDir()): Promise<TestServer> {
  const server = await startServer({ dataDir, port: 0, bindAddress: '127.0.0.1', compactIntervalMs: 0, ...options });
  const agent = new https.Agent({ keepAlive: true, ca: server.caPem });
  const api = async (method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> => {
    const h: Record<string, string> = { Authorization: `Bearer ${server.token}`, ...headers };
    let payload: string | Buffer | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      h['Content-Type'] ??= 'application/json';
    }
    const res = await httpsRequest(agent, method, server.url + urlPath, h, payload);
    const text = await readAll(res);
    let parsed: any;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.statusCode ?? 0, body: parsed, text, headers: toHeaders(res) };
  };
  const ts: TestServer = {
    server,
    dataDir,
    url: server.url,
    token: server.token,
    api,
    agent,
    stop: () => {
      agent.destroy();
      return server.close();
    },
    restart: async () => {
      agent.destroy();
      await server.close();
      return startTestServer(options, dataDir);
    },
    destroy: async () => {
      agent.destroy();
      await server.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return ts;
}

export interface WatchReader {
  /** Resolves with the next event line (parsed), waiting up to timeoutMs. */
  next(timeoutMs?: number): Promise<any>;
  /** Collects events until `predicate` holds for one of them; returns all seen. */
  until(predicate: (event: any) => boolean, timeoutMs?: number): Promise<any[]>;
  close(): void;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
}

/** Opens a watch (a chunked stream of JSON lines) and reads events as they come. */
export async function openWatch(ts: TestServer, urlPath: string): Promise<WatchReader> {
  const res = await httpsRequest(ts.agent, 'GET', ts.url + urlPath, { Authorization: `Bearer ${ts.token}` });
  const queue: any[] = [];
  const waiters: Array<() => void> = [];
  let buffer = '';
  let done = false;
  const decoder = new TextDecoder();
  const ended = (async () => {
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        buffer += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line) queue.push(JSON.parse(line));
        }
        waiters.splice(0).forEach((w) => w());
      }
    } catch {
      // aborted by close()
    } finally {
      done = true;
      waiters.splice(0).forEach((w) => w());
    }
  })();
  const next = async (timeoutMs = 5_000): Promise<any> => {
    const deadline = Date.now() + timeoutMs;
    while (!queue.length) {
      if (done) throw new Error('watch ended');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no watch event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return queue.shift();
  };
  return {
    next,
    async until(predicate, timeoutMs = 5_000) {
      const seen: any[] = [];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const e = await next(Math.max(1, deadline - Date.now()));
        seen.push(e);
        if (predicate(e)) return seen;
      }
    },
    close: () => res.destroy(),
    ended,
  };
}

/** Sends one HTTPS request and resolves with the response (body not yet read). */
export function httpsRequest(
  agent: https.Agent, method: string, url: string, headers: Record<string, string>, body?: string | Buffer,
): Promise<import('node:http').IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, agent, headers: body === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } }, resolve);
    req.on('error', reject);
    req.end(body);
  });
}

async function readAll(res: import('node:http').IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function toHeaders(res: import('node:http').IncomingMessage): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
    else if (v !== undefined) h.set(k, v);
  }
  return h;
}

/** A minimal valid pod manifest. */
export function podManifest(name: string, extra: Record<string, any> = {}): any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name }, ...(extra.metadata ?? {}) },
    spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'] }], ...(extra.spec ?? {}) },
  };
}
