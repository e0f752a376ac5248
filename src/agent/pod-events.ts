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
  /** The fieldPath of the event being recorded (EventRecorder has no parameter for it). */
  private fieldPath?: string;
  /** `uid|reason|fieldPath|message` -> when it was last recorded. */
  private readonly recent = new Map<string, number>();

  constructor(
    client: KubeClient,
    nodeName: string,
    private readonly clock: Clock,
    log: (line: string) => void,
    private readonly repeatWindowMs = 60_000,
  ) {
    // EventRecorder writes through client.create synchronously inside record(); this view of the
    // client adds the fieldPath on the way out and is otherwise the client itself.
    const withFieldPath = Object.create(client) as KubeClient;
    withFieldPath.create = (rt, obj) => {
      if (this.fieldPath && obj.involvedObject) obj.involvedObject.fieldPath = this.fieldPath;
      return client.create(rt, obj);
    };
    this.recorder = new EventRecorder(withFieldPath, 'kubelet', nodeName, (err) => log(`writing an event failed: ${(err as Error).message}`));
  }

  /** Records an event about the pod, or about one of its containers when `container` is given. */
  record(pod: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, container?: { name: string; init?: boolean }): void {
    const fieldPath = container ? `spec.${container.init ? 'initContainers' : 'containers'}{${container.name}}` : undefined;
    const key = `${pod.metadata.uid}|${reason}|${fieldPath ?? ''}|${message}`;
    const now = this.clock.now();
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.repeatWindowMs) return;
    this.recent.set(key, now);
    this.fieldPath = fieldPath;
    try {
      this.recorder.record(pod, type, reason, message);
    } finally {
      this.fieldPath = undefined;
    }
  }

  /** Forgets a removed pod's repeat memory. */
  forget(uid: string): void {
    const prefix = `${uid}|`;
    for (const key of this.recent.keys()) if (key.startsWith(prefix)) this.recent.delete(key);
  }
}
