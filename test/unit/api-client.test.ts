import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient, ApiStatusError, ConnectionError, resourcePath } from '../../src/client/api-client';
import { lookupKind } from '../../src/api/registry';
import type { WatchEvent } from '../../src/api/types';

const pods = lookupKind('v1', 'Pod')!;
const deployments = lookupKind('apps/v1', 'Deployment')!;
const nodes = lookupKind('v1', 'Node')!;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A tiny API server on port 0: records each request and answers with the handler's reply. */
async function startServer(handler: (req: Seen, res: http.ServerResponse) => void): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(s);
      handler(s, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: http.ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('resourcePath', () => {
  it('builds Kubernetes paths', () => {
    expect(resourcePath(pods, 'default', 'web')).toBe('/api/v1/namespaces/default/pods/web');
    expect(resourcePath(pods)).toBe('/api/v1/pods');
    expect(resourcePath(deployments, 'team')).toBe('/apis/apps/v1/namespaces/team/deployments');
    expect(resourcePath(nodes, 'ignored', 'n1', 'status')).toBe('/api/v1/nodes/n1/status');
  });
});

describe('ApiClient', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let client: ApiClient;
  let reply: (req: Seen, res: http.ServerResponse) => void;

  beforeEach(async () => {
    reply = (_req, res) => json(res, 200, { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web' } });
    server = await startServer((req, res) => reply(req, res));
    client = new ApiClient({ server: server.url, token: 's3cret' });
  });

  afterEach(async () => {
    client.close();
    await server.close();
  });

  it('GETs an object with the bearer token', async () => {
    const pod = await client.get(pods, 'default', 'web');
    expect(pod.metadata.name).toBe('web');
    expect(server.seen[0]).toMatchObject({ method: 'GET', url: '/api/v1/namespaces/default/pods/web' });
    expect(server.seen[0]!.headers.authorization).toBe('Bearer s3cret');
    expect(server.seen[0]!.headers.accept).toBe('application/json');
  });

  it('lists with selectors and limit in the query', async () => {
    reply = (_req, res) => json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [] });
    const list = await client.list(pods, 'default', { labelSelector: 'app=web,tier in (a,b)', fieldSelector: 'status.phase=Running', limit: 5 });
    expect(list.metadata.resourceVersion).toBe('7');
    const url = new URL(server.seen[0]!.url, server.url);
    expect(url.pathname).toBe('/api/v1/namespaces/default/pods');
    expect(url.searchParams.get('labelSelector')).toBe('app=web,tier in (a,b)');
    expect(url.searchParams.get('fieldSelector')).toBe('status.phase=Running');
    expect(url.searchParams.get('limit')).toBe('5');
  });

  it('creates, updates and updates status at the right paths', async () => {
    const obj = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'team' } };
    await client.create(deployments, obj);
    await client.update(deployments, obj);
    await client.updateStatus(deployments, obj);
    expect(server.seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /apis/apps/v1/namespaces/team/deployments',
      'PUT /apis/apps/v1/namespaces/team/deployments/web',
      'PUT /apis/apps/v1/namespaces/team/deployments/web/status',
    ]);
    expect(JSON.parse(server.seen[0]!.body)).toEqual(obj);
    expect(server.seen[0]!.headers['content-type']).toBe('application/json');
  });

  it('sends patches with their content type', async () => {
    await client.patch(pods, 'default', 'web', { metadata: { labels: { a: 'b' } } }, 'merge');
    await client.patch(pods, 'default', 'web', [{ op: 'remove', path: '/metadata/labels/a' }], 'json');
    await client.patch(pods, 'default', 'web', { metadata: {} }, 'strategic');
    await client.patch(pods, 'default', 'web', { apiVersion: 'v1', kind: 'Pod' }, 'apply');
    expect(server.seen.map((s) => s.headers['content-type'])).toEqual([
      'application/merge-patch+json',
      'application/json-patch+json',
      'application/strategic-merge-patch+json',
      'application/apply-patch+yaml',
    ]);
    expect(server.seen[3]!.url).toBe('/api/v1/namespaces/default/pods/web?fieldManager=mk');
  });

  it('deletes with DeleteOptions in the body and the query', async () => {
    await client.delete(pods, 'default', 'web', { propagationPolicy: 'Foreground', gracePeriodSeconds: 0 });
    expect(server.seen[0]!.method).toBe('DELETE');
    expect(server.seen[0]!.url).toBe('/api/v1/namespaces/default/pods/web?propagationPolicy=Foreground&gracePeriodSeconds=0');
    expect(JSON.parse(server.seen[0]!.body)).toEqual({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground', gracePeriodSeconds: 0 });
    await client.deleteCollection(pods, 'default', { labelSelector: 'app=web' });
    expect(server.seen[1]!.url).toBe('/api/v1/namespaces/default/pods?labelSelector=app%3Dweb');
    expect(server.seen[1]!.body).toBe('');
  });

  it('throws ApiStatusError carrying the Status of an error answer', async () => {
    const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'pods "web" not found', reason: 'NotFound', code: 404 };
    reply = (_req, res) => json(res, 404, status);
    const err = await client.get(pods, 'default', 'web').catch((e) => e);
    expect(err).toBeInstanceOf(ApiStatusError);
    expect(err.status).toEqual(status);
    expect(err.code).toBe(404);
    expect(err.reason).toBe('NotFound');
    expect(err.message).toBe('pods "web" not found');
    expect(ApiStatusError.isNotFound(err)).toBe(true);
    expect(ApiStatusError.isConflict(err)).toBe(false);
  });

  it('tells a conflict from an AlreadyExists', async () => {
    reply = (_req, res) => json(res, 409, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Conflict', code: 409, message: 'stale' });
    const conflict = await client.update(pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' } }).catch((e) => e);
    expect(ApiStatusError.isConflict(conflict)).toBe(true);
    reply = (_req, res) => json(res, 409, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'AlreadyExists', code: 409, message: 'exists' });
    const exists = await client.create(pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' } }).catch((e) => e);
    expect(ApiStatusError.isConflict(exists)).toBe(false);
    expect(ApiStatusError.isAlreadyExists(exists)).toBe(true);
  });

  it('synthesises a Status when the error body is not one', async () => {
    reply = (_req, res) => {
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      res.end('overloaded\n');
    };
    const err = await client.get(pods, 'default', 'web').catch((e) => e);
    expect(err).toBeInstanceOf(ApiStatusError);
    expect(err.status).toMatchObject({ kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: 'overloaded' });
  });

  it('returns non-JSON answers as text from request()', async () => {
    reply = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    };
    await expect(client.request('GET', '/healthz')).resolves.toBe('ok');
  });

  it('throws ConnectionError with kubectl\'s message when the server refuses', async () => {
    const url = server.url;
    await server.close();
    const offline = new ApiClient({ server: url });
    const err = await offline.get(pods, 'default', 'web').catch((e) => e);
    offline.close();
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.message).toBe(`The connection to the server ${new URL(url).host} was refused - did you specify the right host or port?`);
    server = await startServer((req, res) => reply(req, res)); // for afterEach
  });

  describe('watch', () => {
    const event = (type: string, name: string, rv: string) => JSON.stringify({ type, object: { kind: 'Pod', apiVersion: 'v1', metadata: { name, resourceVersion: rv } } });

    it('parses newline-delimited events split across chunk boundaries', async () => {
      const lines = `${event('ADDED', 'a', '2')}\n${event('MODIFIED', 'a', '3')}\n\n${event('DELETED', 'é-ü', '4')}\n`;
      reply = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
        // Cut mid-event and mid-UTF-8 character, pausing between pieces so they arrive as separate chunks.
        const bytes = Buffer.from(lines);
        const cuts = [5, bytes.indexOf('\n') + 1, bytes.length - 20, bytes.indexOf(Buffer.from('é')) + 1];
        const points = [0, ...cuts.sort((x, y) => x - y), bytes.length];
        let i = 0;
        const next = () => {
          if (i >= points.length - 1) return res.end();
          res.write(bytes.subarray(points[i]!, points[i + 1]!));
          i++;
          setTimeout(next, 10);
        };
        next();
      };
      const events: WatchEvent[] = [];
      const handle = client.watch(pods, 'default', { resourceVersion: '1', allowWatchBookmarks: true, labelSelector: 'app=web' }, (e) => events.push(e));
      await handle.done;
      expect(events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`)).toEqual([
        'ADDED a 2',
        'MODIFIED a 3',
        'DELETED é-ü 4',
      ]);
      const url = new URL(server.seen[0]!.url, server.url);
      expect(url.pathname).toBe('/api/v1/namespaces/default/pods');
      expect(Object.fromEntries(url.searchParams)).toEqual({ watch: 'true', resourceVersion: '1', allowWatchBookmarks: 'true', labelSelector: 'app=web' });
    });

    it('delivers a final event without a trailing newline and ERROR events', async () => {
      const gone = JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'too old' } });
      reply = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(`${event('ADDED', 'a', '2')}\n${gone}`);
      };
      const events: WatchEvent[] = [];
      await client.watch(pods, undefined, {}, (e) => events.push(e)).done;
      expect(events.map((e) => e.type)).toEqual(['ADDED', 'ERROR']);
      expect(server.seen[0]!.url).toBe('/api/v1/pods?watch=true');
    });

    it('stops on request and resolves done', async () => {
      reply = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write(`${event('ADDED', 'a', '2')}\n`);
        // ...and never ends.
      };
      const handle = client.watch(pods, 'default', {}, () => handle.stop());
      await expect(handle.done).resolves.toBeUndefined();
    });

    it('rejects done with ApiStatusError when the watch itself is refused', async () => {
      reply = (_req, res) => json(res, 410, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' });
      const err = await client.watch(pods, 'default', { resourceVersion: '1' }, () => undefined).done.catch((e) => e);
      expect(err).toBeInstanceOf(ApiStatusError);
      expect(ApiStatusError.isGone(err)).toBe(true);
    });

    it('rejects done when the callback throws', async () => {
      reply = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write(`${event('ADDED', 'a', '2')}\n`);
      };
      const handle = client.watch(pods, 'default', {}, () => {
        throw new Error('handler failed');
      });
      await expect(handle.done).rejects.toThrow('handler failed');
    });
  });
});
