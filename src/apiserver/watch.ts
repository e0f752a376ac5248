import type { ServerResponse } from 'node:http';
import type { ResourceType } from '../api/registry';
import type { KubeObject } from '../api/types';
import type { CacheEvent, CachedObject } from '../storage/watch-cache';
import { TooOldError } from '../storage/watch-cache';
import { gone } from './errors';
import type { ApiRequest } from './request';
import { watchTrigger, type ResourceStorage } from './resources';

/** Decides whether one object belongs to a watcher's view (namespace, label and field selectors). */
export type ObjectFilter = (obj: KubeObject) => boolean;

export interface WatchOptions {
  /** Sends a BOOKMARK this often when the client allows them. */
  bookmarkIntervalMs: number;
  /** A watch with no timeoutSeconds ends after a random time in [min, 2*min), like --min-request-timeout. */
  minRequestTimeoutMs: number;
  /** A watcher whose socket has this many unsent bytes is too slow and is closed. */
  maxBufferedBytes: number;
  /** How a row of the event's object is rendered when the client asked for a Table; undefined otherwise. */
  asTable?: (obj: KubeObject) => unknown;
}

/**
 * The event type a watcher with `filter` sees for a cache event, or
 * undefined when the change is outside its view. An object modified into the
 * view is ADDED, one modified out of it is DELETED, as Kubernetes' watch
 * filtering does.
 */
export function eventTypeFor(e: CacheEvent, filter: ObjectFilter): 'ADDED' | 'MODIFIED' | 'DELETED' | undefined {
  const now = filter(e.object.object);
  const before = e.prev ? filter(e.prev.object) : false;
  if (e.type === 'ADDED') return now ? 'ADDED' : undefined;
  if (e.type === 'DELETED') return before || (!e.prev && now) ? 'DELETED' : undefined;
  if (now) return before || !e.prev ? 'MODIFIED' : 'ADDED';
  return before ? 'DELETED' : undefined;
}

/**
 * Serves `?watch=true`: a chunked stream of one JSON event per line.
 *
 * resourceVersion unset or "0" starts with a synthetic ADDED per existing
 * object, then follows changes; resourceVersion N replays everything after
 * N from the watch cache, or answers 410 Gone (as an ERROR event, like the
 * Kubernetes API server) when N is older than the history kept.
 *
 * A MODIFIED object that stops matching the selectors is sent as DELETED,
 * and one that starts matching as ADDED, as Kubernetes' watch filtering does.
 */
export function serveWatch(
  req: ApiRequest, res: ServerResponse, rt: ResourceType, resources: ResourceStorage,
  filter: ObjectFilter, opts: WatchOptions,
): void {
  const q = req.query;
  const cache = resources.cache(rt);
  const rv = q.resourceVersion;
  const sendInitial = q.sendInitialEvents === 'true' || !rv || rv === '0';
  const from = sendInitial ? cache.revision : Number(rv);
  const bookmarks = q.allowWatchBookmarks === 'true' || q.allowWatchBookmarks === '1';

  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Transfer-Encoding': 'chunked',
    'Cache-Control': 'no-cache, private',
  });
  res.flushHeaders();

  let lastRevision = from;
  let closed = false;
  const line = (type: string, object: CachedObject): string =>
    opts.asTable
      ? JSON.stringify({ type, object: opts.asTable(object.object) }) + '\n'
      : `{"type":"${type}","object":${object.json}}\n`;

  const write = (chunk: string): void => {
    if (closed) return;
    res.write(chunk);
    if (res.writableLength > opts.maxBufferedBytes) finish(); // too slow to keep up: the client will relist
  };

  const deliver = (e: CacheEvent): void => {
    lastRevision = e.revision;
    const type = eventTypeFor(e, filter);
    if (type) write(line(type, e.object));
  };

  let unsubscribe: (() => void) | undefined;
  try {
    if (sendInitial) {
      const { items } = resources.list(rt, undefined);
      for (const item of items) if (filter(item.object)) write(line('ADDED', item));
      if (q.sendInitialEvents === 'true') writeBookmark(true);
    }
    unsubscribe = cache.watch(from, deliver, () => finish(), watchTrigger(rt, q.fieldSelector));
  } catch (err) {
    if (!(err instanceof TooOldError)) throw err;
    const status = gone(`too old resource version: ${rv} (${err.oldest})`).toStatus();
    res.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
    return;
  }

  function writeBookmark(initialEventsEnd = false): void {
    const metadata: Record<string, unknown> = { resourceVersion: String(Math.max(lastRevision, cache.revision)) };
    if (initialEventsEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
    const object = { kind: rt.kind, apiVersion: rt.group ? `${rt.group}/${rt.version}` : rt.version, metadata };
    write(JSON.stringify({ type: 'BOOKMARK', object }) + '\n');
  }

  const bookmarkTimer = bookmarks ? setInterval(() => writeBookmark(), opts.bookmarkIntervalMs) : undefined;
  // timeoutSeconds unset or 0 means the server's default, as in Kubernetes; setTimeout cannot wait past 2^31-1 ms.
  const requestedMs = Number(q.timeoutSeconds ?? 0) * 1000;
  const timeoutMs = Math.min(requestedMs > 0 ? requestedMs : opts.minRequestTimeoutMs * (1 + Math.random()), 2 ** 31 - 1);
  const timeout = setTimeout(() => {
    if (bookmarks) writeBookmark();
    finish();
  }, timeoutMs);

  function finish(): void {
    if (closed) return;
    closed = true;
    unsubscribe?.();
    clearTimeout(timeout);
    if (bookmarkTimer) clearInterval(bookmarkTimer);
    res.end();
  }
  res.on('close', finish);
}
