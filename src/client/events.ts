import { randomBytes } from 'node:crypto';
import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import type { KubeClient } from './api-client';

const EVENTS = resolveResourceName('events')!;

/** Events a recorder keeps waiting before it drops new ones: client-go's broadcaster queue (maxQueuedEvents). */
export const MAX_QUEUED_EVENTS = 1000;

/**
 * Events an in-process recorder writes at once. Over HTTP a recorder writes
 * one at a time, as client-go does. The API server's own components (the
 * scheduler, controllers) write through the in-process client, where each
 * write waits for a shared datastore commit: one at a time, the scheduler's
 * `Scheduled` events fall behind its binds under load (measured: the queue
 * filled and dropped events in bench:controllers).
 */
const IN_PROCESS_WRITERS = 16;

/**
 * Writes core/v1 Events about objects, as client-go's EventRecorder does:
 * `Scheduled`, `FailedScheduling`, `Pulled`... They are what `mk describe`
 * and `kubectl describe` show under Events. Recording never throws: an event
 * that cannot be written is reported to `onError` and dropped, because the
 * work it describes has already happened.
 *
 * As client-go's broadcaster, a recorder writes its events in the background,
 * in the order they were recorded, one at a time over HTTP (in-process, see
 * IN_PROCESS_WRITERS), from a queue of at most MAX_QUEUED_EVENTS (a recorder
 * that falls further behind drops new events and says so). So a
 * burst of events trails the work it describes instead of crowding it out:
 * a kubelet's status updates and lease renewals do not wait behind hundreds
 * of its own events.
 */
export class EventRecorder {
  private readonly queue: KubeObject[] = [];
  /** Events written at once (see IN_PROCESS_WRITERS). */
  private readonly concurrency: number;
  private writers = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly host?: string,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.concurrency = client.inProcess ? IN_PROCESS_WRITERS : 1;
  }

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
    if (this.queue.length >= MAX_QUEUED_EVENTS) {
      this.onError(new Error(`${MAX_QUEUED_EVENTS} events are waiting to be written; dropped ${type} ${reason} about ${obj.kind ?? 'object'} ${namespace}/${obj.metadata.name}`));
      return;
    }
    this.queue.push(event);
    if (this.writers < this.concurrency) void this.writeQueued();
  }

  /** One writer: takes queued events, oldest first, one at a time until none is left. */
  private async writeQueued(): Promise<void> {
    this.writers++;
    for (let event = this.queue.shift(); event; event = this.queue.shift()) {
      await this.client.create(EVENTS, event, { readOnly: true }).catch(this.onError);
    }
    this.writers--;
  }
}
