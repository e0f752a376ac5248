import { LocalClient } from '../../src/apiserver/local-client';
import { resolveResourceName } from '../../src/api/registry';
import type { KubeObject, WatchEvent } from '../../src/api/types';
import { Informer } from '../../src/client/informer';
import { eventually, podManifest, startTestServer, type TestServer } from '../helpers';

/**
 * The in-process client's read-only lists and watches: the informers of the
 * scheduler and controllers in `mk server` get the watch cache's objects
 * themselves, not a private parse each, and under the cache mutation
 * detector (on in tests) those objects are frozen.
 */

const PODS = resolveResourceName('pods')!;
let ts: TestServer;

beforeAll(async () => {
  ts = await startTestServer({ disableControllers: ['all'], disableScheduler: true });
});
afterAll(() => ts.destroy());

test('informers in the server process share one frozen object per version, without managedFields', async () => {
  const client = new LocalClient(ts.server.resources);
  const first = new Informer(client, PODS);
  const second = new Informer(client, PODS);
  expect((await ts.api('POST', '/api/v1/namespaces/default/pods', podManifest('listed'))).status).toBe(201);
  await Promise.all([first.start(), second.start()]);
  try {
    // From the list ...
    const listed = first.get('default/listed')!;
    expect(listed).toBe(second.get('default/listed'));
    expect(listed.metadata.managedFields).toBeUndefined();
    expect(Object.isFrozen(listed) && Object.isFrozen(listed.metadata) && Object.isFrozen(listed.spec.containers[0])).toBe(true);
    expect(() => {
      listed.metadata.labels = { changed: 'yes' };
    }).toThrow(TypeError);

    // ... and from the watch.
    expect((await ts.api('POST', '/api/v1/namespaces/default/pods', podManifest('watched'))).status).toBe(201);
    const watched = await eventually(() => first.get('default/watched') ?? Promise.reject(new Error('not yet')));
    await eventually(() => expect(second.get('default/watched')).toBe(watched));
    expect(watched.metadata.managedFields).toBeUndefined();
    expect(Object.isFrozen(watched.spec)).toBe(true);

    // The server's own copy is untouched: its managedFields are still served.
    const got = await ts.api('GET', '/api/v1/namespaces/default/pods/watched');
    expect(got.body.metadata.managedFields?.length).toBeGreaterThan(0);
  } finally {
    first.stop();
    second.stop();
  }
});

test('a watch that does not promise to leave its objects alone gets private, writable copies', async () => {
  const client = new LocalClient(ts.server.resources);
  const seen: KubeObject[] = [];
  const watch = client.watch(PODS, 'default', {}, (e: WatchEvent) => seen.push(e.object));
  try {
    expect((await ts.api('POST', '/api/v1/namespaces/default/pods', podManifest('private'))).status).toBe(201);
    const mine = await eventually(() => seen.find((o) => o.metadata.name === 'private') ?? Promise.reject(new Error('not yet')));
    expect(Object.isFrozen(mine)).toBe(false);
    expect(mine.metadata.managedFields?.length).toBeGreaterThan(0);
    mine.metadata.labels = { changed: 'yes' };
    const got = await ts.api('GET', '/api/v1/namespaces/default/pods/private');
    expect(got.body.metadata.labels).toEqual({ app: 'private' });
  } finally {
    watch.stop();
  }
});

test('a create that promises to leave its answer alone gets the cached object; a plain one a private copy', async () => {
  const client = new LocalClient(ts.server.resources);
  const shared = await client.create(PODS, podManifest('created-shared'), { readOnly: true });
  expect(Object.isFrozen(shared.metadata)).toBe(true);
  expect(shared.metadata.uid).toBeTruthy();
  const mine = await client.create(PODS, podManifest('created-private'));
  expect(Object.isFrozen(mine)).toBe(false);
  mine.metadata.labels = { changed: 'yes' };
  expect((await ts.api('GET', '/api/v1/namespaces/default/pods/created-private')).body.metadata.labels).toEqual({ app: 'created-private' });
});
