import * as path from 'node:path';
import { defaulters } from '../../src/api/defaults';
import type { KubeObject } from '../../src/api/types';
import { ApiError } from '../../src/apiserver/errors';
import { SERVICE_IPS_KEY } from '../../src/apiserver/range-allocation';
import { ServiceAllocator, type ServiceAllocatorOptions } from '../../src/apiserver/service-allocator';
import { SqliteStore } from '../../src/storage/sqlite';
import { tempDir } from '../helpers';

/** A Service as the API server has it after defaulting (what the allocator sees). */
function svc(name: string, spec: Record<string, any>): KubeObject {
  const obj: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: name }, ...spec } };
  defaulters.Service!(obj);
  return obj;
}

async function apiError(fn: () => Promise<unknown>): Promise<ApiError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

/** The pools live in the datastore: each test gets a real SQLite store (several allocators on one store are several servers). */
const stores: SqliteStore[] = [];
function newStore(): SqliteStore {
  const store = new SqliteStore(path.join(tempDir('mk-alloc-'), 'state.db'), { compactIntervalMs: 0 });
  stores.push(store);
  return store;
}
function allocator(opts: ServiceAllocatorOptions = {}, store = newStore()): ServiceAllocator {
  return new ServiceAllocator(store, opts);
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const clone = (o: KubeObject) => structuredClone(o);

describe('ServiceAllocator', () => {
  test('a ClusterIP service gets a cluster IP; a NodePort service also node ports; headless and ExternalName get neither', async () => {
    const a = allocator();
    const web = svc('web', { ports: [{ port: 80 }] });
    await (await a.allocate(web, undefined)).commit();
    expect(web.spec.clusterIP).toMatch(/^10\.43\.\d+\.\d+$/);
    expect(web.spec.clusterIPs).toEqual([web.spec.clusterIP]);
    expect(web.spec.ports[0].nodePort).toBeUndefined();

    const np = svc('np', { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] });
    await (await a.allocate(np, undefined)).commit();
    const [p1, p2] = np.spec.ports.map((p: any) => p.nodePort);
    expect(p1).toBeGreaterThanOrEqual(30000);
    expect(p1).toBeLessThanOrEqual(32767);
    expect(p2).not.toBe(p1);

    const headless = svc('db', { clusterIP: 'None', ports: [{ port: 5432 }] });
    const external = svc('ext', { type: 'ExternalName', externalName: 'example.com' });
    await (await a.allocate(headless, undefined)).commit();
    await (await a.allocate(external, undefined)).commit();
    expect(headless.spec.clusterIPs).toEqual(['None']);
    expect(external.spec.clusterIP).toBeUndefined();
    expect(a.ips.local.used).toBe(2);
    expect(a.ports.local.used).toBe(2);
  });

  test('a TCP and a UDP port of the same number share one node port', async () => {
    const a = allocator();
    const dns = svc('dns', { type: 'NodePort', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] });
    await (await a.allocate(dns, undefined)).commit();
    expect(dns.spec.ports[0].nodePort).toBe(dns.spec.ports[1].nodePort);
    expect(a.ports.local.used).toBe(1);
  });

  test('requested values that are taken or out of range are 422 Invalid with Kubernetes’ messages, and nothing stays taken', async () => {
    const a = allocator();
    await (await a.allocate(svc('first', { type: 'NodePort', clusterIP: '10.43.0.5', ports: [{ port: 80, nodePort: 30080 }] }), undefined)).commit();

    let err = await apiError(() => a.allocate(svc('second', { clusterIP: '10.43.0.5', ports: [{ port: 80 }] }), undefined));
    expect(err.code).toBe(422);
    expect(err.message).toBe('Service "second" is invalid: spec.clusterIPs: Invalid value: ["10.43.0.5"]: failed to allocate IP 10.43.0.5: provided IP is already allocated');

    err = await apiError(() => a.allocate(svc('third', { clusterIP: '10.99.0.5', ports: [{ port: 80 }] }), undefined));
    expect(err.message).toContain('failed to allocate IP 10.99.0.5: the provided IP (10.99.0.5) is not in the valid range. The range of valid IPs is 10.43.0.0/16');

    const before = a.ips.local.used;
    err = await apiError(() => a.allocate(svc('fourth', { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, nodePort: 30080 }] }), undefined));
    expect(err.code).toBe(422);
    expect(err.message).toBe('Service "fourth" is invalid: spec.ports[1].nodePort: Invalid value: 30080: provided port is already allocated');
    // The cluster IP and the first node port it had taken were given back.
    expect(a.ips.local.used).toBe(before);
    expect(a.ports.local.used).toBe(1);

    err = await apiError(() => a.allocate(svc('fifth', { type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] }), undefined));
    expect(err.message).toContain('spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767');
  });

  test('dual-stack requests are refused on this single-stack cluster, except by selectorless headless services', async () => {
    const a = allocator();
    const err = await apiError(() => a.allocate(svc('dual', { ipFamilyPolicy: 'RequireDualStack', ports: [{ port: 80 }] }), undefined));
    expect(err.message).toContain('spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services');
    const v6 = await apiError(() => a.allocate(svc('v6', { ipFamilies: ['IPv6'], ports: [{ port: 80 }] }), undefined));
    expect(v6.message).toContain('spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster');

    const open = svc('open', { selector: undefined, clusterIP: 'None', ports: [{ port: 80 }] });
    expect(open.spec.ipFamilyPolicy).toBe('RequireDualStack');
    expect(open.spec.ipFamilies).toEqual(['IPv4', 'IPv6']);
    await expect(a.allocate(open, undefined)).resolves.toBeDefined();
  });

  test('an exhausted pool is a 500 with the reason, as kube-apiserver answers', async () => {
    const a = allocator({ serviceCidr: '10.96.0.0/28', nodePortRange: '30000-30000' });
    for (let i = 0; i < 12; i++) await (await a.allocate(svc(`s${i}`, { ports: [{ port: 80 }] }), undefined)).commit();
    const ip = await apiError(() => a.allocate(svc('one-more', { ports: [{ port: 80 }] }), undefined));
    expect(ip.code).toBe(500);
    expect(ip.message).toBe('Internal error occurred: failed to allocate a serviceIP: range is full');

    const b = allocator({ nodePortRange: '30000-30000' });
    await (await b.allocate(svc('np1', { type: 'NodePort', ports: [{ port: 80 }] }), undefined)).commit();
    const port = await apiError(() => b.allocate(svc('np2', { type: 'NodePort', ports: [{ port: 80 }] }), undefined));
    expect(port.code).toBe(500);
    expect(port.message).toBe('Internal error occurred: failed to allocate a nodePort: range is full');
    expect(b.ips.local.used).toBe(1); // np2's cluster IP was given back
  });

  test('an update keeps what it carries, frees what it drops on commit, and frees what it took on revert', async () => {
    const a = allocator();
    const old = svc('web', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] });
    await (await a.allocate(old, undefined)).commit();
    const oldPort = old.spec.ports[0].nodePort;

    // Adding a port: the old node port is kept, a new one is taken.
    const grown = clone(old);
    grown.spec.ports.push({ name: 'https', port: 443, protocol: 'TCP', targetPort: 443 });
    const txn = await a.allocate(grown, old);
    expect(grown.spec.ports[0].nodePort).toBe(oldPort);
    const newPort = grown.spec.ports[1].nodePort;
    expect(a.ports.local.isAllocated(newPort)).toBe(true);
    await txn.revert(); // the write failed
    expect(a.ports.local.isAllocated(newPort)).toBe(false);
    expect(a.ports.local.isAllocated(oldPort)).toBe(true);

    // Switching to ClusterIP frees the node port, but only once the write is in.
    const toClusterIP = clone(old);
    toClusterIP.spec.type = 'ClusterIP';
    delete toClusterIP.spec.externalTrafficPolicy;
    delete toClusterIP.spec.ports[0].nodePort;
    const commit = await a.allocate(toClusterIP, old);
    expect(a.ports.local.isAllocated(oldPort)).toBe(true);
    await commit.commit();
    expect(a.ports.local.isAllocated(oldPort)).toBe(false);
    expect(a.ips.local.isAllocated(old.spec.clusterIP)).toBe(true);

    // To ExternalName: the cluster IP goes back too.
    const toExternal = clone(toClusterIP);
    toExternal.spec = { type: 'ExternalName', externalName: 'example.com' };
    await (await a.allocate(toExternal, toClusterIP)).commit();
    expect(a.ips.local.used).toBe(0);
  });

  test('a dry run fills in values but keeps nothing', async () => {
    const a = allocator();
    const s = svc('web', { type: 'NodePort', ports: [{ port: 80 }] });
    await (await a.allocate(s, undefined, true)).commit();
    expect(s.spec.clusterIP).toBeTruthy();
    expect(s.spec.ports[0].nodePort).toBeTruthy();
    expect(a.ips.local.used).toBe(0);
    expect(a.ports.local.used).toBe(0);
  });

  test('release frees everything a deleted service held', async () => {
    const a = allocator();
    const lb = svc('lb', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80 }] });
    await (await a.allocate(lb, undefined)).commit();
    expect(lb.spec.healthCheckNodePort).toBeGreaterThanOrEqual(30000);
    expect(a.ports.local.used).toBe(2);
    await a.release(lb);
    expect(a.ips.local.used).toBe(0);
    expect(a.ports.local.used).toBe(0);
  });

  test('the pools are in the datastore: a restarted server (or another one) never hands out what is taken', async () => {
    const store = newStore();
    const before = allocator({}, store);
    const stored = [
      svc('a', { type: 'NodePort', ports: [{ port: 80 }] }),
      svc('b', { clusterIP: '10.43.0.20', ports: [{ port: 80 }] }),
    ];
    for (const s of stored) await (await before.allocate(s, undefined)).commit();
    // The record is a RangeAllocation, as kube-apiserver keeps it under /registry/ranges/.
    const record = JSON.parse((await store.get(SERVICE_IPS_KEY))!.value);
    expect(record).toMatchObject({ apiVersion: 'v1', kind: 'RangeAllocation', range: '10.43.0.0/16' });

    const after = allocator({}, store);
    expect(await after.repair(stored, true)).toEqual([]);
    expect(after.ips.local.used).toBe(2);
    expect(after.ports.local.isAllocated(stored[0]!.spec.ports[0].nodePort)).toBe(true);
    const err = await apiError(() => after.allocate(svc('c', { clusterIP: '10.43.0.20', ports: [{ port: 80 }] }), undefined));
    expect(err.message).toContain('provided IP is already allocated');
  });

  test('two servers allocating at once never get the same value (compare-and-swap on the shared record)', async () => {
    const store = newStore();
    // A /28 has 12 dynamic addresses: two servers asking for 6 each must get all 12, none twice.
    const servers = [allocator({ serviceCidr: '10.96.0.0/28' }, store), allocator({ serviceCidr: '10.96.0.0/28' }, store)];
    const services = Array.from({ length: 12 }, (_, i) => svc(`s${i}`, { ports: [{ port: 80 }] }));
    await Promise.all(services.map(async (s, i) => (await servers[i % 2]!.allocate(s, undefined)).commit()));
    const ips = services.map((s) => s.spec.clusterIP);
    expect(new Set(ips).size).toBe(12);
    // Both see the pool full now, whichever wrote last.
    for (const a of servers) {
      const err = await apiError(() => a.allocate(svc('more', { ports: [{ port: 80 }] }), undefined));
      expect(err.message).toBe('Internal error occurred: failed to allocate a serviceIP: range is full');
    }
  });

  test('a value another server freed can be asked for, though this server had seen it taken', async () => {
    const store = newStore();
    const [a, b] = [allocator({}, store), allocator({}, store)];
    const web = svc('web', { clusterIP: '10.43.0.50', ports: [{ port: 80 }] });
    await (await a.allocate(web, undefined)).commit();
    // b learns the address is taken...
    expect((await apiError(() => b.allocate(svc('other', { clusterIP: '10.43.0.50', ports: [{ port: 80 }] }), undefined))).code).toBe(422);
    // ...then a frees it (the Service was deleted through a), and b may take it.
    await a.release(web);
    await expect(b.allocate(svc('other', { clusterIP: '10.43.0.50', ports: [{ port: 80 }] }), undefined)).resolves.toBeDefined();
    expect(a.ips.local.isAllocated('10.43.0.50')).toBe(false); // a's copy is behind; the record is what counts
    expect(JSON.parse((await store.get(SERVICE_IPS_KEY))!.value).data).not.toBe('');
  });

  test('repair: a value no Service holds is freed after three repairs in a row, or at once on an exclusive datastore', async () => {
    const store = newStore();
    const a = allocator({}, store);
    const kept = svc('kept', { ports: [{ port: 80 }] });
    const lost = svc('lost', { type: 'NodePort', ports: [{ port: 80 }] });
    await (await a.allocate(kept, undefined)).commit();
    await (await a.allocate(lost, undefined)).commit();
    // `lost` was never stored (its server died before the write): only `kept` exists.
    const ip = lost.spec.clusterIP;
    for (let i = 0; i < 2; i++) {
      await a.repair([kept]);
      expect(a.ips.local.isAllocated(ip)).toBe(true);
    }
    await a.repair([kept]);
    expect(a.ips.local.isAllocated(ip)).toBe(false);
    expect(a.ports.local.used).toBe(0);
    expect(a.ips.local.isAllocated(kept.spec.clusterIP)).toBe(true);

    const b = allocator({}, newStore());
    await (await b.allocate(lost, undefined)).commit();
    await b.repair([], true);
    expect(b.ips.local.used).toBe(0);
  });

  test('repair reports values outside the ranges and values two services claim', async () => {
    const a = allocator({ serviceCidr: '10.44.0.0/16' });
    const one = svc('one', { clusterIP: '10.43.0.20', ports: [{ port: 80 }] });
    const two = svc('two', { type: 'NodePort', clusterIP: '10.44.0.30', ports: [{ port: 80, nodePort: 30100 }] });
    const three = svc('three', { type: 'NodePort', clusterIP: '10.44.0.30', ports: [{ port: 80, nodePort: 30100 }] });
    const warnings = await a.repair([one, two, three], true);
    expect(warnings).toEqual([
      'Cluster IP 10.43.0.20 of service default/one is not within the service CIDR 10.44.0.0/16; please recreate the service',
      'the cluster IP 10.44.0.30 for service default/three was assigned to multiple services; please recreate the service',
      'the node port 30100 for service default/three was assigned to multiple services; please recreate the service',
    ]);
    expect(a.ips.local.isAllocated('10.44.0.30')).toBe(true);
  });

  test('a stored pool of another range is rebuilt for this one, with a warning', async () => {
    const store = newStore();
    await (await allocator({ serviceCidr: '10.43.0.0/16' }, store).allocate(svc('old', { ports: [{ port: 80 }] }), undefined)).commit();
    const a = allocator({ serviceCidr: '10.44.0.0/16' }, store);
    const kept = svc('new', { clusterIP: '10.44.0.7', ports: [{ port: 80 }] });
    const warnings = await a.repair([kept], true);
    expect(warnings).toEqual([expect.stringContaining('the service IP range in the datastore was 10.43.0.0/16, this server\'s is 10.44.0.0/16')]);
    expect(JSON.parse((await store.get(SERVICE_IPS_KEY))!.value).range).toBe('10.44.0.0/16');
    expect(a.ips.local.allocated()).toEqual(['10.44.0.7']);
  });
});
