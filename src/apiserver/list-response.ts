import type { ServerResponse } from 'node:http';
import { apiVersionOf, type ResourceType } from '../api/registry';
import { buildTable, columnsFor, type IncludeObject } from '../api/table';
import type { ListMeta } from '../api/types';
import type { CachedObject } from '../storage/watch-cache';

/**
 * Lists are written from the serialized objects the watch cache already
 * holds, never by serializing the objects again: a list of 10,000 pods is
 * tens of megabytes, and JSON.stringify of that (or of a Table with every
 * row's metadata) is most of what such a list would cost.
 */

/**
 * About how many bytes go to the socket per write of a large response. One
 * TLS write of tens of megabytes costs about twice the CPU of the same bytes
 * in 1 MB writes, and holds the first byte back until all of it is encrypted.
 */
const CHUNK_BYTES = 1 << 20;

/**
 * Writes the concatenation of `parts` as a 200 JSON response with a
 * Content-Length. A large one goes out in corked batches of about
 * CHUNK_BYTES, waiting for the socket to drain between them: the parts are
 * copied once, into the socket's write, rather than joined into one string
 * first and then encoded again.
 */
async function writeParts(res: ServerResponse, parts: string[]): Promise<void> {
  const lengths = parts.map((p) => Buffer.byteLength(p));
  const total = lengths.reduce((a, b) => a + b, 0);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': total });
  if (total <= CHUNK_BYTES) {
    res.end(parts.join(''));
    return;
  }
  let batch = 0;
  res.cork();
  for (let i = 0; i < parts.length; i++) {
    res.write(parts[i]!);
    batch += lengths[i]!;
    if (batch < CHUNK_BYTES) continue;
    batch = 0;
    res.uncork();
    // A client that went away takes no more, and would never say 'drain'.
    if (res.destroyed || (res.writableNeedDrain && !(await drained(res)))) return;
    res.cork();
  }
  res.uncork();
  res.end();
}

/** Resolves true when `res` can take more, false when the client went away. */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

/** `head`, what `item` makes of each object (comma-separated) and `tail`, as the parts of one document. */
function joinedParts(head: string, objects: readonly CachedObject[], item: (c: CachedObject, parts: string[]) => void, tail: string): string[] {
  const parts = [head];
  for (let i = 0; i < objects.length; i++) {
    if (i > 0) parts.push(',');
    item(objects[i]!, parts);
  }
  parts.push(tail);
  return parts;
}

/** Sends `objects` as the kind's List (`PodList`, ...). */
export function sendList(res: ServerResponse, rt: ResourceType, objects: readonly CachedObject[], listMeta: ListMeta): Promise<void> {
  const head = `{"kind":"${rt.listKind}","apiVersion":"${apiVersionOf(rt)}","metadata":${JSON.stringify(listMeta)},"items":[`;
  return writeParts(res, joinedParts(head, objects, (c, parts) => parts.push(c.json), ']}'));
}

export interface TableListOptions {
  now: number;
  includeObject?: IncludeObject;
  listMeta: ListMeta;
}

/**
 * Sends `objects` as a meta.k8s.io/v1 Table: the same document
 * `JSON.stringify(buildTable(...))` makes, with each row's object cut from
 * the cached JSON instead of serialized again.
 */
export function sendTableList(res: ServerResponse, rt: ResourceType, objects: readonly CachedObject[], opts: TableListOptions): Promise<void> {
  // The Table without rows ends with its (last) field `"rows":[]}`; the rows go in between.
  const empty = JSON.stringify(buildTable(rt, [], opts));
  const columns = columnsFor(rt);
  const include = opts.includeObject ?? 'Metadata';
  const row = (c: CachedObject, parts: string[]): void => {
    const cells = JSON.stringify(columns.map((col) => col.cell(c.object, opts.now)));
    switch (include) {
      case 'None':
        parts.push(`{"cells":${cells}}`);
        return;
      case 'Object':
        parts.push(`{"cells":${cells},"object":`, c.json, '}');
        return;
      default:
        parts.push(`{"cells":${cells},"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":`, metadataJson(c), '}}');
    }
  };
  return writeParts(res, joinedParts(empty.slice(0, -']}'.length), objects, row, ']}'));
}

const metadataCache = new WeakMap<CachedObject, string>();

/** An object's `metadata` as JSON: a slice of its cached JSON, found once per object version. */
function metadataJson(c: CachedObject): string {
  let json = metadataCache.get(c);
  if (json === undefined) {
    // `decode` puts metadata first among the object-valued fields, so the first match is the top-level one.
    const at = c.json.indexOf('"metadata":{');
    const start = at + '"metadata":'.length;
    const end = at >= 0 ? objectEnd(c.json, start) : -1;
    json = end > 0 ? c.json.slice(start, end) : JSON.stringify(c.object.metadata);
    metadataCache.set(c, json);
  }
  return json;
}

/** The index after the JSON object or array that opens at `start`; -1 if it does not close. */
export function objectEnd(json: string, start: number): number {
  let depth = 0;
  for (let i = start; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: to the next quote not escaped by an odd run of backslashes.
      for (;;) {
        i = json.indexOf('"', i + 1);
        if (i < 0) return -1;
        let backslashes = 0;
        while (json.charCodeAt(i - 1 - backslashes) === 0x5c) backslashes++;
        if (backslashes % 2 === 0) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
    } else if ((c === 0x7d || c === 0x5d) && --depth === 0) {
      return i + 1;
    }
  }
  return -1;
}
