import { timingSafeEqual } from 'node:crypto';
import * as querystring from 'node:querystring';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Store } from '../storage';
import { discoveryRouter } from './discovery';
import { ApiError, internalError, unauthorized } from './errors';
import { resourceHandler } from './handlers';
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
}

/** Paths served without a token, as kube-apiserver allows anonymous health checks. */
const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz']);

function sendStatus(res: Response, err: ApiError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(err.code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(err.toStatus()));
}

/** Bearer-token authentication against the cluster token, in constant time. */
function authenticate(token: string) {
  const expected = Buffer.from(`Bearer ${token}`);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (PUBLIC_PATHS.has(req.path)) return next();
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return next();
    sendStatus(res, unauthorized());
  };
}

/**
 * The express application of the API server. Routing of resources is
 * generic (see handlers.ts); this file only composes authentication, health,
 * discovery, the resource handlers and the one error renderer.
 */
export function createApp(opts: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // A repeated parameter counts once, by its first value, as Go's url.Values.Get reads it:
  // handlers always see strings, never arrays.
  app.set('query parser', (qs: string) => {
    const parsed = querystring.parse(qs);
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
  });

  app.use(authenticate(opts.token));

  // Resources first: they are nearly every request, so they should not walk past other routes.
  app.use(resourceHandler(opts.resources, opts.watch));

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

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError(404, 'NotFound', `the server could not find the requested resource (${req.method} ${req.path})`));
  });

  // The one place errors become responses: ApiErrors as their Status, anything else as a 500.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ApiError) return sendStatus(res, err);
    if ((err as { type?: string }).type === 'entity.parse.failed') {
      return sendStatus(res, new ApiError(400, 'BadRequest', (err as Error).message));
    }
    opts.logError?.(err);
    sendStatus(res, internalError((err as Error)?.message ?? String(err)));
  });
  return app;
}
