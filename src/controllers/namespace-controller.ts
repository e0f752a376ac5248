import { resourceTypes, resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import type { Reconciler } from './controller';
import type { SharedInformers } from './informers';
import type { ControllerFactory } from './manager';

/**
 * The namespace controller (pkg/controller/namespace/deletion): a namespace
 * the API server marked Terminating is emptied, then removed.
 *
 * Reconciling a terminating namespace deletes every namespaced object in it
 * (every namespaced kind of the registry, one deletecollection each), and
 * while anything is left (pods in their grace period, objects held by
 * finalizers) looks again after `recheckMs`. Once the namespace is empty it
 * removes `kubernetes` from spec.finalizers through the finalize
 * subresource and deletes the namespace again, which now removes it.
 */

const NAMESPACES = resolveResourceName('namespaces')!;
const FINALIZER = 'kubernetes';

export interface NamespaceControllerOptions {
  /** How soon to look again at a namespace whose content is still going away. Default 500 ms. */
  recheckMs?: number;
}

export class NamespaceController implements Reconciler {
  readonly name = 'namespace';
  private informer?: ReturnType<SharedInformers['for']>;

  constructor(
    private readonly client: KubeClient,
    private readonly log: (line: string) => void = () => undefined,
    private readonly opts: NamespaceControllerOptions = {},
  ) {}

  setup(informers: SharedInformers, enqueue: (key: string) => void): void {
    this.informer = informers.for(NAMESPACES);
    const hint = (ns: KubeObject) => {
      if (ns.metadata.deletionTimestamp) enqueue(ns.metadata.name!);
    };
    this.informer.on({ add: hint, update: (_old, ns) => hint(ns) });
  }

  async reconcile(name: string): Promise<{ requeueAfterMs?: number } | void> {
    const ns = this.informer!.get(name);
    if (!ns?.metadata.deletionTimestamp) return;

    if (ns.spec?.finalizers?.includes(FINALIZER)) {
      const left = await this.deleteContent(name);
      if (left.length) {
        this.log(`namespace: ${name} still has ${left.join(', ')}`);
        return { requeueAfterMs: this.opts.recheckMs ?? 500 };
      }
      const finalizers = (ns.spec.finalizers as string[]).filter((f) => f !== FINALIZER);
      try {
        await this.client.finalizeNamespace({ ...ns, spec: { ...ns.spec, finalizers } });
      } catch (err) {
        if (ApiStatusError.isNotFound(err)) return;
        throw err;
      }
    } else if (ns.spec?.finalizers?.length) {
      return; // other finalizers: their owners finish the job
    }
    try {
      // With no finalizer left, deleting again removes the namespace.
      await this.client.delete(NAMESPACES, undefined, name, { preconditions: { uid: ns.metadata.uid } });
    } catch (err) {
      if (!ApiStatusError.isNotFound(err)) throw err;
    }
  }

  /** Deletes what is in the namespace; returns `N kind` for each kind with objects left. */
  private async deleteContent(namespace: string): Promise<string[]> {
    const left: string[] = [];
    for (const rt of resourceTypes) {
      if (!rt.namespaced) continue;
      const list = await this.client.list(rt, namespace);
      if (!list.items.length) continue;
      const live = list.items.filter((o) => !o.metadata.deletionTimestamp);
      if (live.length) await this.client.deleteCollection(rt, namespace);
      // Whatever the deletecollection removed at once is gone; the rest is on its way.
      const after = live.length ? (await this.client.list(rt, namespace)).items.length : list.items.length;
      if (after) left.push(`${after} ${rt.plural}`);
    }
    return left;
  }
}

export const namespaceControllerFactory: ControllerFactory = {
  name: 'namespace',
  create: (ctx) => new NamespaceController(ctx.client, ctx.log),
};
