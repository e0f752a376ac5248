import type { KubeClient } from '../../src/client/api-client';
import { EventRecorder, MAX_QUEUED_EVENTS } from '../../src/client/events';
import type { KubeObject } from '../../src/api/types';

/** A client whose event creates stay open until the test settles them. */
function heldClient(inProcess = false) {
  const pending: Array<{ event: KubeObject; settle: () => void }> = [];
  const client = {
    inProcess,
    create: (_rt: unknown, event: KubeObject) =>
      new Promise<KubeObject>((resolve) => pending.push({ event, settle: () => resolve(event) })),
  } as unknown as KubeClient;
  return { client, pending };
}

const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default', uid: 'u1' } };

/** Lets the recorder's awaits run. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

test('over HTTP a recorder writes its events one at a time, in the order recorded', async () => {
  const { client, pending } = heldClient();
  const recorder = new EventRecorder(client, 'kubelet', 'node1');
  for (const reason of ['Pulled', 'Created', 'Started']) recorder.record(pod, 'Normal', reason, reason);
  const written: string[] = [];
  for (let i = 0; i < 3; i++) {
    await settled();
    expect(pending).toHaveLength(1);
    const { event, settle } = pending.shift()!;
    written.push(event.reason);
    settle();
  }
  await settled();
  expect(pending).toHaveLength(0);
  expect(written).toEqual(['Pulled', 'Created', 'Started']);
});

test('a recorder that falls MAX_QUEUED_EVENTS behind drops new events and reports each', async () => {
  const { client, pending } = heldClient();
  const errors: string[] = [];
  const recorder = new EventRecorder(client, 'kubelet', 'node1', (err) => errors.push((err as Error).message));
  // The first is being written; the queue then holds MAX_QUEUED_EVENTS more.
  for (let i = 0; i < MAX_QUEUED_EVENTS + 3; i++) recorder.record(pod, 'Normal', `R${i}`, 'm');
  await settled();
  expect(pending).toHaveLength(1);
  expect(errors).toHaveLength(2);
  expect(errors[0]).toBe(`${MAX_QUEUED_EVENTS} events are waiting to be written; dropped Normal R${MAX_QUEUED_EVENTS + 1} about Pod default/web`);
});

test('an in-process recorder keeps several writes in flight', async () => {
  const { client, pending } = heldClient(true);
  const recorder = new EventRecorder(client, 'scheduler');
  for (let i = 0; i < 40; i++) recorder.record(pod, 'Normal', 'Scheduled', `#${i}`);
  await settled();
  expect(pending.length).toBeGreaterThan(1);
  expect(pending.length).toBeLessThan(40);
  expect(pending.map((p) => p.event.message)).toEqual(pending.map((_, i) => `#${i}`));
});
