import type { KubeClient } from '../client/api-client';
import { Controller, type ControllerContext, type Reconciler } from './controller';
import { SharedInformers } from './informers';

/** How the manager makes one controller; `name` is what --disable-controllers names. */
export interface ControllerFactory {
  name: string;
  create(ctx: ControllerContext): Reconciler;
  /** Concurrent workers (default 2). */
  workers?: number;
}

export interface ManagerOptions {
  /** Names of controllers not to run; ['all'] (or ['*']) disables every one. */
  disabled?: string[];
  log?: (line: string) => void;
}

/**
 * The controller manager (kube-controller-manager in small): runs every
 * enabled controller in this process, sharing one informer per kind.
 */
export class ControllerManager {
  readonly informers: SharedInformers;
  readonly controllers: Controller[] = [];

  constructor(client: KubeClient, factories: readonly ControllerFactory[], opts: ManagerOptions = {}) {
    const log = opts.log ?? (() => undefined);
    const disabled = new Set(opts.disabled ?? []);
    const all = disabled.has('all') || disabled.has('*');
    this.informers = new SharedInformers(client);
    const ctx: ControllerContext = { client, informers: this.informers, log };
    for (const f of factories) {
      if (all || disabled.has(f.name)) continue;
      this.controllers.push(new Controller(f.create(ctx), log, f.workers));
    }
  }

  /** Names of the controllers that run. */
  get names(): string[] {
    return this.controllers.map((c) => c.reconciler.name);
  }

  async start(): Promise<void> {
    for (const c of this.controllers) c.setup(this.informers);
    await this.informers.start();
    for (const c of this.controllers) c.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.controllers.map((c) => c.stop()));
    this.informers.stop();
  }
}
