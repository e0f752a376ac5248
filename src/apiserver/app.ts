import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Store } from '../storage';
import { discoveryRouter } from './discovery';
import { openApiRouter } from './openapi';
import { tokenChecker } from './auth';
import { ApiError, datastoreError, internalError, unauthorized, writeStatus } from './errors';
import { resourceHandler } from './handlers';
import type { PodStreams } from './pod-streams';
import { parseQuery, toApiRequest } from './request';
import type { ResourceStorage } from './resources';
import type { WatchOptions } from './watch';

export interface AppOptions {
  resources: ResourceStorage;
  store: Store;
  /** The bearer token every request except the health checks must carry. */
  token: string;
  version: string;
  watch: Omit<WatchOptions, 'asTable'>;
  /** Where unexpected (500) errors are reported. */
  logError?: (err: unknown) => void;
  /** Serves pods/log and pods/exec (proxied to the pod's agent); without it they answer 405. */
  podStreams?: PodStreams;
}

/** Paths served without a token, as kube-apiserver allows anonymous health checks. */
const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz']);

/**
 * The one place errors become responses: an ApiError as its Status, anything
 * else as a 500 InternalError (and reported, since it is a bug).
 */
function renderError(res: ServerResponse, err: unknown, logError?: (err: unknown) => void): void {
  let apiError: ApiError;
  const fromStore = datastoreError(err);
  if (err instanceof ApiError) apiError = err;
  else if (fromStore) apiError = fromStore;
  else {
    logError?.(err);
    apiError = internalError((err as Error)?.message ?? String(err));
  }
  writeStatus(res, apiError);
}

/**
 * The express application for everything that is not a resource: health
 * checks, discovery, /version, /openapi, and the 404 for unknown paths.
 */
function createApp(opts: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', parseQuery);

  const healthy = (_req: Request, res: Response): void => {
    res.type('text/plain').send('ok');
  };
  app.get('/healthz', healthy);
  app.get('/livez', healthy);
  app.get('/readyz', async (_req, res) => {
    const ok = await opts.store.healthy().catch(() => false);
    res.status(ok ? 200 : 503).type('text/plain').send(ok ? 'ok' : '[-]datastore failed: not reachable\nreadyz check failed');
  });
  app.use(discoveryRouter(opts.version));
  app.use(openApiRouter());

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError(404, 'NotFound', `the server could not find the requested resource (${req.method} ${req.path})`));
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => renderError(res, err, opts.logError));
  return app;
}

/**
 * The API server's request listener. Every request but the health checks
 * must carry the cluster token. Resource requests (nearly all traffic) go
 * straight to the generic resource handler; the rest goes through express.
 *
 * Why resources skip express: express's per-request setup (it swaps the
 * prototypes of req and res) measured ~80-100 µs of CPU per request here,
 * against ~100 µs for node's whole HTTPS request handling and ~450 µs for
 * a complete pod create. That is the difference between meeting and
 * missing the create-throughput target (see bench/api.ts).
 */
export function createRequestListener(opts: AppOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const app = createApp(opts);
  const handleResource = resourceHandler(opts.resources, opts.watch, opts.podStreams);
  const authorized = tokenChecker(opts.token);
  return (req, res) => {
    const apiReq = toApiRequest(req);
    if (!PUBLIC_PATHS.has(apiReq.path) && !authorized(req)) {
      req.resume();
      renderError(res, unauthorized());
      return;
    }
    if (!apiReq.path.startsWith('/api/') && !apiReq.path.startsWith('/apis/')) {
      app(req, res);
      return;
    }
    handleResource(apiReq, res).then(
      (handled) => {
        if (!handled) app(req, res);
      },
      (err) => renderError(res, err, opts.logError),
    );
  };
}
