import type { KubeObject, OwnerReference } from '../api/types';
import type { KubeClient } from '../client/api-client';
import { objectKey } from '../client/informer';
import type { SharedInformers } from './informers';
import { WorkQueue } from './workqueue';

/** What a reconcile asks of the queue: nothing (done), or look again later. */
export interface Result {
  requeueAfterMs?: number;
}

/**
 * A controller in the controller-runtime sense: one method, level-based.
 * `reconcile(key)` reads the current state (from informer caches) and
 * moves the world one step toward the desired state through the API. A
 * thrown error means "retry with backoff"; events are only hints of which
 * key to look at, never the input.
 */
export interface Reconciler {
  readonly name: string;
  /** Registers informer handlers that enqueue keys. Called once, before informers start. */
  setup(informers: SharedInformers, enqueue: (key: string) => void): void;
  reconcile(key: string): Promise<Result | void>;
}

export interface ControllerContext {
  client: KubeClient;
  informers: SharedInformers;
  log: (line: string) => void;
}

/** Runs a Reconciler with its own work queue and `workers` concurrent workers. */
export class Controller {
  readonly queue = new WorkQueue();
  private running: Promise<void>[] = [];

  constructor(readonly reconciler: Reconciler, private readonly log: (line: string) => void, private readonly workers = 2) {}

  setup(informers: SharedInformers): void {
    this.reconciler.setup(informers, (key) => this.queue.add(key));
  }

  start(): void {
    for (let i = 0; i < this.workers; i++) this.running.push(this.work());
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.running);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        const result = await this.reconciler.reconcile(key);
        this.queue.forget(key);
        if (result?.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        this.log(`${this.reconciler.name}: reconciling ${key} failed (retry ${this.queue.numRequeues(key) + 1}): ${(err as Error).message}`);
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }
}

/** The key of the object's controlling owner of `kind`, if it has one (for owner-based enqueue). */
export function controllerOwnerKey(obj: KubeObject, kind: string): string | undefined {
  const ref = controllerOf(obj);
  if (!ref || ref.kind !== kind) return undefined;
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${ref.name}` : ref.name;
}

/** The ownerReference with controller: true. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** An ownerReference making `owner` the controller of a dependent. */
export function controllerRef(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Splits `namespace/name` (or `name`). */
export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export { objectKey };
