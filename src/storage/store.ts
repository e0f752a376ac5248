/**
 * The datastore contract, in the spirit of k3s's kine: a key-value log with
 * one monotonically increasing revision for the whole store. Every write
 * (create, update, delete) gets the next revision, which the API server
 * exposes as `metadata.resourceVersion`.
 *
 * Values are opaque strings (JSON documents without their resourceVersion;
 * the API server stamps it from `revision` when it reads). Only the API
 * server imports this module.
 *
 * A lost compare-and-swap is returned as a value (`ok: false`), not thrown:
 * it is an expected outcome the caller turns into 409 Conflict. Thrown errors
 * mean the datastore itself failed.
 */

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that produced this value (etcd's mod_revision). */
  revision: number;
  /** Revision at which the key was created (etcd's create_revision). */
  createRevision: number;
}

export type WriteResult =
  | { ok: true; kv: KeyValue }
  /** create: the key exists; update/delete: the key is absent or its revision moved on. */
  | { ok: false; reason: 'exists' | 'notfound' | 'conflict'; current?: KeyValue };

export interface StoreEvent {
  type: 'create' | 'update' | 'delete';
  /** For delete, the value the key had when it was deleted. */
  kv: KeyValue;
  /** For update and delete, the value the key had before this event (if the engine has it). */
  prev?: KeyValue;
}

export interface ListResult {
  items: KeyValue[];
  /** The store revision the list is consistent with. */
  revision: number;
}

/** Thrown by watch() when the requested revision has been compacted away. */
export class CompactedError extends Error {
  constructor(readonly requested: number, readonly compacted: number) {
    super(`required revision ${requested} has been compacted (oldest available is ${compacted + 1})`);
    this.name = 'CompactedError';
  }
}

/** Thrown by writes whose value is larger than the engine accepts. */
export class ValueTooLargeError extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(`object is too large: ${size} bytes, the datastore accepts at most ${limit}`);
    this.name = 'ValueTooLargeError';
  }
}

/**
 * Thrown by any operation when the datastore cannot be reached (`timeout`
 * false: the API server answers 503 ServiceUnavailable) or did not answer in
 * time (`timeout` true: 504 Timeout; the write may still have happened).
 * Transient: the engine reconnects by itself, and retrying later is right.
 */
export class DatastoreUnavailableError extends Error {
  constructor(message: string, readonly timeout = false) {
    super(message);
    this.name = 'DatastoreUnavailableError';
  }
}

export interface Watch {
  /** Stops delivery; no handler call happens after it returns. */
  cancel(): void;
}

export interface Store {
  /** The newest revision of the whole store. */
  currentRevision(): Promise<number>;
  /** The newest revision removed by compaction (0 if none): history at or below it is gone. */
  compactedRevision(): Promise<number>;

  get(key: string): Promise<KeyValue | undefined>;
  /** Every live key starting with `prefix`, in key order. */
  list(prefix: string): Promise<ListResult>;

  create(key: string, value: string): Promise<WriteResult>;
  /** Writes only if the key's current revision is `expectedRevision`. */
  update(key: string, value: string, expectedRevision: number): Promise<WriteResult>;
  /** Deletes; with `expectedRevision`, only if the key is still at that revision. */
  delete(key: string, expectedRevision?: number): Promise<WriteResult>;

  /**
   * Delivers, in revision order, every event under `prefix` with a revision
   * greater than `fromRevision`: first the retained history, then live
   * writes as they commit. Throws CompactedError when `fromRevision` is below
   * the compacted revision.
   *
   * `onProgress(revision)` (etcd's progress notify) says that every event
   * under `prefix` up to `revision` has been delivered, although the write at
   * `revision` was elsewhere. A watcher of a quiet prefix uses it to keep its
   * own revision current, so what it serves does not fall behind compaction.
   * Engines whose history arrives after watch() resolves (etcd) say when it
   * is complete only this way, or by an event at or past the revision the
   * watcher waits for.
   *
   * A watch survives losing the datastore: the engine reconnects and resumes
   * after the last delivered revision, with nothing lost or repeated.
   * `onError` (called at most once, then nothing more is delivered) says it
   * could not: CompactedError when the resume revision was compacted away
   * while the datastore was out of reach. The watcher must relist.
   */
  watch(
    prefix: string, fromRevision: number, handler: (event: StoreEvent) => void,
    onProgress?: (revision: number) => void,
    onError?: (err: Error) => void,
  ): Promise<Watch>;

  /** Drops history at or below `revision` (live keys keep their newest value). */
  compact(revision: number): Promise<void>;

  /**
   * Turns the engine's own periodic compaction (every `compactIntervalMs`)
   * on or off; it starts on. Servers sharing one datastore leave it to the
   * one that holds the compaction lease.
   */
  setAutoCompaction(enabled: boolean): void;

  /** Answers whether the datastore is reachable (used by /readyz); answers false rather than waiting long. */
  healthy(): Promise<boolean>;

  close(): Promise<void>;
}
