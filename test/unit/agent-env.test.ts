import { ContainerConfigError, expand, expandArgs, resolveEnv, type EnvContext } from '../../src/agent/env';
import type { KubeObject } from '../../src/api/types';

const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'prod', uid: 'u-1', labels: { app: 'web', tier: 'front' }, annotations: { note: 'a "quoted"\nline' } },
  spec: { nodeName: 'n1', serviceAccountName: 'default', containers: [{ name: 'main', resources: { requests: { cpu: '250m' } } }] },
};

function ctx(objects: Record<string, KubeObject> = {}): EnvContext {
  return {
    pod,
    podIPs: ['10.0.0.7'],
    hostIPs: ['192.0.2.1'],
    allocatable: { cpu: '4', memory: '8Gi' },
    read: async (kind, ns, name) => objects[`${kind}/${ns}/${name}`],
  };
}

describe('expand ($(VAR) as Kubernetes expands it)', () => {
  const vars: Record<string, string> = { A: 'x', B: 'y' };
  const lookup = (n: string) => vars[n];
  it.each([
    ['$(A)', 'x'],
    ['pre-$(A)-$(B)-post', 'pre-x-y-post'],
    ['$(MISSING)', '$(MISSING)'],
    ['$$(A)', '$(A)'],
    ['$$$(A)', '$x'],
    ['$A', '$A'],
    ['$(A', '$(A'],
    ['a$', 'a$'],
    ['$()', '$()'],
    ['', ''],
  ])('%s -> %s', (input, out) => expect(expand(input, lookup)).toBe(out));

  it('expands command and args against the final environment', () => {
    expect(expandArgs(['echo', '$(A)', '$$(A)'], [{ name: 'A', value: '1' }])).toEqual(['echo', '1', '$(A)']);
    expect(expandArgs(undefined, [])).toBeUndefined();
  });
});

describe('resolveEnv', () => {
  it('resolves the downward API fields', async () => {
    const fields = ['metadata.name', 'metadata.namespace', 'metadata.uid', "metadata.labels['tier']", "metadata.annotations['note']", 'spec.nodeName', 'spec.serviceAccountName', 'status.podIP', 'status.podIPs', 'status.hostIP', 'status.hostIPs', 'metadata.labels'];
    const container = { name: 'main', env: fields.map((f, i) => ({ name: `F${i}`, valueFrom: { fieldRef: { fieldPath: f } } })) };
    const { env } = await resolveEnv(container, ctx());
    expect(env.map((e) => e.value)).toEqual(['web', 'prod', 'u-1', 'front', 'a "quoted"\nline', 'n1', 'default', '10.0.0.7', '10.0.0.7', '192.0.2.1', '192.0.2.1', 'app="web"\ntier="front"']);
  });

  it('resolves resourceFieldRef, using node allocatable for unset limits', async () => {
    const container = {
      name: 'main',
      resources: { limits: { memory: '1Gi' }, requests: { cpu: '250m' } },
      env: [
        { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'CPU_REQ_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
        { name: 'CPU_REQ', valueFrom: { resourceFieldRef: { resource: 'requests.cpu' } } },
      ],
    };
    const { env } = await resolveEnv(container, ctx());
    expect(Object.fromEntries(env.map((e) => [e.name, e.value]))).toEqual({ MEM: '1024', CPU_LIMIT: '4', CPU_REQ_M: '250', CPU_REQ: '1' });
  });

  it('lets env override envFrom and expands only literal values', async () => {
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { X: 'from-cm', REF: '$(X)' } };
    const container = { name: 'main', envFrom: [{ configMapRef: { name: 'c' } }], env: [{ name: 'X', value: 'override' }, { name: 'Y', value: '$(REF)/$(X)' }] };
    const { env } = await resolveEnv(container, ctx({ 'ConfigMap/prod/c': cm }));
    expect(Object.fromEntries(env.map((e) => [e.name, e.value]))).toEqual({ X: 'override', REF: '$(X)', Y: '$(X)/override' });
  });

  it("fails with the kubelet's messages for missing sources and keys", async () => {
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: {} };
    await expect(resolveEnv({ env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }] }, ctx())).rejects.toThrow(new ContainerConfigError('configmap "nope" not found'));
    await expect(resolveEnv({ env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }] }, ctx({ 'ConfigMap/prod/c': cm }))).rejects.toThrow("couldn't find key k in ConfigMap prod/c");
    await expect(resolveEnv({ envFrom: [{ secretRef: { name: 's' } }] }, ctx())).rejects.toThrow('secret "s" not found');
    const { env } = await resolveEnv({ envFrom: [{ secretRef: { name: 's', optional: true } }], env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'c', key: 'k', optional: true } } }] }, ctx({ 'ConfigMap/prod/c': cm }));
    expect(env).toEqual([]);
  });
});
