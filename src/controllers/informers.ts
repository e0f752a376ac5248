import type { ResourceType } from '../api/registry';
import type { KubeObject } from '../api/types';
import type { KubeClient } from '../client/api-client';
import { Informer } from '../client/informer';
import { BY_CONTROLLER, controllerIndexValues } from './controller';

/**
 * One informer per kind for the whole controller manager: every controller
 * that needs pods shares one list+watch of pods (client-go's
 * SharedInformerFactory). Register handlers before start().
 */
export class SharedInformers {
  private readonly informers = new Map<ResourceType, Informer>();
  private started = false;

  constructor(private readonly client: KubeClient) {}

  for<T extends KubeObject = KubeObject>(rt: ResourceType): Informer<T> {
    let informer = this.informers.get(rt);
    if (!informer) {
      informer = new Informer(this.client, rt).addIndex(BY_CONTROLLER, controllerIndexValues);
      this.informers.set(rt, informer);
      if (this.started) void informer.start();
    }
    return informer as unknown as Informer<T>;
  }

  /** Starts every informer asked for so far; resolves when all have listed once. */
  async start(): Promise<void> {
    this.started = true;
    await Promise.all([...this.informers.values()].map((i) => i.start()));
  }

  stop(): void {
    for (const i of this.informers.values()) i.stop();
  }
}
