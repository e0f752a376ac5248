import { resourceTypes, type ResourceType } from '../../src/api/registry';
import type { KubeObject, StatusCause } from '../../src/api/types';
import { validateObject, type FieldValidation } from '../../src/api/validation';

function rt(kind: string): ResourceType {
  const found = resourceTypes.find((r) => r.kind === kind);
  if (!found) throw new Error(`no kind ${kind}`);
  return found;
}

/** Defaults then validates copies, as the API server does on a write. */
function check(obj: KubeObject, old?: KubeObject, fv: FieldValidation = 'Strict') {
  const type = rt(obj.kind);
  const next = structuredClone(obj);
  type.defaults?.(next);
  let prev: KubeObject | undefined;
  if (old) {
    prev = structuredClone(old);
    type.defaults?.(prev);
  }
  return { ...validateObject(type, next, prev, fv), obj: next };
}

const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: 'default', ...extra });

const pod = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: meta('web', { labels: { app: 'web' }, annotations: { 'example.com/note': 'x' } }),
  spec: {
    containers: [
      {
        name: 'web',
        image: 'nginx:1.25',
        ports: [{ name: 'http', containerPort: 80 }],
        env: [{ name: 'MODE', value: 'prod' }, { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        envFrom: [{ configMapRef: { name: 'settings' } }],
        resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: 1, memory: '128Mi' } },
        livenessProbe: { httpGet: { path: '/healthz', port: 'http' } },
        readinessProbe: { tcpSocket: { port: 80 } },
        volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'cfg', mountPath: '/etc/cfg' }],
      },
    ],
    initContainers: [{ name: 'init', image: 'busybox', command: ['true'] }],
    volumes: [{ name: 'data', emptyDir: {} }, { name: 'cfg', configMap: { name: 'settings', items: [{ key: 'a', path: 'a.conf' }] } }],
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] },
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: 'ssd', operator: 'Exists' }] } }],
      },
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }] },
    },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoSchedule' }],
  },
});

const template = (labels: Record<string, string> = { app: 'web' }) => ({
  metadata: { labels, creationTimestamp: null },
  spec: { containers: [{ name: 'web', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] },
});

const deployment = (): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: meta('web'),
  spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: template() },
});

const replicaSet = (): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: meta('web-abc'),
  spec: { replicas: 2, selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }, template: template() },
});

const daemonSet = (): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: meta('agent'),
  spec: { selector: { matchLabels: { app: 'web' } }, template: template() },
});

const jobTemplate = () => ({
  metadata: { creationTimestamp: null },
  spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'busybox:1.36', command: ['sh', '-c', 'exit 0'] }] },
});

const job = (): KubeObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: meta('pi', { uid: '5f0c4c38-7c1a-4e2b-9a64-0d5c1f7a9e01' }),
  spec: { completions: 3, parallelism: 2, backoffLimit: 4, activeDeadlineSeconds: 600, ttlSecondsAfterFinished: 60, template: jobTemplate() },
});

const cronJob = (): KubeObject => ({
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: meta('nightly'),
  spec: {
    schedule: '*/5 9-17 * jan-jun mon-fri',
    timeZone: 'Europe/Paris',
    concurrencyPolicy: 'Forbid',
    startingDeadlineSeconds: 100,
    jobTemplate: { spec: { backoffLimit: 2, template: jobTemplate() } },
  },
});

const service = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: meta('web'),
  spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9090 }] },
});

const valid: Record<string, () => KubeObject> = {
  Pod: pod,
  Deployment: deployment,
  ReplicaSet: replicaSet,
  DaemonSet: daemonSet,
  Job: job,
  CronJob: cronJob,
  Service: service,
  'Service (NodePort)': () => ({ ...service(), spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, nodePort: 30080 }] } }),
  'Service (headless, no ports)': () => ({ ...service(), spec: { clusterIP: 'None', selector: { app: 'web' } } }),
  'Service (ExternalName)': () => ({ ...service(), spec: { type: 'ExternalName', externalName: 'example.com.' } }),
  Namespace: () => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } }),
  Node: () => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } },
    spec: { podCIDR: '10.42.0.0/24', taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] },
    status: {
      capacity: { cpu: '2', memory: '4Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2024-01-01T00:00:00Z', reason: 'KubeletReady' }],
      addresses: [{ type: 'InternalIP', address: '10.0.0.5' }, { type: 'Hostname', address: 'node-1' }],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: { kubeletVersion: 'v1.31.0', operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'docker://24.0.0' },
    },
  }),
  Endpoints: () => ({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: meta('web'),
    subsets: [{ addresses: [{ ip: '10.42.0.7', targetRef: { kind: 'Pod', name: 'web', namespace: 'default' } }], ports: [{ name: 'http', port: 80 }, { name: 'metrics', port: 9090 }] }],
  }),
  ConfigMap: () => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('settings'), data: { 'app.conf': 'x=1', KEY_NAME: 'v' }, binaryData: { blob: 'AAEC' } }),
  Secret: () => ({ apiVersion: 'v1', kind: 'Secret', metadata: meta('creds'), data: { password: 'czNjcmV0' }, stringData: { user: 'admin' } }),
  'Secret (tls)': () => ({ apiVersion: 'v1', kind: 'Secret', metadata: meta('tls'), type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y3J0', 'tls.key': 'a2V5' } }),
  Event: () => ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: meta('web.17a8b3c2d1e0f'),
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web', uid: 'u1', apiVersion: 'v1' },
    reason: 'Scheduled',
    message: 'Successfully assigned default/web to node-1',
    source: { component: 'default-scheduler' },
    firstTimestamp: '2024-01-01T00:00:00Z',
    lastTimestamp: '2024-01-01T00:00:00Z',
    count: 1,
    type: 'Normal',
    eventTime: null,
  }),
  'Event (eventTime)': () => ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: meta('web.17a8b3c2d1e10'),
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web' },
    reason: 'Pulled',
    action: 'Pull',
    eventTime: '2024-01-01T00:00:00.123456Z',
    reportingComponent: 'kubelet',
    reportingInstance: 'node-1',
    type: 'Normal',
  }),
  ServiceAccount: () => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('default'), imagePullSecrets: [{ name: 'regcred' }] }),
  PriorityClass: () => ({
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: { name: 'high-priority' },
    value: 1000,
    description: 'placed first',
  }),
  Lease: () => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'node-1', namespace: 'kube-node-lease' },
    spec: { holderIdentity: 'node-1', leaseDurationSeconds: 40, renewTime: '2024-01-01T00:00:00.000000Z' },
  }),
};

describe('valid objects', () => {
  it.each(Object.keys(valid))('%s passes', (name) => {
    const result = check(valid[name]());
    expect(result.causes).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it('every registry kind has a schema, a validator and a valid fixture', () => {
    for (const type of resourceTypes) {
      expect(type.schema.properties?.metadata).toBeDefined();
      expect(type.validate).toBeDefined();
      expect(valid[type.kind]).toBeDefined();
    }
  });
});

type Mutate = (o: any) => void;
interface Case {
  name: string;
  base: () => KubeObject;
  mutate: Mutate;
  field?: string;
  reason: string;
  message: string;
}

const cases: Case[] = [
  // metadata
  { name: 'name required', base: pod, mutate: (o) => delete o.metadata.name, field: 'metadata.name', reason: 'FieldValueRequired', message: 'Required value: name or generateName is required' },
  {
    name: 'name is a DNS-1123 subdomain',
    base: pod,
    mutate: (o) => (o.metadata.name = 'Bad_Name'),
    field: 'metadata.name',
    reason: 'FieldValueInvalid',
    message: `Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
  },
  { name: 'name length', base: pod, mutate: (o) => (o.metadata.name = 'a'.repeat(254)), field: 'metadata.name', reason: 'FieldValueInvalid', message: 'must be no more than 253 characters' },
  { name: 'namespace name is a DNS label', base: valid.Namespace, mutate: (o) => (o.metadata.name = 'team.a'), field: 'metadata.name', reason: 'FieldValueInvalid', message: 'Invalid value: "team.a": must not contain dots' },
  {
    name: 'service name is a DNS-1035 label',
    base: service,
    mutate: (o) => (o.metadata.name = '1web'),
    field: 'metadata.name',
    reason: 'FieldValueInvalid',
    message: `Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
  },
  { name: 'namespace required', base: pod, mutate: (o) => delete o.metadata.namespace, field: 'metadata.namespace', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'namespace not allowed on cluster-scoped kinds', base: valid.Node, mutate: (o) => (o.metadata.namespace = 'default'), field: 'metadata.namespace', reason: 'FieldValueForbidden', message: 'Forbidden: not allowed on this type' },
  {
    name: 'label key',
    base: pod,
    mutate: (o) => (o.metadata.labels = { 'bad key': 'x' }),
    field: 'metadata.labels',
    reason: 'FieldValueInvalid',
    message: `Invalid value: "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
  },
  { name: 'label value', base: pod, mutate: (o) => (o.metadata.labels = { app: '-x' }), field: 'metadata.labels', reason: 'FieldValueInvalid', message: 'Invalid value: "-x": a valid label must be an empty string' },
  { name: 'annotation key', base: pod, mutate: (o) => (o.metadata.annotations = { 'a/b/c': 'x' }), field: 'metadata.annotations', reason: 'FieldValueInvalid', message: 'a qualified name must consist of' },
  { name: 'annotations size', base: pod, mutate: (o) => (o.metadata.annotations = { big: 'x'.repeat(262142) }), field: 'metadata.annotations', reason: 'FieldValueTooLong', message: 'Too long: must have at most 262144 bytes' },
  { name: 'finalizer name', base: pod, mutate: (o) => (o.metadata.finalizers = ['cleanup']), field: 'metadata.finalizers[0]', reason: 'FieldValueInvalid', message: 'name is neither a standard finalizer name nor is it fully qualified' },
  {
    name: 'one controller owner',
    base: pod,
    mutate: (o) =>
      (o.metadata.ownerReferences = [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: '1', controller: true },
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'b', uid: '2', controller: true },
      ]),
    field: 'metadata.ownerReferences',
    reason: 'FieldValueInvalid',
    message: 'Only one reference can have Controller set to true. Found "true" in references for ReplicaSet/a and ReplicaSet/b',
  },
  // schema types
  { name: 'replicas type', base: deployment, mutate: (o) => (o.spec.replicas = 'three'), field: 'spec.replicas', reason: 'FieldValueTypeInvalid', message: 'Invalid value: "string": spec.replicas in body must be of type integer: "string"' },
  { name: 'containers type', base: pod, mutate: (o) => (o.spec.containers = {}), field: 'spec.containers', reason: 'FieldValueTypeInvalid', message: 'spec.containers in body must be of type array: "object"' },
  { name: 'int32 range', base: deployment, mutate: (o) => (o.spec.replicas = 2 ** 31), field: 'spec.replicas', reason: 'FieldValueTypeInvalid', message: 'spec.replicas in body must be of type int32' },
  { name: 'label values are strings', base: pod, mutate: (o) => (o.metadata.labels = { version: 2 }), field: 'metadata.labels[version]', reason: 'FieldValueTypeInvalid', message: 'must be of type string' },
  { name: 'int-or-string', base: pod, mutate: (o) => (o.spec.containers[0].livenessProbe.httpGet.port = true), field: 'spec.containers[0].livenessProbe.httpGet.port', reason: 'FieldValueTypeInvalid', message: 'must be of type integer or string: "boolean"' },
  { name: 'quantity format', base: pod, mutate: (o) => (o.spec.containers[0].resources.limits.cpu = 'lots'), field: 'spec.containers[0].resources.limits[cpu]', reason: 'FieldValueInvalid', message: 'Invalid value: "lots": quantities must match the regular expression' },
  { name: 'timestamp format', base: valid.Lease, mutate: (o) => (o.spec.renewTime = 'yesterday'), field: 'spec.renewTime', reason: 'FieldValueTypeInvalid', message: 'spec.renewTime in body must be of type date-time: "yesterday"' },
  { name: 'required in schema', base: pod, mutate: (o) => delete o.spec.containers[0].name, field: 'spec.containers[0].name', reason: 'FieldValueRequired', message: 'Required value' },
  // pods
  { name: 'at least one container', base: pod, mutate: (o) => (o.spec.containers = []), field: 'spec.containers', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'container names unique across init and app', base: pod, mutate: (o) => (o.spec.initContainers[0].name = 'web'), field: 'spec.initContainers[0].name', reason: 'FieldValueDuplicate', message: 'Duplicate value: "web"' },
  { name: 'container name', base: pod, mutate: (o) => (o.spec.containers[0].name = 'Web_1'), field: 'spec.containers[0].name', reason: 'FieldValueInvalid', message: 'a lowercase RFC 1123 label must consist of' },
  { name: 'image required', base: pod, mutate: (o) => delete o.spec.containers[0].image, field: 'spec.containers[0].image', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'container port range', base: pod, mutate: (o) => (o.spec.containers[0].ports[0].containerPort = 70000), field: 'spec.containers[0].ports[0].containerPort', reason: 'FieldValueInvalid', message: 'Invalid value: 70000: must be between 1 and 65535, inclusive' },
  { name: 'port name', base: pod, mutate: (o) => (o.spec.containers[0].ports[0].name = 'http_port'), field: 'spec.containers[0].ports[0].name', reason: 'FieldValueInvalid', message: 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)' },
  { name: 'port protocol', base: pod, mutate: (o) => (o.spec.containers[0].ports[0].protocol = 'HTTP'), field: 'spec.containers[0].ports[0].protocol', reason: 'FieldValueNotSupported', message: 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"' },
  { name: 'restartPolicy', base: pod, mutate: (o) => (o.spec.restartPolicy = 'Sometimes'), field: 'spec.restartPolicy', reason: 'FieldValueNotSupported', message: 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"' },
  { name: 'imagePullPolicy', base: pod, mutate: (o) => (o.spec.containers[0].imagePullPolicy = 'Sometimes'), field: 'spec.containers[0].imagePullPolicy', reason: 'FieldValueNotSupported', message: 'supported values: "Always", "IfNotPresent", "Never"' },
  { name: 'probe needs a handler', base: pod, mutate: (o) => (o.spec.containers[0].livenessProbe = { periodSeconds: 5 }), field: 'spec.containers[0].livenessProbe', reason: 'FieldValueRequired', message: 'Required value: must specify a handler type' },
  { name: 'probe has one handler', base: pod, mutate: (o) => (o.spec.containers[0].livenessProbe.tcpSocket = { port: 80 }), field: 'spec.containers[0].livenessProbe.tcpSocket', reason: 'FieldValueForbidden', message: 'Forbidden: may not specify more than 1 handler type' },
  { name: 'liveness successThreshold', base: pod, mutate: (o) => (o.spec.containers[0].livenessProbe.successThreshold = 2), field: 'spec.containers[0].livenessProbe.successThreshold', reason: 'FieldValueInvalid', message: 'Invalid value: 2: must be 1' },
  { name: 'init container probes', base: pod, mutate: (o) => (o.spec.initContainers[0].readinessProbe = { exec: { command: ['true'] } }), field: 'spec.initContainers[0].readinessProbe', reason: 'FieldValueForbidden', message: 'may not be set for init containers without restartPolicy=Always' },
  {
    name: 'requests <= limits',
    base: pod,
    mutate: (o) => (o.spec.containers[0].resources.requests.cpu = '2'),
    field: 'spec.containers[0].resources.requests',
    reason: 'FieldValueInvalid',
    message: 'Invalid value: "2": must be less than or equal to cpu limit of 1',
  },
  { name: 'resource names', base: pod, mutate: (o) => (o.spec.containers[0].resources.limits.gpu = 1), field: 'spec.containers[0].resources.limits[gpu]', reason: 'FieldValueInvalid', message: 'must be a standard resource for containers' },
  {
    name: 'env var name',
    base: pod,
    mutate: (o) => (o.spec.containers[0].env[0].name = '1MODE'),
    field: 'spec.containers[0].env[0].name',
    reason: 'FieldValueInvalid',
    message: `Invalid value: "1MODE": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')`,
  },
  { name: 'env value and valueFrom', base: pod, mutate: (o) => (o.spec.containers[0].env[1].value = 'x'), field: 'spec.containers[0].env[1].valueFrom', reason: 'FieldValueInvalid', message: 'may not be specified when `value` is not empty' },
  {
    name: 'env fieldRef path',
    base: pod,
    mutate: (o) => (o.spec.containers[0].env[1].valueFrom.fieldRef.fieldPath = 'spec.restartPolicy'),
    field: 'spec.containers[0].env[1].valueFrom.fieldRef.fieldPath',
    reason: 'FieldValueNotSupported',
    message: 'Unsupported value: "spec.restartPolicy": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName"',
  },
  { name: 'envFrom source', base: pod, mutate: (o) => (o.spec.containers[0].envFrom = [{ prefix: 'X_' }]), field: 'spec.containers[0].envFrom', reason: 'FieldValueInvalid', message: 'must specify one of: `configMapRef` or `secretRef`' },
  { name: 'volume mount names a volume', base: pod, mutate: (o) => (o.spec.containers[0].volumeMounts[0].name = 'missing'), field: 'spec.containers[0].volumeMounts[0].name', reason: 'FieldValueNotFound', message: 'Not found: "missing"' },
  { name: 'mount paths unique', base: pod, mutate: (o) => (o.spec.containers[0].volumeMounts[1].mountPath = '/data'), field: 'spec.containers[0].volumeMounts[1].mountPath', reason: 'FieldValueInvalid', message: 'must be unique' },
  { name: 'volume names unique', base: pod, mutate: (o) => (o.spec.volumes[1].name = 'data'), field: 'spec.volumes[1].name', reason: 'FieldValueDuplicate', message: 'Duplicate value: "data"' },
  { name: 'one volume source', base: pod, mutate: (o) => (o.spec.volumes[0].hostPath = { path: '/tmp' }), field: 'spec.volumes[0].hostPath', reason: 'FieldValueForbidden', message: 'may not specify more than 1 volume type' },
  { name: 'configMap volume name', base: pod, mutate: (o) => delete o.spec.volumes[1].configMap.name, field: 'spec.volumes[1].configMap.name', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'dnsPolicy None needs dnsConfig', base: pod, mutate: (o) => (o.spec.dnsPolicy = 'None'), field: 'spec.dnsConfig', reason: 'FieldValueRequired', message: 'must provide `dnsConfig` when `dnsPolicy` is None' },
  { name: 'node selector requirement', base: pod, mutate: (o) => (o.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values = []), field: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values', reason: 'FieldValueRequired', message: "must be specified when `operator` is 'In' or 'NotIn'" },
  { name: 'preferred weight', base: pod, mutate: (o) => (o.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight = 0), field: 'spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight', reason: 'FieldValueInvalid', message: 'must be in the range 1-100' },
  { name: 'pod affinity topologyKey', base: pod, mutate: (o) => delete o.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey, field: 'spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey', reason: 'FieldValueRequired', message: 'Required value: can not be empty' },
  { name: 'toleration Exists with value', base: pod, mutate: (o) => (o.spec.tolerations[0].operator = 'Exists'), field: 'spec.tolerations[0].operator', reason: 'FieldValueInvalid', message: "value must be empty when `operator` is 'Exists'" },
  { name: 'tolerationSeconds needs NoExecute', base: pod, mutate: (o) => (o.spec.tolerations[0].tolerationSeconds = 5), field: 'spec.tolerations[0].effect', reason: 'FieldValueInvalid', message: "effect must be 'NoExecute' when `tolerationSeconds` is set" },
  { name: 'activeDeadlineSeconds', base: pod, mutate: (o) => (o.spec.activeDeadlineSeconds = 0), field: 'spec.activeDeadlineSeconds', reason: 'FieldValueInvalid', message: 'must be between 1 and 2147483647, inclusive' },
  { name: 'hostNetwork ports', base: pod, mutate: (o) => { o.spec.hostNetwork = true; o.spec.containers[0].ports[0].hostPort = 8080; }, field: 'spec.containers[0].ports[0].hostPort', reason: 'FieldValueInvalid', message: 'must match `containerPort` when `hostNetwork` is true' },
  { name: 'serviceAccountName', base: pod, mutate: (o) => (o.spec.serviceAccountName = 'Not Valid'), field: 'spec.serviceAccountName', reason: 'FieldValueInvalid', message: 'a lowercase RFC 1123 subdomain' },
  // workloads
  { name: 'deployment selector required', base: deployment, mutate: (o) => delete o.spec.selector, field: 'spec.selector', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'deployment selector not empty', base: deployment, mutate: (o) => (o.spec.selector = {}), field: 'spec.selector', reason: 'FieldValueInvalid', message: 'empty selector is invalid for deployment' },
  { name: 'deployment selector matches template', base: deployment, mutate: (o) => (o.spec.template.metadata.labels = { app: 'other' }), field: 'spec.template.metadata.labels', reason: 'FieldValueInvalid', message: 'Invalid value: {"app":"other"}: `selector` does not match template `labels`' },
  { name: 'deployment replicas >= 0', base: deployment, mutate: (o) => (o.spec.replicas = -1), field: 'spec.replicas', reason: 'FieldValueInvalid', message: 'Invalid value: -1: must be greater than or equal to 0' },
  { name: 'template restartPolicy Always', base: deployment, mutate: (o) => (o.spec.template.spec.restartPolicy = 'Never'), field: 'spec.template.spec.restartPolicy', reason: 'FieldValueNotSupported', message: 'Unsupported value: "Never": supported values: "Always"' },
  { name: 'template image required', base: deployment, mutate: (o) => delete o.spec.template.spec.containers[0].image, field: 'spec.template.spec.containers[0].image', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'strategy type', base: deployment, mutate: (o) => (o.spec.strategy = { type: 'BlueGreen' }), field: 'spec.strategy.type', reason: 'FieldValueNotSupported', message: 'supported values: "Recreate", "RollingUpdate"' },
  { name: 'Recreate has no rollingUpdate', base: deployment, mutate: (o) => (o.spec.strategy = { type: 'Recreate', rollingUpdate: { maxSurge: 1 } }), field: 'spec.strategy.rollingUpdate', reason: 'FieldValueForbidden', message: "may not be specified when strategy `type` is 'Recreate'" },
  { name: 'maxSurge and maxUnavailable not both 0', base: deployment, mutate: (o) => (o.spec.strategy = { rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } }), field: 'spec.strategy.rollingUpdate.maxUnavailable', reason: 'FieldValueInvalid', message: 'Invalid value: 0%: may not be 0 when `maxSurge` is 0' },
  { name: 'maxUnavailable <= 100%', base: deployment, mutate: (o) => (o.spec.strategy = { rollingUpdate: { maxUnavailable: '120%' } }), field: 'spec.strategy.rollingUpdate.maxUnavailable', reason: 'FieldValueInvalid', message: 'must not be greater than 100%' },
  { name: 'maxSurge percent format', base: deployment, mutate: (o) => (o.spec.strategy = { rollingUpdate: { maxSurge: 'lots' } }), field: 'spec.strategy.rollingUpdate.maxSurge', reason: 'FieldValueInvalid', message: "a valid percent string must be a numeric string followed by an ending '%'" },
  { name: 'progressDeadlineSeconds > minReadySeconds', base: deployment, mutate: (o) => { o.spec.minReadySeconds = 10; o.spec.progressDeadlineSeconds = 5; }, field: 'spec.progressDeadlineSeconds', reason: 'FieldValueInvalid', message: 'must be greater than minReadySeconds' },
  { name: 'selector operator', base: replicaSet, mutate: (o) => (o.spec.selector.matchExpressions[0].operator = 'Maybe'), field: 'spec.selector.matchExpressions[0].operator', reason: 'FieldValueInvalid', message: 'Invalid value: "Maybe": not a valid selector operator' },
  { name: 'replicaset selector matches template', base: replicaSet, mutate: (o) => (o.spec.template.metadata.labels = { app: 'db' }), field: 'spec.template.metadata.labels', reason: 'FieldValueInvalid', message: '`selector` does not match template `labels`' },
  { name: 'daemonset empty selector', base: daemonSet, mutate: (o) => (o.spec.selector = { matchLabels: {} }), field: 'spec.selector', reason: 'FieldValueInvalid', message: 'empty selector is invalid for daemonset' },
  { name: 'daemonset update strategy', base: daemonSet, mutate: (o) => (o.spec.updateStrategy = { type: 'Whenever' }), field: 'spec.updateStrategy.type', reason: 'FieldValueNotSupported', message: 'supported values: "OnDelete", "RollingUpdate"' },
  { name: 'daemonset surge xor unavailable', base: daemonSet, mutate: (o) => (o.spec.updateStrategy = { rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } }), field: 'spec.updateStrategy.rollingUpdate.maxSurge', reason: 'FieldValueInvalid', message: 'may not be set when maxUnavailable is non-zero' },
  // services
  { name: 'service ports required', base: service, mutate: (o) => delete o.spec.ports, field: 'spec.ports', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'port names required when several', base: service, mutate: (o) => delete o.spec.ports[1].name, field: 'spec.ports[1].name', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'port names unique', base: service, mutate: (o) => (o.spec.ports[1].name = 'http'), field: 'spec.ports[1].name', reason: 'FieldValueDuplicate', message: 'Duplicate value: "http"' },
  { name: 'service port range', base: service, mutate: (o) => (o.spec.ports[0].port = 0), field: 'spec.ports[0].port', reason: 'FieldValueInvalid', message: 'Invalid value: 0: must be between 1 and 65535, inclusive' },
  { name: 'service protocol', base: service, mutate: (o) => (o.spec.ports[0].protocol = 'ICMP'), field: 'spec.ports[0].protocol', reason: 'FieldValueNotSupported', message: 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"' },
  { name: 'service type', base: service, mutate: (o) => (o.spec.type = 'Magic'), field: 'spec.type', reason: 'FieldValueNotSupported', message: 'Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"' },
  { name: 'nodePort needs NodePort type', base: service, mutate: (o) => (o.spec.ports[0].nodePort = 30001), field: 'spec.ports[0].nodePort', reason: 'FieldValueForbidden', message: "may not be used when `type` is 'ClusterIP'" },
  { name: 'duplicate port', base: service, mutate: (o) => (o.spec.ports[1].port = 80), field: 'spec.ports[1]', reason: 'FieldValueDuplicate', message: 'Duplicate value: {"protocol":"TCP","port":80}' },
  { name: 'clusterIP is an IP', base: service, mutate: (o) => (o.spec.clusterIP = '10.43.0.300'), field: 'spec.clusterIPs[0]', reason: 'FieldValueInvalid', message: 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)' },
  { name: 'sessionAffinity', base: service, mutate: (o) => (o.spec.sessionAffinity = 'Sticky'), field: 'spec.sessionAffinity', reason: 'FieldValueNotSupported', message: 'supported values: "ClientIP", "None"' },
  { name: 'externalTrafficPolicy needs external access', base: service, mutate: (o) => (o.spec.externalTrafficPolicy = 'Local'), field: 'spec.externalTrafficPolicy', reason: 'FieldValueInvalid', message: 'may only be set for externally-accessible services' },
  { name: 'ExternalName needs externalName', base: valid['Service (ExternalName)'], mutate: (o) => delete o.spec.externalName, field: 'spec.externalName', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'endpoints address IP', base: valid.Endpoints, mutate: (o) => (o.subsets[0].addresses[0].ip = 'pod-a'), field: 'subsets[0].addresses[0].ip', reason: 'FieldValueInvalid', message: 'must be a valid IP address' },
  { name: 'endpoints need addresses', base: valid.Endpoints, mutate: (o) => (o.subsets[0].addresses = []), field: 'subsets[0]', reason: 'FieldValueRequired', message: 'must specify `addresses` or `notReadyAddresses`' },
  // config and secrets
  {
    name: 'configmap key',
    base: valid.ConfigMap,
    mutate: (o) => (o.data['bad key'] = 'x'),
    field: 'data[bad key]',
    reason: 'FieldValueInvalid',
    message: `Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
  },
  { name: 'configmap key in both maps', base: valid.ConfigMap, mutate: (o) => (o.binaryData['app.conf'] = 'AAEC'), field: 'data[app.conf]', reason: 'FieldValueInvalid', message: 'duplicate of key present in binaryData' },
  { name: 'secret key', base: valid.Secret, mutate: (o) => (o.data['..x'] = 'eA=='), field: 'data[..x]', reason: 'FieldValueInvalid', message: "must not start with '..'" },
  { name: 'secret values are base64', base: valid.Secret, mutate: (o) => (o.data.password = 'not base64!'), field: 'data[password]', reason: 'FieldValueInvalid', message: 'Invalid value: "<secret contents redacted>": illegal base64 data' },
  { name: 'tls secret keys', base: valid['Secret (tls)'], mutate: (o) => delete o.data['tls.key'], field: 'data[tls.key]', reason: 'FieldValueRequired', message: 'Required value' },
  // other kinds
  { name: 'lease duration > 0', base: valid.Lease, mutate: (o) => (o.spec.leaseDurationSeconds = 0), field: 'spec.leaseDurationSeconds', reason: 'FieldValueInvalid', message: 'Invalid value: 0: must be greater than 0' },
  { name: 'taint effect', base: valid.Node, mutate: (o) => (o.spec.taints[0].effect = 'Evict'), field: 'spec.taints[0].effect', reason: 'FieldValueNotSupported', message: 'Unsupported value: "Evict": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"' },
  { name: 'taints unique', base: valid.Node, mutate: (o) => o.spec.taints.push({ ...o.spec.taints[0] }), field: 'spec.taints[1]', reason: 'FieldValueDuplicate', message: 'taints must be unique by key and effect pair' },
  { name: 'podCIDR', base: valid.Node, mutate: (o) => (o.spec.podCIDR = '10.42.0.0'), field: 'spec.podCIDRs[0]', reason: 'FieldValueInvalid', message: 'must be a valid CIDR value' },
  { name: 'event namespace matches', base: valid.Event, mutate: (o) => (o.involvedObject.namespace = 'other'), field: 'involvedObject.namespace', reason: 'FieldValueInvalid', message: 'Invalid value: "other": does not match event.namespace' },
  { name: 'new-style event needs reportingComponent', base: valid['Event (eventTime)'], mutate: (o) => delete o.reportingComponent, field: 'reportingComponent', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'event involvedObject', base: valid.Event, mutate: (o) => delete o.involvedObject, field: 'involvedObject', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'namespace finalizers', base: valid.Namespace, mutate: (o) => (o.spec = { finalizers: ['custom'] }), field: 'spec.finalizers', reason: 'FieldValueInvalid', message: 'name is neither a standard finalizer name nor is it fully qualified' },
];

function expectCause(causes: StatusCause[], c: { field?: string; reason: string; message: string }) {
  const match = causes.find((x) => x.field === c.field && x.reason === c.reason && x.message?.includes(c.message));
  if (!match) throw new Error(`no cause ${c.field} ${c.reason} "${c.message}" in\n${JSON.stringify(causes, null, 2)}`);
}

describe('rules on create', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const obj = c.base();
    c.mutate(obj);
    expectCause(check(obj).causes, c);
  });

  it('reports a type error without running semantic rules on malformed data', () => {
    const obj = pod();
    obj.spec.containers = [{ name: 'web', image: 'x', ports: 'eighty' }];
    const { causes } = check(obj);
    expect(causes).toEqual([
      { reason: 'FieldValueTypeInvalid', field: 'spec.containers[0].ports', message: 'Invalid value: "string": spec.containers[0].ports in body must be of type array: "string"' },
    ]);
  });

  it('renders causes the way invalid() expects: field separate from message', () => {
    const obj = pod();
    obj.spec.containers[0].name = '';
    const { causes } = check(obj);
    expect(causes).toContainEqual({ reason: 'FieldValueRequired', field: 'spec.containers[0].name', message: 'Required value' });
  });
});

interface UpdateCase {
  name: string;
  base: () => KubeObject;
  mutate: Mutate;
  ok?: boolean;
  field?: string;
  reason?: string;
  message?: string;
}

const withOld = (o: KubeObject, extra: Mutate = () => {}) => {
  o.metadata.uid = 'u-1';
  o.metadata.resourceVersion = '5';
  extra(o);
  return o;
};

const updates: UpdateCase[] = [
  { name: 'pod image may change', base: pod, mutate: (o) => (o.spec.containers[0].image = 'nginx:1.26'), ok: true },
  { name: 'pod labels may change', base: pod, mutate: (o) => (o.metadata.labels.tier = 'front'), ok: true },
  { name: 'pod tolerations may be added', base: pod, mutate: (o) => o.spec.tolerations.push({ key: 'gpu', operator: 'Exists' }), ok: true },
  { name: 'pod activeDeadlineSeconds may be set', base: pod, mutate: (o) => (o.spec.activeDeadlineSeconds = 30), ok: true },
  {
    name: 'pod nodeName may not change on update',
    base: () => withOld(pod(), (o) => (o.spec.nodeName = 'node-a')),
    mutate: (o) => (o.spec.nodeName = 'node-b'),
    field: 'spec',
    reason: 'FieldValueForbidden',
    message:
      'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n- spec.nodeName: "node-a"\n+ spec.nodeName: "node-b"',
  },
  { name: 'pod env may not change', base: pod, mutate: (o) => (o.spec.containers[0].env[0].value = 'dev'), field: 'spec', reason: 'FieldValueForbidden', message: 'pod updates may not change fields other than' },
  { name: 'pod containers may not be added', base: pod, mutate: (o) => o.spec.containers.push({ name: 'side', image: 'x' }), field: 'spec.containers', reason: 'FieldValueForbidden', message: 'Forbidden: pod updates may not add or remove containers' },
  { name: 'pod tolerations may not be removed', base: pod, mutate: (o) => (o.spec.tolerations = []), field: 'spec.tolerations', reason: 'FieldValueForbidden', message: 'existing toleration can not be modified except its tolerationSeconds' },
  {
    name: 'pod activeDeadlineSeconds may only decrease',
    base: () => withOld(pod(), (o) => (o.spec.activeDeadlineSeconds = 10)),
    mutate: (o) => (o.spec.activeDeadlineSeconds = 20),
    field: 'spec.activeDeadlineSeconds',
    reason: 'FieldValueInvalid',
    message: 'must be less than or equal to previous value',
  },
  { name: 'deployment template may change', base: deployment, mutate: (o) => (o.spec.template.spec.containers[0].image = 'nginx:2'), ok: true },
  { name: 'deployment replicas may change', base: deployment, mutate: (o) => (o.spec.replicas = 10), ok: true },
  {
    name: 'deployment selector is immutable',
    base: deployment,
    mutate: (o) => {
      o.spec.selector.matchLabels.tier = 'front';
      o.spec.template.metadata.labels.tier = 'front';
    },
    field: 'spec.selector',
    reason: 'FieldValueInvalid',
    message: 'Invalid value: {"matchLabels":{"app":"web","tier":"front"}}: field is immutable',
  },
  { name: 'daemonset selector is immutable', base: daemonSet, mutate: (o) => (o.spec.selector = { matchExpressions: [{ key: 'app', operator: 'Exists' }] }), field: 'spec.selector', reason: 'FieldValueInvalid', message: 'field is immutable' },
  { name: 'replicaset selector is immutable', base: replicaSet, mutate: (o) => (o.spec.selector = { matchLabels: { app: 'web' } }), field: 'spec.selector', reason: 'FieldValueInvalid', message: 'field is immutable' },
  {
    name: 'immutable secret data',
    base: () => ({ ...valid.Secret(), immutable: true }),
    mutate: (o) => (o.data.password = 'bmV3'),
    field: 'data',
    reason: 'FieldValueForbidden',
    message: 'Forbidden: field is immutable when `immutable` is set',
  },
  { name: 'immutable secret stays immutable', base: () => ({ ...valid.Secret(), immutable: true }), mutate: (o) => (o.immutable = false), field: 'immutable', reason: 'FieldValueForbidden', message: 'field is immutable when `immutable` is set' },
  { name: 'secret type is immutable', base: valid.Secret, mutate: (o) => (o.type = 'kubernetes.io/basic-auth'), field: 'type', reason: 'FieldValueInvalid', message: 'Invalid value: "kubernetes.io/basic-auth": field is immutable' },
  { name: 'mutable secret data may change', base: valid.Secret, mutate: (o) => (o.data.password = 'bmV3'), ok: true },
  { name: 'immutable configmap data', base: () => ({ ...valid.ConfigMap(), immutable: true }), mutate: (o) => (o.data['app.conf'] = 'x=2'), field: 'data', reason: 'FieldValueForbidden', message: 'field is immutable when `immutable` is set' },
  { name: 'immutable configmap labels may change', base: () => ({ ...valid.ConfigMap(), immutable: true }), mutate: (o) => (o.metadata.labels = { a: 'b' }), ok: true },
  {
    name: 'service clusterIP may not change',
    base: () => withOld(service(), (o) => (o.spec.clusterIP = '10.43.0.10')),
    mutate: (o) => {
      o.spec.clusterIP = '10.43.0.11';
      o.spec.clusterIPs = ['10.43.0.11'];
    },
    field: 'spec.clusterIPs[0]',
    reason: 'FieldValueInvalid',
    message: 'Invalid value: ["10.43.0.11"]: may not change once set',
  },
  {
    name: 'service update without clusterIP keeps it',
    base: () => withOld(service(), (o) => (o.spec.clusterIP = '10.43.0.10')),
    mutate: (o) => {
      delete o.spec.clusterIP;
      delete o.spec.clusterIPs;
    },
    ok: true,
  },
  { name: 'node podCIDR may not change', base: () => withOld(valid.Node()), mutate: (o) => (o.spec.podCIDR = '10.42.1.0/24'), field: 'spec.podCIDRs', reason: 'FieldValueForbidden', message: 'node updates may not change podCIDR except from "" to valid' },
  { name: 'node may be cordoned', base: valid.Node, mutate: (o) => (o.spec.unschedulable = true), ok: true },
  { name: 'name is immutable', base: valid.ConfigMap, mutate: (o) => (o.metadata.name = 'other'), field: 'metadata.name', reason: 'FieldValueInvalid', message: 'Invalid value: "other": field is immutable' },
  {
    name: 'no new finalizers while deleting',
    base: () => withOld(valid.ConfigMap(), (o) => (o.metadata.deletionTimestamp = '2024-01-01T00:00:00Z')),
    mutate: (o) => (o.metadata.finalizers = ['example.com/cleanup']),
    field: 'metadata.finalizers',
    reason: 'FieldValueForbidden',
    message: 'no new finalizers can be added if the object is being deleted, found new finalizers ["example.com/cleanup"]',
  },
];

describe('rules on update', () => {
  it.each(updates.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const old = withOld(c.base());
    const next = structuredClone(old);
    c.mutate(next);
    const { causes } = check(next, old);
    if (c.ok) expect(causes).toEqual([]);
    else expectCause(causes, { field: c.field, reason: c.reason!, message: c.message! });
  });

  it('an unchanged update of every valid fixture passes', () => {
    for (const make of Object.values(valid)) {
      const old = withOld(make());
      expect(check(structuredClone(old), old).causes).toEqual([]);
    }
  });

  it('carries allocated service values into an update that omits them', () => {
    const old = withOld(service(), (o) => {
      o.spec.type = 'NodePort';
      o.spec.clusterIP = '10.43.0.10';
      o.spec.ports[0].nodePort = 30080;
      o.spec.ports[1].nodePort = 30090;
    });
    const next = structuredClone(old);
    delete next.spec.clusterIP;
    delete next.spec.ports[0].nodePort;
    const { causes, obj } = check(next, old);
    expect(causes).toEqual([]);
    expect(obj.spec.clusterIP).toBe('10.43.0.10');
    expect(obj.spec.clusterIPs).toEqual(['10.43.0.10']);
    expect(obj.spec.ports.map((p: any) => p.nodePort)).toEqual([30080, 30090]);
  });
});

describe('unknown fields', () => {
  const withUnknown = () => {
    const o = pod();
    o.spec.foo = 1;
    o.spec.containers[0].bar = { x: 1 };
    o.metadata.managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:anything': {} } } }];
    return o;
  };

  it('Strict: each one is a strict error, nothing is removed and nothing else is checked', () => {
    const o = withUnknown();
    o.spec.containers[0].image = ''; // invalid, but a strict decoding error comes first
    const { causes, warnings, strictErrors, obj } = check(o, undefined, 'Strict');
    expect(strictErrors).toEqual(['unknown field "spec.containers[0].bar"', 'unknown field "spec.foo"']);
    expect(causes).toEqual([]);
    expect(warnings).toEqual([]);
    expect(obj.spec.foo).toBe(1);
  });

  it('Warn: removed, with a warning each', () => {
    const { causes, warnings, strictErrors, obj } = check(withUnknown(), undefined, 'Warn');
    expect(causes).toEqual([]);
    expect(strictErrors).toEqual([]);
    expect(warnings).toEqual(['unknown field "spec.containers[0].bar"', 'unknown field "spec.foo"']);
    expect(obj.spec.foo).toBeUndefined();
    expect(obj.spec.containers[0].bar).toBeUndefined();
    expect(obj.metadata.managedFields[0].fieldsV1).toEqual({ 'f:spec': { 'f:anything': {} } });
  });

  it('Ignore: removed silently', () => {
    const { causes, warnings, obj } = check(withUnknown(), undefined, 'Ignore');
    expect(causes).toEqual([]);
    expect(warnings).toEqual([]);
    expect(obj.spec.foo).toBeUndefined();
  });

  it('nulls are unset, as Go decodes them', () => {
    const d = deployment();
    d.spec.strategy = null;
    d.status = null;
    d.metadata.labels = { app: null } as any;
    const { causes, obj } = check(d);
    expect(causes).toEqual([]);
    expect(obj.status).toBeUndefined();
    expect(obj.metadata.labels).toEqual({ app: '' });
    expect(obj.spec.template.metadata.creationTimestamp).toBeUndefined();
  });

  it('status written by the node agent keeps the fields the schema declares', () => {
    const p = pod();
    p.status = {
      phase: 'Running',
      podIP: '10.42.0.7',
      podIPs: [{ ip: '10.42.0.7' }],
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2024-01-01T00:00:00Z' }],
      containerStatuses: [{ name: 'web', ready: true, restartCount: 0, image: 'nginx:1.25', imageID: 'docker://sha256:1', state: { running: { startedAt: '2024-01-01T00:00:00Z' } } }],
    };
    const { causes, warnings, obj } = check(p, undefined, 'Warn');
    expect(causes).toEqual([]);
    expect(warnings).toEqual([]);
    expect(obj.status.containerStatuses[0].state.running.startedAt).toBe('2024-01-01T00:00:00Z');
  });
});

describe('quantities', () => {
  it.each([['500m'], [0.5], [2], ['1.5Gi'], ['1e3']])('%p is a quantity', (q) => {
    const p = pod();
    p.spec.containers[0].resources = { limits: { cpu: q } };
    expect(check(p).causes).toEqual([]);
  });

  it("reports apimachinery's reason", () => {
    const p = pod();
    p.spec.containers[0].resources.limits.memory = '1K';
    expectCause(check(p).causes, { field: 'spec.containers[0].resources.limits[memory]', reason: 'FieldValueInvalid', message: `Invalid value: "1K": unable to parse quantity's suffix` });
  });

  it('compares requests and limits by value, not text', () => {
    const p = pod();
    p.spec.containers[0].resources = { requests: { cpu: '1000m', memory: '1Gi' }, limits: { cpu: 1, memory: '1073741824' } };
    expect(check(p).causes).toEqual([]);
  });
});
