import * as fs from 'node:fs';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, isBrokenCircuitError, noop, retry } from 'cockatiel';
import {
  ClientClosedError,
  Etcd3,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  type IDuplexStream,
  type IEvent,
  type IKeyValue,
  type IOptions,
  type IRangeRequest,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
import {
  CompactedError,
  DatastoreUnavailableError,
  ValueTooLargeError,
  type KeyValue,
  type ListResult,
  type Store,
  type StoreEvent,
  type Watch,
  type WriteResult,
} from './store';

/**
 * The distributed datastore: etcd v3 through the `etcd3` client (gRPC).
 *
 * The mapping is the one kube-apiserver uses: etcd's store-wide revision is
 * the store revision (so resourceVersion), a key's mod_revision its
 * revision; create is a transaction "if create_revision == 0 then put",
 * update and delete are "if mod_revision == expected then ...", and the
 * failure branch reads the key, so a lost compare-and-swap comes back with
 * the current value in one round trip.
 *
 * Keys: mk's keys all start with `/registry/` (as Kubernetes' do in etcd).
 * With the default prefix they are stored exactly so; a custom prefix
 * replaces `/registry/` (prefix `/mk-a/` stores `/registry/pods/ns/p` as
 * `/mk-a/pods/ns/p`), so several clusters can share one etcd.
 *
 * Watches: one etcd watch over the whole prefix (prev_kv, progress notify)
 * feeds every Store.watch, in revision order, from a single stream. An
 * event outside a watcher's prefix is a progress notice for it, exactly as
 * SQLite delivers, so quiet kinds keep a current revision without etcd's
 * WatchProgressRequest (whose answer is not ordered with events before etcd
 * 3.4.25/3.5.8, and Debian ships 3.4.23). The stream restarts from the
 * oldest revision any watcher still needs, after a new watcher asks for
 * older history or after a lost connection; each watcher drops what it has
 * already seen, so nothing is lost or repeated.
 *
 * Compaction: etcd does not report its compacted revision, so the store
 * tracks it: its own compactions, the compact_revision etcd sends when it
 * cancels a watch, and a binary search of ranges at old revisions (etcd
 * refuses a read below it) on first use.
 *
 * Failure: every call has a deadline; an unreachable etcd fails calls at
 * once with DatastoreUnavailableError, a slow one with the timeout variant.
 * Nothing is retried that might have been applied, except that a call which
 * could not connect at all tries the next endpoint.
 */

export interface EtcdStoreOptions {
  /** Client URLs, `http://host:2379` or `https://...`. */
  endpoints: string[];
  /** PEM files for TLS: the CA that signed etcd's certificate, and a client certificate and key. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Replaces `/registry/` in every key (default `/registry/`, as Kubernetes stores keys). */
  prefix?: string;
  /** Deadline of each etcd call (default 5 s). */
  requestTimeoutMs?: number;
  /** etcd's --max-request-bytes (default 1.5 MiB): larger writes are refused before they are sent. */
  maxRequestBytes?: number;
  /** Compact automatically every this many ms (0 disables; default 60 s). */
  compactIntervalMs?: number;
  /** How many recent revisions automatic compaction keeps at least (default 10,000). */
  retainRevisions?: number;
}

/** The root of mk's key space (see storagePrefix in api/registry.ts). */
export const MK_KEY_ROOT = '/registry/';
const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** What a transaction adds to its value: the key three times (compare, write, read back) and framing. */
const TXN_OVERHEAD_BYTES = 256;
const LIST_PAGE = 2000;
const HEALTH_TIMEOUT_MS = 1000;
const WATCH_RETRY_MIN_MS = 100;
const WATCH_RETRY_MAX_MS = 2000;
/** Watchers that arrive within this long share one stream (re)start: a server starting its caches asks ~30 times at once. */
const WATCH_COALESCE_MS = 10;

/** The first key after every key starting with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function isCompactedError(err: unknown): boolean {
  return /required revision has been compacted/.test((err as Error)?.message ?? '');
}

/** Errors that prove the call never reached an etcd member, so another member may be tried. */
function neverSent(err: Error): boolean {
  return isBrokenCircuitError(err) || /No connection established|ECONNREFUSED|etcdserver: no leader/.test(err.message);
}

/** Turns a failed etcd call into the Store's error vocabulary. */
function storeError(err: unknown, tooLarge?: () => ValueTooLargeError): Error {
  const e = err as Error;
  const message = e?.message ?? String(err);
  if (/request is too large/.test(message) && tooLarge) return tooLarge();
  if (e instanceof GRPCDeadlineExceededError || /request timed out|deadline exceeded/i.test(message)) {
    return new DatastoreUnavailableError(`etcd did not answer in time: ${message}`, true);
  }
  if (
    e instanceof GRPCUnavailableError || e instanceof ClientClosedError || isBrokenCircuitError(e) ||
    /no leader|leader changed|not capable|too many requests|No connection established|ECONNREFUSED|ECONNRESET/i.test(message)
  ) {
    return new DatastoreUnavailableError(`etcd is unavailable: ${message}`);
  }
  return e instanceof Error ? e : new Error(message);
}

interface Subscriber {
  /** The prefix in etcd's key space. */
  prefix: Buffer;
  handler: (event: StoreEvent) => void;
  onProgress?: (revision: number) => void;
  onError?: (err: Error) => void;
  /** Every event at or below this revision has been delivered (or predates the watch). */
  position: number;
  /** Carried by the current stream (else waiting for the restart that will carry it). */
  attached: boolean;
  /** Settles watch(): resolved once a stream carries the subscriber. */
  ready?: { resolve: () => void; reject: (err: Error) => void };
}

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  /** The prefix in etcd that replaces MK_KEY_ROOT. */
  readonly prefix: string;
  private readonly prefixBytes: Buffer;
  private readonly requestTimeoutMs: number;
  private readonly maxRequestBytes: number;
  private compacted = 0;
  private compactedProbe?: Promise<void>;
  private compactTimer?: NodeJS.Timeout;
  /** The store revision at the previous automatic-compaction tick: compaction keeps at least one interval. */
  private lastTickRevision = 0;
  private closed = false;

  private readonly subscribers = new Set<Subscriber>();
  private stream?: IDuplexStream<IWatchRequest, IWatchResponse>;
  /** The current stream is established (etcd answered `created`). */
  private streamCreated = false;
  /** Every event at or below this revision has come through the current stream. */
  private streamPosition = 0;
  private restartTimer?: NodeJS.Timeout;
  private restartDelayMs = 0;
  /** Bumped whenever the stream is stopped, so a (re)start still connecting knows it has been overtaken. */
  private streamGeneration = 0;

  constructor(private readonly options: EtcdStoreOptions) {
    if (options.endpoints.length === 0) throw new Error('etcd: no endpoints');
    const prefix = options.prefix ?? MK_KEY_ROOT;
    if (!prefix) throw new Error('etcd: the key prefix must not be empty');
    this.prefix = prefix.endsWith('/') ? prefix : prefix + '/';
    this.prefixBytes = Buffer.from(this.prefix);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;

    const several = options.endpoints.length > 1;
    const clientOptions: IOptions = {
      hosts: options.endpoints,
      dialTimeout: this.requestTimeoutMs,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.requestTimeoutMs }),
      grpcOptions: {
        // A list of many objects is one large response; the pages below keep it bounded, but gRPC's 4 MiB default is too small.
        'grpc.max_receive_message_length': 256 * 1024 * 1024,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 2000,
        // Finds a dead connection (a partitioned member) under a quiet watch stream.
        'grpc.keepalive_time_ms': 15_000,
        'grpc.keepalive_timeout_ms': 5_000,
      },
      faultHandling: {
        // One endpoint: fail at once and try again on the next call. Several: skip a member that keeps failing for a second.
        host: () => (several ? circuitBreaker(handleWhen(neverSent), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }) : noop),
        global: several ? retry(handleWhen(neverSent), { maxAttempts: options.endpoints.length - 1 }) : noop,
      },
    };
    if (options.caFile || options.certFile || options.keyFile) {
      if (!options.caFile) throw new Error('etcd: a client certificate needs the CA file (--datastore-cafile) too');
      if (!options.certFile !== !options.keyFile) throw new Error('etcd: --datastore-certfile and --datastore-keyfile go together');
      clientOptions.credentials = {
        rootCertificate: fs.readFileSync(options.caFile),
        certChain: options.certFile ? fs.readFileSync(options.certFile) : undefined,
        privateKey: options.keyFile ? fs.readFileSync(options.keyFile) : undefined,
      };
    }
    this.client = new Etcd3(clientOptions);

    this.setAutoCompaction(true);
  }

  setAutoCompaction(enabled: boolean): void {
    const interval = this.options.compactIntervalMs ?? 60_000;
    if (enabled && interval > 0 && !this.closed && !this.compactTimer) {
      // The first tick only notes the revision: compaction keeps at least one interval of history.
      this.lastTickRevision = 0;
      this.compactTimer = setInterval(() => void this.autoCompact().catch(() => undefined), interval);
      this.compactTimer.unref();
    } else if (!enabled && this.compactTimer) {
      clearInterval(this.compactTimer);
      this.compactTimer = undefined;
    }
  }

  async currentRevision(): Promise<number> {
    const res = await this.call(() => this.client.kv.range({ key: this.prefixBytes, count_only: true }));
    return Number(res.header.revision);
  }

  async compactedRevision(): Promise<number> {
    if (!this.compactedProbe) {
      this.compactedProbe = this.probeCompacted().catch((err) => {
        this.compactedProbe = undefined;
        throw err;
      });
    }
    await this.compactedProbe;
    return this.compacted;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(() => this.client.kv.range({ key: this.toEtcd(key) }));
    return res.kvs[0] ? this.toKeyValue(res.kvs[0]) : undefined;
  }

  /** Pages through the prefix at the revision of the first page, so the result is one consistent snapshot. */
  async list(prefix: string): Promise<ListResult> {
    const start = this.toEtcd(prefix);
    const end = prefixEnd(start);
    const items: KeyValue[] = [];
    let revision = 0;
    let from = start;
    for (;;) {
      const req: IRangeRequest = { key: from, range_end: end, limit: LIST_PAGE };
      if (revision) req.revision = revision;
      const res = await this.call(() => this.client.kv.range(req));
      if (!revision) revision = Number(res.header.revision);
      for (const kv of res.kvs) items.push(this.toKeyValue(kv));
      if (!res.more || res.kvs.length === 0) break;
      from = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])]);
    }
    return { items, revision };
  }

  async create(key: string, value: string): Promise<WriteResult> {
    const k = this.toEtcd(key);
    const v = this.checkedValue(k, value);
    const res = await this.call(
      () => this.client.kv.txn({
        compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: k, value: v } }],
        failure: [{ request_range: { key: k } }],
      }),
      () => this.tooLarge(k, v),
    );
    if (!res.succeeded) {
      const current = res.responses[0]?.response_range?.kvs[0];
      return { ok: false, reason: 'exists', current: current && this.toKeyValue(current) };
    }
    const revision = Number(res.header.revision);
    return { ok: true, kv: { key, value, revision, createRevision: revision } };
  }

  async update(key: string, value: string, expectedRevision: number): Promise<WriteResult> {
    const k = this.toEtcd(key);
    const v = this.checkedValue(k, value);
    const res = await this.call(
      () => this.client.kv.txn({
        compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expectedRevision }],
        success: [{ request_put: { key: k, value: v, prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      }),
      () => this.tooLarge(k, v),
    );
    if (!res.succeeded) return this.lost(res.responses[0]?.response_range?.kvs[0]);
    const revision = Number(res.header.revision);
    const prev = res.responses[0]?.response_put?.prev_kv;
    return { ok: true, kv: { key, value, revision, createRevision: prev ? Number(prev.create_revision) : revision } };
  }

  async delete(key: string, expectedRevision?: number): Promise<WriteResult> {
    const k = this.toEtcd(key);
    const res = await this.call(() => this.client.kv.txn({
      // Without an expected revision the only condition is that the key exists.
      compare: [expectedRevision === undefined
        ? { key: k, target: 'Create', result: 'Greater', create_revision: 0 }
        : { key: k, target: 'Mod', result: 'Equal', mod_revision: expectedRevision }],
      success: [{ request_delete_range: { key: k, prev_kv: true } }],
      failure: [{ request_range: { key: k } }],
    }));
    if (!res.succeeded) return this.lost(res.responses[0]?.response_range?.kvs[0]);
    const prev = res.responses[0]?.response_delete_range?.prev_kvs[0];
    if (!prev) return { ok: false, reason: 'notfound' };
    const kv: KeyValue = {
      key, value: prev.value.toString(), revision: Number(res.header.revision), createRevision: Number(prev.create_revision),
    };
    return { ok: true, kv };
  }

  async watch(
    prefix: string, fromRevision: number, handler: (event: StoreEvent) => void,
    onProgress?: (revision: number) => void, onError?: (err: Error) => void,
  ): Promise<Watch> {
    if (this.closed) throw new DatastoreUnavailableError('etcd store is closed');
    // etcd answers `created` before it refuses a compacted start revision, so refuse here what is known to be compacted.
    const compacted = await this.compactedRevision();
    if (fromRevision < compacted) throw new CompactedError(fromRevision, compacted);
    const subscriber: Subscriber = { prefix: this.toEtcd(prefix), handler, onProgress, onError, position: fromRevision, attached: false };
    const ready = new Promise<void>((resolve, reject) => (subscriber.ready = { resolve, reject }));
    this.subscribers.add(subscriber);
    if (this.stream && subscriber.position >= this.streamPosition) {
      // The current stream has delivered nothing this watcher needs yet: it can ride along.
      subscriber.attached = true;
      if (this.streamCreated) this.settle(subscriber);
    } else {
      this.scheduleRestart(WATCH_COALESCE_MS);
    }
    await ready;
    return {
      cancel: () => {
        this.subscribers.delete(subscriber);
        if (this.subscribers.size === 0) this.stopStream();
      },
    };
  }

  async compact(revision: number): Promise<void> {
    const target = Math.min(revision, await this.currentRevision());
    if (target <= this.compacted) return;
    try {
      await this.call(() => this.client.kv.compact({ revision: target }));
    } catch (err) {
      // Another server compacted further: learn how far.
      if (!isCompactedError(err)) throw err;
      await this.probeCompacted();
      return;
    }
    this.learnCompacted(target);
  }

  async healthy(): Promise<boolean> {
    try {
      // A linearizable read: it needs a member with a quorum behind it, as serving does.
      await this.client.kv.range({ key: this.prefixBytes, count_only: true }, { deadline: Date.now() + HEALTH_TIMEOUT_MS });
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.setAutoCompaction(false);
    for (const s of this.subscribers) s.ready?.reject(new DatastoreUnavailableError('etcd store is closed'));
    this.subscribers.clear();
    this.stopStream();
    this.client.close();
  }

  /** The etcd key for an mk key. */
  private toEtcd(key: string): Buffer {
    if (!key.startsWith(MK_KEY_ROOT)) throw new Error(`etcd store: key "${key}" is outside ${MK_KEY_ROOT}`);
    return Buffer.from(this.prefix + key.slice(MK_KEY_ROOT.length));
  }

  private fromEtcd(key: Buffer): string {
    return MK_KEY_ROOT + key.subarray(this.prefixBytes.length).toString();
  }

  private toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.fromEtcd(kv.key),
      value: kv.value.toString(),
      revision: Number(kv.mod_revision),
      createRevision: Number(kv.create_revision),
    };
  }

  private lost(current: IKeyValue | undefined): WriteResult {
    return current ? { ok: false, reason: 'conflict', current: this.toKeyValue(current) } : { ok: false, reason: 'notfound' };
  }

  /** The value as bytes, refused here when etcd would refuse the request as too large. */
  private checkedValue(key: Buffer, value: string): Buffer {
    const bytes = Buffer.from(value);
    if (bytes.length > this.valueLimit(key)) throw this.tooLarge(key, bytes);
    return bytes;
  }

  private valueLimit(key: Buffer): number {
    return this.maxRequestBytes - 3 * key.length - TXN_OVERHEAD_BYTES;
  }

  private tooLarge(key: Buffer, value: Buffer): ValueTooLargeError {
    return new ValueTooLargeError(value.length, this.valueLimit(key));
  }

  /** Runs one etcd call, translating its failure (see storeError). */
  private async call<T>(fn: () => Promise<T>, tooLarge?: () => ValueTooLargeError): Promise<T> {
    if (this.closed) throw new DatastoreUnavailableError('etcd store is closed');
    try {
      return await fn();
    } catch (err) {
      throw storeError(err, tooLarge);
    }
  }

  /**
   * Finds etcd's compacted revision: the oldest revision a range may still
   * read. Reads below it fail with "required revision has been compacted".
   */
  private async probeCompacted(): Promise<void> {
    let hi = await this.currentRevision();
    let lo = Math.max(1, this.compacted);
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      try {
        await this.call(() => this.client.kv.range({ key: this.prefixBytes, count_only: true, revision: mid }));
        hi = mid;
      } catch (err) {
        if (!isCompactedError(err)) throw err;
        lo = mid + 1;
      }
    }
    // Revision 1 is an empty store: readable there means never compacted.
    this.learnCompacted(lo > 1 ? lo : 0);
  }

  private learnCompacted(revision: number): void {
    if (revision > this.compacted) this.compacted = revision;
  }

  /**
   * Keeps at least one interval of history and at least retainRevisions,
   * and never compacts past what this store's watch has delivered (a
   * watcher resumes from there after a lost connection).
   */
  private async autoCompact(): Promise<void> {
    const current = await this.currentRevision();
    let target = Math.min(this.lastTickRevision, current - (this.options.retainRevisions ?? 10_000));
    this.lastTickRevision = current;
    for (const s of this.subscribers) target = Math.min(target, s.position);
    if (target > this.compacted) await this.compact(target);
  }

  // The shared watch stream.

  private scheduleRestart(delayMs: number): void {
    if (this.closed || this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restartStream();
    }, delayMs);
  }

  private stopStream(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    this.streamCreated = false;
    this.streamGeneration++;
    // cancel() ends the call locally; its CANCELLED error reaches a listener that ignores old streams.
    stream?.cancel();
  }

  /** (Re)opens the stream from the oldest revision a subscriber needs; every subscriber rides on it. */
  private async restartStream(): Promise<void> {
    this.stopStream();
    if (this.closed || this.subscribers.size === 0) return;
    let from = Infinity;
    for (const s of this.subscribers) {
      from = Math.min(from, s.position);
      s.attached = true;
    }
    this.streamPosition = from;
    const generation = this.streamGeneration;
    let stream: IDuplexStream<IWatchRequest, IWatchResponse>;
    try {
      stream = await this.client.watchClient.watch();
    } catch (err) {
      if (generation === this.streamGeneration) this.streamBroken(undefined, err);
      return;
    }
    if (generation !== this.streamGeneration || this.restartTimer || this.closed) {
      // Stopped, or another restart was asked for, while this one connected.
      stream.on('error', () => undefined);
      stream.cancel();
      return;
    }
    this.stream = stream;
    stream.on('data', (res: IWatchResponse) => this.onWatchResponse(stream, res));
    stream.on('error', (err: Error) => this.streamBroken(stream, err));
    stream.on('end', () => this.streamBroken(stream, new Error('etcd ended the watch stream')));
    stream.write({
      create_request: {
        key: this.prefixBytes,
        range_end: prefixEnd(this.prefixBytes),
        start_revision: from + 1,
        prev_kv: true,
        progress_notify: true,
      },
    });
  }

  /** The stream failed (or could not open): pending watch() calls fail now, established watchers wait for the reconnect. */
  private streamBroken(stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined, err: unknown): void {
    if (stream && stream !== this.stream) return;
    this.stream = undefined;
    this.streamCreated = false;
    if (this.closed) return;
    const failure = storeError(err);
    for (const s of this.subscribers) {
      if (!s.ready) continue;
      this.subscribers.delete(s);
      s.ready.reject(failure);
    }
    if (this.subscribers.size === 0) return;
    this.restartDelayMs = Math.min(Math.max(this.restartDelayMs * 2, WATCH_RETRY_MIN_MS), WATCH_RETRY_MAX_MS);
    this.scheduleRestart(this.restartDelayMs);
  }

  private settle(s: Subscriber): void {
    const ready = s.ready;
    s.ready = undefined;
    ready?.resolve();
  }

  private onWatchResponse(stream: IDuplexStream<IWatchRequest, IWatchResponse>, res: IWatchResponse): void {
    if (stream !== this.stream) return;
    if (res.canceled) {
      this.onWatchCanceled(res);
      return;
    }
    if (res.created) {
      this.streamCreated = true;
      this.restartDelayMs = 0;
      for (const s of this.subscribers) if (s.attached) this.settle(s);
      return;
    }
    if (res.events.length === 0) {
      // A progress notification: etcd sends it only once the watch has caught up, in order with events.
      this.advance(Number(res.header.revision), []);
      return;
    }
    // All events of one revision (a transaction) arrive in one response.
    let batch: IEvent[] = [];
    let revision = 0;
    for (const ev of res.events) {
      const r = Number(ev.kv.mod_revision);
      if (r !== revision && batch.length) {
        this.advance(revision, batch);
        batch = [];
      }
      revision = r;
      batch.push(ev);
    }
    if (batch.length) this.advance(revision, batch);
  }

  /** Delivers the events of one revision (none: a progress notice) to every attached subscriber that has not seen it. */
  private advance(revision: number, events: IEvent[]): void {
    if (revision <= this.streamPosition) return;
    this.streamPosition = revision;
    for (const s of this.subscribers) {
      if (!s.attached || revision <= s.position) continue;
      let delivered = false;
      for (const ev of events) {
        if (!ev.kv.key.subarray(0, s.prefix.length).equals(s.prefix)) continue;
        const event = this.toStoreEvent(ev);
        if (!event) {
          // A delete whose previous value etcd could not read (compacted underneath): the watcher must relist.
          this.fail(s, new CompactedError(s.position, Math.max(this.compacted, revision - 1)));
          delivered = true;
          break;
        }
        try {
          s.handler(event);
        } catch {
          // A failing watcher must not starve the others.
        }
        delivered = true;
      }
      if (!this.subscribers.has(s)) continue;
      s.position = revision;
      if (!delivered) {
        try {
          s.onProgress?.(revision);
        } catch {
          // as above
        }
      }
    }
  }

  private toStoreEvent(ev: IEvent): StoreEvent | undefined {
    const prev = ev.prev_kv ? this.toKeyValue(ev.prev_kv) : undefined;
    if (ev.type === 'Delete') {
      if (!prev) return undefined;
      return { type: 'delete', kv: { ...prev, revision: Number(ev.kv.mod_revision) }, prev };
    }
    const kv = this.toKeyValue(ev.kv);
    return { type: ev.kv.version === '1' ? 'create' : 'update', kv, prev };
  }

  /**
   * etcd canceled the stream: with compact_revision when the start revision
   * was compacted away. Subscribers that needed that history end with
   * CompactedError; the others go on from a newer start.
   */
  private onWatchCanceled(res: IWatchResponse): void {
    const compactRevision = Number(res.compact_revision);
    if (compactRevision > 0) {
      this.learnCompacted(compactRevision);
      for (const s of this.subscribers) {
        // etcd can still replay from compactRevision itself.
        if (s.position + 1 < compactRevision) this.fail(s, new CompactedError(s.position, compactRevision));
      }
      this.stopStream();
      if (this.subscribers.size) this.scheduleRestart(0);
      return;
    }
    this.streamBroken(this.stream, new DatastoreUnavailableError(`etcd canceled the watch: ${res.cancel_reason || 'no reason given'}`));
  }

  private fail(s: Subscriber, err: Error): void {
    this.subscribers.delete(s);
    if (s.ready) {
      s.ready.reject(err);
      return;
    }
    try {
      s.onError?.(err);
    } catch {
      // the watcher's own failure
    }
  }
}
