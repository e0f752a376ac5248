import { computePodStatus, imageRef, type StatusInput } from '../../src/agent/pod-status';
import type { ContainerStatus } from '../../src/agent/runtime/runtime';
import type { KubeObject } from '../../src/api/types';

const T0 = Date.parse('2024-01-01T00:00:00Z');

function pod(spec: Record<string, any> = {}, status: Record<string, any> = { phase: 'Pending', qosClass: 'BestEffort' }): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: { restartPolicy: 'Always', containers: [{ name: 'a', image: 'img:1' }], ...spec },
    status,
  };
}

let ids = 0;
function inst(name: string, state: ContainerStatus['state'], extra: Partial<ContainerStatus> = {}): ContainerStatus {
  return {
    id: `id${++ids}`,
    name,
    podUid: 'u1',
    attempt: 0,
    state,
    createdAt: new Date(T0),
    startedAt: state === 'created' ? undefined : new Date(T0 + 1000),
    finishedAt: state === 'exited' ? new Date(T0 + 2000) : undefined,
    image: 'img:1',
    imageId: 'sha256:abc',
    labels: {},
    ...extra,
  };
}

function status(p: KubeObject, instances: Record<string, ContainerStatus[]>, extra: Partial<StatusInput> = {}): any {
  return computePodStatus({
    pod: p,
    sandbox: { id: 'sb', podUid: 'u1', ip: '10.0.0.5', ready: true, createdAt: new Date(T0), labels: {} },
    instances: new Map(Object.entries(instances)),
    waiting: new Map(),
    ready: () => true,
    started: () => true,
    hostIPs: ['192.0.2.1'],
    runtimeName: 'docker',
    now: T0 + 5000,
    ...extra,
  });
}

describe('computePodStatus', () => {
  it('reports a running pod as Kubernetes does', () => {
    const s = status(pod(), { a: [inst('a', 'running')] });
    expect(s).toMatchObject({
      phase: 'Running',
      qosClass: 'BestEffort',
      hostIP: '192.0.2.1',
      hostIPs: [{ ip: '192.0.2.1' }],
      podIP: '10.0.0.5',
      podIPs: [{ ip: '10.0.0.5' }],
      startTime: '2024-01-01T00:00:05Z',
    });
    expect(s.containerStatuses).toEqual([
      {
        name: 'a',
        state: { running: { startedAt: '2024-01-01T00:00:01Z' } },
        lastState: {},
        ready: true,
        started: true,
        restartCount: 0,
        image: 'img:1',
        imageID: 'docker://sha256:abc',
        containerID: `docker://id${ids}`,
      },
    ]);
    expect(s.conditions.map((c: any) => [c.type, c.status])).toEqual([
      ['PodReadyToStartContainers', 'True'],
      ['Initialized', 'True'],
      ['Ready', 'True'],
      ['ContainersReady', 'True'],
    ]);
  });

  it('keeps lastTransitionTime while a condition holds, and other conditions as they are', () => {
    const first = status(pod(), { a: [inst('a', 'running')] });
    const scheduled = { type: 'PodScheduled', status: 'True', lastTransitionTime: '2023-12-31T00:00:00Z' };
    const later = status(pod({}, { ...first, conditions: [...first.conditions, scheduled] }), { a: [inst('a', 'running')] }, { now: T0 + 60_000 });
    expect(later.conditions.find((c: any) => c.type === 'Ready').lastTransitionTime).toBe('2024-01-01T00:00:05Z');
    expect(later.conditions.find((c: any) => c.type === 'PodScheduled')).toEqual(scheduled);
    expect(later.startTime).toBe(first.startTime);
    const unready = status(pod({}, later), { a: [inst('a', 'running')] }, { ready: () => false, now: T0 + 120_000 });
    expect(unready.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', lastTransitionTime: '2024-01-01T00:02:00Z' });
  });

  it.each([
    ['Always', 0, 'Running'],
    ['Always', 1, 'Running'],
    ['OnFailure', 0, 'Succeeded'],
    ['OnFailure', 1, 'Running'],
    ['Never', 0, 'Succeeded'],
    ['Never', 1, 'Failed'],
  ])('restartPolicy %s, exit %d: %s', (restartPolicy, exitCode, phase) => {
    expect(status(pod({ restartPolicy }), { a: [inst('a', 'exited', { exitCode })] }).phase).toBe(phase);
  });

  it('a container in CrashLoopBackOff waits, with its last run in lastState', () => {
    const dead = inst('a', 'exited', { exitCode: 2, attempt: 3 });
    const waiting = new Map([['a', { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=a pod=p_default(u1)' }]]);
    const s = status(pod(), { a: [dead] }, { waiting });
    expect(s.phase).toBe('Running');
    expect(s.containerStatuses[0]).toMatchObject({
      state: { waiting: waiting.get('a') },
      lastState: { terminated: { exitCode: 2, reason: 'Error', startedAt: '2024-01-01T00:00:01Z', finishedAt: '2024-01-01T00:00:02Z', containerID: `docker://${dead.id}` } },
      restartCount: 3,
      ready: false,
    });
  });

  it('reports init containers and initialization', () => {
    const p = pod({ initContainers: [{ name: 'i1', image: 'img:1' }, { name: 'i2', image: 'img:1' }] });
    const s = status(p, { i1: [inst('i1', 'exited', { exitCode: 0 })], i2: [inst('i2', 'running')] });
    expect(s.phase).toBe('Pending');
    expect(s.initContainerStatuses.map((c: any) => [c.name, Object.keys(c.state)[0], c.ready])).toEqual([
      ['i1', 'terminated', true],
      ['i2', 'running', false],
    ]);
    expect(s.containerStatuses[0].state).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(s.conditions.find((c: any) => c.type === 'Initialized')).toMatchObject({ status: 'False', message: 'containers with incomplete status: [i2]' });
    const failed = status({ ...p, spec: { ...p.spec, restartPolicy: 'Never' } }, { i1: [inst('i1', 'exited', { exitCode: 1 })] });
    expect(failed.phase).toBe('Failed');
  });

  it('a terminated (deleted) pod is final: Succeeded or Failed whatever the restart policy', () => {
    expect(status(pod(), { a: [inst('a', 'exited', { exitCode: 0 })] }, { terminated: true }).phase).toBe('Succeeded');
    expect(status(pod(), { a: [inst('a', 'exited', { exitCode: 143 })] }, { terminated: true }).phase).toBe('Failed');
    const never = status(pod(), {}, { terminated: true });
    expect(never.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 137, reason: 'ContainerStatusUnknown' });
    expect(never.phase).toBe('Failed');
  });

  it('never moves a finished pod back, and hostNetwork pods have the node IP', () => {
    expect(status(pod({}, { phase: 'Succeeded' }), { a: [inst('a', 'running')] }).phase).toBe('Succeeded');
    expect(status(pod({ hostNetwork: true }), { a: [inst('a', 'running')] }).podIP).toBe('192.0.2.1');
  });

  it('formats image IDs', () => {
    expect(imageRef('busybox@sha256:1', 'docker')).toBe('docker-pullable://busybox@sha256:1');
    expect(imageRef('sha256:1', 'docker')).toBe('docker://sha256:1');
    expect(imageRef('sha256:1', 'fake')).toBe('fake://sha256:1');
    expect(imageRef('x://y', 'docker')).toBe('x://y');
  });
});
