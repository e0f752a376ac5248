import * as fs from 'node:fs';
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
  const api = async (method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> => {
    const init: RequestInit = {
      method,
      headers: { Authorization: `Bearer ${server.token}`, ...headers },
    };
    if (body !== undefined) {
      init.body = typeof body === 'string' || Buffer.isBuffer(body) ? (body as string) : JSON.stringify(body);
      (init.headers as Record<string, string>)['Content-Type'] ??= 'application/json';
    }
    const res = await fetch(server.url + urlPath, init);
    const text = await res.text();
    let parsed: any;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  };
  const ts: TestServer = {
    server,
    dataDir,
    url: server.url,
    token: server.token,
    api,
    stop: () => server.close(),
    restart: async () => {
      await server.close();
      return startTestServer(options, dataDir);
    },
    destroy: async () => {
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
  const controller = new AbortController();
  const res = await fetch(ts.url + urlPath, { headers: { Authorization: `Bearer ${ts.token}` }, signal: controller.signal });
  if (!res.body) throw new Error(`watch ${urlPath} answered ${res.status} without a body`);
  const queue: any[] = [];
  const waiters: Array<() => void> = [];
  let buffer = '';
  let done = false;
  const decoder = new TextDecoder();
  const ended = (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
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
    close: () => controller.abort(),
    ended,
  };
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
