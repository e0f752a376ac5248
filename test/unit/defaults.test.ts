import { defaulters, setDefaultTolerationSeconds, DEFAULT_TOLERATION_SECONDS } from '../../src/api/defaults';
import type { KubeObject } from '../../src/api/types';

/** Defaults a copy. */
function defaulted(obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  defaulters[copy.kind]?.(copy);
  return copy;
}

const meta = { name: 'web', namespace: 'default' };

const notReady = { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 };
const unreachable = { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 };

const minimalPod = (): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { ...meta }, spec: { containers: [{ name: 'web', image: 'nginx' }] } });

describe('pod defaults', () => {
  it('fills what the API server and its admission plugins fill', () => {
    expect(defaulted(minimalPod()).spec).toEqual({
      containers: [
        {
          name: 'web',
          image: 'nginx',
          imagePullPolicy: 'Always',
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
        },
      ],
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      terminationGracePeriodSeconds: 30,
      schedulerName: 'default-scheduler',
      securityContext: {},
      enableServiceLinks: true,
      serviceAccountName: 'default',
      serviceAccount: 'default',
      priority: 0,
      preemptionPolicy: 'PreemptLowerPriority',
      tolerations: [notReady, unreachable],
    });
  });

  it.each([
    ['nginx', 'Always'],
    ['nginx:latest', 'Always'],
    ['nginx:1.25', 'IfNotPresent'],
    ['localhost:5000/nginx', 'Always'],
    ['localhost:5000/nginx:1.25', 'IfNotPresent'],
    ['nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'IfNotPresent'],
    ['nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'Always'],
  ])('imagePullPolicy of %s is %s', (image, policy) => {
    const pod = minimalPod();
    pod.spec.containers[0].image = image;
    expect(defaulted(pod).spec.containers[0].imagePullPolicy).toBe(policy);
  });

  it('keeps what is set', () => {
    const pod = minimalPod();
    Object.assign(pod.spec, { restartPolicy: 'Never', dnsPolicy: 'Default', terminationGracePeriodSeconds: 0, schedulerName: 'mine', serviceAccountName: 'robot', enableServiceLinks: false });
    pod.spec.containers[0].imagePullPolicy = 'Never';
    const spec = defaulted(pod).spec;
    expect(spec).toMatchObject({ restartPolicy: 'Never', dnsPolicy: 'Default', terminationGracePeriodSeconds: 0, schedulerName: 'mine', serviceAccountName: 'robot', serviceAccount: 'robot', enableServiceLinks: false });
    expect(spec.containers[0].imagePullPolicy).toBe('Never');
  });

  it('takes the deprecated serviceAccount as serviceAccountName', () => {
    const pod = minimalPod();
    pod.spec.serviceAccount = 'legacy';
    expect(defaulted(pod).spec).toMatchObject({ serviceAccountName: 'legacy', serviceAccount: 'legacy' });
  });

  it('defaults ports, probes, lifecycle hooks, env field refs and volumes', () => {
    const pod = minimalPod();
    Object.assign(pod.spec.containers[0], {
      ports: [{ containerPort: 80 }],
      livenessProbe: { httpGet: { port: 80 } },
      readinessProbe: { grpc: { port: 9090 }, periodSeconds: 5 },
      lifecycle: { preStop: { httpGet: { port: 80, path: '/stop' } } },
      env: [{ name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
    });
    pod.spec.volumes = [
      { name: 'scratch' },
      { name: 'cfg', configMap: { name: 'cfg' } },
      { name: 'sec', secret: { secretName: 's', defaultMode: 0o400 } },
      { name: 'host', hostPath: { path: '/var/log' } },
      { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      { name: 'token', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } },
    ];
    const spec = defaulted(pod).spec;
    const c = spec.containers[0];
    expect(c.ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
    expect(c.livenessProbe).toEqual({ httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 });
    expect(c.readinessProbe).toEqual({ grpc: { port: 9090, service: '' }, timeoutSeconds: 1, periodSeconds: 5, successThreshold: 1, failureThreshold: 3 });
    expect(c.lifecycle.preStop.httpGet).toEqual({ port: 80, path: '/stop', scheme: 'HTTP' });
    expect(c.env[0].valueFrom.fieldRef).toEqual({ fieldPath: 'spec.nodeName', apiVersion: 'v1' });
    expect(spec.volumes).toEqual([
      { name: 'scratch', emptyDir: {} },
      { name: 'cfg', configMap: { name: 'cfg', defaultMode: 420 } },
      { name: 'sec', secret: { secretName: 's', defaultMode: 0o400 } },
      { name: 'host', hostPath: { path: '/var/log', type: '' } },
      { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels', apiVersion: 'v1' } }], defaultMode: 420 } },
      { name: 'token', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } }], defaultMode: 420 } },
    ]);
  });

  it('defaults requests to limits, and host ports to container ports with hostNetwork', () => {
    const pod = minimalPod();
    pod.spec.hostNetwork = true;
    Object.assign(pod.spec.containers[0], { ports: [{ containerPort: 8080 }], resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m' } } });
    const c = defaulted(pod).spec.containers[0];
    expect(c.resources.requests).toEqual({ cpu: '500m', memory: '1Gi' });
    expect(c.ports[0].hostPort).toBe(8080);
  });

  describe('default tolerations', () => {
    afterEach(() => setDefaultTolerationSeconds(DEFAULT_TOLERATION_SECONDS));

    it('are not added when the pod already tolerates the taint', () => {
      const pod = minimalPod();
      pod.spec.tolerations = [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 10 }];
      expect(defaulted(pod).spec.tolerations).toEqual([pod.spec.tolerations[0], unreachable]);
    });

    it('are not added when the pod tolerates everything', () => {
      const pod = minimalPod();
      pod.spec.tolerations = [{ operator: 'Exists' }];
      expect(defaulted(pod).spec.tolerations).toEqual([{ operator: 'Exists' }]);
    });

    it('follow the configured seconds', () => {
      setDefaultTolerationSeconds(60, 120);
      expect(defaulted(minimalPod()).spec.tolerations).toEqual([{ ...notReady, tolerationSeconds: 60 }, { ...unreachable, tolerationSeconds: 120 }]);
    });
  });

  it('gives built-in priority classes their value', () => {
    const pod = minimalPod();
    pod.spec.priorityClassName = 'system-node-critical';
    expect(defaulted(pod).spec.priority).toBe(2000001000);
    const custom = minimalPod();
    custom.spec.priorityClassName = 'batch-low';
    expect(defaulted(custom).spec.priority).toBeUndefined();
  });
});

const deployment = (): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { ...meta },
  spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } } },
});

describe('workload defaults', () => {
  it('deployment', () => {
    const spec = defaulted(deployment()).spec;
    expect(spec).toMatchObject({
      replicas: 1,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    });
  });

  it('templates get pod spec defaults but not what only pods get', () => {
    const podSpec = defaulted(deployment()).spec.template.spec;
    expect(podSpec).toEqual({
      containers: [{ name: 'web', image: 'nginx:1.25', imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' }],
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      terminationGracePeriodSeconds: 30,
      schedulerName: 'default-scheduler',
      securityContext: {},
    });
  });

  it('a Recreate deployment gets no rollingUpdate', () => {
    const d = deployment();
    d.spec.strategy = { type: 'Recreate' };
    expect(defaulted(d).spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('replicaset', () => {
    const rs = { ...deployment(), kind: 'ReplicaSet' };
    expect(defaulted(rs).spec.replicas).toBe(1);
  });

  it('daemonset', () => {
    const ds = { ...deployment(), kind: 'DaemonSet' };
    const spec = defaulted(ds).spec;
    expect(spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    expect(spec.revisionHistoryLimit).toBe(10);
    expect(spec.replicas).toBeUndefined();
  });
});

describe('service defaults', () => {
  const svc = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { ...meta }, spec });

  it('ClusterIP', () => {
    expect(defaulted(svc({ selector: { app: 'web' }, ports: [{ port: 80 }, { port: 53, protocol: 'UDP', targetPort: 'dns' }] })).spec).toEqual({
      selector: { app: 'web' },
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }, { port: 53, protocol: 'UDP', targetPort: 'dns' }],
      type: 'ClusterIP',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ipFamilyPolicy: 'SingleStack',
      ipFamilies: ['IPv4'],
    });
  });

  it('NodePort and LoadBalancer are externally accessible', () => {
    expect(defaulted(svc({ type: 'NodePort', ports: [{ port: 80 }] })).spec.externalTrafficPolicy).toBe('Cluster');
    expect(defaulted(svc({ type: 'LoadBalancer', ports: [{ port: 80 }] })).spec).toMatchObject({ externalTrafficPolicy: 'Cluster', allocateLoadBalancerNodePorts: true });
  });

  it('ClientIP affinity gets a timeout', () => {
    expect(defaulted(svc({ sessionAffinity: 'ClientIP', ports: [{ port: 80 }] })).spec.sessionAffinityConfig).toEqual({ clientIP: { timeoutSeconds: 10800 } });
  });

  it('clusterIPs follow clusterIP; selectorless headless services are RequireDualStack', () => {
    expect(defaulted(svc({ clusterIP: '10.43.0.10', ports: [{ port: 80 }] })).spec.clusterIPs).toEqual(['10.43.0.10']);
    expect(defaulted(svc({ clusterIP: 'None' })).spec.ipFamilyPolicy).toBe('RequireDualStack');
  });

  it('ExternalName services get no IP families', () => {
    const spec = defaulted(svc({ type: 'ExternalName', externalName: 'example.com' })).spec;
    expect(spec.ipFamilies).toBeUndefined();
    expect(spec.ipFamilyPolicy).toBeUndefined();
    expect(spec.internalTrafficPolicy).toBeUndefined();
  });
});

describe('other kinds', () => {
  it('secret: Opaque, and stringData folded into data', () => {
    const s = defaulted({ apiVersion: 'v1', kind: 'Secret', metadata: { ...meta }, data: { a: 'b2xk', b: 'Yg==' }, stringData: { a: 'new', c: 'ü' } });
    expect(s).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta,
      type: 'Opaque',
      data: { a: Buffer.from('new').toString('base64'), b: 'Yg==', c: Buffer.from('ü').toString('base64') },
    });
  });

  it('namespace: finalizer, phase and name label', () => {
    const ns = defaulted({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    expect(ns).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a' } },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
  });

  it('namespace: a terminating namespace does not get its finalizer back', () => {
    const ns = defaulted({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', deletionTimestamp: '2024-01-01T00:00:00Z' }, spec: {}, status: { phase: 'Terminating' } });
    expect(ns.spec.finalizers).toBeUndefined();
    expect(ns.status.phase).toBe('Terminating');
  });

  it('node: allocatable from capacity, podCIDRs from podCIDR', () => {
    const node = defaulted({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDR: '10.42.0.0/24' }, status: { capacity: { cpu: '2' } } });
    expect(node.status.allocatable).toEqual({ cpu: '2' });
    expect(node.spec.podCIDRs).toEqual(['10.42.0.0/24']);
  });

  it('endpoints: port protocol', () => {
    const ep = defaulted({ apiVersion: 'v1', kind: 'Endpoints', metadata: { ...meta }, subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80 }] }] });
    expect(ep.subsets[0].ports).toEqual([{ port: 80, protocol: 'TCP' }]);
  });
});

describe('defaulting is idempotent and never throws', () => {
  const fixtures: KubeObject[] = [
    minimalPod(),
    { ...minimalPod(), spec: { ...minimalPod().spec, volumes: [{ name: 'v' }], initContainers: [{ name: 'i', image: 'busybox', ports: [{ containerPort: 1 }] }], hostNetwork: true } },
    deployment(),
    { ...deployment(), kind: 'ReplicaSet' },
    { ...deployment(), kind: 'DaemonSet' },
    { apiVersion: 'v1', kind: 'Service', metadata: { ...meta }, spec: { type: 'NodePort', clusterIP: '10.43.0.1', ports: [{ port: 80 }] } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { ...meta }, stringData: { a: 'b' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' } },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: { podCIDRs: ['10.42.0.0/24'] }, status: { capacity: { cpu: '1' } } },
  ];

  it.each(fixtures.map((f) => [f.kind, f] as const))('%s: twice equals once', (_kind, f) => {
    const once = defaulted(f);
    expect(defaulted(once)).toEqual(once);
  });

  it.each([
    ['Pod', { spec: 'nope' }],
    ['Pod', { spec: { containers: {}, volumes: 'x', tolerations: {} } }],
    ['Pod', { spec: { containers: [null, 1, { ports: 'x', livenessProbe: 3, resources: { limits: [] } }] } }],
    ['Deployment', { spec: { strategy: 'fast', template: 'x' } }],
    ['DaemonSet', { spec: { updateStrategy: [] } }],
    ['Service', { spec: { ports: {}, sessionAffinity: 'ClientIP', sessionAffinityConfig: 5 } }],
    ['Secret', { stringData: 'x', data: 'y' }],
    ['Namespace', { metadata: 5, spec: 'x' }],
    ['Node', { spec: 1, status: { capacity: 'x' } }],
  ])('%s with malformed input %j', (kind, body) => {
    expect(() => defaulted({ apiVersion: 'v1', kind, metadata: { name: 'x' }, ...body } as KubeObject)).not.toThrow();
  });
});
