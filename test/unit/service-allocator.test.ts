import { defaulters } from '../../src/api/defaults';
import type { KubeObject } from '../../src/api/types';
import { ApiError } from '../../src/apiserver/errors';
import { ServiceAllocator } from '../../src/apiserver/service-allocator';

/** A Service as the API server has it after defaulting (what the allocator sees). */
function svc(name: string, spec: Record<string, any>): KubeObject {
  const obj: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: name }, ...spec } };
  defaulters.Service!(obj);
  return obj;
}

function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

const clone = (o: KubeObject) => structuredClone(o);

describe('ServiceAllocator', () => {
  test('a ClusterIP service gets a cluster IP; a NodePort service also node ports; headless and ExternalName get neither', () => {
    const a = new ServiceAllocator();
    const web = svc('web', { ports: [{ port: 80 }] });
    a.allocate(web, undefined).commit();
    expect(web.spec.clusterIP).toMatch(/^10\.43\.\d+\.\d+$/);
    expect(web.spec.clusterIPs).toEqual([web.spec.clusterIP]);
    expect(web.spec.ports[0].nodePort).toBeUndefined();

    const np = svc('np', { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] });
    a.allocate(np, undefined).commit();
    const [p1, p2] = np.spec.ports.map((p: any) => p.nodePort);
    expect(p1).toBeGreaterThanOrEqual(30000);
    expect(p1).toBeLessThanOrEqual(32767);
    expect(p2).not.toBe(p1);

    const headless = svc('db', { clusterIP: 'None', ports: [{ port: 5432 }] });
    const external = svc('ext', { type: 'ExternalName', externalName: 'example.com' });
    a.allocate(headless, undefined).commit();
    a.allocate(external, undefined).commit();
    expect(headless.spec.clusterIPs).toEqual(['None']);
    expect(external.spec.clusterIP).toBeUndefined();
    expect(a.ips.used).toBe(2);
    expect(a.ports.used).toBe(2);
  });

  test('a TCP and a UDP port of the same number share one node port', () => {
    const a = new ServiceAllocator();
    const dns = svc('dns', { type: 'NodePort', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] });
    a.allocate(dns, undefined).commit();
    expect(dns.spec.ports[0].nodePort).toBe(dns.spec.ports[1].nodePort);
    expect(a.ports.used).toBe(1);
  });

  test('requested values that are taken or out of range are 422 Invalid with Kubernetes’ messages, and nothing stays taken', () => {
    const a = new ServiceAllocator();
    a.allocate(svc('first', { type: 'NodePort', clusterIP: '10.43.0.5', ports: [{ port: 80, nodePort: 30080 }] }), undefined).commit();

    let err = apiError(() => a.allocate(svc('second', { clusterIP: '10.43.0.5', ports: [{ port: 80 }] }), undefined));
    expect(err.code).toBe(422);
    expect(err.message).toBe('Service "second" is invalid: spec.clusterIPs: Invalid value: ["10.43.0.5"]: failed to allocate IP 10.43.0.5: provided IP is already allocated');

    err = apiError(() => a.allocate(svc('third', { clusterIP: '10.99.0.5', ports: [{ port: 80 }] }), undefined));
    expect(err.message).toContain('failed to allocate IP 10.99.0.5: the provided IP (10.99.0.5) is not in the valid range. The range of valid IPs is 10.43.0.0/16');

    const before = a.ips.used;
    err = apiError(() => a.allocate(svc('fourth', { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, nodePort: 30080 }] }), undefined));
    expect(err.code).toBe(422);
    expect(err.message).toBe('Service "fourth" is invalid: spec.ports[1].nodePort: Invalid value: 30080: provided port is already allocated');
    // The cluster IP and the first node port it had taken were given back.
    expect(a.ips.used).toBe(before);
    expect(a.ports.used).toBe(1);

    err = apiError(() => a.allocate(svc('fifth', { type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] }), undefined));
    expect(err.message).toContain('spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767');
  });

  test('dual-stack requests are refused on this single-stack cluster, except by selectorless headless services', () => {
    const a = new ServiceAllocator();
    const err = apiError(() => a.allocate(svc('dual', { ipFamilyPolicy: 'RequireDualStack', ports: [{ port: 80 }] }), undefined));
    expect(err.message).toContain('spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services');
    const v6 = apiError(() => a.allocate(svc('v6', { ipFamilies: ['IPv6'], ports: [{ port: 80 }] }), undefined));
    expect(v6.message).toContain('spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster');

    const open = svc('open', { selector: undefined, clusterIP: 'None', ports: [{ port: 80 }] });
    expect(open.spec.ipFamilyPolicy).toBe('RequireDualStack');
    expect(open.spec.ipFamilies).toEqual(['IPv4', 'IPv6']);
    expect(() => a.allocate(open, undefined)).not.toThrow();
  });

  test('an exhausted pool is a 500 with the reason, as kube-apiserver answers', () => {
    const a = new ServiceAllocator({ serviceCidr: '10.96.0.0/28', nodePortRange: '30000-30000' });
    for (let i = 0; i < 12; i++) a.allocate(svc(`s${i}`, { ports: [{ port: 80 }] }), undefined).commit();
    const ip = apiError(() => a.allocate(svc('one-more', { ports: [{ port: 80 }] }), undefined));
    expect(ip.code).toBe(500);
    expect(ip.message).toBe('Internal error occurred: failed to allocate a serviceIP: range is full');

    const b = new ServiceAllocator({ nodePortRange: '30000-30000' });
    b.allocate(svc('np1', { type: 'NodePort', ports: [{ port: 80 }] }), undefined).commit();
    const port = apiError(() => b.allocate(svc('np2', { type: 'NodePort', ports: [{ port: 80 }] }), undefined));
    expect(port.code).toBe(500);
    expect(port.message).toBe('Internal error occurred: failed to allocate a nodePort: range is full');
    expect(b.ips.used).toBe(1); // np2's cluster IP was given back
  });

  test('an update keeps what it carries, frees what it drops on commit, and frees what it took on revert', () => {
    const a = new ServiceAllocator();
    const old = svc('web', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] });
    a.allocate(old, undefined).commit();
    const oldPort = old.spec.ports[0].nodePort;

    // Adding a port: the old node port is kept, a new one is taken.
    const grown = clone(old);
    grown.spec.ports.push({ name: 'https', port: 443, protocol: 'TCP', targetPort: 443 });
    const txn = a.allocate(grown, old);
    expect(grown.spec.ports[0].nodePort).toBe(oldPort);
    const newPort = grown.spec.ports[1].nodePort;
    expect(a.ports.isAllocated(newPort)).toBe(true);
    txn.revert(); // the write failed
    expect(a.ports.isAllocated(newPort)).toBe(false);
    expect(a.ports.isAllocated(oldPort)).toBe(true);

    // Switching to ClusterIP frees the node port, but only once the write is in.
    const toClusterIP = clone(old);
    toClusterIP.spec.type = 'ClusterIP';
    delete toClusterIP.spec.externalTrafficPolicy;
    delete toClusterIP.spec.ports[0].nodePort;
    const commit = a.allocate(toClusterIP, old);
    expect(a.ports.isAllocated(oldPort)).toBe(true);
    commit.commit();
    expect(a.ports.isAllocated(oldPort)).toBe(false);
    expect(a.ips.isAllocated(old.spec.clusterIP)).toBe(true);

    // To ExternalName: the cluster IP goes back too.
    const toExternal = clone(toClusterIP);
    toExternal.spec = { type: 'ExternalName', externalName: 'example.com' };
    a.allocate(toExternal, toClusterIP).commit();
    expect(a.ips.used).toBe(0);
  });

  test('a dry run fills in values but keeps nothing', () => {
    const a = new ServiceAllocator();
    const s = svc('web', { type: 'NodePort', ports: [{ port: 80 }] });
    a.allocate(s, undefined, true).commit();
    expect(s.spec.clusterIP).toBeTruthy();
    expect(s.spec.ports[0].nodePort).toBeTruthy();
    expect(a.ips.used).toBe(0);
    expect(a.ports.used).toBe(0);
  });

  test('release frees everything a deleted service held', () => {
    const a = new ServiceAllocator();
    const lb = svc('lb', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80 }] });
    a.allocate(lb, undefined).commit();
    expect(lb.spec.healthCheckNodePort).toBeGreaterThanOrEqual(30000);
    expect(a.ports.used).toBe(2);
    a.release(lb);
    expect(a.ips.used).toBe(0);
    expect(a.ports.used).toBe(0);
  });

  test('rebuild after a restart: stored allocations are taken again, so they are never handed out twice', () => {
    const before = new ServiceAllocator();
    const stored = [
      svc('a', { type: 'NodePort', ports: [{ port: 80 }] }),
      svc('b', { clusterIP: '10.43.0.20', ports: [{ port: 80 }] }),
    ];
    for (const s of stored) before.allocate(s, undefined).commit();

    const after = new ServiceAllocator();
    expect(after.rebuild(stored)).toEqual([]);
    expect(after.ips.used).toBe(2);
    expect(after.ports.isAllocated(stored[0]!.spec.ports[0].nodePort)).toBe(true);
    const err = apiError(() => after.allocate(svc('c', { clusterIP: '10.43.0.20', ports: [{ port: 80 }] }), undefined));
    expect(err.message).toContain('provided IP is already allocated');
  });

  test('rebuild reports values outside the ranges and values two services claim', () => {
    const a = new ServiceAllocator({ serviceCidr: '10.44.0.0/16' });
    const one = svc('one', { clusterIP: '10.43.0.20', ports: [{ port: 80 }] });
    const two = svc('two', { type: 'NodePort', clusterIP: '10.44.0.30', ports: [{ port: 80, nodePort: 30100 }] });
    const three = svc('three', { type: 'NodePort', clusterIP: '10.44.0.30', ports: [{ port: 80, nodePort: 30100 }] });
    const warnings = a.rebuild([one, two, three]);
    expect(warnings).toEqual([
      'Cluster IP 10.43.0.20 of service default/one is not within the service CIDR 10.44.0.0/16; please recreate the service',
      'the cluster IP 10.44.0.30 for service default/three was assigned to multiple services; please recreate the service',
      'the node port 30100 for service default/three was assigned to multiple services; please recreate the service',
    ]);
  });
});
