import { eventually, podManifest, startTestServer, tempDir, type TestServer } from '../helpers';
import { create, kind, MERGE_PATCH, pathOf } from './fixtures';

/**
 * Services on a real server: defaulting, cluster IP and node port
 * allocation (422s, release, restart), the `kubernetes` Service, and the
 * endpoints controller following pods by hand-written status (no scheduler,
 * no agent) and, at the end, behind a Deployment on a fake node.
 */

jest.setTimeout(60_000);

const services = kind('services');
const endpoints = kind('endpoints');
const pods = kind('pods');
const NS = 'default';

function service(name: string, spec: Record<string, any>, metadata: Record<string, any> = {}): any {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, ...metadata }, spec };
}

async function getEndpoints(ts: TestServer, name: string): Promise<any> {
  const res = await ts.api('GET', pathOf(endpoints, NS, name));
  if (res.status !== 200) throw new Error(`endpoints ${name}: ${res.status}`);
  return res.body;
}

/** `ip:port` of the ready and the not-ready addresses of an Endpoints object, sorted. */
function summary(ep: any): { ready: string[]; notReady: string[] } {
  const ready: string[] = [];
  const notReady: string[] = [];
  for (const ss of ep.subsets ?? []) {
    for (const port of ss.ports ?? [{ port: '-' }]) {
      for (const a of ss.addresses ?? []) ready.push(`${a.ip}:${port.port}`);
      for (const a of ss.notReadyAddresses ?? []) notReady.push(`${a.ip}:${port.port}`);
    }
  }
  return { ready: ready.sort(), notReady: notReady.sort() };
}

describe('the API server', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer({ disableScheduler: true });
  });
  afterAll(async () => ts?.destroy());

  /**
   * Deletes services a test allocated dynamically, so that later tests asking
   * for fixed cluster IPs and node ports (10.43.0.60, 30600, ...) cannot find
   * them taken by chance.
   */
  async function deleteServices(names: string[]): Promise<void> {
    for (const name of names) expect((await ts.api('DELETE', pathOf(services, NS, name))).status).toBe(200);
  }

  test('the kubernetes service is the first address of the service CIDR and points at the API server', async () => {
    const svc = (await ts.api('GET', pathOf(services, NS, 'kubernetes'))).body;
    expect(svc.metadata.labels).toEqual({ component: 'apiserver', provider: 'kubernetes' });
    expect(svc.spec).toMatchObject({
      type: 'ClusterIP',
      clusterIP: '10.43.0.1',
      clusterIPs: ['10.43.0.1'],
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: ts.server.port }],
    });
    expect(svc.spec.selector).toBeUndefined();
    const ep = await getEndpoints(ts, 'kubernetes');
    expect(ep.subsets).toEqual([{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: ts.server.port, protocol: 'TCP' }] }]);

    const cm = (await ts.api('GET', pathOf(kind('configmaps'), 'kube-system', 'mk-cluster'))).body;
    expect(cm.data).toEqual({ serviceCIDR: '10.43.0.0/16', serviceNodePortRange: '30000-32767', clusterDNS: '10.43.0.10', clusterDomain: 'cluster.local' });
  });

  test('a new service is defaulted and given a cluster IP; NodePort ones node ports too', async () => {
    const web = await create(ts, services, NS, service('web', { selector: { app: 'web' }, ports: [{ port: 80 }] }));
    expect(web.spec).toMatchObject({
      type: 'ClusterIP',
      sessionAffinity: 'None',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      internalTrafficPolicy: 'Cluster',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    });
    expect(web.spec.clusterIP).toMatch(/^10\.43\.\d+\.\d+$/);
    expect(web.spec.clusterIPs).toEqual([web.spec.clusterIP]);
    expect(web.spec.externalTrafficPolicy).toBeUndefined();

    const np = await create(ts, services, NS, service('web-np', {
      type: 'NodePort', selector: { app: 'web' }, sessionAffinity: 'ClientIP',
      ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'dns', port: 53, protocol: 'UDP' }],
    }));
    expect(np.spec.externalTrafficPolicy).toBe('Cluster');
    expect(np.spec.sessionAffinityConfig).toEqual({ clientIP: { timeoutSeconds: 10800 } });
    const nodePorts = np.spec.ports.map((p: any) => p.nodePort);
    for (const p of nodePorts) expect(p >= 30000 && p <= 32767).toBe(true);
    expect(new Set(nodePorts).size).toBe(2);
    expect(np.spec.ports[0].targetPort).toBe('http');

    const headless = await create(ts, services, NS, service('web-headless', { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 80 }] }));
    expect(headless.spec.clusterIPs).toEqual(['None']);
    const external = await create(ts, services, NS, service('web-external', { type: 'ExternalName', externalName: 'example.com' }));
    expect(external.spec.clusterIP).toBeUndefined();
    await deleteServices(['web', 'web-np', 'web-headless', 'web-external']);
  });

  test('a taken or out-of-range cluster IP or node port is 422 Invalid, as are unnamed ports', async () => {
    await create(ts, services, NS, service('owner', { type: 'NodePort', clusterIP: '10.43.0.50', selector: { app: 'x' }, ports: [{ port: 80, nodePort: 30080 }] }));
    const cases: Array<[any, string, string]> = [
      [service('ip-taken', { clusterIP: '10.43.0.50', ports: [{ port: 80 }] }), 'spec.clusterIPs', 'failed to allocate IP 10.43.0.50: provided IP is already allocated'],
      [service('ip-outside', { clusterIP: '10.99.0.50', ports: [{ port: 80 }] }), 'spec.clusterIPs', 'The range of valid IPs is 10.43.0.0/16'],
      [service('port-taken', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }), 'spec.ports[0].nodePort', 'Invalid value: 30080: provided port is already allocated'],
      [service('port-outside', { type: 'NodePort', ports: [{ port: 80, nodePort: 29999 }] }), 'spec.ports[0].nodePort', 'provided port is not in the valid range. The range of valid ports is 30000-32767'],
      [service('unnamed', { ports: [{ port: 80 }, { port: 81 }] }), 'spec.ports[0].name', 'Required value'],
      [service('kubernetes-ip', { clusterIP: '10.43.0.1', ports: [{ port: 80 }] }), 'spec.clusterIPs', 'provided IP is already allocated'],
    ];
    for (const [body, fieldPath, message] of cases) {
      const res = await ts.api('POST', pathOf(services, NS), body);
      expect({ name: body.metadata.name, status: res.status, reason: res.body.reason }).toEqual({ name: body.metadata.name, status: 422, reason: 'Invalid' });
      expect(res.body.details.causes).toEqual(expect.arrayContaining([expect.objectContaining({ field: fieldPath, message: expect.stringContaining(message) })]));
    }
    // Nothing a failed create took is kept: the IP and port a rejected request chose dynamically are free.
    const ok = await create(ts, services, NS, service('fine', { clusterIP: '10.43.0.51', type: 'NodePort', ports: [{ port: 80, nodePort: 30081 }] }));
    expect(ok.spec.clusterIP).toBe('10.43.0.51');
  });

  test('concurrent creates never share a cluster IP or a node port', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => ts.api('POST', pathOf(services, NS), service(`burst-${i}`, { type: 'NodePort', ports: [{ port: 80 }] }))),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
    const ips = results.map((r) => r.body.spec.clusterIP);
    const ports = results.map((r) => r.body.spec.ports[0].nodePort);
    expect(new Set(ips).size).toBe(40);
    expect(new Set(ports).size).toBe(40);
    await deleteServices(results.map((_, i) => `burst-${i}`));
  });

  test('updates keep allocated values, cannot change the cluster IP, and free what a type change or delete drops', async () => {
    const created = await create(ts, services, NS, service('mover', { type: 'NodePort', clusterIP: '10.43.0.60', selector: { app: 'm' }, ports: [{ name: 'http', port: 80, nodePort: 30600 }] }));

    // A replace without clusterIP and nodePort (kubectl replace of the original manifest) keeps both.
    const replaced = await ts.api('PUT', pathOf(services, NS, 'mover'), service('mover', { type: 'NodePort', selector: { app: 'm2' }, ports: [{ name: 'http', port: 80 }] }));
    expect(replaced.status).toBe(200);
    expect(replaced.body.spec.clusterIP).toBe('10.43.0.60');
    expect(replaced.body.spec.ports[0].nodePort).toBe(30600);

    const changedIP = await ts.api('PUT', pathOf(services, NS, 'mover'), { ...replaced.body, spec: { ...replaced.body.spec, clusterIP: '10.43.0.61', clusterIPs: ['10.43.0.61'] } });
    expect(changedIP.status).toBe(422);
    expect(changedIP.body.message).toContain('may not change once set');

    // NodePort -> ClusterIP with the object as read: node port and external traffic policy are dropped and freed.
    const asClusterIP = await ts.api('PUT', pathOf(services, NS, 'mover'), { ...replaced.body, spec: { ...replaced.body.spec, type: 'ClusterIP' } });
    expect(asClusterIP.status).toBe(200);
    expect(asClusterIP.body.spec.ports[0].nodePort).toBeUndefined();
    expect(asClusterIP.body.spec.externalTrafficPolicy).toBeUndefined();
    expect((await ts.api('POST', pathOf(services, NS), service('takes-port', { type: 'NodePort', ports: [{ port: 80, nodePort: 30600 }] }))).status).toBe(201);

    // ... -> ExternalName: the cluster IP goes back to the pool.
    const asExternal = await ts.api('PATCH', pathOf(services, NS, 'mover'), { spec: { type: 'ExternalName', externalName: 'example.com' } }, MERGE_PATCH);
    expect(asExternal.status).toBe(200);
    expect(asExternal.body.spec.clusterIP).toBeUndefined();
    expect((await ts.api('POST', pathOf(services, NS), service('takes-ip', { clusterIP: '10.43.0.60', ports: [{ port: 80 }] }))).status).toBe(201);

    // Delete frees everything.
    expect((await ts.api('DELETE', pathOf(services, NS, 'takes-ip'))).status).toBe(200);
    expect((await ts.api('DELETE', pathOf(services, NS, 'takes-port'))).status).toBe(200);
    expect((await ts.api('POST', pathOf(services, NS), service('again', { type: 'NodePort', clusterIP: '10.43.0.60', ports: [{ port: 80, nodePort: 30600 }] }))).status).toBe(201);
    expect(created.metadata.uid).toBeTruthy();
  });

  test('a dry run shows the allocation but keeps nothing', async () => {
    const dry = await ts.api('POST', `${pathOf(services, NS)}?dryRun=All`, service('dry', { type: 'NodePort', clusterIP: '10.43.0.70', ports: [{ port: 80, nodePort: 30700 }] }));
    expect(dry.status).toBe(201);
    expect(dry.body.spec.ports[0].nodePort).toBe(30700);
    expect((await ts.api('POST', pathOf(services, NS), service('wet', { type: 'NodePort', clusterIP: '10.43.0.70', ports: [{ port: 80, nodePort: 30700 }] }))).status).toBe(201);
  });

  describe('the endpoints controller', () => {
    async function pod(name: string, labels: Record<string, string>, ports: any[] = [], nodeName = 'node-a'): Promise<any> {
      const m = podManifest(name, { metadata: { labels }, spec: { nodeName } });
      m.spec.containers[0].ports = ports;
      return create(ts, pods, NS, m);
    }

    async function setStatus(name: string, ip: string, ready: boolean): Promise<void> {
      const current = (await ts.api('GET', pathOf(pods, NS, name))).body;
      const status = {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      };
      const res = await ts.api('PUT', pathOf(pods, NS, name, 'status'), { ...current, status });
      if (res.status !== 200) throw new Error(`status of ${name}: ${res.status} ${res.text}`);
    }

    test('ready and not-ready addresses with named and numeric target ports, following readiness within a second', async () => {
      await create(ts, services, NS, service('shop', {
        selector: { app: 'shop' },
        ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9090, targetPort: 9100 }],
      }));
      await pod('shop-1', { app: 'shop' }, [{ name: 'http', containerPort: 8080 }]);
      await pod('shop-2', { app: 'shop' }); // no port named http: only in the metrics subset
      await pod('other', { app: 'other' }, [{ name: 'http', containerPort: 8080 }]);
      await setStatus('other', '10.42.0.9', true);

      // Created with the service, before any pod has an IP.
      const empty = await eventually(() => getEndpoints(ts, 'shop'));
      expect(empty.subsets ?? []).toEqual([]);

      let start = Date.now();
      await setStatus('shop-1', '10.42.0.11', true);
      await setStatus('shop-2', '10.42.0.12', false);
      const ep = await eventually(async () => {
        const e = await getEndpoints(ts, 'shop');
        expect(summary(e)).toEqual({ ready: ['10.42.0.11:8080', '10.42.0.11:9100'], notReady: ['10.42.0.12:9100'] });
        return e;
      }, 1000, 20);
      expect(Date.now() - start).toBeLessThan(1000);
      // Grouped by the set of ports each address serves, with nodeName and the pod as targetRef.
      const shop1 = (await ts.api('GET', pathOf(pods, NS, 'shop-1'))).body;
      expect(ep.subsets).toHaveLength(2);
      expect(ep.subsets).toEqual(expect.arrayContaining([
        {
          addresses: [{ ip: '10.42.0.11', nodeName: 'node-a', targetRef: { kind: 'Pod', namespace: NS, name: 'shop-1', uid: shop1.metadata.uid } }],
          ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        },
        {
          addresses: [{ ip: '10.42.0.11', nodeName: 'node-a', targetRef: { kind: 'Pod', namespace: NS, name: 'shop-1', uid: shop1.metadata.uid } }],
          notReadyAddresses: [expect.objectContaining({ ip: '10.42.0.12', targetRef: expect.objectContaining({ name: 'shop-2' }) })],
          ports: [{ name: 'metrics', port: 9100, protocol: 'TCP' }],
        },
      ]));

      start = Date.now();
      await setStatus('shop-2', '10.42.0.12', true);
      await eventually(async () => {
        expect(summary(await getEndpoints(ts, 'shop'))).toEqual({ ready: ['10.42.0.11:8080', '10.42.0.11:9100', '10.42.0.12:9100'], notReady: [] });
      }, 1000, 20);

      // A terminating pod leaves at once (its node is still stopping it), then a relabelled one.
      start = Date.now();
      expect((await ts.api('DELETE', pathOf(pods, NS, 'shop-1'))).status).toBe(200); // graceful: the pod stays, terminating
      await eventually(async () => {
        expect(summary(await getEndpoints(ts, 'shop'))).toEqual({ ready: ['10.42.0.12:9100'], notReady: [] });
      }, 1000, 20);
      await ts.api('PATCH', pathOf(pods, NS, 'shop-2'), { metadata: { labels: { app: 'gone' } } }, MERGE_PATCH);
      await eventually(async () => expect((await getEndpoints(ts, 'shop')).subsets ?? []).toEqual([]), 1000, 20);
      expect(Date.now() - start).toBeLessThan(2000);
    });

    test('publishNotReadyAddresses lists not-ready pods as ready; headless services get the headless label', async () => {
      await create(ts, services, NS, service('peers', { clusterIP: 'None', publishNotReadyAddresses: true, selector: { app: 'peers' }, ports: [{ port: 7000 }] }, { labels: { tier: 'db' } }));
      await pod('peer-1', { app: 'peers' });
      await setStatus('peer-1', '10.42.0.21', false);
      const ep = await eventually(async () => {
        const e = await getEndpoints(ts, 'peers');
        expect(summary(e)).toEqual({ ready: ['10.42.0.21:7000'], notReady: [] });
        return e;
      });
      expect(ep.metadata.labels).toEqual({ tier: 'db', 'service.kubernetes.io/headless': '' });
    });

    test('a service without a selector keeps the endpoints it is given; a deleted service loses its endpoints', async () => {
      await create(ts, services, NS, service('manual', { ports: [{ port: 5432 }] }));
      const subsets = [{ addresses: [{ ip: '192.0.2.10' }], ports: [{ port: 5432, protocol: 'TCP' }] }];
      await create(ts, endpoints, NS, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'manual' }, subsets });
      // A change to the service is looked at, and the endpoints are left as they are.
      await ts.api('PATCH', pathOf(services, NS, 'manual'), { metadata: { labels: { touched: 'yes' } } }, MERGE_PATCH);
      await create(ts, services, NS, service('marker', { selector: { app: 'marker' }, ports: [{ port: 1 }] }));
      await eventually(() => getEndpoints(ts, 'marker'));
      expect((await getEndpoints(ts, 'manual')).subsets).toEqual(subsets);

      expect((await ts.api('DELETE', pathOf(services, NS, 'marker'))).status).toBe(200);
      await eventually(async () => expect((await ts.api('GET', pathOf(endpoints, NS, 'marker'))).status).toBe(404));
    });

    test('endpoints deleted by hand come back', async () => {
      await create(ts, services, NS, service('phoenix', { selector: { app: 'phoenix' }, ports: [{ port: 80 }] }));
      const first = await eventually(() => getEndpoints(ts, 'phoenix'));
      expect((await ts.api('DELETE', pathOf(endpoints, NS, 'phoenix'))).status).toBe(200);
      await eventually(async () => expect((await getEndpoints(ts, 'phoenix')).metadata.uid).not.toBe(first.metadata.uid));
    });
  });
});

test('allocations survive a restart: taken values stay taken and new ones never collide', async () => {
  // A /28 has 12 addresses for dynamic allocation (not .1, which the kubernetes service holds, nor .10).
  let ts = await startTestServer({ disableScheduler: true, disableControllers: ['all'], serviceCidr: '10.96.0.0/28', serviceNodePortRange: '30000-30004' }, tempDir());
  try {
    const before: any[] = [];
    for (let i = 0; i < 8; i++) before.push(await create(ts, services, NS, service(`s${i}`, { type: i < 5 ? 'NodePort' : 'ClusterIP', ports: [{ port: 80 }] })));
    expect((await ts.api('POST', pathOf(services, NS), service('one-port-too-many', { type: 'NodePort', ports: [{ port: 80 }] }))).status).toBe(500);
    for (let i = 5; i < 8; i++) await ts.api('DELETE', pathOf(services, NS, `s${i}`));

    ts = await ts.restart();
    expect((await ts.api('GET', pathOf(services, NS, 'kubernetes'))).body.spec.clusterIP).toBe('10.96.0.1');
    const taken = await ts.api('POST', pathOf(services, NS), service('dup', { clusterIP: before[0].spec.clusterIP, ports: [{ port: 80 }] }));
    expect(taken.status).toBe(422);
    const takenPort = await ts.api('POST', pathOf(services, NS), service('dup-port', { type: 'NodePort', ports: [{ port: 80, nodePort: before[1].spec.ports[0].nodePort }] }));
    expect(takenPort.status).toBe(422);

    // 5 kept + 7 new = the 12 dynamic addresses; the 13th create finds the range full.
    const kept = new Set(before.slice(0, 5).map((s) => s.spec.clusterIP));
    for (let i = 0; i < 7; i++) {
      const s = await create(ts, services, NS, service(`after-${i}`, { ports: [{ port: 80 }] }));
      expect(kept.has(s.spec.clusterIP)).toBe(false);
      kept.add(s.spec.clusterIP);
    }
    const full = await ts.api('POST', pathOf(services, NS), service('no-room', { ports: [{ port: 80 }] }));
    expect(full.status).toBe(500);
    expect(full.body.message).toBe('Internal error occurred: failed to allocate a serviceIP: range is full');
    // The DNS address is still free for whoever asks for it.
    expect((await ts.api('POST', pathOf(services, NS), service('dns', { clusterIP: '10.96.0.10', ports: [{ port: 53, protocol: 'UDP' }] }))).status).toBe(201);
  } finally {
    await ts.destroy();
  }
});

test('behind a Deployment on a fake node, the endpoints list the ready pods and follow a scale-down', async () => {
  const ts = await startTestServer({ agent: { runtime: 'fake', nodeName: `n-${Math.random().toString(36).slice(2, 8)}`, port: 0 } });
  try {
    const deployments = kind('deployments');
    await create(ts, deployments, NS, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox:1.36', ports: [{ name: 'http', containerPort: 8080 }] }] } },
      },
    });
    await create(ts, services, NS, service('web', { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] }));
    const ep = await eventually(async () => {
      const e = await getEndpoints(ts, 'web');
      expect(summary(e).ready).toHaveLength(3);
      return e;
    }, 20_000);
    const podIPs = (await ts.api('GET', `${pathOf(pods, NS)}?labelSelector=app%3Dweb`)).body.items.map((p: any) => `${p.status.podIP}:8080`).sort();
    expect(summary(ep).ready).toEqual(podIPs);

    await ts.api('PATCH', `${pathOf(deployments, NS, 'web')}/scale`, { spec: { replicas: 1 } }, MERGE_PATCH);
    await eventually(async () => expect(summary(await getEndpoints(ts, 'web')).ready).toHaveLength(1), 20_000);
  } finally {
    await ts.destroy();
  }
});
