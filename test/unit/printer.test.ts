import { buildTable } from '../../src/api/table';
import { lookupKind } from '../../src/api/registry';
import type { KubeObject, Status } from '../../src/api/types';
import { ApiStatusError, ConnectionError } from '../../src/client/api-client';
import {
  asList,
  colorEnabled,
  formatError,
  kindName,
  noResourcesMessage,
  renderDescription,
  renderNames,
  renderObject,
  renderTable,
  statusColor,
  tabwrite,
  TablePrinter,
} from '../../src/cli/printer';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();
const podRT = lookupKind('v1', 'Pod')!;
const deployRT = lookupKind('apps/v1', 'Deployment')!;
const nodeRT = lookupKind('v1', 'Node')!;

function pod(name: string, namespace: string, phase: string, ready: boolean, labels?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, creationTimestamp: ago(125), labels, uid: `uid-${name}` },
    spec: { containers: [{ name: 'app', image: 'busybox' }], nodeName: 'node-1' },
    status: {
      phase,
      podIP: '10.42.0.7',
      podIPs: [{ ip: '10.42.0.7' }],
      containerStatuses: [{ name: 'app', ready, restartCount: 0, state: ready ? { running: { startedAt: ago(100) } } : { waiting: { reason: 'ContainerCreating' } } }],
    },
  };
}

const pods = [pod('web', 'default', 'Running', true, { app: 'web' }), pod('a-much-longer-name', 'kube-system', 'Pending', false)];

describe('tables', () => {
  it('prints kubectl-style columns: upper-case headers, three spaces apart, no borders, no trailing blanks', () => {
    const text = renderTable(buildTable(podRT, pods, { now: NOW, wide: false }), { color: false });
    expect(text).toBe(
      [
        'NAME                 READY   STATUS              RESTARTS   AGE',
        'web                  1/1     Running             0          2m5s',
        'a-much-longer-name   0/1     ContainerCreating   0          2m5s',
      ].join('\n'),
    );
  });

  it('adds NAMESPACE first for -A and LABELS last for --show-labels', () => {
    const text = renderTable(buildTable(podRT, pods, { now: NOW, wide: false }), { color: false, withNamespace: true, showLabels: true });
    const [header, first, second] = text.split('\n');
    expect(header).toMatch(/^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+LABELS$/);
    expect(first).toMatch(/^default\s+web\s+.*app=web$/);
    expect(second).toMatch(/^kube-system\s+a-much-longer-name\s+.*<none>$/);
  });

  it('shows wide columns only with -o wide, and prefixes the kind when asked', () => {
    const table = buildTable(podRT, pods.slice(0, 1), { now: NOW });
    expect(renderTable(table, { color: false }).split('\n')[0]).not.toContain('NODE');
    const wide = renderTable(table, { color: false, wide: true, kindPrefix: kindName(podRT) });
    expect(wide.split('\n')[0]).toMatch(/IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/);
    expect(wide.split('\n')[1]).toMatch(/^pod\/web\s+1\/1\s+Running\s+0\s+2m5s\s+10\.42\.0\.7\s+node-1\s+<none>\s+<none>$/);
  });

  it('keeps column widths across watch rows', () => {
    const printer = new TablePrinter({ color: false });
    const first = printer.render(buildTable(podRT, pods, { now: NOW, wide: false }));
    const row = printer.render(buildTable(podRT, [pod('x', 'default', 'Running', true)], { now: NOW, wide: false }), false);
    expect(row).toBe('x                    1/1     Running             0          2m5s');
    expect(row.indexOf('1/1')).toBe(first.split('\n')[0]!.indexOf('READY'));
  });

  it('colours STATUS only when asked (TTY without NO_COLOR)', () => {
    const coloured = renderTable(buildTable(podRT, pods, { now: NOW, wide: false }), { color: true });
    expect(coloured).toContain('\u001b[32mRunning\u001b[39m');
    expect(coloured).toContain('\u001b[33mContainerCreating\u001b[39m');
    expect(coloured.split('\n')[0]).not.toContain('\u001b');
    expect(renderTable(buildTable(podRT, pods, { now: NOW }), { color: false })).not.toContain('\u001b');
    expect(colorEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
  });

  it('classifies statuses', () => {
    expect(statusColor('Running')).toBe('green');
    expect(statusColor('Active')).toBe('green');
    expect(statusColor('Ready')).toBe('green');
    expect(statusColor('Pending')).toBe('yellow');
    expect(statusColor('Init:0/2')).toBe('yellow');
    expect(statusColor('Ready,SchedulingDisabled')).toBe('yellow');
    expect(statusColor('CrashLoopBackOff')).toBe('red');
    expect(statusColor('Init:CrashLoopBackOff')).toBe('red');
    expect(statusColor('ExitCode:1')).toBe('red');
    expect(statusColor('NotReady')).toBe('red');
    expect(statusColor('Whatever')).toBeUndefined();
  });

  it('says what kubectl says when nothing is found', () => {
    expect(noResourcesMessage('default')).toBe('No resources found in default namespace.');
    expect(noResourcesMessage()).toBe('No resources found');
  });
});

describe('yaml, json and name output', () => {
  const obj: KubeObject = {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name: 'web', namespace: 'default', labels: { b: '2', a: '1' } },
    spec: { containers: [{ name: 'app', image: 'busybox', args: ['sleep', '3600'] }] },
  };

  it('prints yaml with sorted keys and unindented sequences, as kubectl does', () => {
    expect(renderObject(obj, 'yaml')).toBe(
      [
        'apiVersion: v1',
        'kind: Pod',
        'metadata:',
        '  labels:',
        '    a: "1"',
        '    b: "2"',
        '  name: web',
        '  namespace: default',
        'spec:',
        '  containers:',
        '  - args:',
        '    - sleep',
        '    - "3600"',
        '    image: busybox',
        '    name: app',
        '',
      ].join('\n'),
    );
  });

  it('prints json with four-space indentation and sorted keys', () => {
    const text = renderObject(obj, 'json');
    expect(text.startsWith('{\n    "apiVersion": "v1",\n    "kind": "Pod",\n')).toBe(true);
    expect(JSON.parse(text)).toEqual(obj);
  });

  it('wraps listings in kind: List', () => {
    const text = renderObject(asList([obj]), 'yaml');
    expect(text).toMatch(/^apiVersion: v1\nitems:\n- apiVersion: v1\n/);
    expect(text).toMatch(/\nkind: List\nmetadata:\n  resourceVersion: ""\n$/);
  });

  it('keeps long strings on one line', () => {
    const long = 'x'.repeat(200);
    expect(renderObject({ a: long }, 'yaml')).toBe(`a: ${long}\n`);
  });

  it('prints kind/name, with the group for non-core kinds', () => {
    expect(renderNames(podRT, [obj])).toBe('pod/web');
    expect(renderNames(deployRT, [{ ...obj, kind: 'Deployment' }])).toBe('deployment.apps/web');
    expect(kindName(nodeRT)).toBe('node');
  });
});

describe('errors', () => {
  const status = (s: Partial<Status>): Status => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 500, ...s });

  it('formats API errors kubectl-style', () => {
    expect(formatError(new ApiStatusError(status({ code: 404, reason: 'NotFound', message: 'pods "web" not found' })))).toBe(
      'Error from server (NotFound): pods "web" not found',
    );
    expect(formatError(new ApiStatusError(status({ code: 500, message: 'boom' })))).toBe('Error from server: boom');
    expect(formatError(new ApiStatusError(status({ code: 401, reason: 'Unauthorized', message: 'Unauthorized' })))).toBe(
      'error: You must be logged in to the server (Unauthorized)',
    );
  });

  it('formats Invalid with its causes', () => {
    const one = status({
      code: 422,
      reason: 'Invalid',
      message: 'Pod "web" is invalid: spec.containers: Required value',
      details: { name: 'web', kind: 'Pod', causes: [{ field: 'spec.containers', message: 'Required value' }] },
    });
    expect(formatError(new ApiStatusError(one))).toBe('The Pod "web" is invalid: spec.containers: Required value');
    const two = status({
      code: 422,
      reason: 'Invalid',
      details: { name: 'web', kind: 'Pod', causes: [{ field: 'a', message: 'bad' }, { message: 'worse' }] },
    });
    expect(formatError(new ApiStatusError(two))).toBe('The Pod "web" is invalid: \n* a: bad\n* worse');
  });

  it('prints the connection line and plain errors', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    expect(formatError(new ConnectionError('https://127.0.0.1:6443', refused))).toBe(
      'The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?',
    );
    expect(formatError(new Error('the path "x.yaml" does not exist'))).toBe('error: the path "x.yaml" does not exist');
    expect(formatError(new Error('error: already prefixed'))).toBe('error: already prefixed');
  });
});

describe('describe', () => {
  it('aligns like Go text/tabwriter: blocks of lines sharing a column', () => {
    const text = tabwrite('Name:\tweb\nNamespace:\tdefault\nIPs:\n  IP:\t10.0.0.1\nConditions:\n  Type\tStatus\n  Ready \tTrue \n');
    expect(text).toBe(
      ['Name:       web', 'Namespace:  default', 'IPs:', '  IP:  10.0.0.1', 'Conditions:', '  Type    Status', '  Ready   True ', ''].join('\n'),
    );
  });

  it('describes a pod with its containers, conditions and events', () => {
    const p = pod('web', 'default', 'Running', true, { app: 'web', tier: 'fe' });
    p.status.conditions = [{ type: 'Ready', status: 'True' }];
    p.status.hostIP = '192.168.1.10';
    p.status.qosClass = 'BestEffort';
    p.metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'hi' };
    const events: KubeObject[] = [
      {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'e1', namespace: 'default' },
        involvedObject: { kind: 'Pod', name: 'web', namespace: 'default' },
        type: 'Normal',
        reason: 'Scheduled',
        message: 'Successfully assigned default/web to node-1',
        source: { component: 'default-scheduler' },
        firstTimestamp: ago(30),
        lastTimestamp: ago(30),
        count: 1,
      },
    ];
    const text = renderDescription(p, { events }, NOW);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Name:         web');
    expect(lines[1]).toBe('Namespace:    default');
    expect(text).toContain('Node:         node-1/192.168.1.10\n');
    expect(text).toContain('Labels:       app=web\n              tier=fe\n');
    expect(text).toContain('Annotations:  note: hi\n');
    expect(text).not.toContain('last-applied');
    expect(text).toContain('Status:       Running\n');
    expect(text).toContain('Containers:\n  app:\n');
    expect(text).toMatch(/\n    State:\s+Running\n/);
    expect(text).toMatch(/\n    Ready:\s+True\n/);
    // As in Go's tabwriter, the block of tabbed lines runs on into Volumes: and beyond.
    expect(text).toContain('Conditions:\n  Type           Status\n  Ready          True \nVolumes:         <none>\n');
    expect(text).toMatch(/\nQoS Class:\s+BestEffort\n/);
    expect(text).toContain(
      'Events:\n  Type    Reason     Age   From               Message\n  ----    ------     ----  ----               -------\n  Normal  Scheduled  30s   default-scheduler  Successfully assigned default/web to node-1\n',
    );
  });

  it('prints Events: <none> when there are none, and nothing when events were not fetched', () => {
    const p = pod('web', 'default', 'Pending', false);
    expect(renderDescription(p, { events: [] }, NOW)).toMatch(/\nEvents:\s+<none>\n$/);
    expect(renderDescription(p, {}, NOW)).not.toContain('Events:');
  });

  it('falls back to a generic description for other kinds', () => {
    const lease: KubeObject = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'node-1', namespace: 'kube-node-lease' },
      spec: { holderIdentity: 'node-1', leaseDurationSeconds: 40 },
    };
    const text = renderDescription(lease, { events: [] }, NOW);
    expect(text).toContain('API Version:  coordination.k8s.io/v1\n');
    expect(text).toContain('Spec:\n  Holder Identity:         node-1\n  Lease Duration Seconds:  40\n');
  });
});

describe('describe node', () => {
  it('shows conditions, addresses, system info and the allocated resources of its pods', () => {
    const node: KubeObject = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-1', uid: 'n1', creationTimestamp: ago(3600), labels: { 'node-role.kubernetes.io/control-plane': '' } },
      spec: { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] },
      status: {
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: ago(5), lastTransitionTime: ago(3600) }],
        addresses: [{ type: 'InternalIP', address: '192.168.1.10' }],
        capacity: { cpu: '2', memory: '4Gi', pods: '110' },
        allocatable: { cpu: '2', memory: '4Gi', pods: '110' },
        nodeInfo: { kubeletVersion: 'v1.30.0-mk', osImage: 'Debian', kernelVersion: '6.1', containerRuntimeVersion: 'docker://24' },
      },
    };
    const p = pod('web', 'default', 'Running', true);
    p.spec.containers[0].resources = { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } };
    const text = renderDescription(node, { pods: [p], events: [] }, NOW);
    expect(text).toMatch(/^Name:\s+node-1\nRoles:\s+control-plane\n/);
    expect(text).toMatch(/\nTaints:\s+node\.kubernetes\.io\/unschedulable:NoSchedule\nUnschedulable:\s+true\n/);
    expect(text).toMatch(/\n  Ready\s+True\s+.*KubeletReady\s+kubelet is posting ready status\n/);
    expect(text).toContain('Addresses:\n  InternalIP:  192.168.1.10\n');
    expect(text).toMatch(/\n  Kubelet Version:\s+v1\.30\.0-mk\n/);
    expect(text).toMatch(/\nNon-terminated Pods:\s+\(1 in total\)\n/);
    expect(text).toMatch(/\n  default\s+web\s+500m \(25%\)\s+0 \(0%\)\s+1Gi \(25%\)\s+2Gi \(50%\)\s+2m5s\n/);
    expect(text).toMatch(/\n  cpu\s+500m \(25%\)\s+0 \(0%\)\n  memory\s+1Gi \(25%\)\s+2Gi \(50%\)\n/);
    expect(text).toMatch(/\nEvents:\s+<none>\n$/);
  });
});
