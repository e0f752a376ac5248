import { UsageError } from '../../src/cli/base-command';
import { exposedService } from '../../src/commands/expose';

const deployment = (extra: Record<string, any> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web', team: 'a' } },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'x', ports: [{ containerPort: 8080 }, { containerPort: 9090, protocol: 'UDP' }] }] },
    },
    ...extra,
  },
});

describe('exposedService (kubectl expose)', () => {
  test('--port and --target-port on a deployment: its matchLabels select, its labels are copied', () => {
    expect(exposedService(deployment(), { port: '80', targetPort: '8080', type: 'NodePort' })).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', labels: { app: 'web', team: 'a' } },
      spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] },
    });
  });

  test('without --port the container ports are used, named port-1, port-2 when there are several', () => {
    const svc = exposedService(deployment(), { name: 'web-all' });
    expect(svc.metadata.name).toBe('web-all');
    expect(svc.spec.ports).toEqual([
      { name: 'port-1', port: 8080, protocol: 'TCP', targetPort: 8080 },
      { name: 'port-2', port: 9090, protocol: 'UDP', targetPort: 9090 },
    ]);
  });

  test('a named target port, an explicit selector and labels', () => {
    const svc = exposedService(deployment(), { port: '80', targetPort: 'http', selector: 'app=web,tier=front', labels: 'exposed=yes' });
    expect(svc.spec.ports[0].targetPort).toBe('http');
    expect(svc.spec.selector).toEqual({ app: 'web', tier: 'front' });
    expect(svc.metadata.labels).toEqual({ exposed: 'yes' });
  });

  test('pods are selected by their labels, services by their selector', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { app: 'p', 'pod-template-hash': 'abc' } }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 5432 }] }] } };
    expect(exposedService(pod, {}).spec).toEqual({ selector: { app: 'p', 'pod-template-hash': 'abc' }, ports: [{ port: 5432, protocol: 'TCP', targetPort: 5432 }] });
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { selector: { app: 's' }, ports: [{ port: 53, protocol: 'UDP' }] } };
    expect(exposedService(svc, { name: 's2', clusterIP: 'None' }).spec).toEqual({ selector: { app: 's' }, clusterIP: 'None', ports: [{ port: 53, protocol: 'UDP', targetPort: 53 }] });
  });

  test('what kubectl refuses', () => {
    expect(() => exposedService(deployment({ selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['a'] }] } }), { port: '80' })).toThrow(/to map-based selector format/);
    const bare = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare' }, spec: { containers: [{ name: 'c' }] } };
    expect(() => exposedService(bare, { port: '80' })).toThrow('the pod has no labels and cannot be exposed');
    expect(() => exposedService({ ...bare, metadata: { name: 'b', labels: { a: 'b' } } }, {})).toThrow("couldn't find port via --port flag or introspection");
    expect(() => exposedService(deployment(), { port: 'http' })).toThrow(UsageError);
    expect(() => exposedService(deployment(), { port: '80', type: 'Nodeport' })).toThrow(/invalid service type "Nodeport"/);
  });
});
