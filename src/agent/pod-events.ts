import type { KubeObject } from '../api/types';
import type { KubeClient } from '../client/api-client';
import { EventRecorder } from '../client/events';
import type { Clock } from './clock';

/**
 * The kubelet's events about pods: component `kubelet`, source host the
 * node, `involvedObject.fieldPath` naming the container
 * (`spec.containers{web}`) when the event is about one. Repeats of the same
 * event for the same pod within `repeatWindowMs` are dropped: a crash loop
 * or a failing probe would otherwise write an Event per attempt, where
 * Kubernetes' recorder folds them into one with a count.
 */
export class PodEvents {
  private readonly recorder: EventRecorder;
  /** `uid|reason|fieldPath|message` -> when it was last recorded. */
  private readonly recent = new Map<string, number>();

  constructor(
    client: KubeClient,
    nodeName: string,
    private readonly clock: Clock,
    log: (line: string) => void,
    private readonly repeatWindowMs = 60_000,
  ) {
    this.recorder = new EventRecorder(client, 'kubelet', nodeName, (err) => log(`writing an event failed: ${(err as Error).message}`));
  }

  /** Records an event about the pod, or about one of its containers when `container` is given. */
  record(pod: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, container?: { name: string; init?: boolean }): void {
    const fieldPath = container ? `spec.${container.init ? 'initContainers' : 'containers'}{${container.name}}` : undefined;
    const key = `${pod.metadata.uid}|${reason}|${fieldPath ?? ''}|${message}`;
    const now = this.clock.now();
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.repeatWindowMs) return;
    this.recent.set(key, now);
    this.recorder.record(pod, type, reason, message, fieldPath);
  }

  /** Forgets a removed pod's repeat memory. */
  forget(uid: string): void {
    const prefix = `${uid}|`;
    for (const key of this.recent.keys()) if (key.startsWith(prefix)) this.recent.delete(key);
  }
}
