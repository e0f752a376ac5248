import {
  formatEndpoints,
  formatLabelSelector,
  humanDuration,
  nodeStatus,
  podSummary,
  serviceExternalIP,
  servicePorts,
  tableColumns,
  translateTimestampSince,
} from '../../src/api/columns';
import { buildTable } from '../../src/api/table';
import { lookupKind, resolveResourceName, resourceTypes, type ResourceType } from '../../src/api/registry';
import type { KubeObject } from '../../src/api/types';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();

function pod(status: any, spec: any = { containers: [{ name: 'app', image: 'busybox' }] }, metadata: any = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default', creationTimestamp: ago(300), ...metadata }, spec, status };
}

describe('humanDuration (kubectl duration.HumanDuration)', () => {
  it.each([
    [-5, '<invalid>'],
    [-1, '0s'],
    [0, '0s'],
    [5, '5s'],
    [119, '119s'],
    [130, '2m10s'],
    [180, '3m'],
    [25 * 60, '25m'],
    [179 * 60, '179m'],
    [3 * 3600, '3h'],
    [5 * 3600 + 10 * 60, '5h10m'],
    [20 * 3600, '20h'],
    [3 * 86400 + 4 * 3600, '3d4h'],
    [5 * 86400, '5d'],
    [120 * 86400, '120d'],
    [730 * 86400, '2y'],
    [(730 + 30) * 86400, '2y30d'],
    [9 * 365 * 86400, '9y'],
  ])('%i seconds is %s', (seconds, text) => {
    expect(humanDuration(seconds * 1000)).toBe(text);
  });

  it('ages a timestamp against the given clock, <unknown> when unset', () => {
    expect(translateTimestampSince(ago(42), NOW)).toBe('42s');
    expect(translateTimestampSince(undefined, NOW)).toBe('<unknown>');
  });
});

describe('pod READY / STATUS / RESTARTS', () => {
  it('shows the phase of a pending pod with no statuses', () => {
    expect(podSummary(pod({ phase: 'Pending' }), NOW)).toMatchObject({ ready: '0/1', status: 'Pending', restarts: '0' });
  });

  it('counts ready running containers', () => {
    const p = pod(
      {
        phase: 'Running',
        containerStatuses: [
          { name: 'a', ready: true, restartCount: 0, state: { running: { startedAt: ago(60) } } },
          { name: 'b', ready: false, restartCount: 0, state: { running: { startedAt: ago(60) } } },
        ],
      },
      { containers: [{ name: 'a' }, { name: 'b' }] },
    );
    expect(podSummary(p, NOW)).toMatchObject({ ready: '1/2', status: 'Running' });
  });

  it('shows a waiting reason and when the last restart was', () => {
    const p = pod({
      phase: 'Running',
      containerStatuses: [
        {
          name: 'app',
          ready: false,
          restartCount: 3,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(120) } },
        },
      ],
    });
    expect(podSummary(p, NOW)).toMatchObject({ ready: '0/1', status: 'CrashLoopBackOff', restarts: '3 (2m ago)', restartCount: 3 });
  });

  it('shows ContainerCreating while the container is waiting to start', () => {
    const p = pod({ phase: 'Pending', containerStatuses: [{ name: 'app', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] });
    expect(podSummary(p, NOW).status).toBe('ContainerCreating');
  });

  it('shows Completed and exit codes of terminated containers', () => {
    const done = pod({ phase: 'Succeeded', containerStatuses: [{ name: 'app', state: { terminated: { exitCode: 0, reason: 'Completed' } } }] });
    expect(podSummary(done, NOW).status).toBe('Completed');
    const failed = pod({ phase: 'Failed', containerStatuses: [{ name: 'app', state: { terminated: { exitCode: 2 } } }] });
    expect(podSummary(failed, NOW).status).toBe('ExitCode:2');
    const killed = pod({ phase: 'Failed', containerStatuses: [{ name: 'app', state: { terminated: { exitCode: 137, signal: 9 } } }] });
    expect(podSummary(killed, NOW).status).toBe('Signal:9');
  });

  it('says NotReady when one container completed while another still runs without the pod being Ready', () => {
    const p = pod(
      {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'False' }],
        containerStatuses: [
          { name: 'a', ready: true, state: { running: {} } },
          { name: 'b', ready: false, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
        ],
      },
      { containers: [{ name: 'a' }, { name: 'b' }] },
    );
    expect(podSummary(p, NOW).status).toBe('NotReady');
  });

  describe('init containers', () => {
    const spec = { initContainers: [{ name: 'init' }], containers: [{ name: 'app' }] };

    it('shows Init:0/1 while the first init container runs', () => {
      const p = pod({ phase: 'Pending', initContainerStatuses: [{ name: 'init', state: { running: {} } }] }, spec);
      expect(podSummary(p, NOW).status).toBe('Init:0/1');
    });

    it('shows Init:<reason> for a waiting or failed init container', () => {
      const waiting = pod({ phase: 'Pending', initContainerStatuses: [{ name: 'init', state: { waiting: { reason: 'CrashLoopBackOff' } } }] }, spec);
      expect(podSummary(waiting, NOW).status).toBe('Init:CrashLoopBackOff');
      const failed = pod({ phase: 'Pending', initContainerStatuses: [{ name: 'init', state: { terminated: { exitCode: 1, reason: 'Error' } } }] }, spec);
      expect(podSummary(failed, NOW).status).toBe('Init:Error');
      const exit = pod({ phase: 'Pending', initContainerStatuses: [{ name: 'init', state: { terminated: { exitCode: 3 } } }] }, spec);
      expect(podSummary(exit, NOW).status).toBe('Init:ExitCode:3');
    });

    it('moves on to the app containers once init containers succeeded', () => {
      const p = pod(
        {
          phase: 'Running',
          initContainerStatuses: [{ name: 'init', state: { terminated: { exitCode: 0, reason: 'Completed' } } }],
          containerStatuses: [{ name: 'app', ready: true, state: { running: {} } }],
        },
        spec,
      );
      expect(podSummary(p, NOW)).toMatchObject({ ready: '1/1', status: 'Running' });
    });

    it('counts a started sidecar (restartPolicy Always) as a container', () => {
      const sidecar = { initContainers: [{ name: 'proxy', restartPolicy: 'Always' }], containers: [{ name: 'app' }] };
      const p = pod(
        {
          phase: 'Running',
          conditions: [{ type: 'Initialized', status: 'True' }],
          initContainerStatuses: [{ name: 'proxy', started: true, ready: true, restartCount: 1, state: { running: {} } }],
          containerStatuses: [{ name: 'app', ready: true, state: { running: {} } }],
        },
        sidecar,
      );
      expect(podSummary(p, NOW)).toMatchObject({ ready: '2/2', status: 'Running', restarts: '1' });
    });
  });

  it('shows Terminating for a pod being deleted, but not for a finished one', () => {
    const running = pod({ phase: 'Running', containerStatuses: [{ name: 'app', ready: true, state: { running: {} } }] }, undefined, {
      deletionTimestamp: ago(5),
    });
    expect(podSummary(running, NOW).status).toBe('Terminating');
    const done = pod({ phase: 'Succeeded' }, undefined, { deletionTimestamp: ago(5) });
    expect(podSummary(done, NOW).status).toBe('Succeeded');
  });

  it('shows SchedulingGated from the PodScheduled condition', () => {
    const p = pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] });
    expect(podSummary(p, NOW).status).toBe('SchedulingGated');
  });
});

describe('other kinds', () => {
  it('node STATUS', () => {
    const node = (conditions: any[], unschedulable = false): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1' },
      spec: { unschedulable },
      status: { conditions },
    });
    expect(nodeStatus(node([{ type: 'Ready', status: 'True' }]))).toBe('Ready');
    expect(nodeStatus(node([{ type: 'Ready', status: 'Unknown' }]))).toBe('NotReady');
    expect(nodeStatus(node([]))).toBe('Unknown');
    expect(nodeStatus(node([{ type: 'Ready', status: 'True' }], true))).toBe('Ready,SchedulingDisabled');
  });

  it('service EXTERNAL-IP and PORT(S)', () => {
    const svc = (spec: any, status: any = {}): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec, status });
    expect(serviceExternalIP(svc({ type: 'ClusterIP' }))).toBe('<none>');
    expect(serviceExternalIP(svc({ type: 'LoadBalancer' }))).toBe('<pending>');
    expect(serviceExternalIP(svc({ type: 'LoadBalancer' }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } }))).toBe('1.2.3.4');
    expect(serviceExternalIP(svc({ type: 'ExternalName', externalName: 'example.com' }))).toBe('example.com');
    expect(servicePorts(svc({ ports: [{ port: 80, protocol: 'TCP' }, { port: 443, nodePort: 30443, protocol: 'TCP' }] }))).toBe('80/TCP,443:30443/TCP');
    expect(servicePorts(svc({}))).toBe('<none>');
  });

  it('endpoints list up to three addresses', () => {
    const ep: KubeObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'web' },
      subsets: [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }, { ip: '10.0.0.4' }], ports: [{ port: 80 }] }],
    };
    expect(formatEndpoints(ep)).toBe('10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...');
    expect(formatEndpoints({ ...ep, subsets: [] })).toBe('<none>');
  });

  it('formats label selectors like apimachinery', () => {
    expect(formatLabelSelector({ matchLabels: { b: '2', a: '1' } })).toBe('a=1,b=2');
    expect(formatLabelSelector({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }] })).toBe('tier in (be,fe)');
    expect(formatLabelSelector({})).toBe('<none>');
  });
});

describe('the column table', () => {
  it('has columns for every kind in the registry, NAME first except for events', () => {
    for (const rt of resourceTypes) {
      const key = rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
      expect(tableColumns[key]).toBeDefined();
      expect(rt.columns).toBe(tableColumns[key]);
      const names = rt.columns.filter((c) => c.priority === 0).map((c) => c.name);
      if (rt.kind === 'Event') expect(names).toEqual(['Last Seen', 'Type', 'Reason', 'Object', 'Message']);
      else expect(names[0]).toBe('Name');
    }
  });

  it.each([
    ['pods', ['Name', 'Ready', 'Status', 'Restarts', 'Age'], ['IP', 'Node', 'Nominated Node', 'Readiness Gates']],
    ['nodes', ['Name', 'Status', 'Roles', 'Age', 'Version'], ['Internal-IP', 'External-IP', 'OS-Image', 'Kernel-Version', 'Container-Runtime']],
    ['deployments', ['Name', 'Ready', 'Up-to-date', 'Available', 'Age'], ['Containers', 'Images', 'Selector']],
    ['replicasets', ['Name', 'Desired', 'Current', 'Ready', 'Age'], ['Containers', 'Images', 'Selector']],
    ['daemonsets', ['Name', 'Desired', 'Current', 'Ready', 'Up-to-date', 'Available', 'Node Selector', 'Age'], ['Containers', 'Images', 'Selector']],
    ['services', ['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age'], ['Selector']],
    ['endpoints', ['Name', 'Endpoints', 'Age'], []],
    ['configmaps', ['Name', 'Data', 'Age'], []],
    ['secrets', ['Name', 'Type', 'Data', 'Age'], []],
    ['namespaces', ['Name', 'Status', 'Age'], []],
    ['serviceaccounts', ['Name', 'Secrets', 'Age'], []],
    ['leases', ['Name', 'Holder', 'Age'], []],
  ])('%s has kubectl columns', (resource, normal, wide) => {
    const rt = resolveResourceName(resource)!;
    expect(rt.columns.filter((c) => c.priority === 0).map((c) => c.name)).toEqual(normal);
    expect(rt.columns.filter((c) => c.priority > 0).map((c) => c.name)).toEqual(wide);
  });
});

describe('buildTable', () => {
  const rt = lookupKind('apps/v1', 'Deployment')!;
  const deploy: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', creationTimestamp: ago(90), labels: { app: 'web' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: { spec: { containers: [{ name: 'web', image: 'nginx' }, { name: 'log', image: 'busybox' }] } },
    },
    status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
  };

  it('builds a meta.k8s.io/v1 Table with every column and row metadata by default', () => {
    const table = buildTable(rt, [deploy], { now: NOW });
    expect(table.kind).toBe('Table');
    expect(table.apiVersion).toBe('meta.k8s.io/v1');
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Ready', 'Up-to-date', 'Available', 'Age', 'Containers', 'Images', 'Selector']);
    expect(table.columnDefinitions[0]).toMatchObject({ type: 'string', format: 'name', priority: 0 });
    expect(table.rows[0]!.cells).toEqual(['web', '2/3', 3, 2, '90s', 'web,log', 'nginx,busybox', 'app=web']);
    expect(table.rows[0]!.object).toEqual({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: deploy.metadata });
  });

  it('drops wide columns and honours includeObject', () => {
    const narrow = buildTable(rt, [deploy], { now: NOW, wide: false, includeObject: 'None' });
    expect(narrow.columnDefinitions).toHaveLength(5);
    expect(narrow.rows[0]!.cells).toHaveLength(5);
    expect(narrow.rows[0]!.object).toBeUndefined();
    expect(buildTable(rt, [deploy], { now: NOW, includeObject: true }).rows[0]!.object).toBe(deploy);
    expect(buildTable(rt, [deploy], { now: NOW, includeObject: false }).rows[0]!.object).toMatchObject({ kind: 'PartialObjectMetadata' });
  });

  it('gives kinds without columns NAME and AGE', () => {
    const bare: ResourceType = { ...rt, kind: 'Widget', plural: 'widgets', columns: [] };
    const table = buildTable(bare, [{ ...deploy, kind: 'Widget' }], { now: NOW });
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Age']);
    expect(table.rows[0]!.cells).toEqual(['web', '90s']);
  });
});
