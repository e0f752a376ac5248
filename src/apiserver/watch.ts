import type { Request, Response } from 'express';
import type { ResourceType } from '../api/registry';
import type { KubeObject } from '../api/types';
import type { CacheEvent, CachedObject } from '../storage/watch-cache';
import { TooOldError } from '../storage/watch-cache';
import { gone } from './errors';
import type { ResourceStorage } from './resources';

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
  req: Request, res: Response, rt: ResourceType, resources: ResourceStorage,
  filter: ObjectFilter, opts: WatchOptions,
): void {
  const q = req.query as Record<string, string | undefined>;
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
    const now = filter(e.object.object);
    const before = e.prev ? filter(e.prev.object) : false;
    lastRevision = e.revision;
    if (e.type === 'ADDED') {
      if (now) write(line('ADDED', e.object));
    } else if (e.type === 'DELETED') {
      if (before || (!e.prev && now)) write(line('DELETED', e.object));
    } else if (now && (before || !e.prev)) {
      write(line('MODIFIED', e.object));
    } else if (now) {
      write(line('ADDED', e.object));
    } else if (before) {
      write(line('DELETED', e.object));
    }
  };

  let unsubscribe: (() => void) | undefined;
  try {
    if (sendInitial) {
      const { items } = resources.list(rt, undefined);
      for (const item of items) if (filter(item.object)) write(line('ADDED', item));
      if (q.sendInitialEvents === 'true') writeBookmark(true);
    }
    unsubscribe = cache.watch(from, deliver);
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
  const timeoutMs = q.timeoutSeconds
    ? Number(q.timeoutSeconds) * 1000
    : opts.minRequestTimeoutMs * (1 + Math.random());
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
