import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { lookupKind } from '../../src/api/registry';
import type { WatchEvent } from '../../src/api/types';
import { ensureTls } from '../../src/apiserver/tls';
import { ApiClient, ConnectionError, type ApiClientOptions } from '../../src/client/api-client';
import { Informer } from '../../src/client/informer';
import { eventually, tempDir } from '../helpers';

/**
 * How an ApiClient notices a server that went away without a word: a watch
 * that asked for bookmarks and then hears nothing, TCP keepalive on its
 * connections, and the keep-alive race (a kept-alive connection the server
 * closed just as a request went out on it), which is not a failure of the
 * server at all.
 */

const configmaps = lookupKind('v1', 'ConfigMap')!;
const cm = (name: string, resourceVersion = '1') => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', resourceVersion } });
const line = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface FakeServer {
  url: string;
  /** `METHOD path` of each request, in order. */
  seen: string[];
  /** For each request, whether it came on a connection that had carried an earlier one. */
  reused: boolean[];
  close(): Promise<void>;
}

const servers: Array<http.Server | https.Server> = [];
const clients: ApiClient[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => {
    s.closeAllConnections();
    s.close(resolve);
  })));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function fakeServer(handler: Handler, tls?: { cert: string; key: string }): Promise<FakeServer> {
  const seen: string[] = [];
  const reused: boolean[] = [];
  const requestsOn = new WeakMap<Socket, number>();
  const onRequest: Handler = (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const n = requestsOn.get(req.socket) ?? 0;
    requestsOn.set(req.socket, n + 1);
    reused.push(n > 0);
    req.resume();
    req.on('end', () => handler(req, res));
  };
  const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    reused,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function clientFor(urls: string[], extra: Partial<ApiClientOptions> = {}): ApiClient {
  const c = new ApiClient({ server: urls[0]!, servers: urls, ...extra });
  clients.push(c);
  return c;
}

const isWatch = (req: http.IncomingMessage) => /[?&]watch=true/.test(req.url ?? '');

/** Answers a watch, sends `events`, then says nothing more and keeps the connection open: a host gone silent. */
const answerThenSilence = (...events: string[]): Handler => (_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  for (const e of events) res.write(e);
};

function listOf(resourceVersion: string, ...items: unknown[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMapList', metadata: { resourceVersion }, items });
}

describe('a watch that asked for bookmarks', () => {
  it('fails with a ConnectionError once its server sends nothing for watchIdleTimeoutMs, and the next request goes to the next server', async () => {
    const a = await fakeServer(answerThenSilence(line('ADDED', cm('first', '5'))));
    const b = await fakeServer((_req, res) => res.end(JSON.stringify(cm('from-b'))));
    const client = clientFor([a.url, b.url], { watchIdleTimeoutMs: 150 });
    const events: WatchEvent[] = [];
    const watch = client.watch(configmaps, 'default', { resourceVersion: '4', allowWatchBookmarks: true }, (e) => events.push(e));
    const err = await watch.done.catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ESOCKETTIMEDOUT');
    expect(err.message).toBe('Unable to connect to the server: the watch received nothing, not even a bookmark, for 150ms');
    expect(events.map((e) => e.object.metadata.name)).toEqual(['first']);
    expect(client.server).toBe(b.url);
    expect((await client.get(configmaps, 'default', 'x')).metadata.name).toBe('from-b');
  });

  it('is kept while anything arrives, however far apart the events are', async () => {
    // Ten bookmarks 50 ms apart (500 ms, well past the 300 ms limit, but never 300 ms without a byte), then an event and a clean end.
    const a = await fakeServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      let sent = 0;
      const timer = setInterval(() => {
        if (++sent === 11) {
          clearInterval(timer);
          res.end(line('ADDED', cm('last', '9')));
          return;
        }
        res.write(line('BOOKMARK', { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: String(sent) } }));
      }, 50);
    });
    const client = clientFor([a.url], { watchIdleTimeoutMs: 300 });
    const events: WatchEvent[] = [];
    await client.watch(configmaps, 'default', { resourceVersion: '0', allowWatchBookmarks: true }, (e) => events.push(e)).done;
    expect(events).toHaveLength(11);
    expect(events.at(-1)!.object.metadata.name).toBe('last');
  });

  it('a watch without bookmarks has no idle limit: the server owes it nothing while nothing changes', async () => {
    let send: ((text: string) => void) | undefined;
    const a = await fakeServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      // The watch with bookmarks hears nothing at all; the one without gets its event when the test says.
      if (!req.url!.includes('allowWatchBookmarks=true')) send = (text) => res.end(text);
    });
    const client = clientFor([a.url], { watchIdleTimeoutMs: 100 });
    const events: WatchEvent[] = [];
    let ended = false;
    const watch = client.watch(configmaps, 'default', { resourceVersion: '4' }, (e) => events.push(e));
    void watch.done.then(() => (ended = true), () => (ended = true));
    await eventually(() => expect(send).toBeDefined());
    // The idle limit has passed once a watch with bookmarks, opened after it, has ended for its silence.
    const idle = client.watch(configmaps, 'default', { resourceVersion: '4', allowWatchBookmarks: true }, () => undefined);
    await expect(idle.done).rejects.toThrow(/received nothing/);
    expect(ended).toBe(false);
    send!(line('ADDED', cm('late', '5')));
    await watch.done;
    expect(events.map((e) => e.object.metadata.name)).toEqual(['late']);
  });

  it('an informer whose watch goes silent watches again, on the next server, from where it was', async () => {
    const silent = await fakeServer((req, res) => {
      if (isWatch(req)) return answerThenSilence()(req, res);
      res.end(listOf('10', cm('kept', '10')));
    });
    const next = await fakeServer((req, res) => {
      if (isWatch(req)) return answerThenSilence(line('ADDED', cm('from-next', '11')))(req, res);
      res.end(listOf('10', cm('kept', '10')));
    });
    const client = clientFor([silent.url, next.url], { watchIdleTimeoutMs: 150 });
    const informer = new Informer(client, configmaps, { namespace: 'default', maxBackoffMs: 50 });
    try {
      await informer.start();
      await eventually(() => expect(informer.get('default/from-next')).toBeDefined());
      expect(silent.seen).toEqual([
        'GET /api/v1/namespaces/default/configmaps',
        'GET /api/v1/namespaces/default/configmaps?watch=true&resourceVersion=10&allowWatchBookmarks=true',
      ]);
      // No relist: the resourceVersion it had is still good on any server of the cluster.
      expect(next.seen).toEqual(['GET /api/v1/namespaces/default/configmaps?watch=true&resourceVersion=10&allowWatchBookmarks=true']);
      expect(informer.get('default/kept')).toBeDefined();
    } finally {
      informer.stop();
    }
  });
});

describe('TCP keepalive', () => {
  /** The keepalive timer of the loopback TCP connection whose local port is `port`, in seconds (Linux' /proc/net/tcp). */
  function keepaliveTimer(port: number): number | undefined {
    for (const row of fs.readFileSync('/proc/net/tcp', 'utf8').trim().split('\n').slice(1)) {
      const [, local, , , , timer] = row.trim().split(/\s+/);
      if (parseInt(local!.split(':')[1]!, 16) !== port) continue;
      const [active, when] = timer!.split(':');
      // Timer kind 2 is the socket timer, which for an established TCP connection is keepalive; `when` is in USER_HZ (1/100 s).
      return active === '02' ? parseInt(when!, 16) / 100 : undefined;
    }
    return undefined;
  }

  it('is on, after 30 s idle, for the connection of a watch over TLS (which Node leaves without)', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const tls = await ensureTls(dir, ['127.0.0.1']);
    let clientPort: number | undefined;
    const a = await fakeServer((req, res) => {
      clientPort = req.socket.remotePort;
      answerThenSilence()(req, res);
    }, { cert: tls.certPem, key: tls.keyPem });
    const client = clientFor([a.url], { caData: tls.caPem });
    const watch = client.watch(configmaps, 'default', { resourceVersion: '4', allowWatchBookmarks: true }, () => undefined);
    try {
      await eventually(() => expect(clientPort).toBeDefined());
      const seconds = await eventually(() => {
        const s = keepaliveTimer(clientPort!);
        if (s === undefined) throw new Error(`no keepalive timer on the connection from port ${clientPort}`);
        return s;
      });
      expect(seconds).toBeGreaterThan(20);
      expect(seconds).toBeLessThanOrEqual(30);
    } finally {
      watch.stop();
    }
  });
});

describe('the keep-alive race', () => {
  /**
   * Answers the first request on each connection; resets any later one as
   * it arrives, or, with `answerFirst`, once its response headers are out.
   */
  const closesKeptAlive = (answerFirst = false): Handler => {
    const served = new WeakSet<Socket>();
    return (req, res) => {
      if (served.has(req.socket)) {
        if (!answerFirst) return void req.socket.resetAndDestroy();
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        setImmediate(() => req.socket.resetAndDestroy());
        return;
      }
      served.add(req.socket);
      if (isWatch(req)) return void res.end(line('ADDED', cm('watched')));
      res.end(JSON.stringify(cm(req.method === 'POST' ? 'created' : 'read')));
    };
  };

  it('a request lost to it is sent once more on a fresh connection to the same server, writes included; the rotation does not move', async () => {
    const a = await fakeServer(closesKeptAlive());
    const b = await fakeServer((_req, res) => res.end(JSON.stringify(cm('from-b'))));
    const client = clientFor([a.url, b.url]);
    const get = async () => expect((await client.get(configmaps, 'default', 'x')).metadata.name).toBe('read');
    await get();
    await get(); // lost, and sent again on a connection of its own
    await get(); // a new kept-alive connection (the lost one is gone, the retry's was not pooled)
    expect((await client.create(configmaps, cm('y'))).metadata.name).toBe('created');
    const GET = 'GET /api/v1/namespaces/default/configmaps/x';
    const POST = 'POST /api/v1/namespaces/default/configmaps';
    expect(a.seen).toEqual([GET, GET, GET, GET, POST, POST]);
    expect(a.reused).toEqual([false, true, false, false, true, false]);
    expect(b.seen).toEqual([]);
    expect(client.server).toBe(a.url);
  });

  it('a watch lost to it is opened again on a fresh connection to the same server', async () => {
    const a = await fakeServer(closesKeptAlive());
    const b = await fakeServer(answerThenSilence());
    const client = clientFor([a.url, b.url]);
    const events: WatchEvent[] = [];
    await client.watch(configmaps, 'default', { resourceVersion: '1' }, (e) => events.push(e)).done;
    await client.watch(configmaps, 'default', { resourceVersion: '1' }, (e) => events.push(e)).done;
    expect(events).toHaveLength(2);
    expect(a.reused).toEqual([false, true, false]);
    expect(b.seen).toEqual([]);
    expect(client.server).toBe(a.url);
  });

  it('once an answer has begun, a POST is not sent again (the server had read it); a GET is', async () => {
    const a = await fakeServer(closesKeptAlive(true));
    const client = clientFor([a.url]);
    const get = async () => expect((await client.get(configmaps, 'default', 'x')).metadata.name).toBe('read');
    await get();
    await get();
    await get();
    const err = await client.create(configmaps, cm('y')).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ECONNRESET');
    expect(a.seen.filter((s) => s.startsWith('POST'))).toHaveLength(1);
    expect(a.reused).toEqual([false, true, false, false, true]);
  });
});
