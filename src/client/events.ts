import { randomBytes } from 'node:crypto';
import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import type { KubeClient } from './api-client';

const EVENTS = resolveResourceName('events')!;

/**
 * Writes core/v1 Events about objects, as client-go's EventRecorder does:
 * `Scheduled`, `FailedScheduling`, `Pulled`... They are what `mk describe`
 * and `kubectl describe` show under Events. Recording never throws: an event
 * that cannot be written is reported to `onError` and dropped, because the
 * work it describes has already happened.
 */
export class EventRecorder {
  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly host?: string,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** `fieldPath` names the part of the object the event is about, e.g. `spec.containers{web}`. */
  record(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const namespace = obj.metadata.namespace ?? 'default';
    const event: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        // Kubernetes names events <object>.<unique hex>.
        name: `${obj.metadata.name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`,
        namespace,
      },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
        ...(fieldPath ? { fieldPath } : {}),
      },
      reason,
      message: message.length > 1024 ? message.slice(0, 1021) + '...' : message,
      type,
      source: { component: this.component, ...(this.host ? { host: this.host } : {}) },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      reportingComponent: this.component,
      reportingInstance: this.host ?? '',
    };
    this.client.create(EVENTS, event).catch(this.onError);
  }
}
