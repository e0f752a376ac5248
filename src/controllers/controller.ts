import type { KubeObject, OwnerReference } from '../api/types';
import type { KubeClient } from '../client/api-client';
import { objectKey, type Informer } from '../client/informer';
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
  /**
   * Registers informer handlers that enqueue keys. Called once, before
   * informers start. `enqueue(key, delayMs)` queues the key once the delay
   * has passed; further events for it meanwhile ride along (they coalesce).
   */
  setup(informers: SharedInformers, enqueue: (key: string, delayMs?: number) => void): void;
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
    this.reconciler.setup(informers, (key, delayMs) => (delayMs ? this.queue.addAfter(key, delayMs) : this.queue.add(key)));
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

/**
 * How long a controller lets status-only news of its dependents (a pod
 * became ready, a ReplicaSet counted one more available pod) gather before
 * it syncs: during a rollout of thousands of pods, one sync and one status
 * write per 100 ms instead of one per pod. Changes that need action (a pod
 * created, deleted or relabelled; a spec change) are queued at once.
 */
export const STATUS_COALESCE_MS = 100;

/**
 * The index every shared informer keeps: an object is filed under its
 * controller's uid, or under `orphan:<namespace>` when nothing controls it.
 * A controller syncing one owner looks at those two buckets only, instead of
 * every object of the kind (with 5,000 pods that scan was most of the
 * ReplicaSet controller's time).
 */
export const BY_CONTROLLER = 'controller';

export function controllerIndexValues(obj: KubeObject): string[] {
  const ref = controllerOf(obj);
  return [ref ? ref.uid : `orphan:${obj.metadata.namespace ?? ''}`];
}

/** The objects `owner` controls (by uid). */
export function controlledBy<T extends KubeObject>(informer: Informer<T>, owner: KubeObject): T[] {
  return informer.byIndex(BY_CONTROLLER, owner.metadata.uid!);
}

/**
 * What ClaimPods looks at for `owner`: the objects it controls and the
 * orphans of its namespace. Objects another controller owns are never
 * claimable, so they are not candidates at all.
 */
export function claimCandidates<T extends KubeObject>(informer: Informer<T>, owner: KubeObject): T[] {
  return [...controlledBy(informer, owner), ...informer.byIndex(BY_CONTROLLER, `orphan:${owner.metadata.namespace ?? ''}`)];
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
