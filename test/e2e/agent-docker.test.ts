import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { LABELS } from '../../src/agent/runtime/runtime';
import { mkCommand } from '../cli-build';
import { eventually, httpsRequest, openWatch, startTestServer, type TestServer } from '../helpers';
import { ensureTestImage, execCaptured, requireDocker } from './docker-env';

/**
 * The agent (kubelet) end to end: a real `mk server` with its embedded agent
 * on the Docker runtime, pods created through the API, and what happened
 * observed the way a user would (pod status, events, logs, exec) plus, where
 * it says more, the engine itself (`docker ps` by the node label).
 *
 * The node name is unique per run, so this file's containers are told apart
 * from anyone else's by `io.mk.node=<node>`; whatever a failed test leaves is
 * removed by that label at the end.
 *
 * `mk logs` and `mk exec` run the compiled binary: run `npx tsc -p .` first
 * (`npm test` does).
 */

const describeDocker = requireDocker();

const NODE = `e2e-${randomBytes(4).toString('hex')}`;
const NS = 'default';
const PODS = `/api/v1/namespaces/${NS}/pods`;
const SERVER_OPTIONS = { agent: { runtime: 'docker' as const, nodeName: NODE, port: 0 } };

const run = promisify(execFile);

jest.setTimeout(60_000);

/** Ids of the node's Docker containers (all states) that carry every label given. */
async function dockerIds(labels: Record<string, string> = {}): Promise<string[]> {
  const filters = Object.entries({ [LABELS.node]: NODE, ...labels }).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`]);
  const { stdout } = await run('docker', ['ps', '-a', '-q', '--no-trunc', ...filters]);
  return stdout.split('\n').filter(Boolean);
}

async function removeNodeContainers(): Promise<void> {
  const ids = await dockerIds();
  if (ids.length) await run('docker', ['rm', '-f', '-v', ...ids]);
}

describeDocker('the agent on real Docker', () => {
  let ts: TestServer;
  let image: string;
  /** Pods the current test created, deleted after it whatever its outcome. */
  let created: string[] = [];

  beforeAll(async () => {
    image = await ensureTestImage();
    ts = await startTestServer(SERVER_OPTIONS);
  }, 90_000);

  afterEach(async () => {
    const names = created;
    created = [];
    // A test that failed mid-restart may leave no server answering; the label sweep in afterAll still runs.
    await Promise.all(names.map((name) => ts.api('DELETE', `${PODS}/${name}?gracePeriodSeconds=0`).catch(() => undefined)));
  });

  afterAll(async () => {
    try {
      // The agent removes the containers of deleted pods by itself; the label sweep below is only the safety net.
      if (ts) await eventually(async () => expect(await dockerIds()).toEqual([]), 30_000, 250);
    } finally {
      await ts?.destroy();
      await removeNodeContainers();
    }
  }, 60_000);

  // ---- helpers ---------------------------------------------------------------

  function container(name: string, command: string[], extra: Record<string, any> = {}): any {
    return { name, image, imagePullPolicy: 'IfNotPresent', command, ...extra };
  }

  /** Creates a pod (a short grace period unless the spec says otherwise) and remembers it for cleanup. */
  async function createPod(name: string, spec: Record<string, any>): Promise<any> {
    created.push(name);
    const r = await ts.api('POST', PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { terminationGracePeriodSeconds: 2, ...spec },
    });
    expect(r.status).toBe(201);
    return r.body;
  }

  async function getPod(name: string): Promise<any> {
    const r = await ts.api('GET', `${PODS}/${name}`);
    expect(r.status).toBe(200);
    return r.body;
  }

  /** Waits until the pod is Running with every app container running; returns it. */
  async function running(name: string, timeoutMs = 30_000): Promise<any> {
    return eventually(async () => {
      const pod = await getPod(name);
      expect(pod.status?.phase).toBe('Running');
      const statuses: any[] = pod.status.containerStatuses ?? [];
      expect(statuses).toHaveLength(pod.spec.containers.length);
      for (const s of statuses) expect(s.state.running).toBeDefined();
      return pod;
    }, timeoutMs, 100);
  }

  function statusOf(pod: any, name: string): any {
    return [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find((s: any) => s.name === name);
  }

  function condition(pod: any, type: string): string | undefined {
    return (pod.status?.conditions ?? []).find((c: any) => c.type === type)?.status;
  }

  async function logs(name: string, query = ''): Promise<{ status: number; text: string }> {
    const r = await ts.api('GET', `${PODS}/${name}/log${query ? `?${query}` : ''}`);
    return { status: r.status, text: r.text };
  }

  /** The pod's events (by uid): `reason` and `message`, with the container from the fieldPath. */
  async function events(pod: any): Promise<Array<{ reason: string; message: string; fieldPath?: string; type: string }>> {
    const r = await ts.api('GET', `/api/v1/namespaces/${NS}/events`);
    expect(r.status).toBe(200);
    return r.body.items
      .filter((e: any) => e.involvedObject?.uid === pod.metadata.uid)
      .map((e: any) => ({ reason: e.reason, message: e.message, fieldPath: e.involvedObject.fieldPath, type: e.type }));
  }

  /** Runs a command through the API server's pods/exec, as `mk exec` does. */
  const exec = (pod: string, command: string[], containerName?: string) => execCaptured(ts, NS, pod, command, containerName);

  /** Runs the real `mk` binary against the test server. */
  const mk = (args: string[]) => mkCommand(path.join(ts.dataDir, 'kubeconfig.yaml'), args);

  const HTTPD = 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www';
  const SLEEP = ['sleep', '3600'];

  // ---- tests -----------------------------------------------------------------

  it('runs two containers of a pod that talk over localhost, one sandbox, the pod IP reported', async () => {
    await createPod('twins', {
      containers: [
        container('web', ['sh', '-c', HTTPD]),
        container('client', ['sh', '-c', 'while true; do wget -q -O - http://localhost:8080/ || echo "no answer"; sleep 0.5; done']),
      ],
    });
    const pod = await running('twins');
    expect(pod.spec.nodeName).toBe(NODE);
    expect(pod.status.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(pod.status.hostIP).toBe('127.0.0.1');
    expect(condition(pod, 'Ready')).toBe('True');

    await eventually(async () => expect((await logs('twins', 'container=client')).text).toContain('hello from twins\n'), 15_000, 200);

    // One sandbox holds the network (and the reported IP); each container joins it.
    const uid = pod.metadata.uid;
    const sandboxes = await dockerIds({ [LABELS.podUid]: uid, [LABELS.role]: 'sandbox' });
    expect(sandboxes).toHaveLength(1);
    const { stdout } = await run('docker', ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', sandboxes[0]]);
    expect(stdout.trim()).toBe(pod.status.podIP);
    const containerIds = await dockerIds({ [LABELS.podUid]: uid, [LABELS.role]: 'container' });
    expect(containerIds.sort()).toEqual(pod.status.containerStatuses.map((s: any) => s.containerID.replace('docker://', '')).sort());
    const modes = await run('docker', ['inspect', '-f', '{{.HostConfig.NetworkMode}}', ...containerIds]);
    expect(modes.stdout.trim().split('\n')).toEqual([`container:${sandboxes[0]}`, `container:${sandboxes[0]}`]);

    const reasons = (await events(pod)).map((e) => `${e.reason} ${e.fieldPath ?? ''}`);
    for (const c of ['web', 'client']) {
      expect(reasons).toEqual(expect.arrayContaining([`Pulled spec.containers{${c}}`, `Created spec.containers{${c}}`, `Started spec.containers{${c}}`]));
    }
  });

  it('sets env from a ConfigMap, a Secret and the downward API', async () => {
    expect((await ts.api('POST', `/api/v1/namespaces/${NS}/configmaps`, {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'e2e-config' }, data: { greeting: 'hello from a configmap', MODE: 'e2e' },
    })).status).toBe(201);
    expect((await ts.api('POST', `/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: 'e2e-secret' }, data: { password: Buffer.from('s3cr3t value').toString('base64') },
    })).status).toBe(201);
    try {
      await createPod('env', {
        containers: [
          container('app', ['sh', '-c', 'echo "greeting=$GREETING"; exec sleep 3600'], {
            imagePullPolicy: 'Never',
            env: [
              { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'e2e-config', key: 'greeting' } } },
              { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'e2e-secret', key: 'password' } } },
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              { name: 'COMPOSED', value: 'pod $(POD_NAME) says $(GREETING)' },
            ],
            envFrom: [{ prefix: 'CM_', configMapRef: { name: 'e2e-config' } }],
          }),
        ],
      });
      const pod = await running('env');
      const r = await exec('env', ['env']);
      expect(r.code).toBe(0);
      const env = Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      expect(env).toMatchObject({
        GREETING: 'hello from a configmap',
        PASSWORD: 's3cr3t value',
        POD_NAME: 'env',
        POD_NAMESPACE: NS,
        POD_IP: pod.status.podIP,
        NODE_NAME: NODE,
        COMPOSED: 'pod env says hello from a configmap',
        CM_greeting: 'hello from a configmap',
        CM_MODE: 'e2e',
      });
      await eventually(async () => expect((await logs('env')).text).toBe('greeting=hello from a configmap\n'));
    } finally {
      await ts.api('DELETE', `/api/v1/namespaces/${NS}/configmaps/e2e-config`);
      await ts.api('DELETE', `/api/v1/namespaces/${NS}/secrets/e2e-secret`);
    }
  });

  it('shares an emptyDir between containers, read-only where asked, and removes it with the pod', async () => {
    await createPod('shared', {
      volumes: [{ name: 'scratch', emptyDir: {} }],
      containers: [
        container('writer', ['sh', '-c', 'echo "written by the writer" > /out/message; exec sleep 3600'], {
          volumeMounts: [{ name: 'scratch', mountPath: '/out' }],
        }),
        container('reader', ['sh', '-c', 'until [ -f /in/message ]; do sleep 0.1; done; cat /in/message; exec sleep 3600'], {
          volumeMounts: [{ name: 'scratch', mountPath: '/in', readOnly: true }],
        }),
      ],
    });
    const pod = await running('shared');
    await eventually(async () => expect((await logs('shared', 'container=reader')).text).toBe('written by the writer\n'), 15_000, 200);
    const denied = await exec('shared', ['sh', '-c', 'echo x > /in/other'], 'reader');
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/Read-only file system/i);

    const volumeDir = path.join(ts.dataDir, 'agent', 'pods', pod.metadata.uid);
    expect(fs.existsSync(volumeDir)).toBe(true);
    expect((await ts.api('DELETE', `${PODS}/shared?gracePeriodSeconds=0`)).status).toBe(200);
    await eventually(async () => {
      expect(await dockerIds({ [LABELS.podUid]: pod.metadata.uid })).toEqual([]);
      expect(fs.existsSync(volumeDir)).toBe(false);
    }, 20_000, 200);
  });

  it('runs init containers in order, to completion, before the app', async () => {
    await createPod('init', {
      volumes: [{ name: 'work', emptyDir: {} }],
      initContainers: [
        container('first', ['sh', '-c', 'sleep 1; echo "from the first init container" > /work/ready'], { volumeMounts: [{ name: 'work', mountPath: '/work' }] }),
        container('second', ['sh', '-c', 'test -f /work/ready && echo "and the second" >> /work/ready'], { volumeMounts: [{ name: 'work', mountPath: '/work' }] }),
      ],
      containers: [container('app', ['sh', '-c', 'cat /work/ready; exec sleep 3600'], { volumeMounts: [{ name: 'work', mountPath: '/work' }] })],
    });
    // While the first init container sleeps, the pod is Pending and not Initialized.
    const early = await eventually(async () => {
      const p = await getPod('init');
      expect(statusOf(p, 'first')?.state?.running).toBeDefined();
      return p;
    }, 15_000, 50);
    expect(early.status.phase).toBe('Pending');
    expect(condition(early, 'Initialized')).toBe('False');
    expect(statusOf(early, 'app').state.waiting.reason).toBe('PodInitializing');

    const pod = await running('init');
    expect(condition(pod, 'Initialized')).toBe('True');
    const [first, second] = pod.status.initContainerStatuses;
    for (const s of [first, second]) expect(s.state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const app = statusOf(pod, 'app');
    const t = (s: string) => new Date(s).getTime();
    expect(t(second.state.terminated.startedAt)).toBeGreaterThanOrEqual(t(first.state.terminated.finishedAt));
    expect(t(app.state.running.startedAt)).toBeGreaterThanOrEqual(t(second.state.terminated.finishedAt));
    await eventually(async () => expect((await logs('init', 'container=app')).text).toBe('from the first init container\nand the second\n'));
    expect((await logs('init', 'container=first')).status).toBe(200);
  });

  it('backs off a crashing container: CrashLoopBackOff, rising restartCount, the last exit kept', async () => {
    await createPod('crash', { restartPolicy: 'Always', containers: [container('app', ['sh', '-c', 'echo "crashing"; exit 1'])] });
    // 10 s doubling: the 2nd restart comes ~10 s after the 2nd exit.
    const seen: number[] = [];
    const pod = await eventually(async () => {
      const p = await getPod('crash');
      const s = statusOf(p, 'app');
      if (s) seen.push(s.restartCount);
      expect(s.restartCount).toBeGreaterThanOrEqual(2);
      expect(s.state.waiting?.reason).toBe('CrashLoopBackOff');
      return p;
    }, 40_000, 250);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const s = statusOf(pod, 'app');
    expect(s.state.waiting.message).toMatch(/^back-off \d+s restarting failed container=app pod=crash_default/);
    expect(s.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(s.ready).toBe(false);
    expect(pod.status.phase).toBe('Running');
    expect(condition(pod, 'Ready')).toBe('False');

    expect((await events(pod)).map((e) => e.reason)).toContain('BackOff');
    expect((await logs('crash')).text).toBe('crashing\n');
    expect((await logs('crash', 'previous=true')).text).toBe('crashing\n');
    // Exited instances are garbage-collected down to the newest two.
    expect((await dockerIds({ [LABELS.podUid]: pod.metadata.uid, [LABELS.role]: 'container' })).length).toBeLessThanOrEqual(2);
  });

  it('restarts a container whose liveness probe fails, and flips Ready with its readiness probe', async () => {
    const loop = ['sh', '-c', 'touch /tmp/healthy; trap "exit 0" TERM; while true; do sleep 1; done'];
    const probe = (file: string) => ({ exec: { command: ['cat', file] }, periodSeconds: 1, failureThreshold: 1 });
    await Promise.all([
      // The delay keeps the first probe of a new instance from racing its `touch`.
      createPod('liveness', { containers: [container('app', loop, { livenessProbe: { ...probe('/tmp/healthy'), initialDelaySeconds: 1 } })] }),
      createPod('readiness', { containers: [container('app', SLEEP, { readinessProbe: probe('/tmp/ready') })] }),
    ]);
    const [live, ready] = await Promise.all([running('liveness'), running('readiness')]);

    // Liveness: remove the file and the container is killed and started again (which makes the file anew).
    const firstId = statusOf(live, 'app').containerID;
    expect(statusOf(live, 'app').restartCount).toBe(0);
    expect((await exec('liveness', ['rm', '/tmp/healthy'])).code).toBe(0);
    // Readiness, meanwhile: not ready until the file exists.
    expect(statusOf(ready, 'app').ready).toBe(false);
    expect(condition(ready, 'Ready')).toBe('False');
    expect((await exec('readiness', ['touch', '/tmp/ready'])).code).toBe(0);

    const restarted = await eventually(async () => {
      const p = await getPod('liveness');
      const s = statusOf(p, 'app');
      expect(s.restartCount).toBe(1);
      expect(s.state.running).toBeDefined();
      return p;
    }, 20_000, 200);
    const s = statusOf(restarted, 'app');
    expect(s.containerID).not.toBe(firstId);
    expect(s.lastState.terminated).toBeDefined();
    await eventually(async () => {
      const evs = await events(restarted);
      expect(evs).toContainEqual(expect.objectContaining({ reason: 'Unhealthy', type: 'Warning', message: expect.stringMatching(/^Liveness probe failed: /) }));
      expect(evs).toContainEqual(expect.objectContaining({ reason: 'Killing', message: 'Container app failed liveness probe, will be restarted' }));
    });

    await eventually(async () => {
      const p = await getPod('readiness');
      expect(statusOf(p, 'app').ready).toBe(true);
      expect(condition(p, 'ContainersReady')).toBe('True');
      expect(condition(p, 'Ready')).toBe('True');
    }, 10_000, 100);
    expect((await exec('readiness', ['rm', '/tmp/ready'])).code).toBe(0);
    const unready = await eventually(async () => {
      const p = await getPod('readiness');
      expect(condition(p, 'Ready')).toBe('False');
      return p;
    }, 10_000, 100);
    // Readiness never restarts anything.
    expect(statusOf(unready, 'app')).toMatchObject({ ready: false, restartCount: 0, containerID: statusOf(ready, 'app').containerID });
    expect(await events(unready)).toContainEqual(expect.objectContaining({ reason: 'Unhealthy', message: expect.stringMatching(/^Readiness probe failed: /) }));
  });

  it('deletes gracefully: SIGTERM reaches the handler, the pod goes long before its grace period', async () => {
    await createPod('graceful', {
      terminationGracePeriodSeconds: 30,
      containers: [container('app', ['sh', '-c', 'trap "echo got TERM; exit 0" TERM; echo waiting; while true; do sleep 1; done'])],
    });
    const pod = await running('graceful');
    await eventually(async () => expect((await logs('graceful')).text).toBe('waiting\n'));
    const watch = await openWatch(ts, `${PODS}?watch=true&fieldSelector=metadata.name%3Dgraceful&resourceVersion=${pod.metadata.resourceVersion}`);
    // Followed logs end when the container does, with what its handler printed.
    const follow = await httpsRequest(ts.agent, 'GET', `${ts.url}${PODS}/graceful/log?follow=true`, { Authorization: `Bearer ${ts.token}` });
    expect(follow.statusCode).toBe(200);
    let followed = '';
    follow.on('data', (c: Buffer) => (followed += c.toString('utf8')));
    const followEnded = new Promise<void>((resolve) => follow.once('end', resolve).once('close', resolve));
    try {
      await eventually(() => expect(followed).toBe('waiting\n'));
      const started = Date.now();
      const del = await ts.api('DELETE', `${PODS}/graceful`);
      // 200 with the object, marked: as Kubernetes answers a deletion that is under way rather than done.
      expect(del.status).toBe(200);
      expect(del.body.metadata.deletionTimestamp).toBeDefined();
      expect(del.body.metadata.deletionGracePeriodSeconds).toBe(30);

      const seen = await watch.until((e) => e.type === 'DELETED', 15_000);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeLessThan(10_000);
      await followEnded;
      expect(followed).toBe('waiting\ngot TERM\n');
      // The final status the agent wrote before removing the pod: the container exited 0 from its handler.
      const final = seen.filter((e) => e.type === 'MODIFIED' && statusOf(e.object, 'app')?.state?.terminated).pop();
      expect(final).toBeDefined();
      expect(statusOf(final.object, 'app').state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
      expect((await ts.api('GET', `${PODS}/graceful`)).status).toBe(404);
      expect(await events(pod)).toContainEqual(expect.objectContaining({ reason: 'Killing', message: 'Stopping container app' }));
      await eventually(async () => expect(await dockerIds({ [LABELS.podUid]: pod.metadata.uid })).toEqual([]), 10_000, 200);
    } finally {
      watch.close();
      follow.destroy();
    }
  });

  it('serves logs (tail, container choice) and exec (output, exit code) through the API and the mk binary', async () => {
    await createPod('talker', {
      containers: [
        container('app', ['sh', '-c', 'for i in 1 2 3 4 5; do echo "line $i"; done; exec sleep 3600'], { imagePullPolicy: 'Never' }),
        container('side', SLEEP),
      ],
    });
    await running('talker');
    await eventually(async () => expect((await logs('talker', 'container=app')).text).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n'));
    expect((await logs('talker', 'container=app&tailLines=2')).text).toBe('line 4\nline 5\n');
    const noContainer = await ts.api('GET', `${PODS}/talker/log`);
    expect(noContainer.status).toBe(400);
    expect(noContainer.body.message).toMatch(/a container name must be specified for pod talker, choose one of: \[app side\]/);
    expect((await ts.api('GET', `${PODS}/talker/log?container=nope`)).status).toBe(400);

    const r = await exec('talker', ['sh', '-c', 'echo out; echo err >&2; exit 3'], 'app');
    expect(r).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    // The two containers share the pod's hostname (the sandbox's).
    expect((await exec('talker', ['hostname'], 'side')).stdout).toBe('talker\n');

    const [cliLogs, cliExec, cliFail] = await Promise.all([
      mk(['logs', 'talker', '-c', 'app', '--tail', '1']),
      mk(['exec', 'talker', '-c', 'side', '--', 'sh', '-c', 'echo "in $(hostname)"']),
      mk(['exec', 'talker', '-c', 'side', '--', 'sh', '-c', 'exit 4']),
    ]);
    expect(cliLogs).toMatchObject({ code: 0, stdout: 'line 5\n' });
    expect(cliExec).toMatchObject({ code: 0, stdout: 'in talker\n' });
    expect(cliFail.code).toBe(4);
    expect(cliFail.stderr).toContain('command terminated with exit code 4');
  });

  it('re-adopts running containers after an agent restart, without duplicates, and removes orphans', async () => {
    await Promise.all([
      createPod('adopt-a', { containers: [container('one', SLEEP), container('two', SLEEP)] }),
      createPod('adopt-b', { containers: [container('only', SLEEP)] }),
    ]);
    const before = await Promise.all([running('adopt-a'), running('adopt-b')]);
    const ids = (p: any) => p.status.containerStatuses.map((s: any) => `${s.name}=${s.containerID}#${s.restartCount}`).sort();

    // While no agent runs, a container of a pod that does not exist appears on the node.
    await ts.stop();
    const orphanUid = `orphan-${randomBytes(4).toString('hex')}`;
    await run('docker', [
      'run', '-d', '--name', `mk-orphan-${NODE}`,
      '--label', `${LABELS.node}=${NODE}`, '--label', `${LABELS.podUid}=${orphanUid}`, '--label', `${LABELS.podName}=gone`,
      '--label', `${LABELS.podNamespace}=${NS}`, '--label', `${LABELS.role}=container`, '--label', `${LABELS.containerName}=ghost`,
      image, 'sleep', '3600',
    ]);

    ts = await startTestServer(SERVER_OPTIONS, ts.dataDir);
    // A pod created after the restart runs: by then the agent has listed the runtime, and the workers of the
    // adopted pods, queued first, have synced (a duplicate would show below).
    await createPod('adopt-after', { containers: [container('app', SLEEP)] });
    await running('adopt-after');
    // The restarted agent serves exec for the adopted containers.
    expect((await exec('adopt-a', ['echo', 'still here'], 'two')).stdout).toBe('still here\n');

    await eventually(async () => expect(await dockerIds({ [LABELS.podUid]: orphanUid })).toEqual([]), 15_000, 200);
    for (const old of before) {
      const now = await running(old.metadata.name);
      expect(ids(now)).toEqual(ids(old));
      const uid = old.metadata.uid;
      expect(await dockerIds({ [LABELS.podUid]: uid, [LABELS.role]: 'sandbox' })).toHaveLength(1);
      const containers = await dockerIds({ [LABELS.podUid]: uid, [LABELS.role]: 'container' });
      expect(containers.sort()).toEqual(now.status.containerStatuses.map((s: any) => s.containerID.replace('docker://', '')).sort());
    }
    // Nothing was created twice: no Created event after the restart for the adopted pods.
    for (const old of before) {
      const createdEvents = (await events(old)).filter((e) => e.reason === 'Created');
      expect(createdEvents).toHaveLength(old.spec.containers.length);
    }
  });
});
