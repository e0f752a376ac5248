import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { lookupKind } from '../../src/api/registry';
import { ensureTls } from '../../src/apiserver/tls';
import type { WatchEvent } from '../../src/api/types';
import { ApiClient, ApiStatusError, ConnectionError } from '../../src/client/api-client';
import { classifyConnectionFailure, ServerRotation } from '../../src/client/server-rotation';
import { eventually, tempDir } from '../helpers';

/**
 * An ApiClient given several servers of one cluster (`mk agent --server
 * a,b`): which requests move to the next server, and when.
 */

const configmaps = lookupKind('v1', 'ConfigMap')!;
const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' } });

describe('ServerRotation', () => {
  it('starts at the first server and moves round the list, once per failure of the current one', () => {
    const r = new ServerRotation(['https://a:6443', 'https://b:6443', 'https://c:6443']);
    const a = r.current;
    expect(a.host).toBe('a:6443');
    r.failed(a);
    expect(r.current.host).toBe('b:6443');
    // Requests that were in flight on a when it failed report it too: no further move.
    r.failed(a);
    r.failed(a);
    expect(r.current.host).toBe('b:6443');
    r.failed(r.current);
    expect(r.current.host).toBe('c:6443');
    r.failed(r.current);
    expect(r.current.host).toBe('a:6443');
  });

  it('refuses an empty list, a bad URL and mixed schemes', () => {
    expect(() => new ServerRotation([])).toThrow('no API server given');
    expect(() => new ServerRotation(['https://a:6443', 'not a url'])).toThrow('invalid API server URL "not a url"');
    expect(() => new ServerRotation(['https://a:6443', 'http://b:6443'])).toThrow('the API servers must all be https:// or all http://');
  });

  it('tells failures that never reached a server from broken connections', () => {
    expect(classifyConnectionFailure('ECONNREFUSED')).toBe('not-connected');
    expect(classifyConnectionFailure('ECONNECTTIMEOUT')).toBe('not-connected');
    expect(classifyConnectionFailure('ECONNRESET')).toBe('broken');
    expect(classifyConnectionFailure('ESOCKETTIMEDOUT')).toBe('broken');
    expect(classifyConnectionFailure('CERT_HAS_EXPIRED')).toBe('other');
    expect(classifyConnectionFailure(undefined)).toBe('other');
  });
});

interface FakeServer {
  url: string;
  /** `METHOD path` of each request this server received. */
  seen: string[];
  close(): Promise<void>;
}

async function fakeServer(name: string, handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<FakeServer> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      if (handler) return handler(req, res);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ ...cm(name), metadata: { name, namespace: 'default', resourceVersion: '1' } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function unavailable(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(503, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'ServiceUnavailable', code: 503, message: 'etcd is unavailable' }));
}

describe('ApiClient with several servers', () => {
  const open: FakeServer[] = [];
  const clients: ApiClient[] = [];
  const start = async (name: string, handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void) => {
    const s = await fakeServer(name, handler);
    open.push(s);
    return s;
  };
  const clientFor = (servers: FakeServer[], extra: { timeoutMs?: number } = {}) => {
    const c = new ApiClient({ server: servers[0].url, servers: servers.map((s) => s.url), ...extra });
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('sends everything to the first server while it works', async () => {
    const a = await start('a');
    const b = await start('b');
    const client = clientFor([a, b]);
    await client.get(configmaps, 'default', 'x');
    await client.create(configmaps, cm('x'));
    expect(a.seen).toHaveLength(2);
    expect(b.seen).toHaveLength(0);
    expect(client.server).toBe(a.url);
  });

  it('moves to the next server when the current one refuses connections, reads and writes alike, and stays there', async () => {
    const a = await start('a');
    const b = await start('b');
    const client = clientFor([a, b]);
    await client.get(configmaps, 'default', 'x');
    await a.close();
    const read = await client.get(configmaps, 'default', 'x');
    expect(read.metadata.name).toBe('b');
    // A write that could not connect never reached a server: it is sent to the next one.
    const written = await client.create(configmaps, cm('y'));
    expect(written.metadata.name).toBe('b');
    expect(client.server).toBe(b.url);
    expect(b.seen).toEqual(['GET /api/v1/namespaces/default/configmaps/x', 'POST /api/v1/namespaces/default/configmaps']);
  });

  it('moves on when a server answers 503, and returns the last 503 when every server does', async () => {
    const a = await start('a', unavailable);
    const b = await start('b');
    const client = clientFor([a, b]);
    expect((await client.create(configmaps, cm('x'))).metadata.name).toBe('b');
    expect(a.seen).toHaveLength(1);

    const c = await start('c', unavailable);
    const d = await start('d', unavailable);
    const down = clientFor([c, d]);
    const err = await down.get(configmaps, 'default', 'x').catch((e) => e);
    expect(err).toBeInstanceOf(ApiStatusError);
    expect(err.code).toBe(503);
    expect(c.seen).toHaveLength(1);
    expect(d.seen).toHaveLength(1);
  });

  it('does not send again a write whose connection broke (it may have been carried out), but the next request goes to the next server', async () => {
    const a = await start('a', (req, res) => {
      if (req.method === 'POST') res.socket?.destroy();
      else unavailable(req, res);
    });
    const b = await start('b');
    const client = clientFor([a, b]);
    const err = await client.create(configmaps, cm('x')).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ECONNRESET');
    expect(b.seen).toEqual([]);
    await client.get(configmaps, 'default', 'x');
    expect(b.seen).toEqual(['GET /api/v1/namespaces/default/configmaps/x']);
  });

  it('sends a GET that timed out to the next server; a write that timed out fails', async () => {
    const a = await start('a', () => undefined); // accepts, never answers
    const b = await start('b');
    const reader = clientFor([a, b], { timeoutMs: 200 });
    expect((await reader.get(configmaps, 'default', 'x')).metadata.name).toBe('b');

    const c = await start('c', () => undefined);
    const d = await start('d');
    const writer = clientFor([c, d], { timeoutMs: 200 });
    const err = await writer.create(configmaps, cm('x')).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ESOCKETTIMEDOUT');
    expect(d.seen).toEqual([]);
    expect(writer.server).toBe(d.url);
  });

  it('fails with the ConnectionError of the last server when none can be reached', async () => {
    const a = await start('a');
    const b = await start('b');
    const client = clientFor([a, b]);
    await a.close();
    await b.close();
    const err = await client.get(configmaps, 'default', 'x').catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.message).toContain(new URL(b.url).host);
  });

  it('opens a watch on the next server when the current one accepts it but never answers', async () => {
    const a = await start('a', () => undefined);
    const b = await start('b', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ADDED', object: { ...cm('from-b'), metadata: { name: 'from-b', resourceVersion: '5' } } })}\n`);
    });
    const client = clientFor([a, b], { timeoutMs: 200 });
    const events: WatchEvent[] = [];
    await client.watch(configmaps, 'default', { resourceVersion: '4' }, (e) => events.push(e)).done;
    expect(events.map((e) => e.object.metadata.name)).toEqual(['from-b']);
    expect(a.seen).toHaveLength(1);
    expect(client.server).toBe(b.url);
  });

  it('a watch that was answered is not cut by the timeout while its events are slow to come', async () => {
    let send: ((line: string) => void) | undefined;
    const a = await start('a', (req, res) => {
      // A plain read is never answered; the watch is answered at once, its event sent when the test says.
      if (!req.url!.includes('watch=true')) return;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      send = (line) => res.end(`${line}\n`);
    });
    const client = clientFor([a], { timeoutMs: 100 });
    const events: WatchEvent[] = [];
    let ended = false;
    const watch = client.watch(configmaps, 'default', { resourceVersion: '4' }, (e) => events.push(e));
    void watch.done.then(() => (ended = true), () => (ended = true));
    await eventually(() => expect(send).toBeDefined());
    // The timeout has passed once a read sent after the watch was answered has timed out.
    await expect(client.get(configmaps, 'default', 'slow')).rejects.toThrow(/timed out after 100ms/);
    expect(ended).toBe(false);
    send!(JSON.stringify({ type: 'ADDED', object: { ...cm('late'), metadata: { name: 'late', resourceVersion: '5' } } }));
    await watch.done;
    expect(events.map((e) => e.object.metadata.name)).toEqual(['late']);
  });

  it('sends a write to the next server when the current one takes the TCP connection but never completes TLS', async () => {
    // A hung server process: the kernel still accepts its connections, nothing reads them.
    const held: net.Socket[] = [];
    const hung = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const dir = tempDir();
    const tls = await ensureTls(dir, ['127.0.0.1']);
    const seen: string[] = [];
    const good = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => {
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(cm('x')));
      });
    });
    await new Promise<void>((resolve) => good.listen(0, '127.0.0.1', resolve));
    const urlOf = (s: net.Server) => `https://127.0.0.1:${(s.address() as AddressInfo).port}`;
    const client = new ApiClient({ server: urlOf(hung), servers: [urlOf(hung), urlOf(good)], caData: tls.caPem, connectTimeoutMs: 200 });
    try {
      expect((await client.create(configmaps, cm('x'))).metadata.name).toBe('x');
      expect(seen).toEqual(['POST /api/v1/namespaces/default/configmaps']);
      expect(held).toHaveLength(1);
      expect(client.server).toBe(urlOf(good));
    } finally {
      client.close();
      for (const socket of held) socket.destroy();
      good.closeAllConnections();
      await Promise.all([hung, good].map((s) => new Promise((resolve) => s.close(resolve))));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens a watch on the next server when the current one refuses it or answers 503', async () => {
    const event = (name: string) => JSON.stringify({ type: 'ADDED', object: { ...cm(name), metadata: { name, resourceVersion: '5' } } });
    const stream = (name: string) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`${event(name)}\n`);
    };
    const a = await start('a', stream('from-a'));
    const b = await start('b', unavailable);
    const c = await start('c', stream('from-c'));
    const client = clientFor([a, b, c]);
    await a.close();
    const events: WatchEvent[] = [];
    await client.watch(configmaps, 'default', { resourceVersion: '4' }, (e) => events.push(e)).done;
    expect(events.map((e) => e.object.metadata.name)).toEqual(['from-c']);
    expect(b.seen).toEqual(['GET /api/v1/namespaces/default/configmaps?watch=true&resourceVersion=4']);
    expect(client.server).toBe(c.url);
  });
});
