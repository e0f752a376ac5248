import * as k8s from '@kubernetes/client-node';
import { eventually, startTestServer, type TestServer } from '../helpers';
import { API_ONLY } from './fixtures';

/**
 * The official JavaScript client, @kubernetes/client-node, against a real
 * mk server, configured from nothing but the kubeconfig the server writes:
 * typed CRUD calls, merge and strategic merge patches, errors as
 * ApiException with a Status body, and an informer through a 410 and a
 * server restart.
 */

const ns = 'default';
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

function kubeConfigOf(ts: TestServer): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(ts.server.kubeconfigPath);
  return kc;
}

function pod(name: string, labels: Record<string, string> = { app: name }): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'], env: [{ name: 'A', value: '1' }] }] },
  };
}

/** Runs `call`, which must fail, and returns its ApiException with the Status body parsed. */
async function apiError(call: () => Promise<unknown>): Promise<{ code: number; status: k8s.V1Status }> {
  try {
    await call();
  } catch (err) {
    expect(err).toBeInstanceOf(k8s.ApiException);
    const e = err as k8s.ApiException<string>;
    return { code: e.code, status: JSON.parse(e.body) };
  }
  throw new Error('the call succeeded');
}

describe('typed API calls', () => {
  let ts: TestServer;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;

  beforeAll(async () => {
    ts = await startTestServer(API_ONLY);
    const kc = kubeConfigOf(ts);
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
  });
  afterAll(() => ts.destroy());

  test('pods: create, read, list by label, merge and strategic merge patch, replace, delete', async () => {
    const created = await core.createNamespacedPod({ namespace: ns, body: pod('cn-web', { app: 'cn-web', tier: 'front' }) });
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    await core.createNamespacedPod({ namespace: ns, body: pod('cn-other', { app: 'cn-other' }) });

    const read = await core.readNamespacedPod({ name: 'cn-web', namespace: ns });
    expect(read.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
    expect(read.spec?.containers[0].image).toBe('busybox:1.36');

    const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'tier=front' });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['cn-web']);
    expect(list.metadata?.resourceVersion).toBeTruthy();

    await core.patchNamespacedPod({ name: 'cn-web', namespace: ns, body: { metadata: { labels: { tier: 'back' } } } }, merge);
    let now = await core.readNamespacedPod({ name: 'cn-web', namespace: ns });
    expect(now.metadata?.labels).toEqual({ app: 'cn-web', tier: 'back' });

    // Strategic merge: containers are merged by `name`, so only main's image changes (the one
    // container field a pod update may change); a merge patch would have replaced the whole list.
    await core.patchNamespacedPod(
      { name: 'cn-web', namespace: ns, body: { spec: { containers: [{ name: 'main', image: 'busybox:1.37' }] } } },
      strategic,
    );
    now = await core.readNamespacedPod({ name: 'cn-web', namespace: ns });
    expect(now.spec?.containers).toHaveLength(1);
    expect(now.spec?.containers[0]).toMatchObject({ name: 'main', image: 'busybox:1.37', command: ['sleep', '3600'], env: [{ name: 'A', value: '1' }] });

    now.metadata!.annotations = { note: 'replaced' };
    now.spec!.activeDeadlineSeconds = 600;
    const replaced = await core.replaceNamespacedPod({ name: 'cn-web', namespace: ns, body: now });
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(Number(now.metadata?.resourceVersion));
    now = await core.readNamespacedPod({ name: 'cn-web', namespace: ns });
    expect(now.metadata?.annotations).toEqual({ note: 'replaced' });
    expect(now.spec?.activeDeadlineSeconds).toBe(600);

    // A pod's delete answers with the pod (an unscheduled one is removed at once).
    const deleted = await core.deleteNamespacedPod({ name: 'cn-web', namespace: ns });
    expect(deleted.metadata?.uid).toBe(created.metadata?.uid);
    await core.deleteNamespacedPod({ name: 'cn-other', namespace: ns });
    expect((await apiError(() => core.readNamespacedPod({ name: 'cn-web', namespace: ns }))).code).toBe(404);
    const left = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app in (cn-web,cn-other)' });
    expect(left.items).toEqual([]);
  });

  test('ConfigMaps and Services: create, read, list, patch, replace, delete', async () => {
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'cn-config', labels: { suite: 'cn' } }, data: { color: 'blue', size: 'L' } },
    });
    await core.patchNamespacedConfigMap({ name: 'cn-config', namespace: ns, body: { data: { color: 'red', size: null } } }, merge);
    let cm = await core.readNamespacedConfigMap({ name: 'cn-config', namespace: ns });
    expect(cm.data).toEqual({ color: 'red' });
    cm.data = { shape: 'round' };
    await core.replaceNamespacedConfigMap({ name: 'cn-config', namespace: ns, body: cm });
    cm = await core.readNamespacedConfigMap({ name: 'cn-config', namespace: ns });
    expect(cm.data).toEqual({ shape: 'round' });
    const cms = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'suite=cn' });
    expect(cms.items.map((c) => c.metadata?.name)).toEqual(['cn-config']);
    // Most kinds answer a delete with a Status naming what went: client-node types it V1Status.
    const status = await core.deleteNamespacedConfigMap({ name: 'cn-config', namespace: ns });
    expect(status).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'cn-config', kind: 'configmaps', uid: cm.metadata?.uid } });
    expect((await apiError(() => core.readNamespacedConfigMap({ name: 'cn-config', namespace: ns }))).code).toBe(404);

    const svc = await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'cn-svc' }, spec: { selector: { app: 'cn' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
    });
    expect(svc.spec?.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // Strategic merge: ports are merged by `port`, so http stays and metrics joins it.
    await core.patchNamespacedService(
      { name: 'cn-svc', namespace: ns, body: { spec: { ports: [{ name: 'metrics', port: 9090, targetPort: 9090 }] } } },
      strategic,
    );
    const patched = await core.readNamespacedService({ name: 'cn-svc', namespace: ns });
    expect(patched.spec?.ports?.map((p) => `${p.name}:${p.port}`).sort()).toEqual(['http:80', 'metrics:9090']);
    expect(patched.spec?.clusterIP).toBe(svc.spec?.clusterIP);
    await core.deleteNamespacedService({ name: 'cn-svc', namespace: ns });
    expect((await apiError(() => core.readNamespacedService({ name: 'cn-svc', namespace: ns }))).code).toBe(404);
  });

  test('Deployments: create, read, patch, replace, scale subresource, delete', async () => {
    const template = {
      metadata: { labels: { app: 'cn-deploy' } },
      spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'], env: [{ name: 'A', value: '1' }] }] },
    };
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: { metadata: { name: 'cn-deploy' }, spec: { replicas: 2, selector: { matchLabels: { app: 'cn-deploy' } }, template } },
    });
    let d = await apps.readNamespacedDeployment({ name: 'cn-deploy', namespace: ns });
    expect(d.spec?.replicas).toBe(2);
    expect(d.spec?.strategy?.type).toBe('RollingUpdate');

    // Strategic merge: containers are merged by `name` and env by `name`, so A stays and B joins it.
    const container = { name: 'main', image: 'busybox:1.37', env: [{ name: 'B', value: '2' }] };
    await apps.patchNamespacedDeployment({ name: 'cn-deploy', namespace: ns, body: { spec: { template: { spec: { containers: [container] } } } } }, strategic);
    d = await apps.readNamespacedDeployment({ name: 'cn-deploy', namespace: ns });
    expect(d.spec?.template.spec?.containers).toHaveLength(1);
    expect(d.spec?.template.spec?.containers[0]).toMatchObject({ name: 'main', image: 'busybox:1.37', command: ['sleep', '3600'] });
    expect(d.spec?.template.spec?.containers[0].env).toEqual([{ name: 'B', value: '2' }, { name: 'A', value: '1' }]);
    await apps.patchNamespacedDeployment({ name: 'cn-deploy', namespace: ns, body: { metadata: { labels: { team: 'x' } } } }, merge);

    d = await apps.readNamespacedDeployment({ name: 'cn-deploy', namespace: ns });
    expect(d.metadata?.labels).toEqual({ team: 'x' });
    d.spec!.minReadySeconds = 5;
    await apps.replaceNamespacedDeployment({ name: 'cn-deploy', namespace: ns, body: d });
    expect((await apps.readNamespacedDeployment({ name: 'cn-deploy', namespace: ns })).spec?.minReadySeconds).toBe(5);

    const scale = await apps.readNamespacedDeploymentScale({ name: 'cn-deploy', namespace: ns });
    expect(scale.spec?.replicas).toBe(2);
    expect(scale.status?.selector).toBe('app=cn-deploy');
    await apps.patchNamespacedDeploymentScale({ name: 'cn-deploy', namespace: ns, body: { spec: { replicas: 4 } } }, merge);
    expect((await apps.readNamespacedDeployment({ name: 'cn-deploy', namespace: ns })).spec?.replicas).toBe(4);
    scale.spec!.replicas = 1;
    delete scale.metadata!.resourceVersion;
    await apps.replaceNamespacedDeploymentScale({ name: 'cn-deploy', namespace: ns, body: scale });
    expect((await apps.readNamespacedDeploymentScale({ name: 'cn-deploy', namespace: ns })).spec?.replicas).toBe(1);

    const status = await apps.deleteNamespacedDeployment({ name: 'cn-deploy', namespace: ns });
    expect(status).toMatchObject({ status: 'Success', details: { name: 'cn-deploy', group: 'apps', kind: 'deployments' } });
    expect((await apiError(() => apps.readNamespacedDeployment({ name: 'cn-deploy', namespace: ns }))).code).toBe(404);
  });

  test('KubernetesObjectApi finds each kind through discovery: create, read, patch, list, delete', async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(kubeConfigOf(ts));
    const spec: k8s.V1Deployment = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'cn-generic', namespace: ns },
      spec: { selector: { matchLabels: { app: 'cn-generic' } }, template: { metadata: { labels: { app: 'cn-generic' } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } } },
    };
    const created = await objects.create(spec);
    expect(created).toMatchObject({ kind: 'Deployment', metadata: { name: 'cn-generic', generation: 1 } });
    // patch() defaults to a strategic merge patch.
    await objects.patch({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'cn-generic', namespace: ns }, spec: { replicas: 3 } });
    const read = await objects.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'cn-generic', namespace: ns } });
    expect(read).toMatchObject({ spec: { replicas: 3 }, metadata: { uid: created.metadata?.uid } });
    const listed = await objects.list('apps/v1', 'Deployment', ns);
    expect(listed.items.map((d) => d.metadata?.name)).toContain('cn-generic');
    await objects.delete({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'cn-generic', namespace: ns } });
    expect((await apiError(() => apps.readNamespacedDeployment({ name: 'cn-generic', namespace: ns }))).code).toBe(404);
  });

  test('404 and 409 are ApiExceptions carrying a Kubernetes Status', async () => {
    const missing = await apiError(() => core.readNamespacedPod({ name: 'cn-nope', namespace: ns }));
    expect(missing.code).toBe(404);
    expect(missing.status).toMatchObject({
      kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404,
      details: { name: 'cn-nope', kind: 'pods' }, message: 'pods "cn-nope" not found',
    });

    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cn-twice' } } });
    const exists = await apiError(() => core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cn-twice' } } }));
    expect(exists.code).toBe(409);
    expect(exists.status).toMatchObject({
      kind: 'Status', status: 'Failure', reason: 'AlreadyExists', code: 409,
      details: { name: 'cn-twice', kind: 'configmaps' }, message: 'configmaps "cn-twice" already exists',
    });

    // A replace carrying a stale resourceVersion is a Conflict.
    const cm = await core.readNamespacedConfigMap({ name: 'cn-twice', namespace: ns });
    await core.patchNamespacedConfigMap({ name: 'cn-twice', namespace: ns, body: { data: { k: 'v' } } }, merge);
    const stale = await apiError(() => core.replaceNamespacedConfigMap({ name: 'cn-twice', namespace: ns, body: cm }));
    expect(stale.code).toBe(409);
    expect(stale.status).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
  });
});

/** An informer over the default namespace's pods, recording what it delivers, as client-node's README builds one. */
class PodInformer {
  readonly events: string[] = [];
  readonly errors: unknown[] = [];
  /** The resourceVersion of each list the informer made. */
  readonly listedAt: number[] = [];
  readonly informer: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
  private stopped = false;
  private retry?: NodeJS.Timeout;

  constructor(kc: k8s.KubeConfig, opts: { restartOnError?: boolean; labelSelector?: string } = {}) {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const { restartOnError, labelSelector } = opts;
    const list = async (): Promise<k8s.V1PodList> => {
      const pods = await core.listNamespacedPod({ namespace: ns, labelSelector });
      this.listedAt.push(Number(pods.metadata?.resourceVersion));
      return pods;
    };
    this.informer = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/pods`, list, labelSelector);
    for (const verb of [k8s.ADD, k8s.UPDATE, k8s.DELETE] as const) {
      this.informer.on(verb, (p: k8s.V1Pod) => this.events.push(`${verb} ${p.metadata?.name}`));
    }
    this.informer.on(k8s.ERROR, (err: unknown) => {
      this.errors.push(err);
      // The documented way to keep an informer running: it stops on an error, the owner restarts it.
      if (restartOnError && !this.stopped) this.retry = setTimeout(() => void this.informer.start(), 100);
    });
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer.stop();
  }

  /** The cached pod's labels, as the informer last saw it. */
  labels(name: string): Record<string, string> | undefined {
    return this.informer.get(name, ns)?.metadata?.labels;
  }
}

describe('informer (makeInformer)', () => {
  /** Informers first (so none retries against a server being destroyed), then servers. */
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  async function server(options: Parameters<typeof startTestServer>[0] = {}, dataDir?: string): Promise<TestServer> {
    const ts = await startTestServer({ ...API_ONLY, ...options }, dataDir);
    cleanup.push(() => ts.destroy());
    return ts;
  }

  function informer(ts: TestServer, opts?: ConstructorParameters<typeof PodInformer>[1]): PodInformer {
    const inf = new PodInformer(kubeConfigOf(ts), opts);
    cleanup.unshift(() => inf.stop());
    return inf;
  }

  test('lists existing pods, then delivers add, update and delete as pods change', async () => {
    const ts = await server();
    const core = kubeConfigOf(ts).makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedPod({ namespace: ns, body: pod('inf-1') });
    await core.createNamespacedPod({ namespace: ns, body: pod('inf-2') });
    // Another namespace's pods are outside the informer's path.
    await core.createNamespacedPod({ namespace: 'kube-public', body: pod('inf-elsewhere') });

    const inf = informer(ts);
    await inf.start();
    await eventually(() => expect([...inf.events].sort()).toEqual(['add inf-1', 'add inf-2']));
    expect(inf.informer.list(ns).map((p) => p.metadata?.name).sort()).toEqual(['inf-1', 'inf-2']);

    await core.createNamespacedPod({ namespace: ns, body: pod('inf-3') });
    await eventually(() => expect(inf.events).toContain('add inf-3'));
    await core.patchNamespacedPod({ name: 'inf-3', namespace: ns, body: { metadata: { labels: { stage: 'two' } } } }, merge);
    await eventually(() => expect(inf.labels('inf-3')).toEqual({ app: 'inf-3', stage: 'two' }));
    await core.deleteNamespacedPod({ name: 'inf-1', namespace: ns });
    await eventually(() => expect(inf.informer.get('inf-1', ns)).toBeUndefined());

    expect(inf.events.slice(2)).toEqual(['add inf-3', 'update inf-3', 'delete inf-1']);
    expect(inf.errors).toEqual([]);
    expect(inf.listedAt).toHaveLength(1);
  });

  test('with a label selector, a pod relabelled out of view is a delete and one relabelled into view an add', async () => {
    const ts = await server();
    const core = kubeConfigOf(ts).makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedPod({ namespace: ns, body: pod('sel-in', { app: 'sel-in', tier: 'web' }) });
    await core.createNamespacedPod({ namespace: ns, body: pod('sel-out', { app: 'sel-out', tier: 'db' }) });
    const inf = informer(ts, { labelSelector: 'tier=web' });
    await inf.start();
    await eventually(() => expect(inf.events).toEqual(['add sel-in']));

    const relabel = (name: string, tier: string) =>
      core.patchNamespacedPod({ name, namespace: ns, body: { metadata: { labels: { tier } } } }, merge);
    await relabel('sel-in', 'db');
    await eventually(() => expect(inf.events).toEqual(['add sel-in', 'delete sel-in']));
    await relabel('sel-out', 'web');
    await eventually(() => expect(inf.events).toEqual(['add sel-in', 'delete sel-in', 'add sel-out']));
    expect(inf.informer.list(ns).map((p) => p.metadata?.name)).toEqual(['sel-out']);
  });

  test('relists after its watch is answered 410 Gone, and keeps delivering events', async () => {
    // Watches end every 0.3-0.6 s, and the watch cache holds only 3 pod events: writes the informer
    // does not see (another namespace) push its resourceVersion out of the window, so its next
    // watch gets 410 and it must list again.
    const ts = await server({ watchCacheSize: 3, minRequestTimeoutMs: 300 });
    const core = kubeConfigOf(ts).makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedPod({ namespace: ns, body: pod('gone-1') });
    const inf = informer(ts);
    await inf.start();
    await eventually(() => expect(inf.events).toEqual(['add gone-1']));
    expect(inf.listedAt).toHaveLength(1);
    const [seenAt] = inf.listedAt;

    for (let i = 0; i < 5; i++) await core.createNamespacedPod({ namespace: 'kube-public', body: pod(`gone-other-${i}`) });
    // The window has moved past what the informer holds: its resourceVersion is now too old to resume from.
    const stale = await ts.api('GET', `/api/v1/namespaces/${ns}/pods?watch=true&resourceVersion=${seenAt}`);
    expect(stale.body).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });

    await eventually(() => expect(inf.listedAt.length).toBeGreaterThanOrEqual(2));
    expect(inf.listedAt[1]).toBeGreaterThan(seenAt);
    await core.createNamespacedPod({ namespace: ns, body: pod('gone-2') });
    await eventually(() => expect(inf.events).toContain('add gone-2'));
    await core.deleteNamespacedPod({ name: 'gone-1', namespace: ns });
    await eventually(() => expect(inf.events).toContain('delete gone-1'));
    // The relist found nothing new, so it reported nothing twice.
    expect(inf.events).toEqual(['add gone-1', 'add gone-2', 'delete gone-1']);
    expect(inf.errors).toEqual([]);
  });

  test('survives a server restart when its error handler starts it again', async () => {
    const first = await server();
    let core = kubeConfigOf(first).makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedPod({ namespace: ns, body: pod('restart-1') });
    const inf = informer(first, { restartOnError: true });
    await inf.start();
    await eventually(() => expect(inf.events).toEqual(['add restart-1']));

    await first.stop();
    // Its watch broke and reconnecting failed: the informer reported an error.
    await eventually(() => expect(inf.errors.length).toBeGreaterThan(0));

    // The same data dir and port: the kubeconfig the informer was built from is still right.
    const second = await server({ port: first.server.port }, first.dataDir);
    core = kubeConfigOf(second).makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedPod({ namespace: ns, body: pod('restart-2') });
    await eventually(() => expect(inf.events).toContain('add restart-2'));
    await core.patchNamespacedPod({ name: 'restart-1', namespace: ns, body: { metadata: { labels: { after: 'restart' } } } }, merge);
    await eventually(() => expect(inf.labels('restart-1')).toEqual({ app: 'restart-1', after: 'restart' }));
    await core.deleteNamespacedPod({ name: 'restart-2', namespace: ns });
    await eventually(() => expect(inf.events).toContain('delete restart-2'));
    expect(inf.events).toEqual(['add restart-1', 'add restart-2', 'update restart-1', 'delete restart-2']);
  });
});
