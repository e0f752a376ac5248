import type { KubeObject } from '../../src/api/types';
import { computeSubsets, findPort, shouldPodBeInEndpoints } from '../../src/controllers/endpoints-controller';

function svc(spec: Record<string, any>): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ...spec } };
}

function pod(name: string, ip: string | undefined, opts: { ready?: boolean; ports?: any[]; phase?: string; deleting?: boolean; hostname?: string; subdomain?: string; sidecarPorts?: any[] } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: { app: 'web' }, ...(opts.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}) },
    spec: {
      nodeName: 'n1',
      hostname: opts.hostname,
      subdomain: opts.subdomain,
      containers: [{ name: 'main', ports: opts.ports ?? [] }],
      initContainers: opts.sidecarPorts ? [{ name: 'proxy', restartPolicy: 'Always', ports: opts.sidecarPorts }] : undefined,
    },
    status: {
      phase: opts.phase ?? 'Running',
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
    },
  };
}

const ref = (name: string) => ({ kind: 'Pod', namespace: 'default', name, uid: `uid-${name}` });

describe('computeSubsets', () => {
  test('addresses serving the same ports share a subset; ready and not-ready are kept apart', () => {
    const s = svc({ ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }, { name: 'metrics', port: 9090, targetPort: 9100, protocol: 'TCP' }] });
    const pods = [
      pod('b', '10.0.0.2', { ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }),
      pod('a', '10.0.0.1', { ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }),
      pod('c', '10.0.0.3', { ready: false, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }),
    ];
    expect(computeSubsets(s, pods)).toEqual([
      {
        addresses: [
          { ip: '10.0.0.1', nodeName: 'n1', targetRef: ref('a') },
          { ip: '10.0.0.2', nodeName: 'n1', targetRef: ref('b') },
        ],
        notReadyAddresses: [{ ip: '10.0.0.3', nodeName: 'n1', targetRef: ref('c') }],
        ports: [
          { name: 'http', port: 8080, protocol: 'TCP' },
          { name: 'metrics', port: 9100, protocol: 'TCP' },
        ],
      },
    ]);
  });

  test('a pod without the named port is left out for that port only; the protocol must match too', () => {
    const s = svc({ ports: [{ name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' }, { name: 'raw', port: 1, targetPort: 1, protocol: 'TCP' }] });
    const subsets = computeSubsets(s, [
      pod('udp', '10.0.0.1', { ports: [{ name: 'dns', containerPort: 5353, protocol: 'UDP' }] }),
      pod('tcp', '10.0.0.2', { ports: [{ name: 'dns', containerPort: 5353, protocol: 'TCP' }] }),
    ]);
    expect(subsets).toHaveLength(2);
    expect(subsets).toEqual(expect.arrayContaining([
      { addresses: [expect.objectContaining({ ip: '10.0.0.1' })], ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }] },
      { addresses: [expect.objectContaining({ ip: '10.0.0.1' }), expect.objectContaining({ ip: '10.0.0.2' })], ports: [{ name: 'raw', port: 1, protocol: 'TCP' }] },
    ]));
  });

  test('pods without an IP, terminal or terminating pods are left out, unless not-ready addresses are published', () => {
    const s = svc({ ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] });
    const pods = [pod('noip', undefined), pod('done', '10.0.0.2', { phase: 'Succeeded' }), pod('going', '10.0.0.3', { deleting: true }), pod('unready', '10.0.0.4', { ready: false })];
    expect(computeSubsets(s, pods)).toEqual([{ notReadyAddresses: [expect.objectContaining({ ip: '10.0.0.4' })], ports: [{ port: 80, protocol: 'TCP' }] }]);
    const published = computeSubsets(svc({ ...s.spec, publishNotReadyAddresses: true }), pods);
    expect(published).toEqual([{ addresses: [expect.objectContaining({ ip: '10.0.0.3' }), expect.objectContaining({ ip: '10.0.0.4' })], ports: [{ port: 80, protocol: 'TCP' }] }]);
  });

  test('a headless service without ports lists addresses alone; hostname is set for pods of its subdomain', () => {
    const s = svc({ clusterIP: 'None' });
    expect(computeSubsets(s, [pod('db-0', '10.0.0.5', { hostname: 'db-0', subdomain: 'web' }), pod('x', '10.0.0.6', { hostname: 'x', subdomain: 'other' })])).toEqual([
      {
        addresses: [
          { ip: '10.0.0.5', hostname: 'db-0', nodeName: 'n1', targetRef: ref('db-0') },
          { ip: '10.0.0.6', nodeName: 'n1', targetRef: ref('x') },
        ],
      },
    ]);
    // A service with a cluster IP and no ports has nothing to list.
    expect(computeSubsets(svc({}), [pod('a', '10.0.0.1')])).toEqual([]);
  });

  test('the same world gives the same subsets whatever order the pods come in', () => {
    const s = svc({ ports: [{ name: 'a', port: 1, targetPort: 'a', protocol: 'TCP' }, { name: 'b', port: 2, targetPort: 2, protocol: 'TCP' }] });
    const pods = Array.from({ length: 6 }, (_, i) => pod(`p${i}`, `10.0.0.${i + 1}`, { ready: i % 2 === 0, ports: i % 3 ? [{ name: 'a', containerPort: 10, protocol: 'TCP' }] : [] }));
    const once = JSON.stringify(computeSubsets(s, pods));
    expect(JSON.stringify(computeSubsets(s, [...pods].reverse()))).toBe(once);
  });
});

describe('findPort and shouldPodBeInEndpoints', () => {
  test('named ports are found in containers and in sidecar (restartable init) containers', () => {
    const p = pod('p', '10.0.0.1', { ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }], sidecarPorts: [{ name: 'proxy', containerPort: 15001, protocol: 'TCP' }] });
    expect(findPort(p, { targetPort: 'http', protocol: 'TCP' })).toBe(8080);
    expect(findPort(p, { targetPort: 'proxy', protocol: 'TCP' })).toBe(15001);
    expect(findPort(p, { targetPort: 'nope', protocol: 'TCP' })).toBeUndefined();
    expect(findPort(p, { targetPort: 9000 })).toBe(9000);
    expect(findPort(p, { port: 80 })).toBe(80);
  });

  test('terminating pods count only when asked for', () => {
    expect(shouldPodBeInEndpoints(pod('t', '10.0.0.1', { deleting: true }), false)).toBe(false);
    expect(shouldPodBeInEndpoints(pod('t', '10.0.0.1', { deleting: true }), true)).toBe(true);
    expect(shouldPodBeInEndpoints(pod('f', '10.0.0.1', { phase: 'Failed' }), true)).toBe(false);
  });
});
